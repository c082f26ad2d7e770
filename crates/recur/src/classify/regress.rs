//! Sequence regression (many-to-one, one number per sequence): the classifier's encoder
//! (embedding, recurrent layers, pooling) with a one-output linear head, trained with the mean
//! squared error (`nn::loss::mse_loss`) on targets standardised on the training split, through
//! the shared loop. Scored by RMSE and MAE, beside the baseline of predicting the training mean.
//!
//! Data: a `.ts` file with `@targetlabel true`, a CSV with a numeric `target` column instead of
//! `label`, or JSON lines with a numeric `"target"` field ([`Dataset::targets`]).

use super::data::Dataset;
use super::model::{Classifier, ClassifierConfig};
use super::train::{ClassifySettings, Trained};
use crate::error::{Error, Result};
use crate::nn::Gradients as _;
use crate::rng::Rng;
use crate::training::{self, Control, Snapshot, Task, Validation};
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};

/// The settings `recur classify train` uses for regression data where the flags leave them
/// open (measured on Covid3Month, README): one direction, the last state, 64 hidden units, every
/// raw step read on its own, no augmentation, at least 300 steps and a patience of 10
/// validations. The classifier's data rule (bidirectional, 128 units, max pooling, frames) does
/// not beat the training mean on every seed there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegressionDefaults {
    /// Two directions.
    pub bidirectional: bool,
    /// Pooling over the steps.
    pub pooling: crate::nn::Pooling,
    /// Hidden units per direction.
    pub hidden: usize,
    /// Raw steps per recurrent step.
    pub frame_size: usize,
    /// Optimiser steps at least (with a budget in epochs).
    pub min_steps: u64,
    /// Validations without improvement before stopping.
    pub patience: usize,
}

/// The regression defaults (see [`RegressionDefaults`]).
pub const REGRESSION_DEFAULTS: RegressionDefaults = RegressionDefaults {
    bidirectional: false,
    pooling: crate::nn::Pooling::Last,
    hidden: 64,
    frame_size: 1,
    min_steps: 300,
    patience: 10,
};

/// Task name of regressor checkpoints (`config.json`'s `task`).
pub const TASK: &str = "regress";

/// The standardisation of the targets: the model predicts `(y - mean) / std`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetScaling {
    /// Mean of the training split's targets.
    pub mean: f64,
    /// Standard deviation of the training split's targets (population; at least `1e-12`).
    pub std: f64,
}

impl TargetScaling {
    /// The scaling of `values` (mean and population standard deviation).
    pub fn fit(values: &[f32]) -> TargetScaling {
        let n = values.len().max(1) as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        TargetScaling {
            mean,
            std: var.sqrt().max(1e-12),
        }
    }
}

/// A seeded random split of `n` indices into (first, second), `round(frac · n)` in the second,
/// both sorted.
pub fn random_split(n: usize, frac: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut idx);
    let k = ((n as f64 * frac).round() as usize).min(n);
    let (mut b, mut a) = (idx[..k].to_vec(), idx[k..].to_vec());
    a.sort_unstable();
    b.sort_unstable();
    (a, b)
}

/// Predicted values (in target units) `[N]` for every sequence of `data`, in batches.
///
/// # Errors
/// [`Error::Input`] when `model` is not a regressor or the sequences are not of the kind the
/// model reads.
pub fn predict_values(
    model: &Classifier,
    threads: &Threads,
    data: &Dataset,
    batch: usize,
) -> Result<Vec<f32>> {
    let scaling = scaling_of(model)?;
    let idx: Vec<usize> = (0..data.items.len()).collect();
    model.check_data(data, &idx)?;
    let mut out = Vec::with_capacity(idx.len());
    for chunk in idx.chunks(batch.max(1)) {
        let (_, z) = model.encode(threads, data, chunk, None)?;
        out.extend(
            z.iter()
                .map(|&z| (z as f64 * scaling.std + scaling.mean) as f32),
        );
    }
    Ok(out)
}

fn scaling_of(model: &Classifier) -> Result<TargetScaling> {
    model.config().target.ok_or_else(|| {
        Error::Input("this model is a classifier: it predicts classes, not values".into())
    })
}

/// Scores of predicted values against the truth, beside a constant baseline.
#[derive(Clone, Debug, Serialize)]
pub struct RegressionReport {
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// RMSE of always predicting [`RegressionReport::baseline_value`] (the training mean).
    pub baseline_rmse: f64,
    /// MAE of the same baseline.
    pub baseline_mae: f64,
    /// The baseline's constant prediction.
    pub baseline_value: f64,
    /// Sequences scored.
    pub count: usize,
}

/// The report of `predicted` against `truth`, with the baseline that predicts `baseline` for
/// every sequence.
///
/// # Errors
/// [`Error::Input`] when the lists differ in length or are empty.
pub fn regression_report(
    truth: &[f32],
    predicted: &[f32],
    baseline: f64,
) -> Result<RegressionReport> {
    if truth.len() != predicted.len() || truth.is_empty() {
        return Err(Error::Input(format!(
            "{} targets but {} predictions (at least one of each is needed)",
            truth.len(),
            predicted.len()
        )));
    }
    let n = truth.len() as f64;
    let errors = |p: &dyn Fn(usize) -> f64| {
        let (mut sq, mut abs) = (0.0, 0.0);
        for (i, &t) in truth.iter().enumerate() {
            let e = p(i) - t as f64;
            sq += e * e;
            abs += e.abs();
        }
        ((sq / n).sqrt(), abs / n)
    };
    let (rmse, mae) = errors(&|i| predicted[i] as f64);
    let (baseline_rmse, baseline_mae) = errors(&|_| baseline);
    Ok(RegressionReport {
        rmse,
        mae,
        baseline_rmse,
        baseline_mae,
        baseline_value: baseline,
        count: truth.len(),
    })
}

/// `config.json` of a regressor checkpoint: as a classifier's, with task `"regress"`.
pub fn checkpoint_config(
    model: &ClassifierConfig,
    settings: &ClassifySettings,
) -> serde_json::Value {
    let mut v = super::train::checkpoint_config(model, settings);
    v["task"] = TASK.into();
    v
}

/// The regressor as a [`Task`] of the shared loop: MSE on standardised targets; the
/// validation score is the RMSE in target units.
struct RegressTask<'a> {
    model: Classifier,
    grads: super::model::ClassifierGrads,
    best: Option<Classifier>,
    data: &'a Dataset,
    /// Standardised targets of every sequence of `data`.
    targets: Vec<f32>,
    order: Vec<usize>,
    batch_size: usize,
    val: Vec<usize>,
    scaling: TargetScaling,
    saving: training::Saving<'a>,
}

impl Task for RegressTask<'_> {
    fn batches_per_epoch(&self) -> u64 {
        self.order.len().div_ceil(self.batch_size) as u64
    }

    fn start_epoch(&mut self, rng: &mut Rng) {
        rng.shuffle(&mut self.order);
    }

    fn train_batch(&mut self, threads: &Threads, index: u64, rng: &mut Rng) -> Result<f64> {
        let start = index as usize * self.batch_size;
        let chunk = &self.order[start..(start + self.batch_size).min(self.order.len())];
        let t: Vec<f32> = chunk.iter().map(|&i| self.targets[i]).collect();
        self.grads.zero();
        let (mut enc, z) = self.model.encode(threads, self.data, chunk, Some(rng))?;
        let mut dz = vec![0.0f32; z.len()];
        let loss = crate::nn::loss::mse_loss(&z, &t, Some(&mut dz))?;
        self.model
            .backward(threads, &mut enc, &dz, &mut self.grads)?;
        Ok(loss)
    }

    fn param_sizes(&self) -> Vec<usize> {
        self.model.buffer_sizes()
    }

    fn params_and_grads(&mut self) -> (Vec<&mut [f32]>, Vec<&mut [f32]>) {
        (self.model.buffers_mut(), self.grads.buffers_mut())
    }

    fn validate(&mut self, threads: &Threads) -> Result<Validation> {
        let mut sq = 0.0;
        for chunk in self.val.chunks(64) {
            let (_, z) = self.model.encode(threads, self.data, chunk, None)?;
            for (&i, &z) in chunk.iter().zip(&z) {
                sq += (z as f64 - self.targets[i] as f64).powi(2);
            }
        }
        let mse = sq / self.val.len() as f64;
        Ok(Validation {
            loss: mse,
            score: Some(mse.sqrt() * self.scaling.std),
        })
    }

    fn keep_best(&mut self) {
        self.best = Some(self.model.clone());
    }

    fn checkpoint(&mut self, at: &Snapshot<'_>) -> Result<()> {
        self.saving
            .offer((&self.model, self.best.as_ref()), &self.order, at)
    }
}

/// Trains a regressor on `data` (which must carry [`Dataset::targets`]) with the shared loop:
/// a random `val_frac` (at least [`super::train::MIN_VALIDATION`] sequences, at most a third)
/// is held out to select the model of the lowest validation MSE and to stop early; feature
/// scaling, vocabulary and target scaling come from the rest only. The settings are the
/// classifier's ([`ClassifySettings`]); `control` brings progress, Ctrl-C, checkpoints and
/// resuming (bit for bit, as [`super::train::train_with`]). In the result,
/// `val_accuracy` is NaN and the summary's score is the validation RMSE.
///
/// # Errors
/// [`Error::Config`] for settings out of range, [`Error::Input`] for data without targets or
/// too few sequences to split, [`Error::Diverged`] for a non-finite loss, [`Error::Format`]
/// for a checkpoint to resume from that does not fit.
pub fn train_regressor<'a>(
    data: &'a Dataset,
    s: &ClassifySettings,
    threads: &Threads,
    control: Control<'a>,
) -> Result<Trained> {
    s.validate()?;
    let from = data
        .source
        .as_ref()
        .map_or(String::new(), |p| format!("{}: ", p.display()));
    if data.targets.len() != data.items.len() {
        return Err(Error::Input(format!(
            "{from}{} targets for {} sequences (regression needs a numeric target for each)",
            data.targets.len(),
            data.items.len()
        )));
    }
    let n = data.items.len();
    let val_frac = super::train::validation_share(s.val_frac, n, 1);
    let (train_idx, val_idx) = random_split(n, val_frac, s.seed);
    if train_idx.len() < 2 || val_idx.is_empty() {
        return Err(Error::Input(format!(
            "{from}{n} sequences are too few for a training and a validation split"
        )));
    }
    let train_targets: Vec<f32> = train_idx.iter().map(|&i| data.targets[i]).collect();
    let scaling = TargetScaling::fit(&train_targets);
    let mut config = super::fit::encoder_config(data, &train_idx, s)?;
    config.target = Some(scaling);
    let model = Classifier::new(config, &mut Rng::new(s.seed))?;
    let mut task = RegressTask {
        grads: model.zero_grads(),
        saving: training::Saving {
            save: control.on_checkpoint,
            config: checkpoint_config(model.config(), s),
            run: control.run_record,
        },
        model,
        best: None,
        data,
        targets: data
            .targets
            .iter()
            .map(|&y| ((y as f64 - scaling.mean) / scaling.std) as f32)
            .collect(),
        order: train_idx,
        batch_size: s.batch_size,
        val: val_idx,
        scaling,
    };
    let settings = s.loop_settings(task.batches_per_epoch());
    let resume = match control.resume_from {
        Some(dir) => Some(super::train::restore(
            (&mut task.model, &mut task.best, &mut task.order),
            &settings,
            dir,
        )?),
        None => None,
    };
    let end = training::run_from(
        &mut task,
        &settings,
        threads,
        control.observer,
        control.stop,
        resume,
    )?;
    let summary = end.summary;
    Ok(Trained {
        model: task.best.unwrap_or_else(|| task.model.clone()),
        epochs: summary.epochs as usize,
        val_accuracy: f64::NAN,
        summary,
        current: task.model,
        order: task.order,
        state: end.state,
        optimizer: end.optimizer,
        run_record: task.saving.run,
        config_json: task.saving.config,
        refitted: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_and_baseline_by_hand() {
        let r = regression_report(&[1.0, 2.0, 3.0], &[1.0, 2.0, 5.0], 2.0).unwrap();
        assert!((r.rmse - (4.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((r.mae - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.baseline_rmse - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((r.baseline_mae - 2.0 / 3.0).abs() < 1e-12);
        assert!(regression_report(&[], &[], 0.0).is_err());
    }

    #[test]
    fn random_split_is_seeded_and_complete() {
        let (a, b) = random_split(10, 0.3, 4);
        assert_eq!((a.len(), b.len()), (7, 3));
        let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(random_split(10, 0.3, 4), (a, b));
        let t = TargetScaling::fit(&[1.0, 3.0]);
        assert_eq!((t.mean, t.std), (2.0, 1.0));
    }
}
