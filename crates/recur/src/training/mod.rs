//! One training loop for every task (the character model, the classifier and the regressor,
//! the forecaster, the long-range problems): a budget of optimiser steps, epochs or seconds;
//! passes over the training data (shuffled by the task, or kept in stream order); gradient
//! clipping by norm and by value and a learning-rate schedule; validation on a cadence (every
//! so many steps, or spread over the budget); model selection and early stopping on the
//! validation loss (patience, or the signs of overfitting); rows of metrics; a guard that stops
//! on a non-finite loss or gradient; Ctrl-C; a checkpoint offered after every validation and
//! resuming bit for bit; and progress through an [`Observer`].
//!
//! A task implements [`Task`]: how many batches a pass has, how to run one forward and
//! backward, where its parameters and gradients are, how to validate, and how to keep its best
//! parameters.

mod overfit;
mod resume;
mod run;

pub use overfit::{overfitting, Overfitting, OVERFIT_RISES};
pub use resume::{
    read as read_checkpoint, read_run, Checkpointed, LoopCheckpoint, Restored, Saving,
};
pub use run::{continue_run, run, run_from, step, Stepped};

use crate::error::{Error, Result};
use crate::optim::{Optimizer, OptimizerConfig, Schedule};
use crate::rng::Rng;
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicBool;

/// When training stops.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// After this many optimiser steps.
    Steps(u64),
    /// After this many passes over the training data.
    Epochs(u64),
    /// After this many seconds of training (validations counted in when
    /// [`LoopSettings::budget_counts_validation`]; saving not counted).
    TimeBudget(f64),
}

/// What the loop needs from a model and its data.
pub trait Task {
    /// Batches in one pass over the training examples.
    fn batches_per_epoch(&self) -> u64;
    /// Starts a pass over the training examples: shuffles their order with `rng` (a task that
    /// keeps its order draws nothing).
    fn start_epoch(&mut self, rng: &mut Rng);
    /// Zeroes the gradients, then runs batch `index` of the current pass forward and backward
    /// (dropout drawn from `rng`), leaving the gradient of the batch's mean loss; returns that
    /// loss.
    ///
    /// # Errors
    /// Whatever the model's forward or backward pass reports.
    fn train_batch(&mut self, threads: &Threads, index: u64, rng: &mut Rng) -> Result<f64>;
    /// Sizes of the parameter buffers, in the order of [`Task::params_and_grads`].
    fn param_sizes(&self) -> Vec<usize>;
    /// The parameter buffers and the gradient buffers of the same shapes, in one order.
    fn params_and_grads(&mut self) -> (Vec<&mut [f32]>, Vec<&mut [f32]>);
    /// The loss on the validation examples (lower is better) and the task's own score.
    ///
    /// # Errors
    /// Whatever the model's forward pass reports.
    fn validate(&mut self, threads: &Threads) -> Result<Validation>;
    /// [`Task::validate`], telling `progress(done, total)` how far it is (for a validation long
    /// enough to show); the loop calls this one. By default it calls [`Task::validate`].
    ///
    /// # Errors
    /// As [`Task::validate`].
    fn validate_with_progress(
        &mut self,
        threads: &Threads,
        _progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Validation> {
        self.validate(threads)
    }
    /// Whether the task has validation data (true by default). Without it the run validates
    /// never and keeps no best model; checkpoints are still offered at the validation points.
    fn validates(&self) -> bool {
        true
    }
    /// Remembers the current parameters as the best so far.
    fn keep_best(&mut self);
    /// After every validation (at optimiser step `step`): a short example of what the model
    /// does now, for people (the character model's sample text). None by default.
    ///
    /// # Errors
    /// Whatever the model reports.
    fn example(&mut self, _threads: &Threads, _step: u64) -> Result<Option<String>> {
        Ok(None)
    }
    /// Tokens (sequences × time steps) in one training batch, for the throughput of
    /// [`MetricsRow::tokens_per_s`]; none by default.
    fn batch_tokens(&self) -> Option<u64> {
        None
    }
    /// Offered after every validation (after [`Task::keep_best`]): a task that saves
    /// checkpoints writes one here, with `at`'s loop state and optimiser. Does nothing by
    /// default.
    ///
    /// # Errors
    /// Whatever saving reports; the run stops with it.
    fn checkpoint(&mut self, _at: &Snapshot<'_>) -> Result<()> {
        Ok(())
    }
}

/// A validation's result.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// The loss that selects the model and stops training (lower is better).
    pub loss: f64,
    /// A task score for people (accuracy, RMSE, …), if any.
    pub score: Option<f64>,
}

/// Early stopping on the validation loss.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Validations in a row without an improvement before training stops (0: never stop early
    /// for want of improvement).
    pub patience: u64,
    /// The smallest decrease of the validation loss, relative to the best so far, that counts
    /// as an improvement (`1e-4` = 0.01 %): noise and ties do not reset the patience.
    pub min_delta: f64,
    /// Optimiser steps before early stopping may end a run.
    pub min_steps: u64,
    /// Also stop when the run shows the signs of overfitting ([`Overfitting`]).
    #[serde(default)]
    pub on_overfitting: bool,
}

/// Everything the loop does besides the task's own work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopSettings {
    /// When to stop.
    pub stop: Stop,
    /// Optimiser.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Global gradient-norm clip (0: off).
    pub clip: f64,
    /// Elementwise gradient clip to `[-clip_value, clip_value]`, after the norm clip (0: off).
    #[serde(default)]
    pub clip_value: f64,
    /// Validate every this many optimiser steps (and at the end). 0: spread over the budget: at
    /// the quarter points of a run of known length of 8 steps or more; every 5 % of a time
    /// budget (at least once a minute), but never so often that validations take more than
    /// 5 % of the time.
    pub validate_every: u64,
    /// In a time-budget run, the validations' time counts into the budget.
    #[serde(default)]
    pub budget_counts_validation: bool,
    /// A row of metrics every this many steps besides the validations' rows, and one when the
    /// run is interrupted (0: rows at validations only).
    #[serde(default)]
    pub log_every: u64,
    /// Early stopping.
    pub early_stopping: EarlyStopping,
    /// Seed of the shuffles and dropout.
    pub seed: u64,
}

impl LoopSettings {
    /// The settings the classifier and the forecaster train with: Adam at a constant `lr`, the
    /// gradient norm clipped to 1, validation once an epoch of `batches_per_epoch` steps, early
    /// stopping after `patience` validations without a 0.01 % lower loss, never before
    /// `min_steps`. The budget: `steps` or `time_budget` when given, otherwise `epochs` (raised
    /// to `2 × min_steps` steps on small data).
    pub fn per_epoch(
        budget: (Option<u64>, Option<f64>, u64),
        batches_per_epoch: u64,
        lr: f64,
        patience: u64,
        min_steps: u64,
        seed: u64,
    ) -> Self {
        let (steps, time_budget, epochs) = budget;
        let stop = match (steps, time_budget) {
            (Some(n), _) => Stop::Steps(n),
            (None, Some(t)) => Stop::TimeBudget(t),
            (None, None) => {
                let n = epochs.saturating_mul(batches_per_epoch);
                Stop::Steps(n.max(2 * min_steps))
            }
        };
        LoopSettings {
            stop,
            optimizer: OptimizerConfig::new(crate::optim::OptimizerKind::Adam),
            schedule: Schedule {
                kind: crate::optim::ScheduleKind::Constant,
                lr,
                warmup_steps: 0,
                min_lr: 0.0,
                step_fraction: 0.25,
                gamma: 0.5,
            },
            clip: 1.0,
            clip_value: 0.0,
            validate_every: batches_per_epoch.max(1),
            budget_counts_validation: false,
            log_every: 0,
            early_stopping: EarlyStopping {
                patience,
                min_delta: 1e-4,
                min_steps,
                on_overfitting: false,
            },
            seed,
        }
    }

    /// Checks ranges; messages name the setting.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        match self.stop {
            Stop::Steps(0) => return Err(Error::Config("`steps` must be at least 1".into())),
            Stop::Epochs(0) => return Err(Error::Config("`epochs` must be at least 1".into())),
            Stop::TimeBudget(s) if !(s > 0.0 && s.is_finite()) => {
                return Err(Error::Config(format!(
                    "`time_budget` must be > 0 seconds, got {s}"
                )))
            }
            _ => {}
        }
        let e = &self.early_stopping;
        if !(e.min_delta >= 0.0 && e.min_delta.is_finite()) {
            return Err(Error::Config(format!(
                "the minimum improvement must be >= 0, got {}",
                e.min_delta
            )));
        }
        for (name, v) in [("clip", self.clip), ("clip_value", self.clip_value)] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(Error::Config(format!("`{name}` must be >= 0, got {v}")));
            }
        }
        self.optimizer.validate()?;
        self.schedule.validate()
    }

    /// Steps of the whole run over passes of `batches_per_epoch` batches, when the stopping rule
    /// fixes them.
    ///
    /// # Errors
    /// [`Error::Config`] when a budget in epochs overflows the step count.
    pub fn total_steps(&self, batches_per_epoch: u64) -> Result<Option<u64>> {
        Ok(match self.stop {
            Stop::Steps(n) => Some(n),
            Stop::Epochs(n) => Some(n.checked_mul(batches_per_epoch).ok_or_else(|| {
                Error::Config(format!(
                    "`epochs` {n} × {batches_per_epoch} steps overflows"
                ))
            })?),
            Stop::TimeBudget(_) => None,
        })
    }
}

/// Where a run stands, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Optimiser steps taken.
    pub step: u64,
    /// Passes over the training examples begun.
    pub epoch: u64,
    /// Steps of the whole run, when the stopping rule fixes them.
    pub total_steps: Option<u64>,
    /// Fraction of the budget used, in `[0, 1]`.
    pub fraction: f64,
    /// Mean training loss since the last row of metrics (the last validation, unless
    /// [`LoopSettings::log_every`]).
    pub train_loss: f64,
    /// The training loss of the last step's batch.
    pub batch_loss: f64,
    /// The global gradient norm of the last step, before clipping.
    pub grad_norm: f64,
    /// Seconds the last step took.
    pub step_seconds: f64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Seconds of training so far.
    pub seconds: f64,
    /// Best validation loss so far and the step it was reached at.
    pub best: Option<(f64, u64)>,
}

/// Progress callbacks of [`run`].
pub trait Observer {
    /// After every step.
    fn step(&mut self, _progress: &Progress) {}
    /// During a validation: `done` of `total` items scored (as the task counts them).
    fn validating(&mut self, _done: usize, _total: usize) {}
    /// After every validation; `improved` when the model was kept as the best.
    fn validated(&mut self, _progress: &Progress, _validation: &Validation, _improved: bool) {}
    /// After every validation of a task that shows an example of its model ([`Task::example`]).
    fn example(&mut self, _progress: &Progress, _text: &str) {}
    /// After a validation that finds the run overfitting.
    fn overfitting(&mut self, _progress: &Progress, _signs: &Overfitting) {}
}

/// An observer that shows nothing.
impl Observer for () {}

/// A row of `metrics.jsonl`: one per validation, and one every [`LoopSettings::log_every`]
/// steps.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    /// Steps taken.
    pub step: u64,
    /// Passes over the training examples begun.
    pub epoch: u64,
    /// Mean training loss since the previous row (`null` before the first step).
    pub train_loss: Option<f64>,
    /// Validation loss; NaN (`null` in JSON) on the rows between validations.
    #[serde(deserialize_with = "nan_if_null")]
    pub val_loss: f64,
    /// The task's validation score, if any.
    #[serde(default)]
    pub val_score: Option<f64>,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Training throughput since the previous row, for a task that counts tokens
    /// ([`Task::batch_tokens`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
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

impl MetricsRow {
    /// The validation loss, on the rows of validations.
    pub fn validation_loss(&self) -> Option<f64> {
        (!self.val_loss.is_nan()).then_some(self.val_loss)
    }
}

/// A number, or NaN for `null` (what `serde_json` writes for NaN).
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Steps taken.
    pub steps: u64,
    /// Passes over the training examples begun (the last may be partial).
    pub epochs: u64,
    /// The best validation and the step it came from (step 0: the untrained model; a NaN loss
    /// when the run never validated).
    pub best: (Validation, u64),
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Whether `stop` (Ctrl-C) ended the run.
    pub interrupted: bool,
    /// Seconds of training (validation counted in only when
    /// [`LoopSettings::budget_counts_validation`] in a time-budget run).
    pub seconds: f64,
    /// Every row of metrics, in order (the first validation is the untrained model's, for a
    /// run that [`run`] started).
    pub metrics: Vec<MetricsRow>,
    /// The signs of overfitting at the end of the run, if any.
    pub overfitting: Option<Overfitting>,
}

impl Summary {
    /// The training and validation losses against the step, for `loss.svg`.
    pub fn loss_chart(&self, title: &str, loss: &str) -> crate::plot::LineChart {
        use crate::plot::{Line, LineChart};
        let train = self
            .metrics
            .iter()
            .filter_map(|m| m.train_loss.map(|l| (m.step as f64, l)))
            .collect();
        let val = self
            .metrics
            .iter()
            .filter_map(|m| m.validation_loss().map(|l| (m.step as f64, l)))
            .collect();
        LineChart {
            title: title.into(),
            x_label: "optimiser step".into(),
            y_label: loss.into(),
            lines: vec![
                Line::new("training (mean since last validation)", train),
                Line::new("validation", val).with_markers(),
            ],
            marker_x: Some(self.best.1 as f64),
        }
    }

    /// `metrics.jsonl`: one JSON object per row.
    pub fn metrics_jsonl(&self) -> String {
        metrics_jsonl(&self.metrics)
    }
}

/// `metrics.jsonl` of `rows`: one JSON object per line.
pub fn metrics_jsonl(rows: &[MetricsRow]) -> String {
    rows.iter()
        .map(|m| serde_json::to_string(m).expect("a metrics row serialises") + "\n")
        .collect()
}
/// Saves a checkpoint offered by a run ([`Control::on_checkpoint`]).
pub type SaveCheckpoint<'a> = dyn FnMut(&LoopCheckpoint<'_>) -> Result<()> + 'a;

/// How a task's training run is driven from outside: progress, Ctrl-C, resuming and
/// checkpoints.
pub struct Control<'a> {
    /// Sees every step and validation.
    pub observer: &'a mut dyn Observer,
    /// Raised (by Ctrl-C): the run ends after the current step, with the best model so far.
    pub stop: &'a AtomicBool,
    /// Continue the run saved in this directory ([`read_checkpoint`]; the best model from its
    /// `model.safetensors`).
    pub resume_from: Option<&'a std::path::Path>,
    /// Called after every validation with a checkpoint to save.
    pub on_checkpoint: Option<&'a mut SaveCheckpoint<'a>>,
    /// The task's record of its inputs (`run` in `state.json`).
    pub run_record: serde_json::Value,
}

impl<'a> Control<'a> {
    /// A fresh run with progress through `observer` and Ctrl-C through `stop`, no checkpoints.
    pub fn new(observer: &'a mut dyn Observer, stop: &'a AtomicBool) -> Self {
        Control {
            observer,
            stop,
            resume_from: None,
            on_checkpoint: None,
            run_record: serde_json::Value::Null,
        }
    }
}

/// The loop's position and memory after a step: with the task's parameters, its order of
/// examples and the optimiser's state, what continues a run bit for bit (`state.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Optimiser steps taken.
    pub step: u64,
    /// Passes over the training examples begun.
    pub epoch: u64,
    /// Batches of the current pass taken (a new pass starts when this reaches the pass's
    /// batch count).
    pub batch_in_epoch: u64,
    /// The generator of the per-pass shuffles.
    pub shuffle_rng: Rng,
    /// The generator of dropout masks.
    pub dropout_rng: Rng,
    /// The best validation so far (none before the first).
    pub best: Option<Validation>,
    /// The step of the best validation (0: the untrained model, or none yet).
    pub best_step: u64,
    /// Validations since the best one.
    pub since_best: u64,
    /// Sum of the training losses since the last row of metrics.
    pub loss_sum: f64,
    /// Steps since the last row of metrics.
    pub losses: u64,
    /// Gradient norms since the last row of metrics (before clipping): the largest, the sum,
    /// and the steps clipped.
    #[serde(default)]
    pub grad_norms: (f64, f64, u64),
    /// Seconds of training so far.
    pub seconds: f64,
    /// Every row of metrics so far, in order.
    pub metrics: Vec<MetricsRow>,
}

impl LoopState {
    /// A run that has not begun, over passes of `batches_per_epoch` batches (the first step
    /// starts a pass), with its generators of shuffles and of dropout masks. [`continue_run`]
    /// from it starts the run without validating the untrained model ([`run`] validates it).
    pub fn new(batches_per_epoch: u64, shuffle_rng: Rng, dropout_rng: Rng) -> Self {
        LoopState {
            step: 0,
            epoch: 0,
            batch_in_epoch: batches_per_epoch,
            shuffle_rng,
            dropout_rng,
            best: None,
            best_step: 0,
            since_best: 0,
            loss_sum: 0.0,
            losses: 0,
            grad_norms: (0.0, 0.0, 0),
            seconds: 0.0,
            metrics: Vec::new(),
        }
    }

    /// Checks a restored state against a task of `batches_per_epoch` batches; messages name the
    /// field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first field out of range.
    pub fn check(&self, batches_per_epoch: u64) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.batch_in_epoch > batches_per_epoch {
            return bad(format!(
                "batch_in_epoch {} is more than the {batches_per_epoch} batches of a pass (was the data changed?)",
                self.batch_in_epoch
            ));
        }
        if self.epoch > self.step.max(1) || self.best_step > self.step || self.losses > self.step {
            return bad(format!(
                "epoch {}, best_step {} and losses {} do not fit step {}",
                self.epoch, self.best_step, self.losses, self.step
            ));
        }
        if !self.shuffle_rng.is_usable() || !self.dropout_rng.is_usable() {
            return bad("shuffle_rng or dropout_rng is the all-zero state".into());
        }
        for (name, v) in [
            ("best.loss", self.best.map_or(0.0, |b| b.loss)),
            ("loss_sum", self.loss_sum),
            ("seconds", self.seconds),
        ] {
            if !v.is_finite() || (name == "seconds" && v < 0.0) {
                return bad(format!("{name} is {v}"));
            }
        }
        Ok(())
    }
}

/// What a task sees when the loop offers it to save a checkpoint ([`Task::checkpoint`]).
#[derive(Clone, Copy)]
pub struct Snapshot<'a> {
    /// The loop's state.
    pub state: &'a LoopState,
    /// The optimiser, with its moments.
    pub optimizer: &'a Optimizer,
}

/// A run to continue: the loop's state and the optimiser restored from a checkpoint (the task
/// restores its own parameters and order of examples).
pub struct Resume {
    /// The loop's state.
    pub state: LoopState,
    /// The optimiser, with its moments.
    pub optimizer: Optimizer,
}

/// How a resumable run ended: the summary, and what a checkpoint needs to continue it.
pub struct Finished {
    /// Steps, best validation, every validation.
    pub summary: Summary,
    /// The loop's state after the last step.
    pub state: LoopState,
    /// The optimiser after the last step.
    pub optimizer: Optimizer,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::{OptimizerKind, ScheduleKind};

    /// A snapshot offered by the loop: state, optimiser, w, best w, order.
    type Saved = (LoopState, Optimizer, Vec<f32>, Vec<f32>, Vec<usize>);

    /// Fits `w` to minimise `(w - target)²` over examples; validation measures the same loss
    /// against `val_target`, so that training past it overfits.
    struct Quadratic {
        w: Vec<f32>,
        grad: Vec<f32>,
        best: Vec<f32>,
        target: f32,
        val_target: f32,
        order: Vec<usize>,
        examples: usize,
        batch: usize,
        /// Make every batch depend on the order of examples and on the dropout generator.
        noisy: bool,
        /// Whether the task has validation data.
        validates: bool,
        /// Snapshots offered by the loop: (state, optimiser, w, best, order).
        saved: Vec<Saved>,
    }

    impl Task for Quadratic {
        fn batches_per_epoch(&self) -> u64 {
            self.examples.div_ceil(self.batch) as u64
        }
        fn start_epoch(&mut self, rng: &mut Rng) {
            self.order = (0..self.examples).collect();
            rng.shuffle(&mut self.order);
        }
        fn train_batch(&mut self, _: &Threads, index: u64, rng: &mut Rng) -> Result<f64> {
            let d = self.w[0] - self.target;
            self.grad[0] = 2.0 * d;
            if self.noisy {
                let first = self.order[index as usize * self.batch] as f32;
                self.grad[0] *= 1.0 + first / self.examples as f32;
                self.grad[0] += 0.1 * rng.uniform() as f32;
            }
            Ok((d * d) as f64)
        }
        fn param_sizes(&self) -> Vec<usize> {
            vec![1]
        }
        fn params_and_grads(&mut self) -> (Vec<&mut [f32]>, Vec<&mut [f32]>) {
            (vec![&mut self.w[..]], vec![&mut self.grad[..]])
        }
        fn validate(&mut self, _: &Threads) -> Result<Validation> {
            let d = (self.w[0] - self.val_target) as f64;
            Ok(Validation {
                loss: d * d,
                score: None,
            })
        }
        fn validates(&self) -> bool {
            self.validates
        }
        fn keep_best(&mut self) {
            self.best = self.w.clone();
        }
        fn checkpoint(&mut self, at: &Snapshot<'_>) -> Result<()> {
            self.saved.push((
                at.state.clone(),
                at.optimizer.clone(),
                self.w.clone(),
                self.best.clone(),
                self.order.clone(),
            ));
            Ok(())
        }
    }

    fn task() -> Quadratic {
        Quadratic {
            w: vec![0.0],
            grad: vec![0.0],
            best: vec![],
            target: 2.0,
            val_target: 1.0,
            order: vec![],
            examples: 10,
            batch: 4,
            noisy: false,
            validates: true,
            saved: vec![],
        }
    }

    fn settings(stop: Stop, patience: u64, min_steps: u64) -> LoopSettings {
        let mut optimizer = OptimizerConfig::new(OptimizerKind::Sgd);
        optimizer.momentum = 0.0;
        LoopSettings {
            stop,
            optimizer,
            schedule: Schedule {
                kind: ScheduleKind::Constant,
                lr: 0.05,
                warmup_steps: 0,
                min_lr: 0.0,
                step_fraction: 0.25,
                gamma: 0.5,
            },
            clip: 0.0,
            clip_value: 0.0,
            validate_every: 1,
            budget_counts_validation: false,
            log_every: 0,
            early_stopping: EarlyStopping {
                patience,
                min_delta: 1e-4,
                min_steps,
                on_overfitting: false,
            },
            seed: 1,
        }
    }

    #[test]
    fn keeps_the_lowest_validation_loss_and_stops_when_it_rises() {
        let mut t = task();
        let s = settings(Stop::Steps(1000), 5, 0);
        let summary = run(
            &mut t,
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
        )
        .unwrap();
        // w rises from 0 towards 2; validation is best near w = 1, and rises after.
        assert!((t.best[0] - 1.0).abs() < 0.11, "best w {}", t.best[0]);
        assert!(summary.stopped_early && summary.steps < 1000);
        assert_eq!(summary.steps, summary.best.1 + 5);
    }

    #[test]
    fn no_early_stop_before_min_steps_and_budgets_count_steps() {
        let mut t = task();
        let s = settings(Stop::Steps(60), 5, 60);
        let summary = run(
            &mut t,
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(summary.steps, 60);
        assert!(!summary.stopped_early);
        let mut t = task();
        let s = settings(Stop::Epochs(4), 0, 0);
        let summary = run(
            &mut t,
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!((summary.steps, summary.epochs), (12, 4));
    }

    #[test]
    fn a_raised_stop_flag_ends_the_run_and_a_nan_loss_is_an_error() {
        let mut t = task();
        let s = settings(Stop::Steps(10), 0, 0);
        let summary = run(
            &mut t,
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(true),
        )
        .unwrap();
        assert!(summary.interrupted && summary.steps == 0);
        let mut t = task();
        t.target = f32::NAN;
        let err = run(
            &mut t,
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
        );
        assert!(matches!(err, Err(Error::Diverged(m)) if m.contains("step 1")));
    }

    #[test]
    fn a_run_resumed_from_any_validation_ends_bit_for_bit_as_the_whole_run() {
        let mut s = settings(Stop::Steps(40), 0, 0);
        s.optimizer = OptimizerConfig::new(OptimizerKind::Adam);
        s.validate_every = 3;
        let mut whole = Quadratic {
            noisy: true,
            ..task()
        };
        let full = run_from(
            &mut whole,
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
            None,
        )
        .unwrap();
        assert!(whole.saved.len() > 5);
        for (state, optimizer, w, best, order) in whole.saved.clone() {
            let mut resumed = Quadratic {
                noisy: true,
                w,
                best,
                order,
                ..task()
            };
            let resume = Resume { state, optimizer };
            let end = run_from(
                &mut resumed,
                &s,
                &Threads::single(),
                &mut (),
                &AtomicBool::new(false),
                Some(resume),
            )
            .unwrap();
            assert_eq!(resumed.w, whole.w);
            assert_eq!(resumed.best, whole.best);
            assert_eq!(end.summary.best, full.summary.best);
            let losses = |m: &[MetricsRow]| {
                m.iter()
                    .map(|r| (r.step, r.val_loss, r.train_loss))
                    .collect::<Vec<_>>()
            };
            assert_eq!(losses(&end.summary.metrics), losses(&full.summary.metrics));
            assert_eq!(end.state.shuffle_rng, full.state.shuffle_rng);
        }
    }

    #[test]
    fn a_state_that_does_not_fit_the_task_is_refused() {
        let s = settings(Stop::Steps(10), 0, 0);
        let mut t = task();
        let end = run_from(
            &mut t,
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
            None,
        )
        .unwrap();
        let mut state = end.state.clone();
        state.batch_in_epoch = 99;
        let resume = Resume {
            state,
            optimizer: end.optimizer.clone(),
        };
        let err = run_from(
            &mut task(),
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
            Some(resume),
        );
        assert!(matches!(err, Err(Error::Config(m)) if m.contains("batch_in_epoch")));
    }

    /// Runs `t` from a state that has not begun ([`LoopState::new`]).
    fn continue_fresh(t: &mut Quadratic, s: &LoopSettings) -> Summary {
        let mut state = LoopState::new(t.batches_per_epoch(), Rng::new(1), Rng::new(2));
        let mut optimizer = Optimizer::new(s.optimizer.clone(), &t.param_sizes()).unwrap();
        let stop = AtomicBool::new(false);
        let threads = Threads::single();
        continue_run(t, s, &threads, &mut (), &stop, &mut state, &mut optimizer).unwrap()
    }

    #[test]
    fn the_automatic_cadence_validates_at_the_quarters_with_rows_between() {
        let mut s = settings(Stop::Steps(20), 0, 0);
        s.validate_every = 0;
        s.log_every = 3;
        let mut t = task();
        let summary = continue_fresh(&mut t, &s);
        let validated: Vec<u64> = summary
            .metrics
            .iter()
            .filter(|r| r.validation_loss().is_some())
            .map(|r| r.step)
            .collect();
        // A run continued from a state that has not begun does not validate the untrained model.
        assert_eq!(validated, [5, 10, 15, 20]);
        let rows: Vec<u64> = summary.metrics.iter().map(|r| r.step).collect();
        assert_eq!(rows, [3, 5, 6, 9, 10, 12, 15, 18, 20]);
        let steps: Vec<u64> = t.saved.iter().map(|s| s.0.step).collect();
        assert_eq!(steps, validated, "a checkpoint after each validation");
        // Each row's training loss is the mean of the steps since the row before.
        let mut whole = task();
        let every = LoopSettings {
            log_every: 1,
            ..s.clone()
        };
        let per_step = continue_fresh(&mut whole, &every).metrics;
        let mean = |from: usize, to: usize| {
            per_step[from..to]
                .iter()
                .map(|r| r.train_loss.unwrap())
                .sum::<f64>()
                / (to - from) as f64
        };
        let row_at = |step| summary.metrics.iter().find(|r| r.step == step).unwrap();
        assert!((row_at(5).train_loss.unwrap() - mean(3, 5)).abs() < 1e-12);
        assert!((row_at(3).train_loss.unwrap() - mean(0, 3)).abs() < 1e-12);
    }

    #[test]
    fn overfitting_stops_a_run_that_asks_for_it() {
        let mut s = settings(Stop::Steps(1000), 0, 0);
        s.early_stopping.on_overfitting = true;
        let mut t = task();
        let summary = run(
            &mut t,
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
        )
        .unwrap();
        // w rises from 0 towards 2: the training loss falls at every step, the validation loss
        // (best at w = 1) rises from there on.
        let signs = summary.overfitting.expect("overfitting at the end");
        assert!(summary.stopped_early);
        assert_eq!(signs.now.0, summary.steps);
        assert_eq!(signs.from.0 + OVERFIT_RISES as u64, summary.steps);
        assert_eq!(summary.best.1, signs.from.0, "the rise began at the best");
        assert!((t.best[0] - 1.0).abs() < 0.1, "best w {}", t.best[0]);
        // Without the rule the run goes on, and says it overfits.
        s.early_stopping.on_overfitting = false;
        s.stop = Stop::Steps(40);
        let summary = run(
            &mut task(),
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(summary.steps, 40);
        assert!(!summary.stopped_early && summary.overfitting.is_some());
    }

    #[test]
    fn a_task_without_validation_data_is_offered_checkpoints_and_keeps_no_best() {
        let mut t = Quadratic {
            validates: false,
            ..task()
        };
        let mut s = settings(Stop::Steps(12), 1, 0);
        s.validate_every = 4;
        let summary = run(
            &mut t,
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
        )
        .unwrap();
        let steps: Vec<u64> = t.saved.iter().map(|s| s.0.step).collect();
        assert_eq!(steps, [4, 8, 12]);
        assert!(t.best.is_empty() && summary.best.0.loss.is_nan());
        assert!(summary
            .metrics
            .iter()
            .all(|r| r.validation_loss().is_none()));
        assert!(!summary.stopped_early, "patience counts validations only");
    }

    #[test]
    fn clip_value_clips_every_gradient_element_after_the_norm() {
        let mut s = settings(Stop::Steps(1), 0, 0);
        s.clip_value = 0.5;
        let mut t = task();
        run(
            &mut t,
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
        )
        .unwrap();
        // The gradient at w = 0 is 2 (0 - 2) = -4, clipped to -0.5: one SGD step of 0.05.
        assert!((t.w[0] - 0.025).abs() < 1e-7, "w {}", t.w[0]);
        // With a norm clip of 0.1 first, the value clip no longer bites.
        s.clip = 0.1;
        let mut t = task();
        run(
            &mut t,
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
        )
        .unwrap();
        assert!((t.w[0] - 0.005).abs() < 1e-7, "w {}", t.w[0]);
    }
}
