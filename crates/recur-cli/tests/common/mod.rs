//! Helpers shared by the end-to-end tests of the `recur` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary with `args`.
pub fn recur(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .output()
        .expect("the recur binary runs")
}

/// Path of a file shipped under `data/`.
pub fn data(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(relative)
        .display()
        .to_string()
}

/// A fresh, empty directory for one test.
pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recur-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Path of a small input under `tests/fixtures/cases/` (copies of the shared failing cases,
/// made for these tests).
pub fn case(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/cases")
        .join(name)
        .display()
        .to_string()
}

/// `recur train` of a tiny character model on `letters.txt` into `out` for `steps` steps,
/// validating and saving every 2 steps, quietly and without a sample.
pub fn tiny_train(out: &str, steps: u64) -> Vec<String> {
    let steps = steps.to_string();
    [
        "train",
        "--text",
        &case("letters.txt"),
        "--hidden",
        "8",
        "--embed",
        "4",
        "--batch-size",
        "2",
        "--seq-len",
        "8",
        "--steps",
        &steps,
        "--eval-every",
        "2",
        "--sample-length",
        "0",
        "--quiet",
        "--out",
        out,
    ]
    .map(String::from)
    .to_vec()
}

/// Runs the binary with owned arguments.
pub fn recur_owned(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    recur(&args)
}
