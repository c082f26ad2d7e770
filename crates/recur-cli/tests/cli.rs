//! End-to-end tests of the `recur` binary in temporary directories: train → eval → sample,
//! resume, init-from, threads, and bad input (one clear line, exit status 2, nothing half-written).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::recur;

fn ok(args: &[&str]) -> Output {
    let out = recur(args);
    assert!(
        out.status.success(),
        "recur {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command that must fail on bad input: status 2 and exactly one line on stderr that
/// contains every one of `needles`.
fn bad(args: &[&str], needles: &[&str]) {
    let out = recur(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "recur {args:?}: status {:?}, stderr {err}",
        out.status
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "recur {args:?}: not one line: {err}"
    );
    for n in needles {
        assert!(
            err.contains(n),
            "recur {args:?}: {err:?} does not mention {n:?}"
        );
    }
}

struct Temp(PathBuf);
impl Temp {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("recur-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Temp(dir)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}
impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn book() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/moby_dick.txt");
    std::fs::read_to_string(path)
        .unwrap()
        .chars()
        .take(30_000)
        .collect()
}

const SMALL: [&str; 12] = [
    "--embed",
    "8",
    "--hidden",
    "24",
    "--batch-size",
    "8",
    "--seq-len",
    "32",
    "--quiet",
    "--sample-length",
    "0",
    "--warmup=2",
];

fn train(text: &str, out: &str, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--text", text, "--out", out];
    args.extend(SMALL);
    args.extend(extra);
    ok(&args)
}

#[test]
fn train_eval_sample_end_to_end() {
    let t = Temp::new("e2e");
    let text = t.path("book.txt");
    std::fs::write(&text, book()).unwrap();
    let out = t.path("run");
    train(&text, &out, &["--steps", "30", "--eval-every", "10"]);
    for f in [
        "config.json",
        "model.safetensors",
        "optim.safetensors",
        "state.json",
        "metrics.jsonl",
        "loss.svg",
        "best/config.json",
        "best/model.safetensors",
    ] {
        assert!(Path::new(&out).join(f).is_file(), "{f} missing");
    }
    let metrics = std::fs::read_to_string(Path::new(&out).join("metrics.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.last().unwrap()["step"], 30);
    assert!(rows.iter().filter(|r| r["val_loss"].is_number()).count() >= 3);
    for key in ["train_loss", "lr", "tokens_per_s", "elapsed_s", "epoch"] {
        assert!(rows[0].get(key).is_some(), "metrics row lacks {key}");
    }
    assert!(std::fs::read_to_string(Path::new(&out).join("loss.svg"))
        .unwrap()
        .starts_with("<svg"));

    let eval = ok(&["eval", "--checkpoint", &out, "--text", &text, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5);
    for k in ["loss", "bpc", "perplexity", "accuracy", "tokens"] {
        assert!(keys.contains(&k), "{k} missing from {v}");
    }
    let loss = v["loss"].as_f64().unwrap();
    assert!(
        loss < 3.9,
        "30 steps should beat the uniform 4.2 nats: {loss}"
    );
    assert!((v["bpc"].as_f64().unwrap() - loss / std::f64::consts::LN_2).abs() < 1e-9);
    assert_eq!(v["tokens"], 29_999);

    let s1 = ok(&[
        "sample",
        "--checkpoint",
        &out,
        "--prime",
        "The whale",
        "--length",
        "80",
        "--seed",
        "3",
    ]);
    let s2 = ok(&[
        "sample",
        "--checkpoint",
        &out,
        "--prime",
        "The whale",
        "--length",
        "80",
        "--seed",
        "3",
    ]);
    let s3 = ok(&[
        "sample",
        "--checkpoint",
        &out,
        "--prime",
        "The whale",
        "--length",
        "80",
        "--seed",
        "4",
    ]);
    assert_eq!(s1.stdout, s2.stdout, "same seed, same text");
    assert_ne!(s1.stdout, s3.stdout, "another seed, other text");
    let text1 = String::from_utf8(s1.stdout).unwrap();
    assert!(text1.starts_with("The whale"));
    assert_eq!(
        text1.trim_end_matches('\n').chars().count(),
        "The whale".len() + 80
    );
    let greedy = ok(&[
        "sample",
        "--checkpoint",
        &out,
        "--argmax",
        "--length",
        "20",
        "--top-k",
        "3",
        "--top-p",
        "0.9",
    ]);
    assert!(!greedy.stdout.is_empty());
}

fn weights(dir: &str) -> Vec<u8> {
    std::fs::read(Path::new(dir).join("model.safetensors")).unwrap()
}

#[test]
fn resume_after_interruption_is_bit_for_bit_and_threads_do_not_matter() {
    let t = Temp::new("resume");
    let text = t.path("book.txt");
    std::fs::write(&text, book()).unwrap();
    let arch = [
        "--layers",
        "2",
        "--dropout",
        "0.3",
        "--steps",
        "24",
        "--eval-every",
        "8",
    ];
    let whole = t.path("whole");
    train(&text, &whole, &[&arch[..], &["--threads", "2"]].concat());
    let parts = t.path("parts");
    train(
        &text,
        &parts,
        &[&arch[..], &["--threads", "1", "--stop-after", "11"]].concat(),
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&parts).join("state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["step"], 11);
    ok(&[
        "train",
        "--resume",
        &parts,
        "--quiet",
        "--sample-length",
        "0",
        "--threads",
        "2",
    ]);
    assert!(
        weights(&whole) == weights(&parts),
        "resumed run differs from the uninterrupted one"
    );
    assert_eq!(
        std::fs::read(Path::new(&whole).join("optim.safetensors")).unwrap(),
        std::fs::read(Path::new(&parts).join("optim.safetensors")).unwrap()
    );
    // Resuming refuses changed settings.
    bad(
        &["train", "--resume", &parts, "--hidden", "32"],
        &["--hidden", "resum"],
    );
}

#[test]
fn init_from_starts_at_the_checkpoint_weights() {
    let t = Temp::new("init");
    let text = t.path("book.txt");
    std::fs::write(&text, book()).unwrap();
    let base = t.path("base");
    train(&text, &base, &["--steps", "20"]);
    let tuned = t.path("tuned");
    // A zero learning rate leaves the weights exactly as loaded.
    ok(&[
        "train",
        "--text",
        &text,
        "--init-from",
        &base,
        "--out",
        &tuned,
        "--steps",
        "2",
        "--lr",
        "1e-30",
        "--quiet",
        "--sample-length",
        "0",
        "--batch-size",
        "8",
        "--seq-len",
        "32",
    ]);
    let a = std::fs::read(Path::new(&base).join("model.safetensors")).unwrap();
    let b = std::fs::read(Path::new(&tuned).join("model.safetensors")).unwrap();
    assert_eq!(a.len(), b.len());
    let eval_a = ok(&["eval", "--checkpoint", &base, "--text", &text, "--json"]);
    let eval_b = ok(&["eval", "--checkpoint", &tuned, "--text", &text, "--json"]);
    let la: serde_json::Value = serde_json::from_slice(&eval_a.stdout).unwrap();
    let lb: serde_json::Value = serde_json::from_slice(&eval_b.stdout).unwrap();
    assert!((la["loss"].as_f64().unwrap() - lb["loss"].as_f64().unwrap()).abs() < 1e-4);
    bad(
        &[
            "train",
            "--text",
            &text,
            "--init-from",
            &base,
            "--hidden",
            "64",
            "--out",
            &t.path("x"),
        ],
        &["--hidden", "init-from"],
    );
}

#[test]
fn bad_input_gets_one_line_and_status_2_and_writes_nothing() {
    let t = Temp::new("bad");
    let out = t.path("out");
    let o = out.as_str();
    bad(
        &["train", "--text", &t.path("missing.txt"), "--out", o],
        &["missing.txt"],
    );
    std::fs::write(t.path("empty.txt"), "").unwrap();
    bad(
        &["train", "--text", &t.path("empty.txt"), "--out", o],
        &["empty.txt", "empty"],
    );
    std::fs::write(t.path("short.txt"), "just a few words").unwrap();
    bad(
        &["train", "--text", &t.path("short.txt"), "--out", o],
        &["16 characters", "too short"],
    );
    std::fs::write(t.path("latin1.txt"), b"caf\xe9 au lait").unwrap();
    bad(
        &["train", "--text", &t.path("latin1.txt"), "--out", o],
        &["latin1.txt", "UTF-8", "offset 3"],
    );
    let text = t.path("book.txt");
    std::fs::write(&text, book()).unwrap();
    bad(&["train", "--text", &text, "--bogus"], &["--bogus"]);
    bad(
        &["train", "--text", &text, "--hidden", "0", "--out", o],
        &["--hidden"],
    );
    bad(
        &["train", "--text", &text, "--dropout", "1.5", "--out", o],
        &["--dropout", "1.5"],
    );
    bad(
        &["train", "--text", &text, "--lr", "-1", "--out", o],
        &["--lr", "-1"],
    );
    bad(
        &["train", "--text", &text, "--hidden", "many", "--out", o],
        &["--hidden", "many"],
    );
    bad(
        &[
            "train",
            "--text",
            &text,
            "--cell",
            "transformer",
            "--out",
            o,
        ],
        &["transformer"],
    );
    bad(
        &[
            "train", "--text", &text, "--steps", "5", "--epochs", "2", "--out", o,
        ],
        &["--steps", "--epochs"],
    );
    bad(
        &["train", "--text", &text, "--out", &t.path("")],
        &["not a recur output directory"],
    );
    assert!(!Path::new(o).exists(), "a failed command left {o} behind");

    // A good checkpoint to break.
    let run = t.path("run");
    train(&text, &run, &["--steps", "3", "--cell", "gru"]);
    let ck = |name: &str| {
        let dir = t.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["config.json", "model.safetensors"] {
            std::fs::copy(Path::new(&run).join(f), Path::new(&dir).join(f)).unwrap();
        }
        dir
    };
    let truncated = ck("truncated");
    let bytes = std::fs::read(Path::new(&truncated).join("model.safetensors")).unwrap();
    std::fs::write(
        Path::new(&truncated).join("model.safetensors"),
        &bytes[..bytes.len() / 3],
    )
    .unwrap();
    bad(
        &["eval", "--checkpoint", &truncated, "--text", &text],
        &["model.safetensors", "not a valid safetensors"],
    );
    let corrupt = ck("corrupt");
    std::fs::write(
        Path::new(&corrupt).join("config.json"),
        "{\"format\": \"recur\", ",
    )
    .unwrap();
    bad(&["sample", "--checkpoint", &corrupt], &["config.json"]);
    let mismatched = ck("mismatched");
    let cfg = std::fs::read_to_string(Path::new(&mismatched).join("config.json")).unwrap();
    std::fs::write(
        Path::new(&mismatched).join("config.json"),
        cfg.replace("\"hidden_size\": 24", "\"hidden_size\": 25"),
    )
    .unwrap();
    bad(
        &["eval", "--checkpoint", &mismatched, "--text", &text],
        &["rnn.weight_ih_l0", "[72, 8]", "[75, 8]"],
    );
    bad(
        &["eval", "--checkpoint", &t.path("nowhere"), "--text", &text],
        &["nowhere"],
    );
    std::fs::write(t.path("greek.txt"), "The whale αβγ").unwrap();
    bad(
        &["eval", "--checkpoint", &run, "--text", &t.path("greek.txt")],
        &["greek.txt", "'α'", "line 1, column 11"],
    );
    bad(
        &["sample", "--checkpoint", &run, "--prime", "Zeus ζ"],
        &["--prime", "'ζ'"],
    );
    bad(
        &["sample", "--checkpoint", &run, "--temperature", "0"],
        &["temperature"],
    );
    // The checkpoint that was broken copies of is untouched and still loads.
    ok(&["eval", "--checkpoint", &run, "--text", &text]);
}

#[test]
fn divergence_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint() {
    let t = Temp::new("nan");
    let text = t.path("book.txt");
    std::fs::write(&text, book()).unwrap();
    let out = t.path("run");
    train(&text, &out, &["--steps", "3"]);
    let mut args = vec!["train", "--text", &text, "--out", &out, "--overwrite"];
    args.extend(SMALL);
    args.extend([
        "--optimizer",
        "sgd",
        "--lr",
        "1e30",
        "--clip",
        "0",
        "--lr-schedule",
        "constant",
        "--steps",
        "50",
        "--eval-every",
        "1",
    ]);
    let o = recur(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("training stopped") && err.contains("last checkpoint"),
        "{err}"
    );
    // The checkpoint on disk is the last good one: written before the divergence, it loads
    // and scores to a finite loss.
    let eval = ok(&["eval", "--checkpoint", &out, "--text", &text, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert!(v["loss"].as_f64().unwrap().is_finite());
}

#[test]
fn ctrl_c_stops_cleanly_with_a_checkpoint_to_resume() {
    let t = Temp::new("sigint");
    let text = t.path("book.txt");
    std::fs::write(&text, book()).unwrap();
    let out = t.path("run");
    let mut args = vec![
        "train",
        "--text",
        &text,
        "--out",
        &out,
        "--time-budget",
        "60",
    ];
    args.extend(SMALL);
    let mut child = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(&args)
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    // Interrupted after saving: the status shells expect of Ctrl-C.
    assert_eq!(status.code(), Some(130), "{status:?}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(&out).join("state.json")).unwrap())
            .unwrap();
    assert!(state["step"].as_u64().unwrap() >= 1);
    ok(&[
        "train",
        "--resume",
        &out,
        "--time-budget",
        "1",
        "--quiet",
        "--sample-length",
        "0",
    ]);
    let leftovers: Vec<_> = std::fs::read_dir(&t.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-") || n.contains(".old-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
