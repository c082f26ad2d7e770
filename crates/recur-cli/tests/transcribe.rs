//! `recur transcribe` end to end on a few seconds of synthetic "digits" (a tone per digit): the
//! corpus builder, training with a test report, eval, run and run --stream, and bad input.

mod common;
use common::{recur, temp};
use std::path::Path;

/// A mono 16-bit WAV at 8 kHz.
fn write_wav(path: &Path, samples: &[f32]) {
    let data: Vec<u8> = samples
        .iter()
        .flat_map(|v| ((v * 32767.0) as i16).to_le_bytes())
        .collect();
    let mut b = Vec::new();
    b.extend(b"RIFF");
    b.extend((36 + data.len() as u32).to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(16u32.to_le_bytes());
    b.extend(1u16.to_le_bytes()); // PCM
    b.extend(1u16.to_le_bytes()); // mono
    b.extend(8000u32.to_le_bytes());
    b.extend(16000u32.to_le_bytes());
    b.extend(2u16.to_le_bytes());
    b.extend(16u16.to_le_bytes());
    b.extend(b"data");
    b.extend((data.len() as u32).to_le_bytes());
    b.extend(data);
    std::fs::write(path, b).unwrap();
}

/// `{digit}_{speaker}_{index}.wav`: 0.2 s of a tone whose pitch tells the digit.
fn fake_fsdd(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (speaker, shift) in [("ann", 1.0f32), ("bob", 1.04)] {
        for digit in 0..10 {
            for index in 0..2 {
                let f = (300.0 + 250.0 * digit as f32) * shift;
                let s: Vec<f32> = (0..1600)
                    .map(|n| {
                        let t = n as f32 / 8000.0;
                        0.5 * (std::f32::consts::TAU * f * t).sin() * (t * 15.7).sin()
                    })
                    .collect();
                write_wav(&dir.join(format!("{digit}_{speaker}_{index}.wav")), &s);
            }
        }
    }
}

fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn corpus_train_eval_run_and_stream() {
    let dir = temp("transcribe");
    fake_fsdd(&dir.join("fsdd"));
    let corpus = dir.join("digits");
    let s = |p: &Path| p.display().to_string();
    let o = recur(&[
        "transcribe",
        "corpus",
        "--fsdd",
        &s(&dir.join("fsdd")),
        "--out",
        &s(&corpus),
        "--train",
        "30",
        "--test",
        "6",
        "--test-speaker",
        "bob",
        "--max-digits",
        "3",
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let manifest = std::fs::read_to_string(corpus.join("test.csv")).unwrap();
    assert_eq!(manifest.lines().count(), 7);
    // A unidirectional model on features that stream.
    let model = dir.join("model");
    let o = recur(&[
        "transcribe",
        "train",
        "--train",
        &s(&corpus.join("train.csv")),
        "--test",
        &s(&corpus.join("test.csv")),
        "--out",
        &s(&model),
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--unidirectional",
        "--no-cmvn",
        "--top-db",
        "none",
        "--threads",
        "1",
        "--quiet",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("greedy:") && out.contains("prefix beam"),
        "{out}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["utterances"], 6);
    assert!(report["wer_greedy"].as_f64().unwrap() >= 0.0);
    let config = std::fs::read_to_string(model.join("config.json")).unwrap();
    assert!(config.contains("\"task\": \"transcribe\"") && config.contains("\"audio\""));
    let o = recur(&[
        "transcribe",
        "eval",
        "--model",
        &s(&model),
        "--manifest",
        &s(&corpus.join("test.csv")),
        "--json",
        "--threads",
        "1",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let eval: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(eval["wer_greedy"], report["wer_greedy"]);
    let wav = corpus.join("test/00001.wav");
    let whole = recur(&[
        "transcribe",
        "run",
        "--model",
        &s(&model),
        &s(&wav),
        "--threads",
        "1",
    ]);
    let streamed = recur(&[
        "transcribe",
        "run",
        "--model",
        &s(&model),
        &s(&wav),
        "--stream",
        "--chunk-ms",
        "50",
        "--threads",
        "1",
    ]);
    assert!(
        whole.status.success() && streamed.status.success(),
        "{}",
        text(&streamed).1
    );
    // The stream's transcript is the whole pass's.
    assert_eq!(text(&whole).0, text(&streamed).0);
    assert!(
        text(&streamed).1.contains("latency"),
        "{}",
        text(&streamed).1
    );
    // ONNX: one graph, the feature settings in its metadata.
    let onnx = dir.join("am.onnx");
    let o = recur(&["export", "--checkpoint", &s(&model), "--out", &s(&onnx)]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("acoustic model"), "{out}");
    let bytes = std::fs::read(&onnx).unwrap();
    assert!(bytes.windows(11).any(|w| w == b"recur.audio"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_gets_one_line_and_status_2() {
    let dir = temp("transcribe-bad");
    fake_fsdd(&dir.join("fsdd"));
    let s = |p: &Path| p.display().to_string();
    let manifest = dir.join("m.csv");
    std::fs::write(
        &manifest,
        "path,transcript\nfsdd/0_ann_0.wav,zero\nfsdd/none.wav,one\n",
    )
    .unwrap();
    let o = recur(&[
        "transcribe",
        "train",
        "--train",
        &s(&manifest),
        "--out",
        &s(&dir.join("o")),
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("line 3") && err.contains("none.wav does not exist"),
        "{err}"
    );
    assert!(!dir.join("o").exists());
    // A model, then a transcript with a word it does not know.
    std::fs::write(
        &manifest,
        "path,transcript\nfsdd/0_ann_0.wav,zero\nfsdd/1_ann_0.wav,one\nfsdd/1_ann_1.wav,one\nfsdd/0_ann_1.wav,zero\n",
    )
    .unwrap();
    let model = dir.join("model");
    let o = recur(&[
        "transcribe",
        "train",
        "--train",
        &s(&manifest),
        "--out",
        &s(&model),
        "--steps",
        "2",
        "--hidden",
        "4",
        "--layers",
        "1",
        "--val-frac",
        "0.25",
        "--threads",
        "1",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let other = dir.join("other.csv");
    std::fs::write(&other, "path,transcript\nfsdd/2_ann_0.wav,two\n").unwrap();
    let o = recur(&[
        "transcribe",
        "eval",
        "--model",
        &s(&model),
        "--manifest",
        &s(&other),
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("\"two\"") && err.contains("not in the model's alphabet"),
        "{err}"
    );
    // A bidirectional model cannot stream; a file that is not a WAV is named.
    let wav = dir.join("fsdd/0_ann_0.wav");
    let o = recur(&[
        "transcribe",
        "run",
        "--model",
        &s(&model),
        &s(&wav),
        "--stream",
    ]);
    assert_eq!(o.status.code(), Some(2));
    std::fs::write(dir.join("bad.wav"), b"not audio").unwrap();
    let o = recur(&[
        "transcribe",
        "run",
        "--model",
        &s(&model),
        &s(&dir.join("bad.wav")),
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.wav"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
