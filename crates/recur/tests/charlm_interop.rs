//! Character-model interop with PyTorch, from fixtures written by
//! `scripts/make_charlm_fixtures.sh` (torch 2.15.0):
//! PyTorch-trained checkpoints evaluate to PyTorch's figures; optimiser steps from a checkpoint
//! reach PyTorch's weights; a short run ends at PyTorch's validation loss; and a recur checkpoint
//! loaded into PyTorch (strict) gave recur's loss.

use recur::charlm::{checkpoint, evaluate, Stop, TrainSettings, Trainer};
use recur::io::TensorFile;
use recur::optim::{OptimizerConfig, OptimizerKind, Schedule, ScheduleKind};
use recur::Threads;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/charlm")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap()
}

#[test]
fn pytorch_trained_models_evaluate_to_pytorch_figures() {
    let eval_text = read(&fixtures().join("eval.txt"));
    let threads = Threads::new(2).unwrap();
    let mut checked = 0;
    for cell in ["rnn", "lstm", "gru"] {
        for input in ["onehot", "embed"] {
            let dir = fixtures().join(format!("torch_{cell}_{input}"));
            let loaded = checkpoint::load(&dir).unwrap();
            let tokens = loaded.vocab.encode(&eval_text, "eval.txt").unwrap();
            let ours = evaluate(&loaded.model, &threads, &tokens, |_, _| {}).unwrap();
            let theirs = json(&dir.join("expected.json"));
            let loss = theirs["loss"].as_f64().unwrap();
            let rel = (ours.loss - loss).abs() / loss;
            assert!(
                rel <= 1e-4,
                "{cell}/{input}: loss {} vs PyTorch {loss} (rel {rel:e})",
                ours.loss
            );
            let acc = theirs["accuracy"].as_f64().unwrap();
            assert!(
                (ours.accuracy - acc).abs() <= 1.0 / ours.tokens as f64 + 1e-12,
                "{cell}/{input}: accuracy {} vs PyTorch {acc}",
                ours.accuracy
            );
            assert_eq!(theirs["tokens"].as_u64().unwrap() as usize, ours.tokens);
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
}

fn settings(
    kind: OptimizerKind,
    lr: f64,
    steps: u64,
    batch: usize,
    seq: usize,
    val_frac: f64,
) -> TrainSettings {
    TrainSettings {
        text: "fixture".into(),
        batch_size: batch,
        seq_len: seq,
        stop: Stop::Steps(steps),
        optimizer: OptimizerConfig::new(kind),
        schedule: Schedule {
            kind: ScheduleKind::Constant,
            lr,
            warmup_steps: 0,
            min_lr: 0.0,
            step_fraction: 1.0,
            gamma: 1.0,
        },
        clip: 1.0,
        clip_value: 0.0,
        val_frac,
        eval_every: 0,
        early_stop: false,
        seed: 0,
    }
}

/// Compares the model's weights with a PyTorch file: returns the worst per-tensor
/// `max |ours - theirs| / max |theirs|`, the fraction of elements beyond `1e-5` of their tensor's
/// scale, and the largest absolute difference.
fn weight_error(trainer: &Trainer, expected: &Path) -> (f64, String, f64, f32) {
    let file = TensorFile::read(expected).unwrap();
    let (mut worst, mut worst_name) = (0.0f64, String::new());
    let (mut off, mut total, mut max_abs) = (0usize, 0usize, 0.0f32);
    for (name, shape, ours) in trainer.model().named_tensors() {
        let (s, theirs) = file.get(&name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(s, &shape[..], "{name}");
        let scale = theirs.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
        let diff = ours
            .iter()
            .zip(theirs)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        off += ours
            .iter()
            .zip(theirs)
            .filter(|(a, b)| ((*a - *b).abs() as f64) > 1e-5 * scale)
            .count();
        total += ours.len();
        max_abs = max_abs.max(diff);
        if diff as f64 / scale > worst {
            (worst, worst_name) = (diff as f64 / scale, name);
        }
    }
    (worst, worst_name, off as f64 / total as f64, max_abs)
}

#[test]
fn optimiser_steps_match_pytorch() {
    let train_text = read(&fixtures().join("train.txt"));
    let threads = Threads::new(2).unwrap();
    let run = |kind, lr, steps, name: &str| {
        let start = checkpoint::load(&fixtures().join("steps/start")).unwrap();
        let s = settings(kind, lr, steps, 4, 16, 0.0);
        let mut trainer = Trainer::new(start.model, start.vocab, s, &train_text).unwrap();
        for _ in 0..steps {
            trainer.step(&threads).unwrap();
        }
        let result = weight_error(
            &trainer,
            &fixtures().join(format!("steps/{name}/model.safetensors")),
        );
        eprintln!("{name}: worst relative error {:e} ({}), {:.4}% of elements beyond 1e-5, max abs diff {:e}", result.0, result.1, 100.0 * result.2, result.3);
        result
    };
    // One SGD step (with clipping): every weight within 1e-5 of PyTorch's.
    let (worst, tensor, _, _) = run(OptimizerKind::Sgd, 0.5, 1, "sgd");
    assert!(worst <= 1e-5, "sgd: {tensor} off by {worst:e}");
    // Two Adam steps: Adam divides by the gradient's own magnitude, so a weight whose gradient is
    // near zero turns float rounding of ~1e-7 into a visible part of its step. Nearly all weights
    // agree to 1e-5, and none moves more than a tenth of a step away.
    let lr = 1e-2;
    let (_, _, off, max_abs) = run(OptimizerKind::Adam, lr, 2, "adam");
    assert!(
        off <= 0.01,
        "adam: {:.3}% of weights beyond 1e-5",
        100.0 * off
    );
    assert!(
        (max_abs as f64) <= 0.1 * lr,
        "adam: a weight is {max_abs} away"
    );
}

#[test]
fn a_short_run_ends_within_0_03_of_pytorch() {
    let dir = fixtures().join("short_run");
    let text = read(&dir.join("text.txt"));
    let expect = json(&dir.join("torch_result.json"));
    let init = checkpoint::load(&dir.join("init")).unwrap();
    let steps = expect["steps"].as_u64().unwrap();
    let s = settings(OptimizerKind::Adam, 3e-3, steps, 16, 32, 0.1);
    let mut trainer = Trainer::new(init.model, init.vocab, s, &text).unwrap();
    let threads = Threads::new(2).unwrap();
    for _ in 0..steps {
        trainer.step(&threads).unwrap();
    }
    let ours = trainer.validate(&threads, |_, _| {}).unwrap().unwrap().loss;
    let theirs = expect["val_loss"].as_f64().unwrap();
    eprintln!("short run: recur {ours:.4} vs PyTorch {theirs:.4}");
    assert!(
        (ours - theirs).abs() <= 0.03,
        "recur {ours} vs PyTorch {theirs}"
    );
}

#[test]
fn a_recur_checkpoint_loaded_strictly_in_pytorch_gave_recur_loss() {
    // Recorded by the fixture script, which ran load_state_dict(strict=True) on recur's files.
    let record = json(&fixtures().join("recur_in_torch.json"));
    assert_eq!(record["load_state_dict_strict"], true);
    assert!(record["loss_rel_diff"].as_f64().unwrap() < 1e-4, "{record}");
    // And recur still gives the recorded figure for that checkpoint today.
    let dir = fixtures().join("recur_model");
    let loaded = checkpoint::load(&dir).unwrap();
    let tokens = loaded
        .vocab
        .encode(&read(&fixtures().join("eval.txt")), "eval.txt")
        .unwrap();
    let ours = evaluate(&loaded.model, &Threads::single(), &tokens, |_, _| {}).unwrap();
    let torch_loss = record["torch_eval"]["loss"].as_f64().unwrap();
    assert!(
        (ours.loss - torch_loss).abs() / torch_loss < 1e-4,
        "{} vs {torch_loss}",
        ours.loss
    );
}
