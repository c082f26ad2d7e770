//! `recur classify` on recordings: a seconds-long train and predict on a few FSDD files, and
//! bad audio input refused in one line with exit status 2.

mod common;
use common::{recur, temp};
use std::path::{Path, PathBuf};

fn fsdd(part: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fsdd")
        .join(part)
}

/// One line on standard error naming every needle, exit status 2, nothing on standard output.
fn refused(args: &[&str], needles: &[&str]) {
    let o = recur(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: missing {n:?} in {err}");
    }
}

#[test]
fn train_then_predict_on_wav_files() {
    let dir = temp("audio-e2e");
    let out = dir.join("run");
    let o = recur(&[
        "classify",
        "train",
        "--data",
        fsdd("train").to_str().unwrap(),
        "--test",
        fsdd("test").to_str().unwrap(),
        "--hidden",
        "16",
        "--steps",
        "120",
        "--batch-size",
        "8",
        "--val-frac",
        "0.2",
        "--threads",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("39 MFCC features a frame"), "{err}");
    // The checkpoint carries the feature settings.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model"]["audio"]["n_mfcc"], 13);
    assert_eq!(config["model"]["dims"], 39);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let accuracy = report["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.8, "test accuracy {accuracy}");
    // Predict reads raw WAV files: a folder, and a single file.
    let pred = dir.join("pred.csv");
    let o = recur(&[
        "classify",
        "predict",
        "--checkpoint",
        out.to_str().unwrap(),
        "--data",
        fsdd("test").to_str().unwrap(),
        "--output",
        pred.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&pred).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("index,file,label,p_0,p_1"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 10);
    let right = rows
        .iter()
        .filter(|r| {
            let cells: Vec<&str> = r.split(',').collect();
            let name = Path::new(cells[1]).file_name().unwrap().to_string_lossy();
            name.starts_with(&format!("{}_", cells[2]))
        })
        .count();
    assert_eq!(right as f64 / 10.0, accuracy, "{text}");
    let one = dir.join("one.json");
    let file = fsdd("test/1_theo_0.wav");
    let o = recur(&[
        "classify",
        "predict",
        "--checkpoint",
        out.to_str().unwrap(),
        "--data",
        file.to_str().unwrap(),
        "--output",
        one.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&one).unwrap()).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert!(rows[0]["file"].as_str().unwrap().ends_with("1_theo_0.wav"));
    // A manifest (paths relative to it) reads the same recordings for eval.
    let manifest = dir.join("test.csv");
    let mut m = String::from("path,label\n");
    for entry in std::fs::read_dir(fsdd("test")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::copy(&p, dir.join(&name)).unwrap();
        m += &format!("{name},{}\n", &name[..1]);
    }
    std::fs::write(&manifest, m).unwrap();
    let o = recur(&[
        "classify",
        "eval",
        "--checkpoint",
        out.to_str().unwrap(),
        "--data",
        manifest.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["accuracy"].as_f64().unwrap(), accuracy);
}

fn spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// A folder `dir/name` of two good recordings per label `a` and `b`, and `bad` as a third
/// file of label `a`.
fn folder_with(dir: &Path, name: &str, bad: &dyn Fn(&Path)) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for f in ["a_1.wav", "a_2.wav", "b_1.wav", "b_2.wav"] {
        let mut w = hound::WavWriter::create(d.join(f), spec()).unwrap();
        for i in 0..2000 {
            w.write_sample(((i as f32 * 0.3).sin() * 8000.0) as i16)
                .unwrap();
        }
        w.finalize().unwrap();
    }
    bad(&d.join("a_3.wav"));
    d
}

fn train_on(data: &Path, out: &Path) -> Vec<String> {
    [
        "classify",
        "train",
        "--data",
        data.to_str().unwrap(),
        "--steps",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

/// Writes one (bad) file at the path it is given.
type MakeFile = dyn Fn(&Path);

#[test]
fn bad_audio_is_refused_in_one_line_with_status_2() {
    let dir = temp("audio-bad");
    let out = dir.join("out");
    let cases: Vec<(&str, Box<MakeFile>, &str)> = vec![
        (
            "text",
            Box::new(|p: &Path| std::fs::write(p, "hello").unwrap()),
            "not a WAV file",
        ),
        (
            "empty",
            Box::new(|p: &Path| {
                hound::WavWriter::create(p, spec())
                    .unwrap()
                    .finalize()
                    .unwrap()
            }),
            "no samples",
        ),
        (
            "truncated",
            Box::new(|p: &Path| {
                let mut w = hound::WavWriter::create(p, spec()).unwrap();
                for _ in 0..1000 {
                    w.write_sample(1i16).unwrap();
                }
                w.finalize().unwrap();
                let bytes = std::fs::read(p).unwrap();
                std::fs::write(p, &bytes[..bytes.len() - 999]).unwrap();
            }),
            "truncated",
        ),
        (
            "rate0",
            Box::new(|p: &Path| {
                let mut w = hound::WavWriter::create(p, spec()).unwrap();
                w.write_sample(1i16).unwrap();
                w.finalize().unwrap();
                let mut bytes = std::fs::read(p).unwrap();
                bytes[24..28].copy_from_slice(&0u32.to_le_bytes());
                std::fs::write(p, &bytes).unwrap();
            }),
            "sample rate of 0",
        ),
    ];
    for (name, make, why) in &cases {
        let data = folder_with(&dir, name, make.as_ref());
        let args = train_on(&data, &out);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, &["a_3.wav", why]);
        assert!(!out.exists(), "{name}: a run directory was left behind");
    }
    // A manifest row naming a missing file.
    let manifest = dir.join("m.csv");
    std::fs::write(&manifest, "path,label\ntext/a_1.wav,a\nmissing.wav,b\n").unwrap();
    let args = train_on(&manifest, &out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(&args, &["m.csv", "row 3", "missing.wav", "does not exist"]);
    // Feature settings out of range name their flag.
    let data = folder_with(&dir, "good", &|_: &Path| {});
    refused(
        &[
            "classify",
            "train",
            "--data",
            data.to_str().unwrap(),
            "--n-mfcc",
            "60",
            "--out",
            out.to_str().unwrap(),
        ],
        &["--n-mfcc", "--n-mels"],
    );
    refused(
        &[
            "classify",
            "train",
            "--data",
            data.to_str().unwrap(),
            "--spec-augment",
            "2,8",
            "--out",
            out.to_str().unwrap(),
        ],
        &["--spec-augment"],
    );
    assert!(!out.exists());
}
