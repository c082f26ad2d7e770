//! Ordinary mistakes found by trying recur as a newcomer does: files of the user's own inside
//! `best/`, links, outputs that would replace the inputs, two runs into one directory, a closed
//! standard error, absurd thread counts and batch sizes, a finished run resumed without a larger
//! budget, undeclared class labels. Each is refused with one line and status 2, or handled.

use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;
use common::{case, recur, recur_owned, temp, tiny_train};

fn small(out: &str, steps: &str) -> Vec<String> {
    tiny_train(out, steps.parse().unwrap())
}

fn run(args: &[String]) -> Output {
    recur_owned(args)
}

fn refused(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for n in needles {
        assert!(err.contains(n), "{err:?} lacks {n:?}");
    }
}

#[test]
fn files_of_the_users_own_inside_best_survive_resume_and_overwrite() {
    let dir = temp("best-files");
    let out = dir.join("run").display().to_string();
    assert!(run(&small(&out, "4")).status.success());
    let best = dir.join("run/best");
    std::fs::write(best.join("analysis.txt"), "mine").unwrap();
    std::fs::create_dir(best.join("plots")).unwrap();
    std::fs::write(best.join("plots/p.txt"), "mine too").unwrap();
    // A resumed run writes a new best/ and keeps them.
    let o = recur(&[
        "train",
        "--resume",
        &out,
        "--steps",
        "8",
        "--quiet",
        "--sample-length",
        "0",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(best.join("analysis.txt")).unwrap(), b"mine");
    assert_eq!(
        std::fs::read(best.join("plots/p.txt")).unwrap(),
        b"mine too"
    );
    // So does a new run allowed to overwrite, even one that writes no best/.
    let mut again = small(&out, "2");
    again.extend(["--overwrite", "--val-frac", "0"].map(String::from));
    assert!(run(&again).status.success());
    assert_eq!(std::fs::read(best.join("analysis.txt")).unwrap(), b"mine");
    assert!(
        !best.join("config.json").exists(),
        "the earlier run's best model is gone"
    );
}

#[cfg(unix)]
#[test]
fn links_are_followed_not_replaced() {
    let dir = temp("links");
    let real = dir.join("real");
    std::fs::create_dir(&real).unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = link.join("run").display().to_string();
    assert!(run(&small(&out, "2")).status.success());
    assert!(real.join("run/model.safetensors").is_file());
    // A link to the run directory itself: the run behind it continues.
    let run_link = dir.join("run-link");
    std::os::unix::fs::symlink(real.join("run"), &run_link).unwrap();
    let rl = run_link.display().to_string();
    let o = recur(&[
        "train",
        "--resume",
        &rl,
        "--steps",
        "4",
        "--quiet",
        "--sample-length",
        "0",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::symlink_metadata(&run_link)
        .unwrap()
        .file_type()
        .is_symlink());
    let state = std::fs::read_to_string(real.join("run/state.json")).unwrap();
    assert!(state.contains("\"step\": 4"), "{state}");
}

#[test]
fn outputs_that_would_replace_an_input_are_refused() {
    let dir = temp("clobber");
    let ck = dir.join("ck").display().to_string();
    let data = dir.join("d.ts");
    std::fs::copy(case("ts_clean.ts"), &data).unwrap();
    let d = data.display().to_string();
    let o = recur(&[
        "classify", "train", "--data", &d, "--epochs", "2", "--hidden", "4", "--out", &ck,
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = std::fs::read(&data).unwrap();
    let o = recur(&[
        "classify",
        "predict",
        "--checkpoint",
        &ck,
        "--data",
        &d,
        "--output",
        &d,
    ]);
    refused(&o, &["--output", "input"]);
    assert_eq!(std::fs::read(&data).unwrap(), before);
    let model = format!("{ck}/model.safetensors");
    let o = recur(&[
        "classify",
        "eval",
        "--checkpoint",
        &ck,
        "--data",
        &d,
        "--plot",
        &model,
    ]);
    refused(&o, &["--plot", "checkpoint"]);
    let o = recur(&["classify", "eval", "--checkpoint", &ck, "--data", &d]);
    assert!(o.status.success(), "the checkpoint still loads");
}

#[test]
fn a_second_run_into_a_directory_in_use_is_refused() {
    let dir = temp("lock");
    // A lock held by a running process (this test).
    std::fs::write(dir.join(".run.lock"), std::process::id().to_string()).unwrap();
    let out = dir.join("run").display().to_string();
    refused(&run(&small(&out, "2")), &["another recur run", "run"]);
    // A lock left by a process that no longer runs is taken over.
    std::fs::write(dir.join(".run.lock"), "4294967295").unwrap();
    assert!(run(&small(&out, "2")).status.success());
    assert!(
        !dir.join(".run.lock").exists(),
        "the lock goes with the run"
    );
}

#[test]
fn a_closed_standard_error_does_not_stop_a_run() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return;
    };
    let dir = temp("stderr");
    let out = dir.join("run").display().to_string();
    let mut args = small(&out, "4");
    args.retain(|a| a != "--quiet");
    let o = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(&args)
        .stderr(full)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", o.status);
    assert!(Path::new(&out).join("model.safetensors").is_file());
}

#[test]
fn absurd_thread_counts_batch_sizes_and_budgets_are_refused() {
    let dir = temp("absurd");
    let out = dir.join("run").display().to_string();
    let mut a = small(&out, "2");
    a.extend(["--threads", "100000"].map(String::from));
    refused(&run(&a), &["--threads", "1024"]);
    let text = case("letters.txt");
    let o = recur(&[
        "train",
        "--text",
        &text,
        "--batch-size",
        "100000",
        "--seq-len",
        "100000",
        "--out",
        &out,
    ]);
    refused(&o, &["--batch-size", "limit"]);
    let o = recur(&["train", "--text", dir.to_str().unwrap(), "--out", &out]);
    refused(&o, &["is a directory"]);
    // A finished run resumed without a larger budget.
    assert!(run(&small(&out, "2")).status.success());
    let o = recur(&["train", "--resume", &out, "--steps", "1"]);
    refused(&o, &["already at step 2", "--steps"]);
}

#[test]
fn undeclared_class_labels_are_refused() {
    let dir = temp("labels");
    let ts = dir.join("x.ts");
    std::fs::write(
        &ts,
        "@dimensions 1\n@classLabel true a b\n@data\n1,2,3:a\n2,3,4:b\n3,4,5:c\n",
    )
    .unwrap();
    let out = dir.join("run").display().to_string();
    let o = recur(&[
        "classify",
        "train",
        "--data",
        ts.to_str().unwrap(),
        "--out",
        &out,
    ]);
    refused(&o, &["line 6", "'c'", "@classLabel"]);
}

#[test]
fn fine_tuning_may_change_dropout_and_constant_means_constant() {
    let dir = temp("finetune");
    let base = dir.join("base").display().to_string();
    let mut a = tiny_train(&base, 2);
    a.extend(["--layers", "2"].map(String::from));
    assert!(recur_owned(&a).status.success());
    let tuned = dir.join("tuned").display().to_string();
    let mut b = tiny_train(&tuned, 2);
    // Architecture flags of tiny_train do not apply with --init-from.
    for flag in ["--hidden", "--embed"] {
        let at = b.iter().position(|x| x == flag).unwrap();
        b.drain(at..at + 2);
    }
    b.extend(["--init-from", &base, "--dropout", "0.3"].map(String::from));
    let o = recur_owned(&b);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config = std::fs::read_to_string(dir.join("tuned/config.json")).unwrap();
    assert!(config.contains("\"dropout\": 0.3"), "{config}");
    let mut c = b.clone();
    let at = c.iter().position(|x| x == "--out").unwrap();
    c[at + 1] = dir.join("tuned-2").display().to_string();
    c.extend(["--hidden", "8"].map(String::from));
    refused(&recur_owned(&c), &["--hidden", "--init-from"]);
    // --lr-schedule constant: no warm-up unless asked for.
    let flat = dir.join("flat").display().to_string();
    let mut d = tiny_train(&flat, 2);
    d.extend(["--lr-schedule", "constant", "--lr", "0.01"].map(String::from));
    assert!(recur_owned(&d).status.success());
    let metrics = std::fs::read_to_string(dir.join("flat/metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    assert_eq!(first["lr"].as_f64(), Some(0.01), "{metrics}");
}

/// A big model on 3,000 random letters: it learns them by heart and its validation loss rises.
fn overfitting_run(out: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        "--text",
        &case("letters.txt"),
        "--hidden",
        "128",
        "--embed",
        "16",
        "--batch-size",
        "4",
        "--seq-len",
        "32",
        "--steps",
        "400",
        "--eval-every",
        "25",
        "--lr",
        "0.01",
        // No dropout: the defaults would pick 0.45 for these 19 passes.
        "--dropout",
        "0",
        "--sample-length",
        "0",
        "--out",
        out,
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

#[test]
fn a_run_that_overfits_says_so_in_words() {
    // A big model on 3,000 random letters learns them by heart: the validation loss rises.
    let dir = temp("overfit");
    let out = dir.join("run").display().to_string();
    let o = recur_owned(&overfitting_run(&out, &[]));
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let warnings = err
        .lines()
        .filter(|l| l.contains("overfit") || l.contains("by heart"));
    assert!(warnings.count() >= 1, "{err}");
    assert!(
        err.contains("validation loss has risen") && err.contains("--dropout"),
        "{err}"
    );
    // best/ holds an earlier, better step than the last one.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/state.json")).unwrap())
            .unwrap();
    let (best, last) = (
        state["best_val_loss"].as_f64().unwrap(),
        state["last_val_loss"].as_f64().unwrap(),
    );
    assert!(best < last, "best {best}, last {last}");
}

#[test]
fn a_time_budget_run_validates_every_twentieth_of_its_budget_and_reports_best() {
    let dir = temp("cadence");
    let out = dir.join("run").display().to_string();
    let o = recur(&[
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
        "--time-budget",
        "2",
        "--sample-length",
        "0",
        "--out",
        &out,
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let metrics = std::fs::read_to_string(dir.join("run/metrics.jsonl")).unwrap();
    let validations = metrics
        .lines()
        .filter(|l| !l.contains("\"val_loss\":null"))
        .count();
    assert!(
        (15..=22).contains(&validations),
        "{validations} validations: {metrics}"
    );
    assert!(err.contains("best/ (step "), "{err}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/state.json")).unwrap())
            .unwrap();
    assert!(state["best_step"].as_u64().is_some());
    // A short sample after each validation, in the progress and in samples.txt.
    let samples = std::fs::read_to_string(dir.join("run/samples.txt")).unwrap();
    assert_eq!(
        samples.matches("--- step ").count(),
        validations,
        "{samples}"
    );
    assert!(err.contains("sample at step "), "{err}");
}

#[test]
fn early_stop_ends_an_overfitting_run_and_keeps_best() {
    let dir = temp("early-stop");
    let out = dir.join("run").display().to_string();
    let o = recur_owned(&overfitting_run(&out, &["--early-stop"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("stopped early at step"), "{err}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/state.json")).unwrap())
            .unwrap();
    let (step, best) = (
        state["step"].as_u64().unwrap(),
        state["best_step"].as_u64().unwrap(),
    );
    assert!(step < 400 && best < step, "step {step}, best {best}");
}

#[test]
fn eval_can_skip_characters_outside_the_vocabulary() {
    let dir = temp("unknown");
    let out = dir.join("run").display().to_string();
    assert!(recur_owned(&tiny_train(&out, 2)).status.success());
    let text = dir.join("t.txt");
    std::fs::write(&text, "abcxyzabcdeabc").unwrap();
    let t = text.display().to_string();
    refused(
        &recur(&["eval", "--checkpoint", &out, "--text", &t]),
        &["not in the model's vocabulary", "'x'"],
    );
    let o = recur(&[
        "eval",
        "--checkpoint",
        &out,
        "--text",
        &t,
        "--unknown",
        "skip",
        "--json",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("skipped 3 character(s)"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["tokens"].as_u64(),
        Some(10),
        "11 characters kept, 10 predictions"
    );
}

#[test]
fn a_model_trained_with_unk_reads_any_text_and_accents_fold() {
    let dir = temp("unk");
    let out = dir.join("run").display().to_string();
    let mut args = tiny_train(&out, 2);
    args.push("--unk".into());
    let o = recur_owned(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/config.json")).unwrap())
            .unwrap();
    assert!(config["vocab"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("\u{FFFD}")));
    let text = dir.join("t.txt");
    // x, y, z are unknown: read as the unknown symbol; é folds to e, Ａ (full width) stays unknown.
    std::fs::write(&text, "abcxyzabcd\u{e9}abc\u{ff21}").unwrap();
    let t = text.display().to_string();
    let o = recur(&["eval", "--checkpoint", &out, "--text", &t, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["tokens"].as_u64(),
        Some(14),
        "15 characters, 14 predictions"
    );
    let o = recur(&[
        "sample",
        "--checkpoint",
        &out,
        "--prime",
        "zebra",
        "--length",
        "5",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Without --unk, folding still reads é as e, and x stays an error.
    let plain = dir.join("plain").display().to_string();
    assert!(recur_owned(&tiny_train(&plain, 2)).status.success());
    std::fs::write(&text, "abcd\u{e9}").unwrap();
    let o = recur(&["eval", "--checkpoint", &plain, "--text", &t]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn metrics_carry_the_gradient_norm_and_how_often_clipping_fired() {
    let dir = temp("telemetry");
    let out = dir.join("run").display().to_string();
    let mut args = tiny_train(&out, 4);
    args.extend(["--clip", "1e-6"].map(String::from));
    assert!(recur_owned(&args).status.success());
    let metrics = std::fs::read_to_string(dir.join("run/metrics.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let trained: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r["grad_norm_max"].as_f64().unwrap() > 0.0)
        .collect();
    assert!(!trained.is_empty(), "{metrics}");
    for r in trained {
        assert!(r["grad_norm_mean"].as_f64().unwrap() <= r["grad_norm_max"].as_f64().unwrap());
        // Every step's norm is above 1e-6: every step was clipped.
        assert!(r["clipped_steps"].as_u64().unwrap() >= 1, "{r}");
    }
    // The shared loop (the classifier) writes the same fields.
    let data = common::data("sequences/JapaneseVowels_TEST.ts");
    let c = dir.join("c").display().to_string();
    let o = recur(&[
        "classify",
        "train",
        "--data",
        &data,
        "--steps",
        "3",
        "--hidden",
        "4",
        "--ensemble",
        "1",
        "--quiet",
        "--out",
        &c,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let metrics = std::fs::read_to_string(dir.join("c/metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    assert!(last["grad_norm_max"].as_f64().unwrap() > 0.0, "{last}");
    assert!(last["clipped_steps"].is_u64(), "{last}");
}
