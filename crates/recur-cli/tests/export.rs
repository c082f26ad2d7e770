//! `recur export` end to end: checkpoints of each task become ONNX files; bad input gets one
//! line, status 2, and no file.

mod common;
use common::{recur, recur_owned, temp, tiny_train};
use std::path::Path;

/// Exports `checkpoint` to `out`, asserting success, and returns the file's bytes.
fn export(checkpoint: &str, out: &Path, extra: &[&str]) -> Vec<u8> {
    let out_s = out.display().to_string();
    let mut args = vec!["export", "--checkpoint", checkpoint, "--out", &out_s];
    args.extend(extra);
    let o = recur(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("wrote"));
    std::fs::read(out).unwrap()
}

fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_character_model_exports_with_its_vocabulary() {
    let dir = temp("export-char");
    let run = dir.join("run").display().to_string();
    let o = recur_owned(&tiny_train(&run, 2));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = export(&run, &dir.join("m.onnx"), &["--format", "onnx"]);
    for needle in ["recur.vocab", "recur.config", "GRU", "lengths", "h_n"] {
        assert!(contains(&bytes, needle), "{needle}");
    }
    // Without sequence lengths the graph has no `lengths` input.
    let fixed = export(&run, &dir.join("fixed.onnx"), &["--equal-lengths"]);
    assert!(!contains(&fixed, "lengths"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_classifier_exports_with_its_classes() {
    let dir = temp("export-classify");
    let run = dir.join("run").display().to_string();
    let data = |n: &str| common::data(&format!("sequences/{n}"));
    let o = recur(&[
        "classify",
        "train",
        "--data",
        &data("JapaneseVowels_TRAIN.ts"),
        "--test",
        &data("JapaneseVowels_TEST.ts"),
        "--steps",
        "2",
        "--hidden",
        "8",
        "--bidirectional",
        "--pooling",
        "max",
        "--out",
        &run,
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = export(&run, &dir.join("c.onnx"), &[]);
    for needle in [
        "recur.classes",
        "recur.scaling",
        "features",
        "probs",
        "ReduceMax",
    ] {
        assert!(contains(&bytes, needle), "{needle}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_input_gets_one_line_and_status_2_and_no_file() {
    let dir = temp("export-bad");
    let run = dir.join("run").display().to_string();
    let o = recur_owned(&tiny_train(&run, 2));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.join("m.onnx").display().to_string();
    let missing = dir.join("nothing").display().to_string();
    let config = format!("{run}/config.json");
    let unwritable = dir.join("no/such/dir/m.onnx").display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--checkpoint", &missing, "--out", &out],
            "no such checkpoint directory",
        ),
        (vec!["--checkpoint", &config, "--out", &out], "is a file"),
        (
            vec!["--checkpoint", &run, "--out", &out, "--format", "tflite"],
            "--format",
        ),
        (vec!["--checkpoint", &run, "--out", &unwritable], "m.onnx"),
        (vec!["--checkpoint", &run], "required arguments"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["export"];
        all.extend(args);
        let o = recur(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{all:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
        assert!(!Path::new(&out).exists());
    }
    // A directory that is not a checkpoint.
    std::fs::write(dir.join("config.json"), "{\"format\": \"other\"}").unwrap();
    let d = dir.display().to_string();
    let o = recur(&["export", "--checkpoint", &d, "--out", &out]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("not a recur checkpoint"), "{err}");
    assert!(!Path::new(&out).exists());
    let _ = std::fs::remove_dir_all(dir);
}
