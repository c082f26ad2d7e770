//! `recur classify` on texts: words as units (stored in the checkpoint, so eval and predict
//! read raw text), `--folds K` cross-validation, and `--encoding` for non-UTF-8 files.

mod common;
use common::{recur, temp};
use std::path::Path;

/// `n` short reviews: "pos" ones use praising words, "neg" ones damning words, with filler.
fn reviews(n: usize) -> String {
    let (good, bad, filler) = (
        ["great", "superb", "moving", "fun"],
        ["dull", "awful", "boring", "mess"],
        ["the", "film", "is", "a", "plot", "and"],
    );
    let mut out = String::new();
    for i in 0..n {
        let pos = i % 2 == 0;
        let words = if pos { &good } else { &bad };
        let text = format!(
            "{} {} {} {}, {} !",
            filler[i % 6],
            words[i % 4],
            filler[(i / 2) % 6],
            words[(i / 3) % 4],
            filler[(i / 5) % 6]
        );
        let label = if pos { "pos" } else { "neg" };
        out += &format!("{{\"text\": \"{text}\", \"label\": \"{label}\"}}\n");
    }
    out
}

const SMALL: [&str; 8] = [
    "--hidden",
    "8",
    "--embed",
    "8",
    "--steps",
    "150",
    "--threads",
    "2",
];

#[test]
fn words_are_units_and_stored_in_the_checkpoint() {
    let dir = temp("text-words");
    let data = dir.join("r.jsonl");
    std::fs::write(&data, reviews(80)).unwrap();
    let data = data.display().to_string();
    let out = dir.join("run").display().to_string();
    let mut args = vec![
        "classify", "train", "--data", &data, "--out", &out, "--quiet",
    ];
    args.extend(SMALL);
    let o = recur(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&out).join("config.json")).unwrap(),
    )
    .unwrap();
    let words: Vec<&str> = config["model"]["words"]["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        words.contains(&"superb") && words.contains(&","),
        "{words:?}"
    );
    assert_eq!(config["model"]["vocab"].as_array().unwrap().len(), 0);
    let e = recur(&[
        "classify",
        "eval",
        "--checkpoint",
        &out,
        "--data",
        &data,
        "--json",
    ]);
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let r: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    assert!(r["accuracy"].as_f64().unwrap() > 0.9, "{r}");
    // Raw, unlabelled text with unseen words and upper case.
    let raw = dir.join("raw.jsonl");
    std::fs::write(
        &raw,
        "{\"text\": \"SUPERB great FUN moving never-seen-word\"}\n{\"text\": \"awful dull mess\"}\n",
    )
    .unwrap();
    let csv = dir.join("p.csv");
    let p = recur(&[
        "classify",
        "predict",
        "--checkpoint",
        &out,
        "--data",
        &raw.display().to_string(),
        "--output",
        &csv.display().to_string(),
    ]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    let labels: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(labels, ["pos", "neg"], "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn folds_cross_validate_and_write_a_report() {
    let dir = temp("text-folds");
    let data = dir.join("r.jsonl");
    std::fs::write(&data, reviews(60)).unwrap();
    let data = data.display().to_string();
    let out = dir.join("cv").display().to_string();
    let mut args = vec![
        "classify", "train", "--data", &data, "--folds", "3", "--out", &out,
    ];
    args.extend(SMALL);
    let o = recur(&args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stderr}");
    assert_eq!(stderr.matches("fold ").count(), 3, "{stderr}");
    assert!(
        stdout.contains("3-fold cross-validation: accuracy"),
        "{stdout}"
    );
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&out).join("cv_report.json")).unwrap(),
    )
    .unwrap();
    let folds = r["cross_validation"]["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    let counts: u64 = folds
        .iter()
        .map(|f| f["test_count"].as_u64().unwrap())
        .sum();
    assert_eq!(counts, 60);
    let mean: f64 = folds
        .iter()
        .map(|f| f["accuracy"].as_f64().unwrap())
        .sum::<f64>()
        / 3.0;
    assert!((r["cross_validation"]["mean_accuracy"].as_f64().unwrap() - mean).abs() < 1e-12);
    // --folds with a test file is refused by the parser.
    let o = recur(&[
        "classify", "train", "--data", &data, "--test", &data, "--folds", "3",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn encoding_names_the_flag_and_reads_windows_1252() {
    let dir = temp("text-enc");
    let path = dir.join("cp1252.jsonl");
    let mut bytes = Vec::new();
    for i in 0..30 {
        let (word, label): (&[u8], &str) = if i % 2 == 0 {
            (b"caf\xe9 superb", "pos")
        } else {
            (b"na\xefve dull", "neg")
        };
        bytes.extend(b"{\"text\": \"");
        bytes.extend(word);
        bytes.extend(format!(" {i}\", \"label\": \"{label}\"}}\n").as_bytes());
    }
    std::fs::write(&path, &bytes).unwrap();
    let p = path.display().to_string();
    let out = dir.join("run").display().to_string();
    let o = recur(&["classify", "train", "--data", &p, "--out", &out]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for needle in ["cp1252.jsonl", "offset 13, line 1", "--encoding"] {
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    }
    let mut args = vec![
        "classify",
        "train",
        "--data",
        &p,
        "--encoding",
        "windows-1252",
        "--out",
        &out,
        "--quiet",
    ];
    args.extend(SMALL);
    let o = recur(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config = std::fs::read_to_string(Path::new(&out).join("config.json")).unwrap();
    assert!(config.contains("café"), "{config}");
    let o = recur(&["classify", "train", "--data", &p, "--encoding", "klingon"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--encoding \"klingon\""), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_text_model_is_refit_on_all_the_training_data_by_default() {
    let dir = temp("text-refit");
    let data = dir.join("r.jsonl");
    std::fs::write(&data, reviews(80)).unwrap();
    let data = data.display().to_string();
    let out = dir.join("run").display().to_string();
    let mut args = vec![
        "classify",
        "train",
        "--data",
        &data,
        "--out",
        &out,
        "--ensemble",
        "1",
    ];
    args.extend(SMALL);
    let o = recur(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("then a refit on all the training data"),
        "{err}"
    );
    assert!(
        err.contains("then trained again on all 64 training sequences"),
        "{err}"
    );
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&out).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["refit"]["sequences"], 64, "{config}");
    assert!(config["refit"]["steps"].as_u64().unwrap() >= 1);
    // The finished run cannot be resumed; --refit false trains the plain model.
    let o = recur(&["classify", "train", "--resume", &out]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("nothing to resume") && err.lines().count() == 1,
        "{err}"
    );
    let plain = dir.join("plain").display().to_string();
    let mut args = vec![
        "classify",
        "train",
        "--data",
        &data,
        "--out",
        &plain,
        "--ensemble",
        "1",
        "--refit",
        "false",
    ];
    args.extend(SMALL);
    let o = recur(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && !err.contains("trained again"),
        "{err}"
    );
}
