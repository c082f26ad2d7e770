//! One training loop for the tasks that train on a fixed set of examples (the classifier, the
//! forecaster): a budget of optimiser steps, epochs or seconds; a fresh shuffle of the examples
//! every epoch; gradient clipping and a learning-rate schedule; validation on a cadence; model
//! selection and early stopping on the validation loss with a minimum improvement and a minimum
//! number of steps; a guard that stops on a non-finite loss or gradient; Ctrl-C; and progress
//! through an [`Observer`].
//!
//! A task implements [`Task`]: how many batches an epoch has, how to run one forward and backward,
//! where its parameters and gradients are, how to validate, and how to keep its best parameters.

mod resume;

pub use resume::{read as read_checkpoint, read_run, LoopCheckpoint, Restored};

use crate::error::{Error, Result};
use crate::optim::{Optimizer, OptimizerConfig, Schedule};
use crate::rng::Rng;
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// When training stops.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// After this many optimiser steps.
    Steps(u64),
    /// After this many passes over the training data.
    Epochs(u64),
    /// After this many seconds of training (for the character model, its validations counted
    /// in; saving not counted).
    TimeBudget(f64),
}

/// What the loop needs from a model and its data.
pub trait Task {
    /// Batches in one pass over the training examples.
    fn batches_per_epoch(&self) -> u64;
    /// Starts a pass over the training examples: shuffles their order with `rng`.
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
    /// Remembers the current parameters as the best so far.
    fn keep_best(&mut self);
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
    /// Validations in a row without an improvement before training stops (0: never stop early).
    pub patience: u64,
    /// The smallest decrease of the validation loss, relative to the best so far, that counts
    /// as an improvement (`1e-4` = 0.01 %): noise and ties do not reset the patience.
    pub min_delta: f64,
    /// Optimiser steps before early stopping may end a run.
    pub min_steps: u64,
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
    /// Validate every this many optimiser steps (and at the end).
    pub validate_every: u64,
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
            validate_every: batches_per_epoch.max(1),
            early_stopping: EarlyStopping {
                patience,
                min_delta: 1e-4,
                min_steps,
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
        if self.validate_every == 0 {
            return Err(Error::Config(
                "validation must happen every 1 or more steps".into(),
            ));
        }
        let e = &self.early_stopping;
        if !(e.min_delta >= 0.0 && e.min_delta.is_finite()) {
            return Err(Error::Config(format!(
                "the minimum improvement must be >= 0, got {}",
                e.min_delta
            )));
        }
        if !(self.clip >= 0.0 && self.clip.is_finite()) {
            return Err(Error::Config(format!(
                "`clip` must be >= 0, got {}",
                self.clip
            )));
        }
        self.optimizer.validate()?;
        self.schedule.validate()
    }
}

/// Where a run stands, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Optimiser steps taken.
    pub step: u64,
    /// Completed passes over the training examples.
    pub epoch: u64,
    /// Steps of the whole run, when the stopping rule fixes them.
    pub total_steps: Option<u64>,
    /// Fraction of the budget used, in `[0, 1]`.
    pub fraction: f64,
    /// Mean training loss since the last validation.
    pub train_loss: f64,
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
    /// After every validation; `improved` when the model was kept as the best.
    fn validated(&mut self, _progress: &Progress, _validation: &Validation, _improved: bool) {}
}

/// An observer that shows nothing.
impl Observer for () {}

/// One validation of a run, as written to `metrics.jsonl`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    /// Steps taken.
    pub step: u64,
    /// Passes over the training examples begun.
    pub epoch: u64,
    /// Mean training loss since the previous validation (`null` before the first step).
    pub train_loss: Option<f64>,
    /// Validation loss.
    pub val_loss: f64,
    /// The task's validation score, if any.
    pub val_score: Option<f64>,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Seconds of training so far.
    pub elapsed_s: f64,
    /// The largest global gradient norm (before clipping) since the previous validation.
    #[serde(default)]
    pub grad_norm_max: f64,
    /// The mean global gradient norm (before clipping) since the previous validation.
    #[serde(default)]
    pub grad_norm_mean: f64,
    /// Steps since the previous validation whose gradient was clipped (norm above `clip`).
    #[serde(default)]
    pub clipped_steps: u64,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Steps taken.
    pub steps: u64,
    /// Passes over the training examples begun (the last may be partial).
    pub epochs: u64,
    /// The best validation and the step it came from (step 0: the untrained model).
    pub best: (Validation, u64),
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Whether `stop` (Ctrl-C) ended the run.
    pub interrupted: bool,
    /// Seconds of training (validation not counted).
    pub seconds: f64,
    /// Every validation, in order (the first is the untrained model's).
    pub metrics: Vec<MetricsRow>,
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
            .map(|m| (m.step as f64, m.val_loss))
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

    /// `metrics.jsonl`: one JSON object per validation.
    pub fn metrics_jsonl(&self) -> String {
        self.metrics
            .iter()
            .map(|m| serde_json::to_string(m).expect("a metrics row serialises") + "\n")
            .collect()
    }
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
    /// The best validation so far.
    pub best: Validation,
    /// The step of the best validation (0: the untrained model).
    pub best_step: u64,
    /// Validations since the best one.
    pub since_best: u64,
    /// Sum of the training losses since the last validation.
    pub loss_sum: f64,
    /// Steps since the last validation.
    pub losses: u64,
    /// Gradient norms since the last validation (before clipping): the largest, the sum, and
    /// the steps clipped.
    #[serde(default)]
    pub grad_norms: (f64, f64, u64),
    /// Seconds of training so far (validation not counted).
    pub seconds: f64,
    /// Every validation so far, in order.
    pub metrics: Vec<MetricsRow>,
}

impl LoopState {
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
            ("best.loss", self.best.loss),
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

/// Trains `task` under `settings`: validates the untrained model, then steps until the budget
/// is spent, early stopping ends the run, or `stop` is raised, validating every
/// `validate_every` steps and at the end; the task keeps the parameters of the lowest
/// validation loss through [`Task::keep_best`].
///
/// # Errors
/// [`Error::Config`] for settings out of range, [`Error::Diverged`] when a loss or gradient is
/// not finite (the best parameters kept so far are still the task's), or the task's errors.
pub fn run(
    task: &mut impl Task,
    settings: &LoopSettings,
    threads: &Threads,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Summary> {
    Ok(run_from(task, settings, threads, observer, stop, None)?.summary)
}

/// [`run`], continuing from `resume` when given (the task's parameters, best parameters and
/// order of examples already restored): the same steps, shuffles, dropout masks and
/// validations, bit for bit, as the run that was not interrupted. After every validation the
/// task is offered a checkpoint ([`Task::checkpoint`]).
///
/// # Errors
/// As [`run`]; [`Error::Config`] for a `resume` state that does not fit the task.
pub fn run_from(
    task: &mut impl Task,
    settings: &LoopSettings,
    threads: &Threads,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
    resume: Option<Resume>,
) -> Result<Finished> {
    settings.validate()?;
    let per_epoch = task.batches_per_epoch();
    if per_epoch == 0 {
        return Err(Error::Input("no training batches".into()));
    }
    let total_steps =
        match settings.stop {
            Stop::Steps(n) => Some(n),
            Stop::Epochs(n) => Some(n.checked_mul(per_epoch).ok_or_else(|| {
                Error::Config(format!("`epochs` {n} × {per_epoch} steps overflows"))
            })?),
            Stop::TimeBudget(_) => None,
        };
    let (mut st, mut optimizer) = match resume {
        Some(r) => {
            r.state.check(per_epoch)?;
            (r.state, r.optimizer)
        }
        None => {
            let optimizer = Optimizer::new(settings.optimizer.clone(), &task.param_sizes())?;
            (start(task, settings, threads, observer)?, optimizer)
        }
    };
    let mut progress = Progress {
        step: st.step,
        epoch: st.epoch,
        total_steps,
        fraction: fraction(settings.stop, total_steps, st.step, st.seconds),
        train_loss: if st.losses > 0 {
            st.loss_sum / st.losses as f64
        } else {
            f64::NAN
        },
        lr: settings.schedule.lr_at(st.step, 0.0),
        seconds: st.seconds,
        best: Some((st.best.loss, st.best_step)),
    };
    let (mut stopped_early, mut interrupted) = (false, false);
    let done = |p: &Progress| match settings.stop {
        Stop::TimeBudget(s) => p.seconds >= s,
        _ => total_steps.is_some_and(|n| p.step >= n),
    };
    while !done(&progress) {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        step(
            task,
            settings,
            threads,
            &mut st,
            &mut optimizer,
            (per_epoch, total_steps),
        )?;
        progress.step = st.step;
        progress.epoch = st.epoch;
        progress.lr = settings.schedule.lr_at(st.step - 1, progress.fraction);
        progress.seconds = st.seconds;
        progress.fraction = fraction(settings.stop, total_steps, st.step, st.seconds);
        progress.train_loss = st.loss_sum / st.losses as f64;
        observer.step(&progress);
        if !st.step.is_multiple_of(settings.validate_every) && !done(&progress) {
            continue;
        }
        let (v, improved) = validate(task, settings, threads, &mut st, &progress)?;
        progress.best = Some((st.best.loss, st.best_step));
        observer.validated(&progress, &v, improved);
        task.checkpoint(&Snapshot {
            state: &st,
            optimizer: &optimizer,
        })?;
        let e = &settings.early_stopping;
        if e.patience > 0
            && st.since_best >= e.patience
            && st.step >= e.min_steps
            && !done(&progress)
        {
            stopped_early = true;
            break;
        }
    }
    let summary = Summary {
        steps: st.step,
        epochs: st.epoch,
        best: (st.best, st.best_step),
        stopped_early,
        interrupted,
        seconds: st.seconds,
        metrics: st.metrics.clone(),
    };
    Ok(Finished {
        summary,
        state: st,
        optimizer,
    })
}

/// The share of the budget used after `step` steps and `seconds` seconds.
fn fraction(stop: Stop, total_steps: Option<u64>, step: u64, seconds: f64) -> f64 {
    match (stop, total_steps) {
        (Stop::TimeBudget(s), _) => (seconds / s).min(1.0),
        (_, Some(n)) => (step as f64 / n as f64).min(1.0),
        _ => 0.0,
    }
}

/// A fresh run's state: the untrained model validated, kept as the best, and shown.
fn start(
    task: &mut impl Task,
    settings: &LoopSettings,
    threads: &Threads,
    observer: &mut dyn Observer,
) -> Result<LoopState> {
    let first = task.validate(threads)?;
    task.keep_best();
    let lr = settings.schedule.lr_at(0, 0.0);
    let progress = Progress {
        step: 0,
        epoch: 0,
        total_steps: None,
        fraction: 0.0,
        train_loss: f64::NAN,
        lr,
        seconds: 0.0,
        best: Some((first.loss, 0)),
    };
    observer.validated(&progress, &first, true);
    Ok(LoopState {
        step: 0,
        epoch: 0,
        batch_in_epoch: task.batches_per_epoch(), // a pass starts at the first step
        shuffle_rng: Rng::new(settings.seed),
        dropout_rng: Rng::new(settings.seed ^ 0xd0),
        best: first,
        best_step: 0,
        since_best: 0,
        loss_sum: 0.0,
        losses: 0,
        grad_norms: (0.0, 0.0, 0),
        seconds: 0.0,
        metrics: vec![MetricsRow {
            step: 0,
            epoch: 0,
            train_loss: None,
            val_loss: first.loss,
            val_score: first.score,
            lr,
            elapsed_s: 0.0,
            grad_norm_max: 0.0,
            grad_norm_mean: 0.0,
            clipped_steps: 0,
        }],
    })
}

/// One optimiser step: a new pass when the last ended, the batch forward and backward, the
/// non-finite guard, clipping and the update.
fn step(
    task: &mut impl Task,
    settings: &LoopSettings,
    threads: &Threads,
    st: &mut LoopState,
    optimizer: &mut Optimizer,
    (per_epoch, total): (u64, Option<u64>),
) -> Result<()> {
    let started = Instant::now();
    if st.batch_in_epoch >= per_epoch {
        task.start_epoch(&mut st.shuffle_rng);
        st.batch_in_epoch = 0;
        st.epoch += 1;
    }
    let loss = task.train_batch(threads, st.batch_in_epoch, &mut st.dropout_rng)?;
    st.batch_in_epoch += 1;
    let step = st.step + 1;
    if !loss.is_finite() {
        return Err(Error::Diverged(format!(
            "step {step}: the training loss is {loss}{}; training stopped (try a lower `lr`)",
            norm_hint(st)
        )));
    }
    let lr = settings
        .schedule
        .lr_at(st.step, fraction(settings.stop, total, st.step, st.seconds));
    let (mut params, mut grads) = task.params_and_grads();
    let norm = optimizer.clip_and_step_in(threads, &mut params, &mut grads, settings.clip, lr);
    if !norm.is_finite() {
        return Err(Error::Diverged(format!(
            "step {step}: the gradient exploded (its global norm is {norm}{}); training stopped (try a lower `lr`)",
            norm_hint(st)
        )));
    }
    let g = &mut st.grad_norms;
    g.0 = g.0.max(norm);
    g.1 += norm;
    g.2 += u64::from(settings.clip > 0.0 && norm > settings.clip);
    st.step = step;
    st.seconds += started.elapsed().as_secs_f64();
    st.loss_sum += loss;
    st.losses += 1;
    Ok(())
}

/// The gradient norms since the last validation, for a divergence message.
fn norm_hint(st: &LoopState) -> String {
    let (max, sum, _) = st.grad_norms;
    if st.losses == 0 {
        return String::new();
    }
    format!(
        ", after a mean gradient norm of {:.3} and a largest of {max:.3} over the {} steps before",
        sum / st.losses as f64,
        st.losses
    )
}

/// A validation: the non-finite guard, model selection, and its row of `metrics.jsonl`;
/// returns the validation and whether it was the best so far.
fn validate(
    task: &mut impl Task,
    settings: &LoopSettings,
    threads: &Threads,
    st: &mut LoopState,
    progress: &Progress,
) -> Result<(Validation, bool)> {
    let v = task.validate(threads)?;
    if !v.loss.is_finite() {
        return Err(Error::Diverged(format!(
            "step {}: the validation loss is {}; training stopped (try a lower `lr`)",
            st.step, v.loss
        )));
    }
    let e = &settings.early_stopping;
    let improved = v.loss < st.best.loss - e.min_delta * st.best.loss.abs();
    if improved {
        task.keep_best();
        (st.best, st.best_step, st.since_best) = (v, st.step, 0);
    } else {
        st.since_best += 1;
    }
    st.metrics.push(MetricsRow {
        step: st.step,
        epoch: st.epoch,
        train_loss: Some(st.loss_sum / st.losses as f64),
        val_loss: v.loss,
        val_score: v.score,
        lr: progress.lr,
        elapsed_s: st.seconds,
        grad_norm_max: st.grad_norms.0,
        grad_norm_mean: st.grad_norms.1 / st.losses.max(1) as f64,
        clipped_steps: st.grad_norms.2,
    });
    (st.loss_sum, st.losses, st.grad_norms) = (0.0, 0, (0.0, 0.0, 0));
    Ok((v, improved))
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
            validate_every: 1,
            early_stopping: EarlyStopping {
                patience,
                min_delta: 1e-4,
                min_steps,
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
}
