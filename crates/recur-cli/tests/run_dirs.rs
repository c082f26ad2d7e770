//! Output directories (issue: no lost data): a new run never replaces another run's files unless
//! told to, never deletes files recur did not write, never keeps a stale `best/`, and a run
//! killed at any point of a checkpoint save leaves a checkpoint that loads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{case, recur, recur_owned, temp, tiny_train};

fn train_args(out: &str) -> Vec<String> {
    tiny_train(out, 6)
}

fn run(args: &[String]) -> Output {
    recur_owned(args)
}

fn ok(args: &[String]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "recur {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Shared case 1: a forecast into a character model's directory is refused and deletes nothing.
#[test]
fn out_holding_another_run_is_refused() {
    let dir = temp("refuse");
    let out = dir.join("r1").display().to_string();
    ok(&train_args(&out));
    std::fs::write(dir.join("r1/NOTES.txt"), "mine").unwrap();
    let before = listing(&dir.join("r1"));
    let model_before = std::fs::read(dir.join("r1/model.safetensors")).unwrap();
    let airline = case("airline.csv");
    for args in [
        vec![
            "forecast",
            "--csv",
            &airline,
            "--target",
            "Passengers",
            "--time",
            "Date",
            "--epochs",
            "1",
            "--out",
            &out,
        ],
        vec!["classify", "train", "--data", &airline, "--out", &out],
    ] {
        let r = recur(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(&out) && err.contains("--overwrite"), "{err}");
    }
    let train_again = ok_status(&train_args(&out));
    assert_eq!(train_again, Some(2));
    assert_eq!(listing(&dir.join("r1")), before);
    assert_eq!(
        std::fs::read(dir.join("r1/model.safetensors")).unwrap(),
        model_before
    );
    assert_eq!(std::fs::read(dir.join("r1/NOTES.txt")).unwrap(), b"mine");
}

fn ok_status(args: &[String]) -> Option<i32> {
    run(args).status.code()
}

/// Shared case 2: `--overwrite` replaces the earlier run's files, `best/` included, and keeps the
/// user's own.
#[test]
fn overwrite_leaves_no_stale_best_and_keeps_unknown_files() {
    let dir = temp("overwrite");
    let out = dir.join("r2").display().to_string();
    ok(&train_args(&out));
    assert!(dir.join("r2/best/config.json").is_file());
    std::fs::write(dir.join("r2/NOTES.txt"), "mine").unwrap();
    let mut args = train_args(&out);
    args.extend(["--val-frac", "0", "--cell", "lstm", "--overwrite"].map(String::from));
    ok(&args);
    assert!(
        !dir.join("r2/best").exists(),
        "a run without validation must not keep the previous run's best/"
    );
    let config = std::fs::read_to_string(dir.join("r2/config.json")).unwrap();
    assert!(config.contains("\"lstm\""), "{config}");
    assert_eq!(std::fs::read(dir.join("r2/NOTES.txt")).unwrap(), b"mine");
}

/// Without `--out`, a second run goes to a numbered directory beside the first.
#[test]
fn default_out_is_numbered_not_replaced() {
    let dir = temp("numbered");
    let letters = case("letters.txt");
    let args = [
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
        "--steps",
        "2",
        "--sample-length",
        "0",
        "--quiet",
    ];
    for _ in 0..2 {
        let r = Command::new(env!("CARGO_BIN_EXE_recur"))
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    assert!(dir.join("runs/char-lm/model.safetensors").is_file());
    assert!(dir.join("runs/char-lm-2/model.safetensors").is_file());
}

fn loads(dir: &Path) -> bool {
    let text = case("letters.txt");
    let d = dir.display().to_string();
    recur(&["eval", "--checkpoint", &d, "--text", &text])
        .status
        .success()
}

fn leftovers(parent: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect()
}

/// A run killed at every step of a checkpoint save (the writer's fault-injection hook aborts the
/// process there) leaves a checkpoint and a `best/` that load, and the next run into the
/// directory cleans up what the killed one left.
#[test]
fn killed_at_each_step_of_a_save_a_checkpoint_loads() {
    let dir = temp("kill");
    for point in ["created", "filled", "carried", "synced", "swapped"] {
        for nth in [1, 2] {
            let out_dir = dir.join(format!("{point}-{nth}"));
            let out = out_dir.display().to_string();
            let r = Command::new(env!("CARGO_BIN_EXE_recur"))
                .args(train_args(&out))
                .env("RECUR_FAULT_POINT", format!("{point}@{nth}"))
                .output()
                .unwrap();
            assert!(!r.status.success(), "{point}@{nth}: the hook did not fire");
            if nth == 1 && point != "swapped" {
                // Killed during the first save: nothing was there to keep.
                assert!(!out_dir.exists() || !loads(&out_dir), "{point}@{nth}");
            } else {
                assert!(loads(&out_dir), "{point}@{nth}: no loadable checkpoint");
                assert!(loads(&out_dir.join("best")), "{point}@{nth}: no best/");
            }
            if out_dir.join("config.json").is_file() {
                let keep: Vec<String> =
                    ["train", "--resume", &out, "--quiet", "--sample-length", "0"]
                        .map(String::from)
                        .to_vec();
                ok(&keep);
                assert!(loads(&out_dir) && loads(&out_dir.join("best")));
            } else {
                ok(&train_args(&out));
            }
            let left: Vec<PathBuf> = leftovers(&dir)
                .into_iter()
                .filter(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(&format!(".{point}-{nth}."))
                })
                .collect();
            assert!(left.is_empty(), "{point}@{nth}: left behind {left:?}");
        }
    }
}

/// The training text is recorded by its absolute path: a run started with a relative path
/// resumes from any working directory, and a text that moved is named with where it came from.
#[test]
fn resume_finds_a_relative_text_from_another_directory() {
    let dir = temp("relative");
    std::fs::copy(case("letters.txt"), dir.join("letters.txt")).unwrap();
    let run = |cwd: &Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_recur"))
            .args(args)
            .current_dir(cwd)
            .output()
            .unwrap()
    };
    let first = run(
        &dir,
        &[
            "train",
            "--text",
            "letters.txt",
            "--hidden",
            "8",
            "--embed",
            "4",
            "--batch-size",
            "2",
            "--seq-len",
            "8",
            "--steps",
            "2",
            "--quiet",
            "--sample-length",
            "0",
            "--out",
            "run",
        ],
    );
    assert!(first.status.success());
    let out = dir.join("run").display().to_string();
    let resumed = run(
        Path::new("/"),
        &[
            "train",
            "--resume",
            &out,
            "--steps",
            "4",
            "--quiet",
            "--sample-length",
            "0",
        ],
    );
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    std::fs::rename(dir.join("letters.txt"), dir.join("moved.txt")).unwrap();
    let moved = run(
        Path::new("/"),
        &[
            "train",
            "--resume",
            &out,
            "--steps",
            "6",
            "--quiet",
            "--sample-length",
            "0",
        ],
    );
    let err = String::from_utf8_lossy(&moved.stderr);
    assert_eq!(moved.status.code(), Some(2), "{err}");
    assert!(err.contains("letters.txt") && err.contains("config.json") && err.contains("--text"));
}
