//! The character model on the shared training loop: a run stopped where a pass over the text
//! ends, or one step into the next, and resumed ends bit for bit as the run that was not
//! stopped; a run without validation text still saves its checkpoints, without `best/`.

use recur::charlm::{CharLm, CharLmConfig, Stop, TrainSettings, Trainer, Vocab};
use recur::optim::{OptimizerConfig, OptimizerKind, Schedule, ScheduleKind};
use recur::rundir::{OutPolicy, RunDir};
use recur::{CellType, Rng, Threads};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// A fresh, empty directory for one test.
fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recur-charlm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 600 characters of a few letters.
fn text() -> String {
    let mut rng = Rng::new(11);
    (0..600)
        .map(|_| ['a', 'b', 'c', 'd', ' '][rng.below(5)])
        .collect()
}

/// A two-layer LSTM with dropout (so the run draws masks and carries `h` and `c`), trained
/// with both clips at a constant rate (so the budget does not change the steps).
fn trainer(text: &str, steps: u64, val_frac: f64) -> Trainer {
    let vocab = Vocab::from_text(text);
    let config = CharLmConfig {
        cell: CellType::Lstm,
        nonlinearity: None,
        vocab_size: vocab.len(),
        embed_dim: 4,
        hidden_size: 6,
        num_layers: 2,
        dropout: 0.2,
        bias: true,
    };
    let model = CharLm::new(config, &mut Rng::new(2)).unwrap();
    let settings = TrainSettings {
        text: "letters".into(),
        batch_size: 3,
        seq_len: 8,
        stop: Stop::Steps(steps),
        optimizer: OptimizerConfig::new(OptimizerKind::Adam),
        schedule: Schedule {
            kind: ScheduleKind::Constant,
            lr: 1e-2,
            warmup_steps: 0,
            min_lr: 0.0,
            step_fraction: 0.25,
            gamma: 0.5,
        },
        clip: 1.0,
        clip_value: 0.05,
        val_frac,
        eval_every: 2,
        early_stop: false,
        seed: 5,
    };
    Trainer::new(model, vocab, settings, text).unwrap()
}

fn run(trainer: &mut Trainer, dir: &Path, policy: OutPolicy) -> recur::charlm::Summary {
    let mut out = RunDir::open(dir, policy).unwrap();
    let stop = AtomicBool::new(false);
    trainer
        .run(&Threads::single(), &mut out, &mut (), &stop)
        .unwrap()
}

/// The validation losses at even steps (where every run of [`trainer`] validates).
fn even_validations(t: &Trainer) -> Vec<(u64, f64)> {
    t.metrics()
        .iter()
        .filter_map(|r| r.validation_loss().map(|v| (r.step, v)))
        .filter(|(step, _)| step % 2 == 0)
        .collect()
}

#[test]
fn a_run_resumed_at_a_pass_boundary_or_inside_a_pass_ends_as_the_whole_run() {
    let dir = temp("resume");
    let text = text();
    let total = 30;
    let mut whole = trainer(&text, total, 0.1);
    let per_epoch = whole.steps_per_epoch();
    assert!(per_epoch < total, "the run crosses a pass boundary");
    let summary = run(&mut whole, &dir.join("whole"), OutPolicy::Fresh);
    assert_eq!(summary.steps, total);
    assert!(summary.final_val.is_some());
    let file = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    for first in [per_epoch, per_epoch + 1] {
        let part = dir.join(format!("part-{first}"));
        run(&mut trainer(&text, first, 0.1), &part, OutPolicy::Fresh);
        let mut rest = Trainer::resume(&part, &text, Some(Stop::Steps(total))).unwrap();
        assert_eq!(rest.state().step, first);
        assert_eq!(rest.state().step_in_epoch, first % per_epoch);
        run(&mut rest, &part, OutPolicy::Resume);
        for f in [
            "model.safetensors",
            "optim.safetensors",
            "best/model.safetensors",
        ] {
            let whole_dir = dir.join("whole");
            assert!(file(&whole_dir, f) == file(&part, f), "{f} after {first}");
        }
        assert_eq!(even_validations(&rest), even_validations(&whole));
        let untimed = |t: &Trainer| recur::charlm::TrainState {
            train_seconds: 0.0,
            ..t.state()
        };
        assert_eq!(untimed(&rest), untimed(&whole), "state.json after {first}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_run_without_validation_text_saves_its_checkpoints_without_best() {
    let dir = temp("noval");
    let text = text();
    let mut t = trainer(&text, 5, 0.0);
    let summary = run(&mut t, &dir.join("run"), OutPolicy::Fresh);
    assert_eq!(summary.steps, 5);
    assert!(summary.final_val.is_none() && summary.overfitting.is_none());
    assert_eq!(t.state().best_step, None);
    assert!(t.metrics().iter().all(|r| r.validation_loss().is_none()));
    let saved = Trainer::resume(&dir.join("run"), &text, Some(Stop::Steps(6))).unwrap();
    assert_eq!(saved.state().step, 5);
    assert!(!dir.join("run/best").exists());
    assert!(!dir.join("run/samples.txt").exists());
    let _ = std::fs::remove_dir_all(dir);
}
