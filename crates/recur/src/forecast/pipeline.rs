//! A forecasting run: transform, scale (fitted on training data only), window, train with early
//! stopping on a chronological validation tail, and score model and baselines on the test span
//! from the same rolling origins. One series, or many series in one model (a [`Panel`]): the
//! training windows of every series in one pool, each series scaled, validated and scored on
//! its own.

use super::baselines::{drift, naive, seasonal_naive};
use super::calendar::CalendarFeature;
use super::metrics::{mase_scale, metrics, ForecastMetrics};
use super::model::{Forecaster, ForecasterConfig};
use super::panel::Panel;
use super::prepare::{floor, forecast_with, History, Prepared, Windows};
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
pub use super::prepare::{forecast_from, training_window_ends, Scaling};

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
    /// Calendar features of the time stamps the model reads at every step, the forecast steps
    /// included (`--calendar`; [`super::calendar::calendar_features`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calendar: Vec<CalendarFeature>,
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
    /// One per series, in the panel's order (one for a single series).
    pub series: Vec<SeriesRun>,
    /// Epochs trained (the last may be partial).
    pub epochs: usize,
    /// How the training run went: steps, the best validation and its step, early stopping.
    pub summary: training::Summary,
    /// Best validation MSE in scaled units.
    pub best_val: f64,
    /// The model's mean absolute error, in the series' units, over every step of the validation
    /// windows (the same windows whatever the transform): what [`run_auto`] compares. For a
    /// panel of several series, the mean over the series of that error divided by the series'
    /// MASE scale, so that series of different units weigh alike.
    pub val_mae: f64,
    /// Where training stood after its last step: what continues it ([`ForecastRun::checkpoint`]).
    pub end: TrainingEnd,
}

/// How the model and the baselines did on one series of a run.
#[derive(Clone, Debug)]
pub struct SeriesRun {
    /// The series' id (empty for a single series).
    pub id: String,
    /// Index of the first test point.
    pub test_start: usize,
    /// The model first, then the baselines.
    pub results: Vec<MethodResult>,
    /// The scaling fitted on the series' training span.
    pub scaling: Scaling,
    /// The conformal half-widths of the prediction intervals, one per level asked for.
    pub conformal: Vec<Conformal>,
    /// The model's intervals on the test span and their scores, one per level.
    pub intervals: Vec<IntervalResult>,
    /// MASE's denominator: the in-sample MAE of the seasonal-naive forecast (naive without a
    /// period) over the training span.
    pub scale: f64,
    /// The model's mean absolute error over every step of the series' validation windows.
    pub val_mae: f64,
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

/// The columns a forecaster reads from a CSV file (`data` in `config.json`), so that a saved
/// forecaster reads new history the same way.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataColumns {
    /// The target column.
    pub target: String,
    /// The columns that label a row (empty: none was found).
    #[serde(default)]
    pub time: Vec<String>,
    /// The covariates.
    #[serde(default)]
    pub covariates: Vec<String>,
    /// The future covariates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub future_covariates: Vec<String>,
    /// The column naming the series of a long file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What a checkpoint records of the data a run read: its columns, the frequency, the ids of
/// its series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataInfo {
    /// The columns read.
    pub columns: DataColumns,
    /// The frequency of the series.
    pub frequency: Frequency,
    /// The series' ids (one empty id for a single series).
    pub ids: Vec<String>,
}

impl Panel {
    /// What a checkpoint records of this panel's data ([`DataInfo`]).
    pub fn info(&self) -> DataInfo {
        let first = self.series.first();
        let columns = DataColumns {
            target: first.map_or(String::new(), |s| s.target_name.clone()),
            time: first.map_or(Vec::new(), |s| s.time_columns.clone()),
            covariates: first.map_or(Vec::new(), |s| s.covariate_names.clone()),
            future_covariates: first.map_or(Vec::new(), |s| s.future_covariate_names.clone()),
            id: self.id_column.clone(),
        };
        DataInfo {
            columns,
            frequency: self.frequency(),
            ids: self.ids.clone(),
        }
    }
}

impl ForecastRun {
    /// `config.json` of this run's checkpoint under settings `s` ([`checkpoint_config`]).
    pub fn config(&self, s: &ForecastSettings, info: &DataInfo) -> serde_json::Value {
        let parts: Vec<(&Scaling, &[Conformal])> = self
            .series
            .iter()
            .map(|r| (&r.scaling, &r.conformal[..]))
            .collect();
        checkpoint_config(self.model.config(), s, info, &parts)
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
/// the settings, the frequency and period, the transform's name, the columns read (`data`),
/// and per series its scaling and conformal half-widths (empty while training): `scaling` and
/// `conformal` for a single series, a `series` list of `{id, scaling, conformal}` for a panel.
pub fn checkpoint_config(
    model: &ForecasterConfig,
    s: &ForecastSettings,
    info: &DataInfo,
    parts: &[(&Scaling, &[Conformal])],
) -> serde_json::Value {
    let mut config = serde_json::json!({"format": "recur", "version": 1, "task": "forecast",
        "model": model, "settings": s, "frequency": info.frequency.name(), "period": s.period,
        "transform": transform_name(s), "data": info.columns});
    if info.columns.id.is_none() && parts.len() == 1 {
        config["scaling"] = serde_json::json!(parts[0].0);
        config["conformal"] = serde_json::json!(parts[0].1);
    } else {
        let series: Vec<serde_json::Value> = parts
            .iter()
            .zip(&info.ids)
            .map(|((scaling, conformal), id)| {
                serde_json::json!({"id": id, "scaling": scaling, "conformal": conformal})
            })
            .collect();
        config["series"] = serde_json::json!(series);
    }
    config
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

/// The forecaster as a [`Task`] of the shared training loop: shuffled batches of training
/// windows (of every series), validation MSE on the latest windows of each series, and a
/// checkpoint offered after every validation.
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

impl Prepared {
    /// The shared loop's settings for `s` on these windows.
    fn loop_settings(&self, s: &ForecastSettings) -> LoopSettings {
        s.loop_settings(self.train_keys.len().div_ceil(s.batch_size) as u64)
    }
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
    run_panel(&Panel::single(series.clone()), s, levels, threads, control)
}

/// [`run_with_control`] on the series of a panel: one model trained on the windows of every
/// series (shuffled together), each series transformed alike but scaled with the statistics of
/// its own training span, validated on its own latest windows (the validation loss is the MSE
/// over all of them) and scored on its own test span ([`Panel::test_size`]) with its own
/// conformal intervals and baselines.
///
/// # Errors
/// As [`run_with_control`], errors naming the series.
pub fn run_panel(
    panel: &Panel,
    s: &ForecastSettings,
    levels: &[f64],
    threads: &Threads,
    control: Control<'_>,
) -> Result<ForecastRun> {
    check_run(panel, s, levels)?;
    let prepared = super::prepare::prepare(panel, s)?;
    let parts: Vec<(&Scaling, &[Conformal])> = prepared
        .parts
        .iter()
        .map(|p| (&p.scaling, &[][..]))
        .collect();
    let config = checkpoint_config(&prepared.model_config(s), s, &panel.info(), &parts);
    let trained = train(&prepared, s, threads, control, config)?;
    finish(panel, s, levels, threads, &prepared, trained)
}

/// Checks the settings against every series of the panel, and the interval levels, before any
/// work.
pub(super) fn check_run(panel: &Panel, s: &ForecastSettings, levels: &[f64]) -> Result<()> {
    if let Some(l) = levels.iter().find(|l| !(**l > 0.0 && **l < 1.0)) {
        return Err(Error::Config(format!(
            "`level`: {l} is not a coverage between 0 and 1 (write 80 or 0.8)"
        )));
    }
    if s.seasonal_diff && s.period < 2 {
        return Err(Error::Config(
            "`seasonal_diff` needs a season: the series has no period (give `period`)".into(),
        ));
    }
    for (i, series) in panel.series.iter().enumerate() {
        let own = ForecastSettings {
            test_size: panel.test_size(i, s.test_size),
            ..s.clone()
        };
        check_series(series, &own).map_err(|e| panel.name_error(i, e))?;
    }
    Ok(())
}

/// Checks the settings against one series.
fn check_series(series: &Series, s: &ForecastSettings) -> Result<()> {
    let y = &series.target;
    s.validate(y.len()).map_err(|e| match (e, &series.source) {
        (Error::Config(m), Some(src)) => Error::Config(format!("{}: {m}", src.display())),
        (e, _) => e,
    })?;
    if s.log {
        if let Some(i) = y.iter().position(|&v| v <= 0.0) {
            return Err(Error::Input(format!(
                "{}: `log` needs a positive series, the value is {}",
                series.locate(i),
                y[i]
            )));
        }
    }
    Ok(())
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
        order: prepared.train_keys.clone(),
        batch_size: s.batch_size,
        val: windows.batch(&prepared.val_keys)?,
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
        (shape, a.log, a.seasonal_diff, a.diff, a.calendar.clone())
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
    let (best, restored) = read_saved(dir, s, &settings, &mut current, &prepared.train_keys)?;
    let st = restored.resume.state;
    let summary = Summary {
        steps: st.step,
        epochs: st.epoch,
        best: (st.best, st.best_step),
        stopped_early,
        interrupted: false,
        seconds: st.seconds,
        metrics: st.metrics.clone(),
    };
    let end = TrainingEnd {
        current,
        order: restored.order,
        state: st,
        optimizer: restored.resume.optimizer,
    };
    Ok(Trained { best, summary, end })
}

/// Scores a trained forecaster on every series: its errors on the validation windows (their
/// mean absolute value, and the conformal half-widths at each of `levels`), and its forecasts
/// of the test span from rolling origins beside the baselines', with its intervals.
pub(super) fn finish(
    panel: &Panel,
    s: &ForecastSettings,
    levels: &[f64],
    threads: &Threads,
    prepared: &Prepared,
    trained: Trained,
) -> Result<ForecastRun> {
    let val_errors = validation_errors(panel, s, prepared, &trained.best, threads)?;
    let mut series = Vec::with_capacity(panel.series.len());
    for (i, errors) in val_errors.iter().enumerate() {
        let part = Scored {
            series: &panel.series[i],
            part: &prepared.parts[i],
            val_errors: errors,
        };
        let run = part
            .score(s, levels, threads, &trained.best)
            .map_err(|e| panel.name_error(i, e))?;
        series.push(SeriesRun {
            id: panel.ids[i].clone(),
            ..run
        });
    }
    let val_mae = match &series[..] {
        [one] => one.val_mae,
        all => all.iter().map(|r| r.val_mae / r.scale).sum::<f64>() / all.len() as f64,
    };
    Ok(ForecastRun {
        model: trained.best,
        series,
        epochs: trained.summary.epochs as usize,
        best_val: trained.summary.best.0.loss,
        summary: trained.summary,
        val_mae,
        end: trained.end,
    })
}

/// One series of a panel with its prepared part and the model's validation errors, to score.
struct Scored<'a> {
    series: &'a Series,
    part: &'a super::prepare::Part,
    /// One list per horizon step.
    val_errors: &'a [Vec<f64>],
}

impl Scored<'_> {
    /// The series' validation MAE, conformal half-widths, test forecasts and intervals.
    fn score(
        &self,
        s: &ForecastSettings,
        levels: &[f64],
        threads: &Threads,
        model: &Forecaster,
    ) -> Result<SeriesRun> {
        let val_errors = self.val_errors;
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
        let (results, steps, scale) = self.test_forecasts(s, model, threads)?;
        let test_start = self.part.test_start;
        let truth = &self.series.target[test_start..];
        let intervals = conformal
            .iter()
            .map(|c| {
                let band = (&results[0].forecast[..], &steps[..]);
                interval(band, c, truth, scale, self.part.scaling.floor)
            })
            .collect();
        Ok(SeriesRun {
            id: String::new(),
            test_start,
            results,
            scaling: self.part.scaling.clone(),
            conformal,
            intervals,
            scale,
            val_mae,
        })
    }

    /// The model's and the baselines' forecasts of the test span from rolling origins every
    /// `horizon` steps, scored; with the horizon step of each test point, and MASE's scale.
    fn test_forecasts(
        &self,
        s: &ForecastSettings,
        model: &Forecaster,
        threads: &Threads,
    ) -> Result<(Vec<MethodResult>, Vec<usize>, f64)> {
        let (series, part) = (self.series, self.part);
        let y = &series.target;
        let (n, test_start) = (y.len(), part.test_start);
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
            let known = (origin + s.horizon).min(n);
            let future: Vec<&[f64]> = part.future_raw.iter().map(|c| &c[..known]).collect();
            let input = History {
                target: history,
                covariates: &covariates,
                future: &future,
            };
            let forecast = forecast_with(model, s, &part.scaling, threads, &input)?;
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
}

/// The model's errors on the validation windows of each series in the series' units, one list
/// per horizon step.
fn validation_errors(
    panel: &Panel,
    s: &ForecastSettings,
    prepared: &Prepared,
    model: &Forecaster,
    threads: &Threads,
) -> Result<Vec<Vec<Vec<f64>>>> {
    let (windows, _) = prepared.windows(s).batch(&prepared.val_keys)?;
    let (p, _) = model.run(threads, &windows, None, None)?;
    let lag = prepared.tf.lag();
    let mut out = Vec::with_capacity(prepared.parts.len());
    let mut k = 0;
    for (part, series) in prepared.parts.iter().zip(&panel.series) {
        let y = &series.target;
        let (mean, std) = part.scaling.target;
        let mut val_errors: Vec<Vec<f64>> = vec![Vec::new(); s.horizon];
        for &e in &part.val_ends {
            let origin = e + lag;
            let z_hat: Vec<f64> = p[k * s.horizon..(k + 1) * s.horizon]
                .iter()
                .map(|&v| v as f64 * std + mean)
                .collect();
            let f = floor(prepared.tf.invert(&y[..origin], &z_hat), part.scaling.floor);
            for (h, fh) in f.iter().enumerate() {
                val_errors[h].push(y[origin + h] - fh);
            }
            k += 1;
        }
        out.push(val_errors);
    }
    Ok(out)
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
            calendar: Vec::new(),
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
        let origin = run.series[0].test_start;
        let again = forecast_from(
            &run.model,
            &s,
            &run.series[0].scaling,
            &threads,
            &target[..origin],
            &[&covariate[..origin]],
        )
        .unwrap();
        assert_eq!(&again[..2], &run.series[0].results[0].forecast[..2]);
        // Too short a history, a covariate of the wrong length, a non-positive value under log.
        let short = &target[..s.lookback];
        let scaling = &run.series[0].scaling;
        assert!(forecast_from(&run.model, &s, scaling, &threads, short, &[short]).is_err());
        let h = &target[..origin];
        assert!(forecast_from(&run.model, &s, scaling, &threads, h, &[&covariate[..3]]).is_err());
        assert!(forecast_from(&run.model, &s, scaling, &threads, h, &[]).is_err());
        let mut bad = h.to_vec();
        bad[origin - 1] = 0.0;
        let c = &covariate[..origin];
        assert!(forecast_from(&run.model, &s, scaling, &threads, &bad, &[c]).is_err());
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
        let one = &run.series[0];
        let (m, sd) = one.scaling.target;
        assert!((m - mean).abs() < 1e-12 && (sd - std).abs() < 1e-12);
        assert_eq!(one.test_start, 30);
        for r in &one.results {
            assert_eq!(r.forecast.len(), 6, "{}", r.name);
        }
        // Origins every horizon (2) steps with the actual history: naive repeats y[29], y[31], y[33].
        let naive = &one.results[1].forecast;
        assert_eq!(naive, &[1.0, 1.0, 1000.0, 1000.0, 1000.0, 1000.0]);
        let seasonal = &one.results[2].forecast;
        assert_eq!(&seasonal[..2], &[2.0, 3.0]);
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
