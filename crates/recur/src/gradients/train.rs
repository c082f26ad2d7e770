//! Training a [`SequenceModel`] on a long-range problem with the shared loop
//! ([`crate::training::run`]): every step draws a fresh batch, validation and test sets are
//! fixed by the seed (the same for every cell, so cells compare on the same sequences).

use super::model::{Outcome, SequenceGrads, SequenceModel, SequenceModelConfig};
use super::problems::{Baseline, Batch, Problem};
use crate::config::CellType;
use crate::error::{Error, Result};
use crate::nn::Gradients;
use crate::optim::{OptimizerConfig, OptimizerKind, Schedule, ScheduleKind};
use crate::rng::Rng;
use crate::training::{self, EarlyStopping, LoopSettings, Observer, Stop, Summary, Validation};
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicBool;

/// Everything a long-range run is set by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProblemSettings {
    /// The problem.
    pub problem: Problem,
    /// `T`: the sequence length (adding, first) or the delay (copy).
    pub length: usize,
    /// Recurrent cell.
    pub cell: CellType,
    /// Hidden units.
    pub hidden: usize,
    /// Stacked layers.
    pub layers: usize,
    /// Sequences per optimiser step.
    pub batch_size: usize,
    /// Optimiser steps.
    pub steps: u64,
    /// Adam's learning rate (constant).
    pub lr: f64,
    /// Global gradient-norm clip (0: off).
    pub clip: f64,
    /// Validate every this many steps.
    pub validate_every: u64,
    /// Sequences in the validation set and in the test set.
    pub eval_size: usize,
    /// Seed of the initialisation, the training batches and the two fixed sets.
    pub seed: u64,
}

impl ProblemSettings {
    /// The settings the `recur task` command defaults to, chosen so that a run at length 200 on
    /// two cores takes a few minutes: 1 layer of 64 units, batches of 32, Adam at `1e-2` with
    /// the gradient norm clipped to 1, 4000 steps, validation every 100 steps on 500 sequences.
    pub fn defaults(problem: Problem, length: usize, cell: CellType) -> Self {
        ProblemSettings {
            problem,
            length,
            cell,
            hidden: 64,
            layers: 1,
            batch_size: 32,
            steps: 4000,
            lr: 1e-2,
            clip: 1.0,
            validate_every: 100,
            eval_size: 500,
            seed: 1,
        }
    }

    /// Checks ranges; messages name the setting as `` `field` ``.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        let min = self.problem.min_length();
        if self.length < min {
            return Err(Error::Config(format!(
                "`length` must be at least {min} for the {} task, got {}",
                self.problem.name(),
                self.length
            )));
        }
        crate::config::require_at_least_one(&[
            ("hidden", self.hidden),
            ("layers", self.layers),
            ("batch_size", self.batch_size),
            ("eval_size", self.eval_size),
        ])?;
        if self.validate_every == 0 {
            return Err(Error::Config("`validate_every` must be at least 1".into()));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::Config(format!("`lr` must be > 0, got {}", self.lr)));
        }
        self.model_config().rnn().validate()?;
        self.loop_settings().validate()
    }

    fn model_config(&self) -> SequenceModelConfig {
        SequenceModelConfig {
            problem: self.problem,
            cell: self.cell,
            hidden_size: self.hidden,
            num_layers: self.layers,
        }
    }

    /// The shared loop's settings: a fixed budget of steps, no early stopping.
    pub fn loop_settings(&self) -> LoopSettings {
        LoopSettings {
            stop: Stop::Steps(self.steps),
            optimizer: OptimizerConfig::new(OptimizerKind::Adam),
            schedule: Schedule {
                kind: ScheduleKind::Constant,
                lr: self.lr,
                warmup_steps: 0,
                min_lr: 0.0,
                step_fraction: 0.25,
                gamma: 0.5,
            },
            clip: self.clip,
            clip_value: 0.0,
            validate_every: self.validate_every,
            budget_counts_validation: false,
            log_every: 0,
            early_stopping: EarlyStopping {
                patience: 0,
                min_delta: 1e-4,
                min_steps: 0,
                on_overfitting: false,
            },
            seed: self.seed,
        }
    }

    /// The fixed validation (`which = 0`) or test (`which = 1`) set: drawn from a seed of its
    /// own, so it is the same for every cell and hidden size.
    ///
    /// # Errors
    /// As [`Problem::generate`].
    pub fn fixed_set(&self, which: u64) -> Result<Batch> {
        let mut rng = Rng::new(self.seed ^ (0x5e7_0000 + which));
        self.problem.generate(self.length, self.eval_size, &mut rng)
    }
}

/// The shared loop's view of a long-range run.
struct ProblemTask<'a> {
    settings: &'a ProblemSettings,
    model: SequenceModel,
    grads: SequenceGrads,
    best: SequenceModel,
    data: Rng,
    val: Batch,
}

impl training::Task for ProblemTask<'_> {
    fn batches_per_epoch(&self) -> u64 {
        // Every batch is fresh: an "epoch" is only the validation cadence.
        self.settings.validate_every
    }
    fn start_epoch(&mut self, _rng: &mut Rng) {}
    fn train_batch(&mut self, threads: &Threads, _index: u64, _rng: &mut Rng) -> Result<f64> {
        let s = self.settings;
        let batch = s.problem.generate(s.length, s.batch_size, &mut self.data)?;
        self.grads.zero();
        Ok(self.model.run(threads, &batch, Some(&mut self.grads))?.loss)
    }
    fn param_sizes(&self) -> Vec<usize> {
        let head = &self.model.head;
        let mut sizes = vec![self.model.rnn.params().len(), head.weight.len()];
        sizes.extend(head.bias.as_ref().map(Vec::len));
        sizes
    }
    fn params_and_grads(&mut self) -> (Vec<&mut [f32]>, Vec<&mut [f32]>) {
        (self.model.buffers_mut(), self.grads.buffers_mut())
    }
    fn validate(&mut self, threads: &Threads) -> Result<Validation> {
        let o = evaluate(&self.model, threads, &self.val)?;
        Ok(Validation {
            loss: o.loss,
            score: score(self.settings.problem, &o),
        })
    }
    fn keep_best(&mut self) {
        self.best = self.model.clone();
    }
}

/// The task's own score of an outcome: the MSE for adding, the accuracy otherwise.
pub fn score(problem: Problem, o: &Outcome) -> Option<f64> {
    match problem {
        Problem::Adding => Some(o.loss),
        _ => Some(o.correct as f64 / o.counted.max(1) as f64),
    }
}

/// Evaluates `model` on `set` in one pass (no gradients).
///
/// # Errors
/// As [`SequenceModel::run`].
pub fn evaluate(model: &SequenceModel, threads: &Threads, set: &Batch) -> Result<Outcome> {
    model.run(threads, set, None)
}

/// A finished long-range run.
#[derive(Debug)]
pub struct Trained {
    /// The model of the lowest validation loss.
    pub model: SequenceModel,
    /// The loop's account of the run.
    pub summary: Summary,
    /// The kept model on the fixed test set.
    pub test: Outcome,
    /// What remembering nothing scores.
    pub baseline: Baseline,
}

/// Trains a [`SequenceModel`] under `settings` with [`training::run`] and scores the kept
/// model on the test set.
///
/// # Errors
/// [`Error::Config`] for settings out of range; the loop's errors ([`Error::Diverged`]).
pub fn train(
    settings: &ProblemSettings,
    threads: &Threads,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Trained> {
    settings.validate()?;
    let model = SequenceModel::new(settings.model_config(), &mut Rng::new(settings.seed))?;
    let mut task = ProblemTask {
        settings,
        grads: model.zero_grads(),
        best: model.clone(),
        model,
        data: Rng::new(settings.seed.wrapping_add(1)),
        val: settings.fixed_set(0)?,
    };
    let summary = training::run(
        &mut task,
        &settings.loop_settings(),
        threads,
        observer,
        stop,
    )?;
    let test = evaluate(&task.best, threads, &settings.fixed_set(1)?)?;
    Ok(Trained {
        model: task.best,
        summary,
        test,
        baseline: settings.problem.baseline(settings.length),
    })
}
