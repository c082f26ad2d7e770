//! `recur classify` end to end on the shipped JapaneseVowels split: train, eval, predict, and
//! malformed input.

mod common;
use common::{recur, temp};
use std::path::Path;

fn data(name: &str) -> String {
    common::data(&format!("sequences/{name}"))
}

#[test]
fn japanese_vowels_train_eval_predict() {
    let dir = temp("jv");
    let out = dir.join("run").display().to_string();
    let (train, test) = (
        data("JapaneseVowels_TRAIN.ts"),
        data("JapaneseVowels_TEST.ts"),
    );
    let o = recur(&[
        "classify",
        "train",
        "--data",
        &train,
        "--test",
        &test,
        "--bidirectional",
        "--pooling",
        "mean",
        "--out",
        &out,
        "--quiet",
        "--threads",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "config.json",
        "model.safetensors",
        "report.json",
        "confusion.svg",
    ] {
        assert!(Path::new(&out).join(f).is_file(), "{f}");
    }
    let e = recur(&[
        "classify",
        "eval",
        "--checkpoint",
        &out,
        "--data",
        &test,
        "--json",
        "--plot",
        &dir.join("c.svg").display().to_string(),
    ]);
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let r: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    let acc = r["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.95, "JapaneseVowels test accuracy {acc}");
    assert_eq!(r["count"], 370);
    assert_eq!(r["confusion"].as_array().unwrap().len(), 9);
    // eval reproduces the report written at training time.
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&out).join("report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["accuracy"], r["accuracy"]);
    let pred = dir.join("p.csv").display().to_string();
    let p = recur(&[
        "classify",
        "predict",
        "--checkpoint",
        &out,
        "--data",
        &test,
        "--output",
        &pred,
    ]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let csv = std::fs::read_to_string(&pred).unwrap();
    assert!(csv.starts_with("index,label,p_1,p_2,"));
    assert_eq!(csv.lines().count(), 371);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn padding_a_batch_differently_changes_nothing() {
    // The same test sequences scored one by one (no padding) and in batches of 64 (padded to
    // the longest) give the same report.
    let dir = temp("pad");
    let out = dir.join("run").display().to_string();
    let train = data("JapaneseVowels_TRAIN.ts");
    let o = recur(&[
        "classify", "train", "--data", &train, "--epochs", "3", "--out", &out, "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let one = dir.join("one.ts");
    let text = std::fs::read_to_string(&train).unwrap();
    let body: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("@data"))
        .skip(1)
        .take(5)
        .collect();
    std::fs::write(
        &one,
        format!("@dimensions 12\n@data\n{}\n", body.join("\n")),
    )
    .unwrap();
    let batched = recur(&[
        "classify",
        "predict",
        "--checkpoint",
        &out,
        "--data",
        &one.display().to_string(),
        "--output",
        &dir.join("a.csv").display().to_string(),
    ]);
    assert!(batched.status.success());
    let mut singles = String::new();
    for (i, line) in body.iter().enumerate() {
        let f = dir.join(format!("s{i}.ts"));
        std::fs::write(&f, format!("@dimensions 12\n@data\n{line}\n")).unwrap();
        let o = dir.join(format!("s{i}.csv"));
        assert!(recur(&[
            "classify",
            "predict",
            "--checkpoint",
            &out,
            "--data",
            &f.display().to_string(),
            "--output",
            &o.display().to_string()
        ])
        .status
        .success());
        let csv = std::fs::read_to_string(&o).unwrap();
        singles.push_str(csv.lines().nth(1).unwrap().split_once(',').unwrap().1);
        singles.push('\n');
    }
    let all = std::fs::read_to_string(dir.join("a.csv")).unwrap();
    let rows: String = all
        .lines()
        .skip(1)
        .map(|l| format!("{}\n", l.split_once(',').unwrap().1))
        .collect();
    assert_eq!(rows, singles);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn malformed_or_mismatched_input_gets_one_line() {
    let dir = temp("bad");
    let out = dir.join("out").display().to_string();
    let w = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let cases = [
        (
            w("ragged.ts", "@dimensions 2\n@data\n1,2:3:a\n"),
            vec!["line 3", "different lengths"],
        ),
        (
            w("dims.ts", "@dimensions 2\n@data\n1,2:a\n"),
            vec!["line 3", "1 dimensions, expected 2"],
        ),
        (
            w("empty.jsonl", "{\"label\": \"x\", \"text\": \"\"}\n"),
            vec!["line 1", "empty"],
        ),
        (w("x.txt", "hello"), vec!["unknown format"]),
        (
            w("one.ts", "@dimensions 1\n@data\n1,2:a\n3,4:a\n"),
            vec!["at least 2 classes"],
        ),
    ];
    for (path, needles) in cases {
        let o = recur(&["classify", "train", "--data", &path, "--out", &out]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{path}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        for n in needles {
            assert!(err.contains(n), "{err:?} lacks {n:?}");
        }
        assert!(!Path::new(&out).exists());
    }
    // A label the model never saw.
    let run = dir.join("run").display().to_string();
    let train = data("JapaneseVowels_TRAIN.ts");
    assert!(recur(&[
        "classify", "train", "--data", &train, "--epochs", "1", "--out", &run, "--quiet"
    ])
    .status
    .success());
    let unseen = w(
        "unseen.ts",
        &format!("@dimensions 12\n@data\n{}:42\n", ["0.5"; 12].join(":")),
    );
    let o = recur(&["classify", "eval", "--checkpoint", &run, "--data", &unseen]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("label '42' was not seen in training"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The files of a run directory that must be equal between a whole run and an interrupted and
/// resumed one (the timings aside).
fn without_timings(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    for part in text.split(['{', '}', ',', '\n']) {
        if !part.contains("seconds") && !part.contains("elapsed_s") {
            out += part;
            out += "|";
        }
    }
    out
}

#[test]
fn classify_train_interrupted_and_resumed_ends_bit_for_bit_as_the_whole_run() {
    let dir = temp("classify-resume");
    let (whole, parts) = (dir.join("whole"), dir.join("parts"));
    let data_jv = data("JapaneseVowels_TEST.ts");
    let train = |out: &Path, extra: &[&str]| {
        let out = out.display().to_string();
        let mut args = vec![
            "classify",
            "train",
            "--data",
            &data_jv,
            "--hidden",
            "8",
            "--steps",
            "30",
            "--batch-size",
            "16",
            "--ensemble",
            "1",
            "--out",
            &out,
            "--quiet",
            "--threads",
            "2",
        ];
        args.extend_from_slice(extra);
        recur(&args)
    };
    let o = train(&whole, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = train(&parts, &["--stop-after", "13"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("stopped at step 13"), "{stderr}");
    let p = parts.display().to_string();
    let o = recur(&[
        "classify",
        "train",
        "--resume",
        &p,
        "--quiet",
        "--threads",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["model.safetensors", "optim.safetensors", "report.json"] {
        let (a, b) = (
            std::fs::read(whole.join(f)).unwrap(),
            std::fs::read(parts.join(f)).unwrap(),
        );
        assert!(a == b, "{f} differs");
    }
    for f in ["state.json", "metrics.jsonl"] {
        assert_eq!(
            without_timings(&whole.join(f)),
            without_timings(&parts.join(f)),
            "{f}"
        );
    }
    // Refusals: another task's directory, a directory without a run, flags the run decides.
    let o = recur(&["classify", "train", "--resume", &dir.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    let o = recur(&["classify", "train", "--resume", &p, "--hidden", "4"]);
    assert_eq!(o.status.code(), Some(2));
}
