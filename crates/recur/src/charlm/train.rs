//! Training a character model: stateful truncated BPTT over `B` streams (DESIGN contract),
//! clipping, an optimiser and a schedule; periodic exact validation; atomic checkpoints that
//! resume bit for bit.

use super::checkpoint::{self, write_model};
use super::data::{split, Batcher};
use super::eval::{evaluate, evaluate_streams, EvalReport};
use super::model::{BatchStats, Carry, CharLm, CharLmGrads, StepWork};
use super::vocab::Vocab;
use crate::error::{Error, Result};
use crate::io::{write_atomically, write_safetensors, TensorFile};
use crate::optim::{clip_grad_norm_in, clip_grad_value, Optimizer, OptimizerConfig, Schedule};
use crate::plot::{Line, LineChart};
use crate::rng::Rng;
use crate::rundir::RunDir;
use crate::tensor::Tensor;
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub use crate::training::Stop;

/// Everything that defines a training run besides the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// The training text, as given.
    pub text: String,
    /// Streams per batch `B`.
    pub batch_size: usize,
    /// Steps of truncated BPTT `T`.
    pub seq_len: usize,
    /// When to stop.
    pub stop: Stop,
    /// Optimiser.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Global gradient-norm clip (0: off).
    pub clip: f64,
    /// Elementwise gradient clip (0: off).
    pub clip_value: f64,
    /// Fraction of the text (its tail) held out for validation.
    pub val_frac: f64,
    /// Validate every this many steps (0: four times in a run of known length, every 5 % of a
    /// time budget, and at the end).
    pub eval_every: u64,
    /// Stop when the run overfits ([`Trainer::overfitting`]), keeping `best/`.
    #[serde(default)]
    pub early_stop: bool,
    /// Seed of initialisation and dropout.
    pub seed: u64,
}

impl TrainSettings {
    /// Checks ranges; messages name the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.batch_size == 0 {
            return bad("`batch_size` must be at least 1".into());
        }
        if self.seq_len == 0 {
            return bad("`seq_len` must be at least 1".into());
        }
        match self.stop {
            Stop::Steps(0) => return bad("`steps` must be at least 1".into()),
            Stop::Epochs(0) => return bad("`epochs` must be at least 1".into()),
            Stop::TimeBudget(s) if !(s > 0.0 && s.is_finite()) => {
                return bad(format!("`time_budget` must be > 0 seconds, got {s}"))
            }
            _ => {}
        }
        if !(0.0..1.0).contains(&self.val_frac) {
            return bad(format!(
                "`val_frac` must be in [0, 1), got {}",
                self.val_frac
            ));
        }
        if !(self.clip >= 0.0 && self.clip.is_finite()) {
            return bad(format!("`clip` must be >= 0, got {}", self.clip));
        }
        if !(self.clip_value >= 0.0 && self.clip_value.is_finite()) {
            return bad(format!(
                "`clip_value` must be >= 0, got {}",
                self.clip_value
            ));
        }
        self.optimizer.validate()?;
        self.schedule.validate()
    }
}

/// Where a run stands: enough, with the optimiser and carried state, to continue it exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps taken.
    pub step: u64,
    /// Completed passes over the training text.
    pub epoch: u64,
    /// Position inside the current pass, in steps.
    pub step_in_epoch: u64,
    /// The dropout generator.
    pub dropout_rng: Rng,
    /// Best validation loss so far.
    pub best_val_loss: Option<f64>,
    /// The step `best/` holds.
    #[serde(default)]
    pub best_step: Option<u64>,
    /// Latest validation loss.
    pub last_val_loss: Option<f64>,
    /// Seconds spent in training steps.
    pub train_seconds: f64,
    /// Fingerprint of the text, to refuse resuming on another one.
    pub text_hash: String,
}

/// The largest step count a saved state may hold (the optimiser counts steps in an `i32`).
pub const MAX_STEPS: u64 = i32::MAX as u64;

impl TrainState {
    /// Checks the fields that do not depend on the data; errors name `path` and the field.
    pub fn check_values(&self, path: &Path) -> Result<()> {
        let bad = |m: String| Err(Error::format(path, m));
        if self.step > MAX_STEPS {
            return bad(format!(
                "step {} is more than the limit of {MAX_STEPS} steps",
                self.step
            ));
        }
        if self.epoch > self.step || self.step_in_epoch > self.step {
            return bad(format!(
                "epoch {} and step_in_epoch {} do not fit step {}",
                self.epoch, self.step_in_epoch, self.step
            ));
        }
        for (name, v) in [
            ("best_val_loss", self.best_val_loss),
            ("last_val_loss", self.last_val_loss),
        ] {
            if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
                return bad(format!(
                    "{name} is {v}, expected a finite loss >= 0 or null"
                ));
            }
        }
        if !(self.train_seconds.is_finite() && self.train_seconds >= 0.0) {
            return bad(format!(
                "train_seconds is {}, expected a finite number >= 0",
                self.train_seconds
            ));
        }
        if !self.dropout_rng.is_usable() {
            return bad("dropout_rng is the all-zero state, which never leaves zero".into());
        }
        Ok(())
    }

    /// Checks the counters against the data: `step_in_epoch` inside an epoch of
    /// `steps_per_epoch` steps, and `step = epoch * steps_per_epoch + step_in_epoch`.
    pub fn check_position(&self, path: &Path, steps_per_epoch: u64) -> Result<()> {
        if self.step_in_epoch >= steps_per_epoch {
            return Err(Error::format(
                path,
                format!(
                    "step_in_epoch {} is beyond the {steps_per_epoch} steps of an epoch over this text",
                    self.step_in_epoch
                ),
            ));
        }
        let expected = self
            .epoch
            .checked_mul(steps_per_epoch)
            .and_then(|s| s.checked_add(self.step_in_epoch));
        if expected != Some(self.step) {
            return Err(Error::format(
                path,
                format!(
                    "step {} does not match epoch {} × {steps_per_epoch} steps per epoch + step_in_epoch {}",
                    self.step, self.epoch, self.step_in_epoch
                ),
            ));
        }
        Ok(())
    }
}

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    /// Steps taken.
    pub step: u64,
    /// Completed epochs.
    pub epoch: u64,
    /// Mean training loss since the previous row (nats/char).
    pub train_loss: f64,
    /// Validation loss, on rows where validation ran.
    pub val_loss: Option<f64>,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Training throughput since the previous row.
    pub tokens_per_s: f64,
    /// Seconds of training so far.
    pub elapsed_s: f64,
    /// The largest global gradient norm (before clipping) since the previous row.
    #[serde(default)]
    pub grad_norm_max: f64,
    /// The mean global gradient norm (before clipping) since the previous row.
    #[serde(default)]
    pub grad_norm_mean: f64,
    /// Steps since the previous row whose gradient was clipped (norm above `clip`).
    #[serde(default)]
    pub clipped_steps: u64,
}

/// What a step reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// Loss and accuracy of the batch.
    pub stats: BatchStats,
    /// Learning rate used.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
}

/// Progress callbacks of [`Trainer::run`].
pub trait Observer {
    /// After every step.
    fn step(&mut self, _trainer: &Trainer, _report: &StepReport, _tokens_per_s: f64) {}
    /// During validation: `done` of `total` characters scored.
    fn validating(&mut self, _done: usize, _total: usize) {}
    /// After a validation.
    fn validated(&mut self, _trainer: &Trainer, _report: &EvalReport) {}
    /// After each validation: a short sample of the model at `step` ([`SAMPLE_LENGTH`]
    /// characters, temperature 0.8, the same seed every time, so that samples compare).
    fn sample(&mut self, _trainer: &Trainer, _step: u64, _text: &str) {}
    /// After a validation that finds the run overfitting ([`Trainer::overfitting`]).
    fn overfitting(&mut self, _trainer: &Trainer, _signs: &Overfitting) {}
}

/// Characters of the sample taken after each validation (kept in `samples.txt`).
pub const SAMPLE_LENGTH: usize = 160;

/// A validation in a time-budget run comes at most once every this many times its own cost
/// (so validations take at most 5 % of the budget).
const VALIDATION_SHARE_INV: f64 = 20.0;

/// Parallel streams of the validations during a time-budget run (see
/// [`super::eval::evaluate_streams`]).
pub const VAL_STREAMS: usize = 32;

/// Validations in a row whose loss rose, while the training loss fell, that make a run
/// "overfitting".
pub const OVERFIT_RISES: usize = 3;

/// The signs of overfitting: the validation loss rose at each of the last [`OVERFIT_RISES`]
/// validations while the training loss fell over the same span.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Overfitting {
    /// Step and validation loss where the rise began.
    pub from: (u64, f64),
    /// Step and validation loss now.
    pub now: (u64, f64),
    /// Mean training loss before the rise began and now.
    pub train: (f64, f64),
}

impl std::fmt::Display for Overfitting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the validation loss has risen at {OVERFIT_RISES} validations in a row ({:.4} at step {} to {:.4} at step {}) while the training loss fell ({:.4} to {:.4}): the model is learning the training text by heart. best/ keeps the lowest validation loss; for more, add `dropout` (0.1-0.3: it drops the head's input, and between layers with `layers` 2 or more), use a smaller `hidden`, or train on more text",
            self.from.1, self.from.0, self.now.1, self.now.0, self.train.0, self.train.1
        )
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Steps taken in all.
    pub steps: u64,
    /// Whether it stopped early (Ctrl-C or `stop_after`), with a checkpoint to resume from.
    pub interrupted: bool,
    /// Final validation, when there is validation data and the run was not interrupted.
    pub final_val: Option<EvalReport>,
    /// Seconds of training.
    pub train_seconds: f64,
    /// Signs of overfitting at the end of the run, if any.
    pub overfitting: Option<Overfitting>,
    /// Whether `early_stop` ended the run before its budget.
    pub stopped_early: bool,
}

/// A training run in progress.
pub struct Trainer {
    model: CharLm,
    vocab: Vocab,
    settings: TrainSettings,
    optimizer: Optimizer,
    state: TrainState,
    carry: Carry,
    grads: CharLmGrads,
    work: StepWork,
    train: Vec<u32>,
    val: Vec<u32>,
    batcher: Batcher,
    metrics: Vec<MetricsRow>,
    pending: (f64, u64, f64),
    /// Gradient norms since the last metrics row: largest, sum, steps clipped.
    pending_grad: (f64, f64, u64),
    /// `samples.txt`: a short sample after each validation.
    samples: String,
    /// Seconds of training at the last validation, and what that validation cost.
    last_validation: (f64, f64),
    inputs: Vec<u32>,
    targets: Vec<u32>,
    /// Whether a checkpoint of this run exists (saved, or resumed from).
    saved: bool,
}

/// The training and validation losses of `rows` against the step, for `loss.svg`.
pub fn loss_chart(rows: &[MetricsRow]) -> LineChart {
    let train = rows.iter().map(|r| (r.step as f64, r.train_loss)).collect();
    let val = rows
        .iter()
        .filter_map(|r| r.val_loss.map(|v| (r.step as f64, v)))
        .collect();
    LineChart {
        title: "Character model: loss".into(),
        x_label: "optimiser step".into(),
        y_label: "cross-entropy (nats/char)".into(),
        lines: vec![
            Line::new("training (mean since last point)", train),
            Line::new("validation", val).with_markers(),
        ],
        marker_x: None,
    }
}

/// FNV-1a of the text, as hex.
fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Trainer {
    /// A fresh run of `model` on `text` (encoded with `vocab`).
    pub fn new(model: CharLm, vocab: Vocab, settings: TrainSettings, text: &str) -> Result<Self> {
        settings.validate()?;
        let tokens = vocab.encode(text, &settings.text)?;
        let (train, val) = split(&tokens, settings.val_frac);
        let (b, t) = (settings.batch_size, settings.seq_len);
        let c = model.config();
        crate::check_activations(
            b,
            t,
            (4 * c.hidden_size).saturating_mul(c.num_layers) + c.vocab_size,
            &format!(
                "`batch_size` {b} × `seq_len` {t} (hidden {}, {} layers, vocabulary {})",
                c.hidden_size, c.num_layers, c.vocab_size
            ),
        )?;
        let batcher = Batcher::new(train.len(), b, t).map_err(|_| {
            Error::Input(format!(
                "{}: {} characters, {} of them for training (after `val_frac` {}): too short for one batch of {b} streams × {t} steps, which needs {} (lower `batch_size` or `seq_len`)",
                settings.text,
                tokens.len(),
                train.len(),
                settings.val_frac,
                b.saturating_mul(t).saturating_add(1)
            ))
        })?;
        if let Stop::Epochs(n) = settings.stop {
            let per_epoch = batcher.steps_per_epoch() as u64;
            if n.checked_mul(per_epoch).is_none() {
                return Err(Error::Config(format!(
                    "`epochs` {n} is too many: at {per_epoch} steps an epoch the step count exceeds {}",
                    u64::MAX
                )));
            }
        }
        let sizes: Vec<usize> = model.buffers().iter().map(|b| b.len()).collect();
        let optimizer = Optimizer::new(settings.optimizer.clone(), &sizes)?;
        let state = TrainState {
            step: 0,
            epoch: 0,
            step_in_epoch: 0,
            dropout_rng: Rng::new(settings.seed ^ 0x5eed_d40b_u64),
            best_val_loss: None,
            best_step: None,
            last_val_loss: None,
            train_seconds: 0.0,
            text_hash: fingerprint(text),
        };
        Ok(Trainer {
            carry: model.zero_carry(settings.batch_size),
            grads: model.zero_grads(),
            work: StepWork::default(),
            train: train.to_vec(),
            val: val.to_vec(),
            model,
            vocab,
            settings,
            optimizer,
            state,
            batcher,
            metrics: Vec::new(),
            pending: (0.0, 0, 0.0),
            pending_grad: (0.0, 0.0, 0),
            samples: String::new(),
            last_validation: (0.0, 0.0),
            inputs: Vec::new(),
            targets: Vec::new(),
            saved: false,
        })
    }

    /// Continues the run saved in `dir` on `text`; `stop` replaces the saved stopping rule.
    pub fn resume(dir: &Path, text: &str, stop: Option<Stop>) -> Result<Self> {
        let loaded = checkpoint::load(dir)?;
        let config_path = dir.join("config.json");
        let mut settings = loaded.config.training.clone().ok_or_else(|| {
            Error::format(
                &config_path,
                "holds no training settings: not a training checkpoint",
            )
        })?;
        if let Some(stop) = stop {
            settings.stop = stop;
        }
        let state_path = dir.join("state.json");
        let state_text =
            std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
        let state: TrainState = serde_json::from_str(&state_text)
            .map_err(|e| Error::format(&state_path, format!("not a recur training state ({e})")))?;
        state.check_values(&state_path)?;
        if state.text_hash != fingerprint(text) {
            return Err(Error::Input(format!(
                "the text differs from the one this run was trained on ({}); resume needs the same text",
                settings.text
            )));
        }
        let mut trainer = Trainer::new(loaded.model, loaded.vocab, settings, text)?;
        state.check_position(&state_path, trainer.steps_per_epoch())?;
        let mut optim = TensorFile::read(dir.join("optim.safetensors"))?;
        let c = trainer.model.config();
        let shape = [c.num_layers, trainer.settings.batch_size, c.hidden_size];
        let lstm = trainer.carry.c.is_some();
        trainer.carry.h = Tensor::new("carry.h", &shape, optim.take("carry.h", &shape)?)?;
        if lstm {
            trainer.carry.c = Some(Tensor::new(
                "carry.c",
                &shape,
                optim.take("carry.c", &shape)?,
            )?);
        }
        trainer
            .optimizer
            .load_state(state.step, |name, len| optim.take(name, &[len]))?;
        optim.finish()?;
        if let Ok(samples) = std::fs::read_to_string(dir.join("samples.txt")) {
            trainer.samples = samples;
        }
        let metrics_path = dir.join("metrics.jsonl");
        if let Ok(lines) = std::fs::read_to_string(&metrics_path) {
            for (i, line) in lines
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let row: MetricsRow = serde_json::from_str(line)
                    .map_err(|e| Error::format(&metrics_path, format!("line {}: {e}", i + 1)))?;
                trainer.metrics.push(row);
            }
        }
        trainer.last_validation = (state.train_seconds, 0.0);
        trainer.state = state;
        trainer.saved = true;
        Ok(trainer)
    }

    /// The model being trained.
    pub fn model(&self) -> &CharLm {
        &self.model
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// The settings.
    pub fn settings(&self) -> &TrainSettings {
        &self.settings
    }

    /// Where the run stands.
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// Rows of `metrics.jsonl` so far.
    pub fn metrics(&self) -> &[MetricsRow] {
        &self.metrics
    }

    /// Characters of training and validation text.
    pub fn split_sizes(&self) -> (usize, usize) {
        (self.train.len(), self.val.len())
    }

    /// Steps in one pass over the training text.
    pub fn steps_per_epoch(&self) -> u64 {
        self.batcher.steps_per_epoch() as u64
    }

    /// Total steps of the run, when the stopping rule fixes them.
    pub fn total_steps(&self) -> Option<u64> {
        match self.settings.stop {
            Stop::Steps(n) => Some(n),
            Stop::Epochs(n) => Some(n.saturating_mul(self.steps_per_epoch())),
            Stop::TimeBudget(_) => None,
        }
    }

    /// Fraction of the run done, in `[0, 1]`.
    pub fn fraction_done(&self) -> f64 {
        match (self.settings.stop, self.total_steps()) {
            (Stop::TimeBudget(s), _) => (self.state.train_seconds / s).min(1.0),
            (_, Some(n)) => (self.state.step as f64 / n as f64).min(1.0),
            _ => 0.0,
        }
    }

    /// Whether the stopping rule is met.
    pub fn done(&self) -> bool {
        match (self.settings.stop, self.total_steps()) {
            (Stop::TimeBudget(s), _) => self.state.train_seconds >= s,
            (_, Some(n)) => self.state.step >= n,
            _ => true,
        }
    }

    /// One optimiser step on the next batch.
    pub fn step(&mut self, threads: &Threads) -> Result<StepReport> {
        let k = self.state.step_in_epoch as usize;
        self.batcher
            .batch(&self.train, k, &mut self.inputs, &mut self.targets);
        self.grads.zero_in(threads);
        let tokens = super::model::TokenBatch {
            inputs: &self.inputs,
            targets: &self.targets,
            batch: self.settings.batch_size,
        };
        let stats = self.model.train_batch(
            threads,
            tokens,
            &mut self.carry,
            &mut self.state.dropout_rng,
            &mut self.grads,
            &mut self.work,
        )?;
        let step = self.state.step;
        if !stats.loss.is_finite() {
            return Err(Error::Diverged(format!(
                "step {}: the training loss is {}{}; {}",
                step + 1,
                stats.loss,
                self.pending_grad_hint(),
                self.divergence_advice()
            )));
        }
        let mut g = self.grads.slices_mut();
        let grad_norm = clip_grad_norm_in(threads, &mut g, self.settings.clip);
        if !grad_norm.is_finite() {
            return Err(Error::Diverged(format!(
                "step {}: the gradient exploded (its global norm is {grad_norm}{}); {}",
                step + 1,
                self.pending_grad_hint(),
                self.divergence_advice()
            )));
        }
        if self.settings.clip_value > 0.0 {
            clip_grad_value(&mut g, self.settings.clip_value);
        }
        let lr = self.settings.schedule.lr_at(step, self.fraction_done());
        let grads = self.grads.slices();
        self.optimizer
            .step_in(threads, &mut self.model.buffers_mut(), &grads, lr);
        self.state.step += 1;
        self.state.step_in_epoch += 1;
        if self.state.step_in_epoch == self.steps_per_epoch() {
            self.state.epoch += 1;
            self.state.step_in_epoch = 0;
            self.carry = self.model.zero_carry(self.settings.batch_size);
        }
        Ok(StepReport {
            stats,
            lr,
            grad_norm,
        })
    }

    /// Exact validation loss on the held-out tail, if there is one.
    pub fn validate(
        &self,
        threads: &Threads,
        progress: impl FnMut(usize, usize),
    ) -> Result<Option<EvalReport>> {
        if self.val.len() < 2 {
            return Ok(None);
        }
        evaluate(&self.model, threads, &self.val, progress).map(Some)
    }

    /// The validation of the run's cadence: exact ([`Self::validate`]) in runs of a fixed
    /// length; in a time-budget run, [`VAL_STREAMS`] parallel streams ([`evaluate_streams`]),
    /// cheap enough to run every few percent of the budget.
    fn validate_for_selection(
        &self,
        threads: &Threads,
        progress: impl FnMut(usize, usize),
    ) -> Result<Option<EvalReport>> {
        if !matches!(self.settings.stop, Stop::TimeBudget(_)) {
            return self.validate(threads, progress);
        }
        if self.val.len() < 2 * VAL_STREAMS {
            return self.validate(threads, progress);
        }
        evaluate_streams(&self.model, threads, &self.val, VAL_STREAMS, progress).map(Some)
    }

    /// The validation text, as tokens.
    pub fn validation_tokens(&self) -> &[u32] {
        &self.val
    }

    /// Whether validation is due after the step just taken.
    fn validation_due(&self) -> bool {
        let step = self.state.step;
        if self.settings.eval_every > 0 {
            return step.is_multiple_of(self.settings.eval_every);
        }
        if let Stop::TimeBudget(budget) = self.settings.stop {
            // Every 5 % of the budget (at least every minute), but never so often that the
            // validations take more than 5 % of the time: a slow validation spaces them out.
            let (at, cost) = self.last_validation;
            let every = (budget * 0.05).min(60.0).max(VALIDATION_SHARE_INV * cost);
            return self.state.train_seconds - at >= every;
        }
        match self.total_steps() {
            Some(n) if n >= 8 => (1..4).any(|q| step == (n * q).div_ceil(4)),
            _ => false,
        }
    }

    /// Writes the checkpoint of the current step into `dir` (replacing it atomically), and into
    /// `dir/best` as well when `best` (otherwise the existing `best/` stays).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file that could not be written; `dir` is then unchanged.
    pub fn save(&mut self, dir: &mut RunDir, best: bool) -> Result<()> {
        dir.save(|tmp| {
            write_model(tmp, &self.model, &self.vocab, Some(&self.settings))?;
            let (steps, moments) = self.optimizer.state();
            debug_assert_eq!(steps, self.state.step);
            let c = self.model.config();
            let carry_shape = vec![c.num_layers, self.settings.batch_size, c.hidden_size];
            let mut tensors: Vec<(String, Vec<usize>, &[f32])> = moments
                .into_iter()
                .map(|(name, data)| (name, vec![data.len()], data))
                .collect();
            tensors.push(("carry.h".into(), carry_shape.clone(), self.carry.h.data()));
            if let Some(cc) = &self.carry.c {
                tensors.push(("carry.c".into(), carry_shape, cc.data()));
            }
            write_safetensors(tmp.join("optim.safetensors"), &tensors)?;
            let state = serde_json::to_string_pretty(&self.state).expect("state serialises");
            write_atomically(&tmp.join("state.json"), format!("{state}\n").as_bytes())?;
            let mut lines = String::new();
            for row in &self.metrics {
                lines.push_str(&serde_json::to_string(row).expect("row serialises"));
                lines.push('\n');
            }
            write_atomically(&tmp.join("metrics.jsonl"), lines.as_bytes())?;
            if !self.samples.is_empty() {
                write_atomically(&tmp.join("samples.txt"), self.samples.as_bytes())?;
            }
            write_atomically(
                &tmp.join("loss.svg"),
                loss_chart(&self.metrics).to_svg()?.as_bytes(),
            )?;
            if best {
                let best_dir = tmp.join("best");
                std::fs::create_dir(&best_dir).map_err(|e| Error::io(&best_dir, e))?;
                write_model(&best_dir, &self.model, &self.vocab, Some(&self.settings))?;
            }
            Ok(())
        })?;
        self.saved = true;
        Ok(())
    }

    /// A [`SAMPLE_LENGTH`]-character sample of the current model (temperature 0.8, seed 0).
    fn short_sample(&self, threads: &Threads) -> Result<String> {
        let prime = super::sample::default_prime(&self.vocab);
        let options = super::sample::SampleOptions {
            temperature: 0.8,
            ..Default::default()
        };
        let mut text = prime.clone();
        super::sample::generate(
            &self.model,
            &self.vocab,
            threads,
            &prime,
            SAMPLE_LENGTH,
            &options,
            |c| {
                text.push(c);
                Ok(())
            },
        )?;
        Ok(text)
    }

    /// Whether the validation loss rose at each of the last [`OVERFIT_RISES`] validations while
    /// the training loss fell over the same span (from `metrics.jsonl`'s rows).
    pub fn overfitting(&self) -> Option<Overfitting> {
        let rows: Vec<(u64, f64, f64)> = self
            .metrics
            .iter()
            .filter_map(|r| r.val_loss.map(|v| (r.step, v, r.train_loss)))
            .collect();
        let last = rows.get(rows.len().checked_sub(OVERFIT_RISES + 1)?..)?;
        let rising = last.windows(2).all(|w| w[1].1 > w[0].1);
        let (first, now) = (last[0], last[OVERFIT_RISES]);
        (rising && now.2 < first.2).then_some(Overfitting {
            from: (first.0, first.1),
            now: (now.0, now.1),
            train: (first.2, now.2),
        })
    }

    /// What a diverged run left behind, and what to try.
    fn divergence_advice(&self) -> &'static str {
        if self.saved {
            "training stopped and the last checkpoint was kept (try a lower `lr` or a `clip`)"
        } else {
            "training stopped before any checkpoint was saved (try a lower `lr` or a `clip`)"
        }
    }

    /// The gradient norms seen since the last metrics row, for a divergence message.
    fn pending_grad_hint(&self) -> String {
        let (max, sum, _) = self.pending_grad;
        let steps = self.pending.1;
        if steps == 0 {
            return String::new();
        }
        format!(
            ", after a mean of {:.3} and a largest of {max:.3} over the {steps} steps before",
            sum / steps as f64
        )
    }

    fn push_metrics(&mut self, val_loss: Option<f64>, lr: f64) {
        let (loss_sum, steps, seconds) = self.pending;
        let (norm_max, norm_sum, clipped) = self.pending_grad;
        if steps == 0 && val_loss.is_none() {
            return;
        }
        let tokens = (steps as usize * self.settings.batch_size * self.settings.seq_len) as f64;
        self.metrics.push(MetricsRow {
            step: self.state.step,
            epoch: self.state.epoch,
            train_loss: if steps > 0 {
                loss_sum / steps as f64
            } else {
                f64::NAN
            },
            val_loss,
            lr,
            tokens_per_s: if seconds > 0.0 { tokens / seconds } else { 0.0 },
            elapsed_s: self.state.train_seconds,
            grad_norm_max: norm_max,
            grad_norm_mean: if steps > 0 {
                norm_sum / steps as f64
            } else {
                0.0
            },
            clipped_steps: clipped,
        });
        self.pending = (0.0, 0, 0.0);
        self.pending_grad = (0.0, 0.0, 0);
    }

    fn validate_and_save(
        &mut self,
        threads: &Threads,
        out: &mut RunDir,
        observer: &mut dyn Observer,
        lr: f64,
    ) -> Result<Option<EvalReport>> {
        let started = Instant::now();
        let report = self.validate_for_selection(threads, |d, t| observer.validating(d, t))?;
        if matches!(self.settings.stop, Stop::TimeBudget(_)) {
            // A time budget covers training and its validations.
            let cost = started.elapsed().as_secs_f64();
            self.state.train_seconds += cost;
            self.last_validation = (self.state.train_seconds, cost);
        }
        if let Some(r) = report.filter(|r| !r.loss.is_finite()) {
            return Err(Error::Diverged(format!(
                "step {}: the validation loss is {}; {}",
                self.state.step,
                r.loss,
                self.divergence_advice()
            )));
        }
        let mut best = false;
        if let Some(r) = &report {
            best = self.state.best_val_loss.is_none_or(|b| r.loss < b);
            if best {
                self.state.best_val_loss = Some(r.loss);
                self.state.best_step = Some(self.state.step);
            }
            self.state.last_val_loss = Some(r.loss);
            observer.validated(self, r);
        }
        self.push_metrics(report.map(|r| r.loss), lr);
        if report.is_some() {
            let text = self.short_sample(threads)?;
            let step = self.state.step;
            self.samples
                .push_str(&format!("--- step {step} ---\n{}\n", text.trim_end()));
            observer.sample(self, step, &text);
        }
        if let Some(signs) = report.and(self.overfitting()) {
            observer.overfitting(self, &signs);
        }
        self.save(out, best)?;
        Ok(report)
    }

    /// Trains until the stopping rule is met, `stop` is raised (Ctrl-C), or `stop_after` more
    /// steps were taken; validates and checkpoints into `out` along the way and at the end.
    pub fn run(
        &mut self,
        threads: &Threads,
        out: &mut RunDir,
        observer: &mut dyn Observer,
        stop: &AtomicBool,
        stop_after: Option<u64>,
    ) -> Result<Summary> {
        let first = self.state.step;
        let mut lr = self.settings.schedule.lr_at(first, self.fraction_done());
        let mut interrupted = false;
        let mut stopped_early = false;
        let mut window = std::collections::VecDeque::new();
        let tokens_per_step = (self.settings.batch_size * self.settings.seq_len) as f64;
        while !self.done() {
            if stop.load(Ordering::Relaxed)
                || stop_after.is_some_and(|n| self.state.step - first >= n)
            {
                interrupted = true;
                break;
            }
            let started = Instant::now();
            let report = self.step(threads)?;
            let seconds = started.elapsed().as_secs_f64();
            self.state.train_seconds += seconds;
            lr = report.lr;
            self.pending.0 += report.stats.loss;
            self.pending.1 += 1;
            self.pending.2 += seconds;
            let g = &mut self.pending_grad;
            g.0 = g.0.max(report.grad_norm);
            g.1 += report.grad_norm;
            g.2 += u64::from(self.settings.clip > 0.0 && report.grad_norm > self.settings.clip);
            window.push_back(seconds);
            if window.len() > 20 {
                window.pop_front();
            }
            let tokens_per_s = tokens_per_step * window.len() as f64 / window.iter().sum::<f64>();
            observer.step(self, &report, tokens_per_s);
            if self.done() {
                break;
            }
            if self.validation_due() {
                self.validate_and_save(threads, out, observer, lr)?;
                if self.settings.early_stop && self.overfitting().is_some() {
                    stopped_early = true;
                    break;
                }
            } else if self.state.step.is_multiple_of(10) {
                self.push_metrics(None, lr);
            }
        }
        let final_val = if interrupted {
            self.push_metrics(None, lr);
            self.save(out, false)?;
            None
        } else {
            self.validate_and_save(threads, out, observer, lr)?
        };
        Ok(Summary {
            steps: self.state.step,
            interrupted,
            final_val,
            train_seconds: self.state.train_seconds,
            overfitting: self.overfitting(),
            stopped_early,
        })
    }
}
