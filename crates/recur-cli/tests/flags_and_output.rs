//! Flags that make a computation impossible or that would be ignored, and output that cannot be
//! written (issue: no panic, no silent nonsense): one line, status 2 before any work; a closed
//! pipe ends quietly; a full disk is one line and status 1.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::{case, recur, temp};

/// Status 2, one line on stderr naming `flag`, and no output directory.
fn refused(args: &[&str], flag: &str, out: &Path) {
    let r = recur(args);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(flag), "{args:?}: {err:?} does not name {flag}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "{args:?} left {}", out.display());
}

#[test]
fn impossible_flag_values_are_refused_before_training() {
    let dir = temp("impossible");
    let out = dir.join("out");
    let o = out.display().to_string();
    let airline = case("airline.csv");
    let fc = |extra: &[&'static str]| {
        let mut a = vec![
            "forecast",
            "--csv",
            &airline,
            "--target",
            "Passengers",
            "--time",
            "Date",
            "--epochs",
            "3",
            "--out",
            &o,
        ];
        a.extend_from_slice(extra);
        a
    };
    refused(&fc(&["--period", "0"]), "--period", &out);
    refused(&fc(&["--period", "0", "--seasonal-diff"]), "--period", &out);
    refused(
        &fc(&["--horizon", "18446744073709551615"]),
        "--horizon",
        &out,
    );
    refused(&fc(&["--lookback", "100000"]), "--lookback", &out);
    refused(&fc(&["--lr", "0"]), "--lr", &out);
    refused(&fc(&["--lr", "-1"]), "--lr", &out);
    refused(&fc(&["--batch-size", "0"]), "--batch-size", &out);
    let ts = case("ts_clean.ts");
    let cl = |extra: &[&'static str]| {
        let mut a = vec!["classify", "train", "--data", &ts, "--out", &o];
        a.extend_from_slice(extra);
        a
    };
    refused(&cl(&["--lr", "0"]), "--lr", &out);
    refused(&cl(&["--lr", "-0.5"]), "--lr", &out);
    refused(&cl(&["--lr", "NaN"]), "--lr", &out);
    refused(&cl(&["--batch-size", "0"]), "--batch-size", &out);
    refused(&cl(&["--epochs", "0"]), "--epochs", &out);
    let letters = case("letters.txt");
    refused(
        &[
            "train",
            "--text",
            &letters,
            "--hidden",
            "8",
            "--embed",
            "4",
            "--batch-size",
            "2",
            "--seq-len",
            "8",
            "--epochs",
            "7527595115280579359",
            "--out",
            &o,
        ],
        "--epochs",
        &out,
    );
    // A value beyond the flag's type is refused by the parser, not wrapped.
    refused(
        &[
            "train",
            "--text",
            &letters,
            "--steps",
            "99999999999999999999999",
            "--out",
            &o,
        ],
        "--steps",
        &out,
    );
}

fn small_run(out: &str) -> Vec<String> {
    [
        "train",
        "--text",
        &case("letters.txt"),
        "--hidden",
        "16",
        "--embed",
        "8",
        "--batch-size",
        "4",
        "--seq-len",
        "16",
        "--steps",
        "5",
        "--sample-length",
        "0",
        "--out",
        out,
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn dropout_with_one_layer_acts_on_the_head_input_of_a_character_model_and_warns_elsewhere() {
    let dir = temp("dropout");
    let out = dir.join("r16").display().to_string();
    let mut args = small_run(&out);
    args.extend(["--layers", "1", "--dropout", "0.5", "--quiet"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = recur(&args);
    assert!(r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!err.contains("no effect"), "{err}");
    // The classifier's dropout is between stacked layers only, as PyTorch's: inert with one.
    let data = common::data("sequences/JapaneseVowels_TEST.ts");
    let out = dir.join("c").display().to_string();
    let r = recur(&[
        "classify",
        "train",
        "--data",
        &data,
        "--steps",
        "2",
        "--hidden",
        "4",
        "--layers",
        "1",
        "--dropout",
        "0.5",
        "--quiet",
        "--out",
        &out,
    ]);
    assert!(r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("--dropout") && err.contains("no effect") && err.contains("--layers"),
        "{err}"
    );
}

/// The dropout line of a run's settings.
fn dropout_line(args: &[String]) -> Option<String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = recur(&args);
    let err = String::from_utf8_lossy(&r.stderr).to_string();
    assert!(r.status.success(), "{err}");
    err.lines()
        .find(|l| l.starts_with("dropout "))
        .map(str::to_string)
}

#[test]
fn the_default_dropout_follows_the_passes_the_run_makes_and_a_flag_wins() {
    let dir = temp("dropout-rule");
    // letters.txt: 5 steps of 4 × 16 characters are under one pass: no dropout.
    let args = small_run(&dir.join("few").display().to_string());
    let line = dropout_line(&args).expect("the rule's choice is printed");
    assert!(line.starts_with("dropout 0 (about 0."), "{line}");
    // 40 epochs of whole steps (39.8 passes): the most the rule gives.
    let mut args = small_run(&dir.join("many").display().to_string());
    let at = args.iter().position(|a| a == "--steps").unwrap();
    args.splice(at..at + 2, ["--epochs".to_string(), "40".to_string()]);
    let line = dropout_line(&args).expect("the rule's choice is printed");
    assert!(line.starts_with("dropout 0.5 (about 39.8 passes"), "{line}");
    let config = std::fs::read_to_string(dir.join("many/config.json")).unwrap();
    let ckpt: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(ckpt["model"]["dropout"], 0.5, "{ckpt}");
    // A time budget is estimated from a few trial steps.
    let mut args = small_run(&dir.join("timed").display().to_string());
    args.splice(at..at + 2, ["--time-budget".to_string(), "1".to_string()]);
    let line = dropout_line(&args).expect("the rule's choice is printed");
    assert!(line.contains("trial steps"), "{line}");
    // An explicit flag wins, and nothing is printed about the rule.
    let mut args = small_run(&dir.join("flag").display().to_string());
    args.extend(["--dropout".to_string(), "0.1".to_string()]);
    assert_eq!(dropout_line(&args), None);
}

#[test]
fn resume_refuses_training_flags_it_would_ignore() {
    let dir = temp("resume-flags");
    let out = dir.join("run").display().to_string();
    let args = small_run(&out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(recur(&[&args[..], &["--quiet"]].concat()).status.success());
    for flag in [
        "--clip",
        "--clip-value",
        "--warmup",
        "--weight-decay",
        "--eval-every",
    ] {
        let r = recur(&["train", "--resume", &out, flag, "1"]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{flag}: {err}");
        assert!(err.contains(flag) && err.contains("resuming"), "{err}");
    }
}

#[test]
fn divergence_before_any_save_does_not_claim_a_checkpoint() {
    let dir = temp("diverge-early");
    let out = dir.join("run");
    let o = out.display().to_string();
    let mut args = small_run(&o);
    args.extend(
        [
            "--optimizer",
            "sgd",
            "--lr",
            "1e30",
            "--clip",
            "0",
            "--lr-schedule",
            "constant",
            "--quiet",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = recur(&args);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("before any checkpoint"), "{err}");
    assert!(!err.contains("was kept"), "{err}");
    assert!(!out.join("config.json").exists());
}

#[test]
fn help_prints_each_default_once() {
    for cmd in [
        &["train"][..],
        &["eval"],
        &["sample"],
        &["bench"],
        &["forecast"],
        &["classify", "train"],
        &["classify", "eval"],
        &["classify", "predict"],
        &["task"],
        &["gradients"],
    ] {
        let r = recur(&[cmd, &["--help"]].concat());
        let help = String::from_utf8_lossy(&r.stdout);
        for line in help.lines() {
            assert!(line.matches("[default:").count() <= 1, "{cmd:?}: {line}");
        }
    }
}

fn checkpoint(dir: &Path) -> String {
    let out = dir.join("ck").display().to_string();
    let args = small_run(&out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(recur(&[&args[..], &["--quiet"]].concat()).status.success());
    out
}

#[test]
fn broken_pipe_ends_quietly() {
    let dir = temp("pipe");
    let ck = checkpoint(&dir);
    let ts = case("ts_clean.ts");
    let out = dir.join("r5").display().to_string();
    for args in [
        vec!["sample", "--checkpoint", &ck, "--length", "200000"],
        vec!["classify", "--help"],
        // Shared case 5: the report of a training run piped into `head -1`.
        vec![
            "classify", "train", "--data", &ts, "--epochs", "2", "--hidden", "8", "--out", &out,
        ],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_recur"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 1];
        let mut stdout = child.stdout.take().unwrap();
        let _ = stdout.read(&mut first);
        drop(stdout);
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(status.success(), "{args:?}: {status:?} {err}");
    }
}

#[test]
fn full_disk_is_one_line_and_status_1() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return; // No /dev/full on this system.
    };
    let dir = temp("full");
    let ck = checkpoint(&dir);
    let r = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(["eval", "--checkpoint", &ck, "--text", &case("letters.txt")])
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("standard output"), "{err}");
}
