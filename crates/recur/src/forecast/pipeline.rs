//! A forecasting run: transform, scale (fitted on training data only), window, train with early
//! stopping on a chronological validation tail, and score model and baselines on the test span
//! from the same rolling origins.

use super::baselines::{drift, naive, seasonal_naive};
use super::metrics::{mase_scale, metrics, ForecastMetrics};
use super::model::{Forecaster, ForecasterConfig};
use super::series::Series;
use super::Frequency;
use crate::config::CellType;
use crate::error::{Error, Result};
use crate::nn::Gradients as _;
use crate::optim::Optimizer;
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::training::{
    self, Control, LoopCheckpoint, LoopSettings, LoopState, Observer, Snapshot, Summary, Task,
    Validation,
};
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::AtomicBool;

pub use super::auto::{
    run_auto, run_auto_with, transform_candidates, transform_name, AutoRun, TransformTrial,
};

/// How to forecast.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ForecastSettings {
    /// Steps of history the model sees.
    pub lookback: usize,
    /// Steps predicted from each origin.
    pub horizon: usize,
    /// Points at the end held out as the test span.
    pub test_size: usize,
    /// Season length for seasonal naive, MASE and seasonal differencing.
    pub period: usize,
    /// Model the logarithm of the series (positive series only).
    pub log: bool,
    /// Model `y_t - y_{t-period}` instead of `y_t`.
    pub seasonal_diff: bool,
    /// Model first differences (after the seasonal one, if any).
    pub diff: bool,
    /// Fraction of the training windows (the latest) used for early stopping.
    pub val_frac: f64,
    /// Recurrent cell.
    pub cell: CellType,
    /// Hidden units.
    pub hidden: usize,
    /// Layers.
    pub layers: usize,
    /// Passes over the training windows at most (when neither `steps` nor `time_budget` is set).
    pub epochs: usize,
    /// Stop after this many optimiser steps instead.
    #[serde(default)]
    pub steps: Option<u64>,
    /// Stop after this many seconds of training instead.
    #[serde(default)]
    pub time_budget: Option<f64>,
    /// Validations (one per epoch) without a lower validation loss before stopping.
    pub patience: usize,
    /// Windows per optimiser step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed.
    pub seed: u64,
}

impl ForecastSettings {
    /// Checks every setting's range against a series of `points` values, before any work;
    /// messages name the flag and the limit.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self, points: usize) -> Result<()> {
        let at_least_one = [
            ("`lookback`", self.lookback),
            ("`horizon`", self.horizon),
            ("`test_size`", self.test_size),
            ("`period`", self.period),
            ("`hidden`", self.hidden),
            ("`layers`", self.layers),
            ("`epochs`", self.epochs),
            ("`batch_size`", self.batch_size),
        ];
        for (flag, v) in at_least_one {
            if v == 0 {
                return Err(Error::Config(format!("{flag} must be at least 1")));
            }
        }
        for (flag, v) in [
            ("`lookback`", self.lookback),
            ("`horizon`", self.horizon),
            ("`test_size`", self.test_size),
            ("`period`", self.period),
        ] {
            if v >= points {
                return Err(Error::Config(format!(
                    "{flag} {v}: the series has {points} points, too few (it must have more than {v})"
                )));
            }
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::Config(format!(
                "`lr` must be a positive number, got {}",
                self.lr
            )));
        }
        if !(self.val_frac > 0.0 && self.val_frac < 1.0) {
            return Err(Error::Config(format!(
                "the validation share must be in (0, 1), got {}",
                self.val_frac
            )));
        }
        Ok(())
    }
}

/// One method's forecast of the test span and its accuracy.
#[derive(Clone, Debug, Serialize)]
pub struct MethodResult {
    /// `model`, `naive`, `seasonal_naive`, `drift`.
    pub name: String,
    /// One value per test point.
    pub forecast: Vec<f64>,
    /// Accuracy on the test span.
    pub metrics: ForecastMetrics,
}

/// What a run produces.
#[derive(Clone, Debug)]
pub struct ForecastRun {
    /// The trained model.
    pub model: Forecaster,
    /// Index of the first test point.
    pub test_start: usize,
    /// The model first, then the baselines.
    pub results: Vec<MethodResult>,
    /// Epochs trained (the last may be partial).
    pub epochs: usize,
    /// How the training run went: steps, the best validation and its step, early stopping.
    pub summary: training::Summary,
    /// Best validation MSE in scaled units.
    pub best_val: f64,
    /// The scaling fitted on the training span.
    pub scaling: Scaling,
    /// The model's mean absolute error, in the series' units, over every step of the validation
    /// windows (the same windows whatever the transform): what [`run_auto`] compares.
    pub val_mae: f64,
    /// The conformal half-widths of the prediction intervals, one per level asked for.
    pub conformal: Vec<Conformal>,
    /// The model's intervals on the test span and their scores, one per level.
    pub intervals: Vec<IntervalResult>,
    /// MASE's denominator: the in-sample MAE of the seasonal-naive forecast (naive without a
    /// period) over the training span.
    pub scale: f64,
    /// Where training stood after its last step: what continues it ([`ForecastRun::checkpoint`]).
    pub end: TrainingEnd,
}

/// The state of a forecaster's training after its last step, beside its best model: with it a
/// run interrupted (Ctrl-C, a step limit) continues bit for bit.
#[derive(Clone, Debug)]
pub struct TrainingEnd {
    /// The forecaster after the last step.
    pub current: Forecaster,
    /// The order of the training windows in the last pass.
    pub order: Vec<usize>,
    /// The loop's state after the last step.
    pub state: LoopState,
    /// The optimiser after the last step.
    pub optimizer: Optimizer,
}

impl ForecastRun {
    /// `config.json` of this run's checkpoint under settings `s` ([`checkpoint_config`]).
    pub fn config(&self, s: &ForecastSettings, frequency: Frequency) -> serde_json::Value {
        checkpoint_config(
            self.model.config(),
            s,
            &self.scaling,
            frequency,
            &self.conformal,
        )
    }

    /// The run's checkpoint: `config` and the best model, and what continues its training,
    /// with `run` as the record of its inputs ([`LoopCheckpoint`]).
    pub fn checkpoint(
        &self,
        config: serde_json::Value,
        run: serde_json::Value,
    ) -> LoopCheckpoint<'_> {
        LoopCheckpoint {
            config,
            best: self.model.named_tensors(),
            current: self.end.current.buffers(),
            order: &self.end.order,
            snapshot: Snapshot {
                state: &self.end.state,
                optimizer: &self.end.optimizer,
            },
            run,
        }
    }
}

/// `config.json` of a forecaster checkpoint: format, version, task, the model's configuration,
/// the settings, the scaling, the frequency and period, the transform's name and the conformal
/// half-widths (empty while training).
pub fn checkpoint_config(
    model: &ForecasterConfig,
    s: &ForecastSettings,
    scaling: &Scaling,
    frequency: Frequency,
    conformal: &[Conformal],
) -> serde_json::Value {
    serde_json::json!({"format": "recur", "version": 1, "task": "forecast",
        "model": model, "settings": s, "scaling": scaling,
        "frequency": frequency.name(), "period": s.period,
        "transform": transform_name(s), "conformal": conformal})
}

/// Split-conformal half-widths at one level: for horizon step `h`, the
/// `⌈(n + 1) · level⌉`-th smallest absolute error of the `n` validation windows at that step
/// (Vovk, Gammerman and Shafer 2005; Angelopoulos and Bates 2021), so that the interval
/// `forecast ± half_width[h]` covers the truth with probability `level` when the test errors
/// resemble the validation errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conformal {
    /// Nominal coverage, in (0, 1).
    pub level: f64,
    /// One half-width per horizon step, in the series' units.
    pub half_width: Vec<f64>,
}

/// The model's prediction interval at one level over the test span, and how it scored.
#[derive(Clone, Debug, Serialize)]
pub struct IntervalResult {
    /// Nominal coverage, in (0, 1).
    pub level: f64,
    /// Lower bound, one per test point.
    pub lower: Vec<f64>,
    /// Upper bound, one per test point.
    pub upper: Vec<f64>,
    /// The share of test points inside `[lower, upper]`.
    pub coverage: f64,
    /// Mean scaled interval score (M4 competition): the mean over test points of
    /// `(U - L) + 2/α (L - y)·[y < L] + 2/α (y - U)·[y > U]` with `α = 1 - level`, over the
    /// same scale as MASE.
    pub msis: f64,
}

/// The `⌈(n + 1) · level⌉`-th smallest of `errors` (absolute values), the largest when that
/// rank passes `n`.
pub fn conformal_quantile(errors: &[f64], level: f64) -> f64 {
    let mut e: Vec<f64> = errors.iter().map(|v| v.abs()).collect();
    if e.is_empty() {
        return f64::NAN;
    }
    e.sort_by(f64::total_cmp);
    let rank = ((e.len() + 1) as f64 * level).ceil() as usize;
    e[rank.clamp(1, e.len()) - 1]
}

/// The interval `forecast ± half_width` scored against `truth`: its coverage and its mean
/// scaled interval score over `scale`.
pub fn score_interval(
    truth: &[f64],
    lower: &[f64],
    upper: &[f64],
    level: f64,
    scale: f64,
) -> (f64, f64) {
    let alpha = 1.0 - level;
    let n = truth.len() as f64;
    let mut inside = 0usize;
    let mut score = 0.0;
    for ((&y, &l), &u) in truth.iter().zip(lower).zip(upper) {
        inside += usize::from(l <= y && y <= u);
        score += (u - l) + 2.0 / alpha * (l - y).max(0.0) + 2.0 / alpha * (y - u).max(0.0);
    }
    (inside as f64 / n, score / n / scale)
}

/// Training windows of the scaled series: `lookback` steps of the target and covariates as
/// input, the next `horizon` target values as output.
struct Windows<'a> {
    scaled: &'a [f32],
    covs: &'a [Vec<f32>],
    lookback: usize,
    horizon: usize,
}

impl Windows<'_> {
    /// Features per step: the target and the covariates.
    fn inputs(&self) -> usize {
        1 + self.covs.len()
    }

    /// Writes steps `end - lookback .. end` into column `b` of a time-major `[lookback, batch,
    /// inputs]` buffer.
    fn fill(&self, end: usize, b: usize, batch: usize, x: &mut [f32]) {
        let inputs = self.inputs();
        for (i, t) in (end - self.lookback..end).enumerate() {
            let row = (i * batch + b) * inputs;
            x[row] = self.scaled[t];
            for (k, c) in self.covs.iter().enumerate() {
                x[row + 1 + k] = c[t];
            }
        }
    }

    /// The windows ending at `ends` and their targets `[B, horizon]`.
    fn batch(&self, ends: &[usize]) -> Result<(Tensor<f32>, Vec<f32>)> {
        let (b, inputs) = (ends.len(), self.inputs());
        let mut x = vec![0.0f32; self.lookback * b * inputs];
        let mut t = Vec::with_capacity(b * self.horizon);
        for (k, &e) in ends.iter().enumerate() {
            self.fill(e, k, b, &mut x);
            t.extend_from_slice(&self.scaled[e..e + self.horizon]);
        }
        Ok((Tensor::new("windows", &[self.lookback, b, inputs], x)?, t))
    }
}

/// The forecaster as a [`Task`] of the shared training loop: shuffled batches of training
/// windows, validation MSE on the latest windows, and a checkpoint offered after every
/// validation.
struct ForecastTask<'w, 'c> {
    model: Forecaster,
    grads: super::model::ForecasterGrads,
    best: Option<Forecaster>,
    windows: &'w Windows<'w>,
    order: Vec<usize>,
    batch_size: usize,
    val: (Tensor<f32>, Vec<f32>),
    on_checkpoint: Option<&'c mut training::SaveCheckpoint<'c>>,
    run_record: serde_json::Value,
    config_json: serde_json::Value,
}

impl Task for ForecastTask<'_, '_> {
    fn batches_per_epoch(&self) -> u64 {
        self.order.len().div_ceil(self.batch_size) as u64
    }

    fn start_epoch(&mut self, rng: &mut Rng) {
        rng.shuffle(&mut self.order);
    }

    fn train_batch(&mut self, threads: &Threads, index: u64, _: &mut Rng) -> Result<f64> {
        let start = index as usize * self.batch_size;
        let chunk = &self.order[start..(start + self.batch_size).min(self.order.len())];
        let (x, t) = self.windows.batch(chunk)?;
        self.grads.zero();
        let (_, loss) = self
            .model
            .run(threads, &x, Some(&t), Some(&mut self.grads))?;
        Ok(loss)
    }

    fn param_sizes(&self) -> Vec<usize> {
        self.model.buffers().iter().map(|b| b.len()).collect()
    }

    fn params_and_grads(&mut self) -> (Vec<&mut [f32]>, Vec<&mut [f32]>) {
        (self.model.buffers_mut(), self.grads.buffers_mut())
    }

    fn validate(&mut self, threads: &Threads) -> Result<Validation> {
        let (_, loss) = self
            .model
            .run(threads, &self.val.0, Some(&self.val.1), None)?;
        Ok(Validation { loss, score: None })
    }

    fn keep_best(&mut self) {
        self.best = Some(self.model.clone());
    }

    fn checkpoint(&mut self, at: &Snapshot<'_>) -> Result<()> {
        let Some(save) = self.on_checkpoint.as_mut() else {
            return Ok(());
        };
        save(&LoopCheckpoint {
            config: self.config_json.clone(),
            best: self.best.as_ref().unwrap_or(&self.model).named_tensors(),
            current: self.model.buffers(),
            order: &self.order,
            snapshot: Snapshot {
                state: at.state,
                optimizer: at.optimizer,
            },
            run: self.run_record.clone(),
        })
    }
}

impl ForecastSettings {
    /// The shared loop's settings ([`LoopSettings::per_epoch`]).
    pub fn loop_settings(&self, batches_per_epoch: u64) -> LoopSettings {
        LoopSettings::per_epoch(
            (self.steps, self.time_budget, self.epochs as u64),
            batches_per_epoch,
            self.lr,
            self.patience as u64,
            0,
            self.seed,
        )
    }
}

/// The scaling fitted on the training span: mean and standard deviation of the transformed
/// target, and of each covariate (stored in the checkpoint as `scaling`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// `(mean, std)` of the transformed target.
    pub target: (f64, f64),
    /// `(mean, std)` of each covariate, in column order.
    pub covariates: Vec<(f64, f64)>,
    /// The lowest value a forecast takes: 0 when the training span holds no negative value
    /// (counts, sales, prices), so that forecasts stay in the series' range; none otherwise.
    #[serde(default)]
    pub floor: Option<f64>,
}

/// The model's forecast of the `horizon` values after `history` (oldest first, in the series'
/// units), from the last `lookback` points (after the settings' transforms) and the covariates'
/// values over the same span (`covariates[k]` as long as `history`).
///
/// # Errors
/// [`Error::Input`] when the history is shorter than `lookback` plus the transforms' lag, holds a
/// non-finite (or, with `log`, non-positive) value, or the covariates do not match the model.
pub fn forecast_from(
    model: &Forecaster,
    settings: &ForecastSettings,
    scaling: &Scaling,
    threads: &Threads,
    history: &[f64],
    covariates: &[&[f64]],
) -> Result<Vec<f64>> {
    let tf = Transform::of(settings);
    let need = settings.lookback + tf.lag();
    if history.len() < need {
        return Err(Error::Input(format!(
            "history: {} points, the model needs at least {need} (lookback {} and {} lost to differencing)",
            history.len(),
            settings.lookback,
            tf.lag()
        )));
    }
    if let Some(i) = history
        .iter()
        .position(|v| !v.is_finite() || (settings.log && *v <= 0.0))
    {
        return Err(Error::Input(format!(
            "history: point {i} is {}, expected a finite{} value",
            history[i],
            if settings.log { ", positive" } else { "" }
        )));
    }
    let inputs = model.config().inputs;
    if covariates.len() + 1 != inputs || covariates.len() != scaling.covariates.len() {
        return Err(Error::Input(format!(
            "covariates: {} series given, the model reads {}",
            covariates.len(),
            inputs - 1
        )));
    }
    if let Some((k, c)) = covariates
        .iter()
        .enumerate()
        .find(|(_, c)| c.len() != history.len() || c.iter().any(|v| !v.is_finite()))
    {
        return Err(Error::Input(format!(
            "covariate {k}: {} values (expected {}, all finite)",
            c.len(),
            history.len()
        )));
    }
    let z = tf.forward(history);
    let (mean, std) = scaling.target;
    let start = z.len() - settings.lookback;
    let mut x = Vec::with_capacity(settings.lookback * inputs);
    for t in start..z.len() {
        x.push(((z[t] - mean) / std) as f32);
        for (c, &(m, sd)) in covariates.iter().zip(&scaling.covariates) {
            x.push(((c[t + tf.lag()] - m) / sd) as f32);
        }
    }
    let x = Tensor::new("window", &[settings.lookback, 1, inputs], x)?;
    let (p, _) = model.run(threads, &x, None, None)?;
    let z_hat: Vec<f64> = p.iter().map(|&v| v as f64 * std + mean).collect();
    Ok(floor(tf.invert(history, &z_hat), scaling.floor))
}

/// `values` raised to `floor` where they fall below it.
fn floor(mut values: Vec<f64>, floor: Option<f64>) -> Vec<f64> {
    if let Some(f) = floor {
        for v in &mut values {
            *v = v.max(f);
        }
    }
    values
}

/// The series as the model sees it, and how to undo it.
struct Transform {
    log: bool,
    seasonal: Option<usize>,
    diff: bool,
}

impl Transform {
    fn of(s: &ForecastSettings) -> Self {
        Transform {
            log: s.log,
            seasonal: s.seasonal_diff.then_some(s.period),
            diff: s.diff,
        }
    }

    fn forward(&self, y: &[f64]) -> Vec<f64> {
        let mut z: Vec<f64> = if self.log {
            y.iter().map(|v| v.ln()).collect()
        } else {
            y.to_vec()
        };
        if let Some(s) = self.seasonal {
            z = (s..z.len()).map(|t| z[t] - z[t - s]).collect();
        }
        if self.diff {
            z = (1..z.len()).map(|t| z[t] - z[t - 1]).collect();
        }
        z
    }

    /// Leading points lost to differencing.
    fn lag(&self) -> usize {
        self.seasonal.unwrap_or(0) + usize::from(self.diff)
    }

    /// Values of the original series for steps after `history`, from transformed forecasts.
    fn invert(&self, history: &[f64], z: &[f64]) -> Vec<f64> {
        let mut level: Vec<f64> = if self.log {
            history.iter().map(|v| v.ln()).collect()
        } else {
            history.to_vec()
        };
        let base = level.len();
        let s = self.seasonal;
        // Seasonal differences of the history, for undoing the first difference.
        let sdiff = |lv: &[f64], t: usize| match s {
            Some(s) => lv[t] - lv[t - s],
            None => lv[t],
        };
        let mut prev_w = sdiff(&level, base - 1);
        for &v in z {
            let w = if self.diff { prev_w + v } else { v };
            prev_w = w;
            let t = level.len();
            let y = match s {
                Some(s) => w + level[t - s],
                None => w,
            };
            level.push(y);
        }
        level[base..]
            .iter()
            .map(|&v| if self.log { v.exp() } else { v })
            .collect()
    }
}

/// Refuses a series whose scaling (mean and deviation of the training span) or scaled values
/// (the model works in 32-bit floats) are not finite, naming the first point at fault.
fn check_scaled(
    series: &Series,
    what: &str,
    scaled: &[f32],
    lag: usize,
    (mean, std): (f64, f64),
) -> Result<()> {
    if !(mean.is_finite() && std.is_finite()) {
        let src = series
            .source
            .as_ref()
            .map_or(String::new(), |p| format!("{}: ", p.display()));
        return Err(Error::Input(format!(
            "{src}{what}: the values of the training span are too large to scale (their mean or deviation overflows)"
        )));
    }
    match scaled.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::Input(format!(
            "{}: {what}: the value overflows when scaled to 32 bits (mean {mean:e}, deviation {std:e})",
            series.locate(i + lag)
        ))),
        None => Ok(()),
    }
}

/// The ends (exclusive) of the input windows used for training: every window of `lookback`
/// steps whose `horizon` targets all lie inside the first `train_len` points.
pub fn training_window_ends(train_len: usize, lookback: usize, horizon: usize) -> Vec<usize> {
    if train_len < lookback + horizon {
        return Vec::new();
    }
    (lookback..=train_len - horizon).collect()
}

/// The first origin (index of the first forecast point) of the validation windows: the latest
/// `val_frac` of the origins whose `horizon` targets lie before `test_start`, counted as if the
/// series were not transformed, so that every transform is validated on the same windows.
fn first_validation_origin(s: &ForecastSettings, test_start: usize) -> usize {
    let origins = (test_start + 1)
        .saturating_sub(s.lookback + s.horizon)
        .max(2);
    let n_val = ((origins as f64 * s.val_frac).round() as usize).clamp(1, origins - 1);
    (test_start + 1).saturating_sub(s.horizon + n_val)
}

/// Trains on the series before the test span and forecasts the span from rolling origins every
/// `horizon` steps (each using the actual history up to its origin); the baselines forecast from
/// the same origins.
///
/// Training uses the shared loop ([`training::run`]): `observer` sees every step and
/// validation, and raising `stop` ends training with the best model so far.
///
/// # Errors
/// [`Error::Config`] for settings out of range, [`Error::Input`] for a series too short or
/// values that cannot be modelled, [`Error::Diverged`] for a non-finite loss.
pub fn run(
    series: &Series,
    s: &ForecastSettings,
    threads: &Threads,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<ForecastRun> {
    run_with_levels(series, s, &[], threads, observer, stop)
}

/// [`run`], with split-conformal prediction intervals at each of `levels` (in (0, 1)): their
/// half-widths from the model's errors on the validation windows, per horizon step
/// ([`Conformal`]), and their coverage and score on the test span ([`IntervalResult`]).
///
/// # Errors
/// As [`run`]; [`Error::Config`] for a level outside (0, 1).
pub fn run_with_levels(
    series: &Series,
    s: &ForecastSettings,
    levels: &[f64],
    threads: &Threads,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<ForecastRun> {
    run_with_control(series, s, levels, threads, Control::new(observer, stop))
}

/// [`run_with_levels`] driven by `control`: progress, Ctrl-C, a checkpoint offered after every
/// validation (the layout of [`ForecastRun::checkpoint`], its conformal half-widths still
/// empty), and resuming the run saved in a checkpoint directory, which continues it bit for bit
/// (same series and settings).
///
/// # Errors
/// As [`run_with_levels`]; [`Error::Format`] naming the checkpoint file that is missing or does
/// not fit the series and settings.
pub fn run_with_control(
    series: &Series,
    s: &ForecastSettings,
    levels: &[f64],
    threads: &Threads,
    control: Control<'_>,
) -> Result<ForecastRun> {
    check_run(series, s, levels)?;
    let prepared = prepare(series, s)?;
    let config = checkpoint_config(
        &prepared.model_config(s),
        s,
        &prepared.scaling,
        series.frequency,
        &[],
    );
    let trained = train(&prepared, s, threads, control, config)?;
    finish(series, s, levels, threads, &prepared, trained)
}

/// Checks the settings against the series, and the interval levels, before any work.
pub(super) fn check_run(series: &Series, s: &ForecastSettings, levels: &[f64]) -> Result<()> {
    let y = &series.target;
    s.validate(y.len()).map_err(|e| match (e, &series.source) {
        (Error::Config(m), Some(src)) => Error::Config(format!("{}: {m}", src.display())),
        (e, _) => e,
    })?;
    if let Some(l) = levels.iter().find(|l| !(**l > 0.0 && **l < 1.0)) {
        return Err(Error::Config(format!(
            "`level`: {l} is not a coverage between 0 and 1 (write 80 or 0.8)"
        )));
    }
    if s.log {
        if let Some(i) = y.iter().position(|&v| v <= 0.0) {
            return Err(Error::Input(format!(
                "{}: `log` needs a positive series, the value is {}",
                series.locate(i),
                y[i]
            )));
        }
    }
    if s.seasonal_diff && s.period < 2 {
        return Err(Error::Config(
            "`seasonal_diff` needs a season: the series has no period (give `period`)".into(),
        ));
    }
    Ok(())
}

/// The series made ready for training ([`prepare`]): transformed, scaled with the training
/// span's statistics, and cut into training and validation windows.
pub(super) struct Prepared {
    tf: Transform,
    /// Index of the first test point.
    test_start: usize,
    /// The transformed target, scaled: `scaled[i]` belongs to point `i + lag`.
    scaled: Vec<f32>,
    /// The covariates, scaled, from point `lag` on.
    covs: Vec<Vec<f32>>,
    scaling: Scaling,
    /// Ends of the training windows (the training examples).
    train_ends: Vec<usize>,
    /// Ends of the validation windows.
    val_ends: Vec<usize>,
}

impl Prepared {
    /// The windows over the scaled series, `s.lookback` steps in and `s.horizon` out.
    fn windows(&self, s: &ForecastSettings) -> Windows<'_> {
        Windows {
            scaled: &self.scaled,
            covs: &self.covs,
            lookback: s.lookback,
            horizon: s.horizon,
        }
    }

    /// The configuration of the forecaster that `s` trains on these windows.
    fn model_config(&self, s: &ForecastSettings) -> ForecasterConfig {
        ForecasterConfig {
            cell: s.cell,
            inputs: 1 + self.covs.len(),
            hidden_size: s.hidden,
            num_layers: s.layers,
            horizon: s.horizon,
        }
    }

    /// The shared loop's settings for `s` on these windows.
    fn loop_settings(&self, s: &ForecastSettings) -> LoopSettings {
        s.loop_settings(self.train_ends.len().div_ceil(s.batch_size) as u64)
    }
}

/// Transforms the series, scales it with the statistics of the training span only, and splits
/// the windows before the test span into training and (the latest) validation windows.
pub(super) fn prepare(series: &Series, s: &ForecastSettings) -> Result<Prepared> {
    let y = &series.target;
    let n = y.len();
    let tf = Transform::of(s);
    let test_start = n.checked_sub(s.test_size).filter(|&t| t > tf.lag() + s.lookback + s.horizon).ok_or_else(|| {
        Error::Input(format!(
            "the series has {n} points: too few for a test span of {} after lookback {} and horizon {}",
            s.test_size, s.lookback, s.horizon
        ))
    })?;
    if test_start < s.period {
        return Err(Error::Input(
            "the training span is shorter than one `period`".into(),
        ));
    }
    // Transformed series; z[i] corresponds to y[i + lag].
    let z = tf.forward(y);
    let lag = tf.lag();
    let train_len = test_start - lag;
    let (mean, std) = mean_and_deviation(&z[..train_len]);
    let scaled: Vec<f32> = z.iter().map(|v| ((v - mean) / std) as f32).collect();
    check_scaled(series, "the target", &scaled, lag, (mean, std))?;
    let (covs, cov_scaling) = scale_covariates(series, lag, test_start)?;
    let scaling = Scaling {
        target: (mean, std),
        covariates: cov_scaling,
        floor: y[..test_start].iter().all(|&v| v >= 0.0).then_some(0.0),
    };
    let (train_ends, val_ends) = split_windows(s, train_len, lag, test_start)?;
    Ok(Prepared {
        tf,
        test_start,
        scaled,
        covs,
        scaling,
        train_ends,
        val_ends,
    })
}

/// The mean and the (population) standard deviation of `v`, the deviation at least `1e-8`.
fn mean_and_deviation(v: &[f64]) -> (f64, f64) {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64)
        .sqrt()
        .max(1e-8);
    (mean, std)
}

/// A series' mean and standard deviation.
type MeanAndDeviation = (f64, f64);

/// The covariates from point `lag` on, each scaled by the mean and deviation of its training
/// span (before `test_start`), and those statistics.
fn scale_covariates(
    series: &Series,
    lag: usize,
    test_start: usize,
) -> Result<(Vec<Vec<f32>>, Vec<MeanAndDeviation>)> {
    let scaled = series
        .covariates
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let (m, sd) = mean_and_deviation(&c[lag..test_start]);
            let scaled: Vec<f32> = c[lag..].iter().map(|v| ((v - m) / sd) as f32).collect();
            let name = series
                .covariate_names
                .get(k)
                .map_or(format!("covariate {}", k + 1), |n| format!("column '{n}'"));
            check_scaled(series, &name, &scaled, lag, (m, sd))?;
            Ok((scaled, (m, sd)))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(scaled.into_iter().unzip())
}

/// The ends of the training windows over the first `train_len` transformed points, split into
/// training and validation windows at the first validation origin.
fn split_windows(
    s: &ForecastSettings,
    train_len: usize,
    lag: usize,
    test_start: usize,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let ends = training_window_ends(train_len, s.lookback, s.horizon);
    // A window ending at z-index e forecasts y from origin e + lag.
    let first_val = first_validation_origin(s, test_start);
    let split = ends.partition_point(|&e| e + lag < first_val);
    if split < 1 || split == ends.len() {
        return Err(Error::Input(
            "too few training windows: lower `lookback` or `horizon`".into(),
        ));
    }
    let (train, val) = ends.split_at(split);
    Ok((train.to_vec(), val.to_vec()))
}

/// What training leaves: the model of the lowest validation loss, how the run went, and where
/// it stands.
pub(super) struct Trained {
    best: Forecaster,
    summary: Summary,
    end: TrainingEnd,
}

/// Trains a new forecaster on the prepared windows with the shared loop, driven by `control`
/// (continuing the run saved in its directory when given); `config` is the `config.json` of the
/// checkpoints it offers.
fn train(
    prepared: &Prepared,
    s: &ForecastSettings,
    threads: &Threads,
    control: Control<'_>,
    config: serde_json::Value,
) -> Result<Trained> {
    let windows = prepared.windows(s);
    let model = Forecaster::new(prepared.model_config(s), &mut Rng::new(s.seed))?;
    let mut task = ForecastTask {
        grads: model.zero_grads(),
        model,
        best: None,
        windows: &windows,
        order: prepared.train_ends.clone(),
        batch_size: s.batch_size,
        val: windows.batch(&prepared.val_ends)?,
        on_checkpoint: control.on_checkpoint,
        run_record: control.run_record,
        config_json: config,
    };
    let settings = prepared.loop_settings(s);
    let resume = match control.resume_from {
        Some(dir) => {
            let (best, restored) = read_saved(dir, s, &settings, &mut task.model, &task.order)?;
            task.best = Some(best);
            task.order = restored.order;
            Some(restored.resume)
        }
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
    Ok(Trained {
        best: task.best.unwrap_or_else(|| task.model.clone()),
        summary: end.summary,
        end: TrainingEnd {
            current: task.model,
            order: task.order,
            state: end.state,
            optimizer: end.optimizer,
        },
    })
}

/// Reads the checkpoint in `dir` of a run of settings `s` whose model has `model`'s
/// configuration and whose training windows are `examples`: puts the saved current parameters
/// into `model`, and returns the saved best model and the rest of what was restored (the loop's
/// state, the optimiser, the order of the windows, the record of the run).
fn read_saved(
    dir: &Path,
    s: &ForecastSettings,
    settings: &LoopSettings,
    model: &mut Forecaster,
    examples: &[usize],
) -> Result<(Forecaster, training::Restored)> {
    let sizes: Vec<usize> = model.buffers().iter().map(|b| b.len()).collect();
    let restored = training::read_checkpoint(dir, settings, &sizes, examples)?;
    let saved = super::model::load(dir)?;
    let key = |a: &ForecastSettings| {
        let shape = (
            a.lookback,
            a.horizon,
            a.test_size,
            a.period,
            a.batch_size,
            a.seed,
        );
        (shape, a.log, a.seasonal_diff, a.diff)
    };
    if saved.model.config() != model.config() || key(&saved.settings) != key(s) {
        return Err(Error::format(
            dir.join("config.json"),
            "the saved model and settings do not fit the series and flags as read now (was the data changed?)",
        ));
    }
    for (b, v) in model.buffers_mut().into_iter().zip(&restored.current) {
        b.copy_from_slice(v);
    }
    Ok((saved.model, restored))
}

/// The training of a run of settings `s` finished earlier and saved in `dir` (a checkpoint of
/// [`ForecastRun::checkpoint`]), read back for [`finish`]: its best model, its current one and
/// its loop's end; `stopped_early` as the run recorded it.
///
/// # Errors
/// As [`training::read_checkpoint`] and [`super::model::load`]; [`Error::Format`] when the saved
/// model or settings do not fit.
pub(super) fn read_finished(
    dir: &Path,
    prepared: &Prepared,
    s: &ForecastSettings,
    stopped_early: bool,
) -> Result<Trained> {
    let mut current = Forecaster::zeros(prepared.model_config(s))?;
    let settings = prepared.loop_settings(s);
    let (best, restored) = read_saved(dir, s, &settings, &mut current, &prepared.train_ends)?;
    let st = restored.resume.state;
    let summary = Summary {
        steps: st.step,
        epochs: st.epoch,
        best: (
            st.best.unwrap_or(training::Validation {
                loss: f64::NAN,
                score: None,
            }),
            st.best_step,
        ),
        stopped_early,
        interrupted: false,
        seconds: st.seconds,
        metrics: st.metrics.clone(),
        overfitting: None,
    };
    let end = TrainingEnd {
        current,
        order: restored.order,
        state: st,
        optimizer: restored.resume.optimizer,
    };
    Ok(Trained { best, summary, end })
}

/// Scores a trained forecaster: its errors on the validation windows (their mean absolute
/// value, and the conformal half-widths at each of `levels`), and its forecasts of the test
/// span from rolling origins beside the baselines', with its intervals.
pub(super) fn finish(
    series: &Series,
    s: &ForecastSettings,
    levels: &[f64],
    threads: &Threads,
    prepared: &Prepared,
    trained: Trained,
) -> Result<ForecastRun> {
    let val_errors = validation_errors(series, s, prepared, &trained.best, threads)?;
    let val_mae = val_errors.iter().flatten().map(|e| e.abs()).sum::<f64>()
        / val_errors.iter().map(Vec::len).sum::<usize>().max(1) as f64;
    let conformal: Vec<Conformal> = levels
        .iter()
        .map(|&level| Conformal {
            level,
            half_width: val_errors
                .iter()
                .map(|e| conformal_quantile(e, level))
                .collect(),
        })
        .collect();
    let (results, steps, scale) = test_forecasts(series, s, prepared, &trained.best, threads)?;
    let truth = &series.target[prepared.test_start..];
    let intervals = conformal
        .iter()
        .map(|c| {
            let band = (&results[0].forecast[..], &steps[..]);
            interval(band, c, truth, scale, prepared.scaling.floor)
        })
        .collect();
    Ok(ForecastRun {
        model: trained.best,
        test_start: prepared.test_start,
        results,
        epochs: trained.summary.epochs as usize,
        best_val: trained.summary.best.0.loss,
        summary: trained.summary,
        scaling: prepared.scaling.clone(),
        val_mae,
        conformal,
        intervals,
        scale,
        end: trained.end,
    })
}

/// The model's errors on the validation windows in the series' units, one list per horizon
/// step.
fn validation_errors(
    series: &Series,
    s: &ForecastSettings,
    prepared: &Prepared,
    model: &Forecaster,
    threads: &Threads,
) -> Result<Vec<Vec<f64>>> {
    let y = &series.target;
    let (windows, _) = prepared.windows(s).batch(&prepared.val_ends)?;
    let (p, _) = model.run(threads, &windows, None, None)?;
    let (mean, std) = prepared.scaling.target;
    let lag = prepared.tf.lag();
    let mut val_errors: Vec<Vec<f64>> = vec![Vec::new(); s.horizon];
    for (k, &e) in prepared.val_ends.iter().enumerate() {
        let origin = e + lag;
        let z_hat: Vec<f64> = p[k * s.horizon..(k + 1) * s.horizon]
            .iter()
            .map(|&v| v as f64 * std + mean)
            .collect();
        let f = floor(
            prepared.tf.invert(&y[..origin], &z_hat),
            prepared.scaling.floor,
        );
        for (h, fh) in f.iter().enumerate() {
            val_errors[h].push(y[origin + h] - fh);
        }
    }
    Ok(val_errors)
}

/// The model's and the baselines' forecasts of the test span from rolling origins every
/// `horizon` steps, scored; with the horizon step of each test point, and MASE's scale.
fn test_forecasts(
    series: &Series,
    s: &ForecastSettings,
    prepared: &Prepared,
    model: &Forecaster,
    threads: &Threads,
) -> Result<(Vec<MethodResult>, Vec<usize>, f64)> {
    let y = &series.target;
    let (n, test_start) = (y.len(), prepared.test_start);
    let mut results: Vec<MethodResult> = ["model", "naive", "seasonal_naive", "drift"]
        .iter()
        .map(|name| MethodResult {
            name: name.to_string(),
            forecast: Vec::new(),
            metrics: metrics(&[0.0], &[0.0], 1.0),
        })
        .collect();
    let mut steps = Vec::new();
    let mut origin = test_start;
    while origin < n {
        let h = s.horizon.min(n - origin);
        let history = &y[..origin];
        let covariates: Vec<&[f64]> = series.covariates.iter().map(|c| &c[..origin]).collect();
        let forecast = forecast_from(model, s, &prepared.scaling, threads, history, &covariates)?;
        results[0].forecast.extend(&forecast[..h]);
        results[1].forecast.extend(naive(history, h));
        results[2]
            .forecast
            .extend(seasonal_naive(history, h, s.period));
        results[3].forecast.extend(drift(history, h));
        steps.extend(0..h);
        origin += s.horizon;
    }
    for r in &results {
        if let Some(i) = r.forecast.iter().position(|v| !v.is_finite()) {
            return Err(Error::Input(format!(
                "the {} forecast for {} is {}: the series' values are too large for the model to scale back",
                r.name,
                series.locate(test_start + i),
                r.forecast[i]
            )));
        }
    }
    let truth = &y[test_start..];
    let scale = mase_scale(&y[..test_start], s.period);
    for r in &mut results {
        r.metrics = metrics(truth, &r.forecast, scale);
    }
    Ok((results, steps, scale))
}

/// The interval `forecast ± half-width` of `c` over the test span (each point taking the
/// half-width of its horizon step in `steps`), its lower bound raised to `floor_at`, scored
/// against `truth` on MASE's `scale`.
fn interval(
    (forecast, steps): (&[f64], &[usize]),
    c: &Conformal,
    truth: &[f64],
    scale: f64,
    floor_at: Option<f64>,
) -> IntervalResult {
    let lower: Vec<f64> = forecast
        .iter()
        .zip(steps)
        .map(|(v, &h)| v - c.half_width[h])
        .collect();
    let lower = floor(lower, floor_at);
    let upper: Vec<f64> = forecast
        .iter()
        .zip(steps)
        .map(|(v, &h)| v + c.half_width[h])
        .collect();
    let (coverage, msis) = score_interval(truth, &lower, &upper, c.level, scale);
    IntervalResult {
        level: c.level,
        lower,
        upper,
        coverage,
        msis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ForecastSettings {
        ForecastSettings {
            lookback: 4,
            horizon: 2,
            test_size: 6,
            period: 4,
            log: false,
            seasonal_diff: false,
            diff: false,
            val_frac: 0.2,
            cell: CellType::Gru,
            hidden: 4,
            layers: 1,
            epochs: 2,
            steps: None,
            time_budget: None,
            patience: 2,
            batch_size: 4,
            lr: 1e-3,
            seed: 1,
        }
    }

    #[test]
    fn a_saved_forecaster_forecasts_new_history_as_the_run_did() {
        // With a log and a seasonal difference, and a covariate.
        let n = 60;
        let target: Vec<f64> = (0..n)
            .map(|t| 10.0 + t as f64 * 0.5 + (t % 4) as f64)
            .collect();
        let covariate: Vec<f64> = (0..n).map(|t| (t % 3) as f64).collect();
        let series = Series {
            times: (0..n).map(|t| t.to_string()).collect(),
            target: target.clone(),
            covariates: vec![covariate.clone()],
            covariate_names: vec!["x".into()],
            ..Series::default()
        };
        let s = ForecastSettings {
            log: true,
            seasonal_diff: true,
            ..settings()
        };
        let threads = Threads::single();
        let run = super::run(
            &series,
            &s,
            &threads,
            &mut (),
            &std::sync::atomic::AtomicBool::new(false),
        )
        .unwrap();
        // The first origin's forecast, recomputed from the history alone.
        let origin = run.test_start;
        let again = forecast_from(
            &run.model,
            &s,
            &run.scaling,
            &threads,
            &target[..origin],
            &[&covariate[..origin]],
        )
        .unwrap();
        assert_eq!(&again[..2], &run.results[0].forecast[..2]);
        // Too short a history, a covariate of the wrong length, a non-positive value under log.
        let short = &target[..s.lookback];
        assert!(forecast_from(&run.model, &s, &run.scaling, &threads, short, &[short]).is_err());
        let h = &target[..origin];
        assert!(forecast_from(
            &run.model,
            &s,
            &run.scaling,
            &threads,
            h,
            &[&covariate[..3]]
        )
        .is_err());
        assert!(forecast_from(&run.model, &s, &run.scaling, &threads, h, &[]).is_err());
        let mut bad = h.to_vec();
        bad[origin - 1] = 0.0;
        let c = &covariate[..origin];
        assert!(forecast_from(&run.model, &s, &run.scaling, &threads, &bad, &[c]).is_err());
    }

    #[test]
    fn scaling_is_fitted_on_the_training_span_only_and_origins_cover_the_test_span() {
        // A series whose test span is wildly different: the scaling must not see it.
        let mut target: Vec<f64> = (0..30).map(|t| (t % 4) as f64).collect();
        target.extend([1000.0; 6]);
        let series = Series {
            times: (0..36).map(|t| t.to_string()).collect(),
            target,
            covariates: Vec::new(),
            covariate_names: Vec::new(),
            ..Series::default()
        };
        let run = super::run(
            &series,
            &settings(),
            &Threads::single(),
            &mut (),
            &std::sync::atomic::AtomicBool::new(false),
        )
        .unwrap();
        let train = &series.target[..30];
        let mean = train.iter().sum::<f64>() / 30.0;
        let std = (train.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 30.0).sqrt();
        let (m, sd) = run.scaling.target;
        assert!((m - mean).abs() < 1e-12 && (sd - std).abs() < 1e-12);
        assert_eq!(run.test_start, 30);
        for r in &run.results {
            assert_eq!(r.forecast.len(), 6, "{}", r.name);
        }
        // Origins every horizon (2) steps with the actual history: naive repeats y[29], y[31], y[33].
        let naive = &run.results[1].forecast;
        assert_eq!(naive, &[1.0, 1.0, 1000.0, 1000.0, 1000.0, 1000.0]);
        let seasonal = &run.results[2].forecast;
        assert_eq!(&seasonal[..2], &[2.0, 3.0]);
    }

    #[test]
    fn training_windows_never_reach_past_the_training_span() {
        assert_eq!(training_window_ends(10, 3, 2), vec![3, 4, 5, 6, 7, 8]);
        // The last window's targets are points 8 and 9, the last two of the span.
        assert!(training_window_ends(4, 3, 2).is_empty());
    }

    #[test]
    fn too_short_a_series_is_refused() {
        let series = Series {
            times: vec!["1".into(); 8],
            target: vec![1.0; 8],
            covariates: Vec::new(),
            covariate_names: Vec::new(),
            ..Series::default()
        };
        let e = super::run(
            &series,
            &settings(),
            &Threads::single(),
            &mut (),
            &std::sync::atomic::AtomicBool::new(false),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("too few"), "{e}");
    }

    #[test]
    fn transforms_invert_exactly() {
        let y: Vec<f64> = (0..40)
            .map(|t| 100.0 + t as f64 * 2.0 + ((t % 12) as f64 * 3.0))
            .collect();
        for (log, seasonal, diff) in [
            (false, None, false),
            (true, Some(12), false),
            (false, Some(12), true),
            (true, None, true),
        ] {
            let tf = Transform {
                log,
                seasonal,
                diff,
            };
            let z = tf.forward(&y);
            let cut = 30;
            let back = tf.invert(&y[..cut], &z[cut - tf.lag()..]);
            for (a, b) in back.iter().zip(&y[cut..]) {
                assert!(
                    (a - b).abs() < 1e-9,
                    "{log} {seasonal:?} {diff}: {a} vs {b}"
                );
            }
        }
    }

    fn from_file(target: Vec<f64>) -> Series {
        let n = target.len();
        Series {
            times: (0..n).map(|t| t.to_string()).collect(),
            target,
            source: Some("s.csv".into()),
            rows: (2..n + 2).collect(),
            ..Series::default()
        }
    }

    #[test]
    fn log_of_a_non_positive_series_names_file_and_row() {
        let mut y: Vec<f64> = (1..=40).map(f64::from).collect();
        y[7] = 0.0;
        let mut s = settings();
        s.log = true;
        let e = super::run(
            &from_file(y),
            &s,
            &Threads::single(),
            &mut (),
            &std::sync::atomic::AtomicBool::new(false),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("s.csv: row 9 (time 7)") && e.contains("`log`"),
            "{e}"
        );
    }

    #[test]
    fn values_whose_scaling_overflows_are_refused() {
        // The training span is constant, so its deviation is the floor and a huge test value
        // leaves the 32-bit range when scaled.
        let mut y = vec![1.0; 40];
        y[36] = 1e40;
        let e = super::run(
            &from_file(y),
            &settings(),
            &Threads::single(),
            &mut (),
            &std::sync::atomic::AtomicBool::new(false),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("s.csv: row 38") && e.contains("overflows"),
            "{e}"
        );
        // Values whose mean or deviation overflows.
        let y: Vec<f64> = (0..40)
            .map(|t| if t % 2 == 0 { 1e308 } else { -1e308 })
            .collect();
        let e = super::run(
            &from_file(y),
            &settings(),
            &Threads::single(),
            &mut (),
            &std::sync::atomic::AtomicBool::new(false),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("s.csv") && e.contains("too large to scale"),
            "{e}"
        );
    }
}
