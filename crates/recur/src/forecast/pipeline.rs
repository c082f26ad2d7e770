//! A forecasting run: transform, scale (fitted on training data only), window, train with early
//! stopping on a chronological validation tail, and score model and baselines on the test span
//! from the same rolling origins. One series, or many series in one model (a [`Panel`]): the
//! training windows of every series in one pool, each series scaled, validated and scored on
//! its own.

use super::calendar::CalendarFeature;
use super::metrics::ForecastMetrics;
use super::model::{Forecaster, ForecasterConfig};
use super::panel::Panel;
use super::prepare::{Prepared, Windows};
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
pub(super) use super::scoring::finish;
pub use super::scoring::{conformal_quantile, score_interval, Conformal, IntervalResult};

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
    /// Tell the model which series each window comes from: a one-hot input of the series'
    /// place in the panel at every step (which the recurrent layer's input weights turn into a
    /// learned per-series embedding).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub series_identity: bool,
    /// The transform of each series of a panel, named as [`transform_candidates`] names them
    /// (`log`, `log`/`seasonal_diff`/`diff` then give none); empty: those three for every
    /// series.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series_transforms: Vec<String>,
}

impl ForecastSettings {
    /// The settings of series `i` of a panel: these, with the series' own transform of
    /// `series_transforms` when there is one. A series the model was not trained on (`None`, or
    /// an index past the list) takes the transform most of the series have.
    pub fn for_series(&self, i: Option<usize>) -> ForecastSettings {
        let names = &self.series_transforms;
        if names.is_empty() {
            return self.clone();
        }
        let name = match i.and_then(|i| names.get(i)) {
            Some(n) => n,
            None => names
                .iter()
                .max_by_key(|n| names.iter().filter(|m| m == n).count())
                .expect("the list is not empty"),
        };
        let (log, seasonal_diff, diff) = parse_transform(name).unwrap_or((false, false, false));
        ForecastSettings {
            log,
            seasonal_diff,
            diff,
            series_transforms: Vec::new(),
            ..self.clone()
        }
    }

    /// Checks every setting's range against a series of `points` values, before any work;
    /// messages name the flag and the limit.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self, points: usize) -> Result<()> {
        crate::config::require_at_least_one(&[
            ("lookback", self.lookback),
            ("horizon", self.horizon),
            ("test_size", self.test_size),
            ("period", self.period),
            ("hidden", self.hidden),
            ("layers", self.layers),
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
        ])?;
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
    /// MASE scale (the naive forecast's in-sample MAE where that scale is 0), so that series of
    /// different units weigh alike.
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
        let snapshot = Snapshot {
            state: &self.end.state,
            optimizer: &self.end.optimizer,
        };
        let (model, end) = (&self.model, &self.end);
        LoopCheckpoint::of(model, &end.current, &end.order, snapshot, (&config, &run))
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
    saving: training::Saving<'c>,
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
        self.saving
            .offer((&self.model, self.best.as_ref()), &self.order, at)
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
    /// The shared loop's settings for `s` on these windows. A panel of several series, whose
    /// epoch repeats the windows of the shorter series, validates as often as one pass over the
    /// windows of a series of average length takes (so that early stopping keeps the model
    /// before it learns the repeated windows by heart), not once an epoch.
    fn loop_settings(&self, s: &ForecastSettings) -> LoopSettings {
        let mut settings = s.loop_settings(self.train_keys.len().div_ceil(s.batch_size) as u64);
        if self.parts.len() > 1 {
            let windows: usize = self.parts.iter().map(|p| p.train_len()).sum();
            let per_series = windows.div_ceil(self.parts.len());
            settings.validate_every = (per_series.div_ceil(s.batch_size) as u64).max(1);
        }
        settings
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
/// series (shuffled together, a series with fewer windows repeated so that the series weigh
/// about alike), each series transformed alike (or as `series_transforms` says) and scaled
/// with the statistics of its own training span, validated on its own latest windows (the validation loss is the MSE over all
/// of them, weighed as in training) and scored on its own test span ([`Panel::test_size`]) with
/// its own conformal intervals and baselines.
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

/// The transform named `name` ([`transform_name`]) as (log, seasonal_diff, diff); `None` for
/// a name of none.
pub fn parse_transform(name: &str) -> Option<(bool, bool, bool)> {
    let (log, rest) = match name.strip_prefix("log") {
        Some(r) => (true, r.strip_prefix('+').unwrap_or(r)),
        None => (false, name),
    };
    Some(match rest {
        "" if log => (true, false, false),
        "none" if !log => (false, false, false),
        "diff" => (log, false, true),
        "seasonal-diff" => (log, true, false),
        "seasonal-diff+diff" => (log, true, true),
        _ => return None,
    })
}

/// Checks the settings against every series of the panel, and the interval levels, before any
/// work.
pub(super) fn check_run(panel: &Panel, s: &ForecastSettings, levels: &[f64]) -> Result<()> {
    if let Some(l) = levels.iter().find(|l| !(**l > 0.0 && **l < 1.0)) {
        return Err(Error::Config(format!(
            "`level`: {l} is not a coverage between 0 and 1 (write 80 or 0.8)"
        )));
    }
    let names = &s.series_transforms;
    if !names.is_empty() && names.len() != panel.series.len() {
        return Err(Error::Config(format!(
            "`series_transforms`: {} transforms for {} series",
            names.len(),
            panel.series.len()
        )));
    }
    if let Some(n) = names.iter().find(|n| parse_transform(n).is_none()) {
        return Err(Error::Config(format!(
            "`series_transforms`: no transform '{n}'"
        )));
    }
    for (i, series) in panel.series.iter().enumerate() {
        let own = ForecastSettings {
            test_size: panel.test_size(i, s.test_size),
            ..s.for_series(Some(i))
        };
        if own.seasonal_diff && own.period < 2 {
            return Err(Error::Config(
                "`seasonal_diff` needs a season: the series has no period (give `period`)".into(),
            ));
        }
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
    pub(super) best: Forecaster,
    pub(super) summary: Summary,
    pub(super) end: TrainingEnd,
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
        val: windows.batch(&prepared.val_loss_keys)?,
        saving: training::Saving {
            save: control.on_checkpoint,
            config,
            run: control.run_record,
        },
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
        let inputs = (
            a.calendar.clone(),
            a.series_identity,
            a.series_transforms.clone(),
        );
        (shape, a.log, a.seasonal_diff, a.diff, inputs)
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
            series_identity: false,
            series_transforms: Vec::new(),
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

    /// A fixed pseudo-random 0/1 flag per step.
    fn flags(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                f64::from((state >> 62) == 0)
            })
            .collect()
    }

    #[test]
    fn a_known_future_covariate_is_read_at_the_forecast_steps() {
        // Sales jump on promotion days, which are planned (known ahead) and irregular.
        let n = 240;
        let promo = flags(n, 7);
        let target: Vec<f64> = (0..n)
            .map(|t| 10.0 + 4.0 * promo[t] + (t % 4) as f64 * 0.25)
            .collect();
        let s = ForecastSettings {
            lookback: 8,
            horizon: 4,
            test_size: 40,
            hidden: 16,
            epochs: 60,
            patience: 60,
            batch_size: 16,
            lr: 1e-2,
            ..settings()
        };
        let mae = |series: &Series| {
            let r = super::run(
                series,
                &s,
                &Threads::single(),
                &mut (),
                &AtomicBool::new(false),
            )
            .unwrap();
            r.series[0].results[0].metrics.mae
        };
        let known_ahead = Series {
            target: target.clone(),
            future_covariates: vec![promo.clone()],
            future_covariate_names: vec!["promo".into()],
            ..from_file(target.clone())
        };
        let only_past = Series {
            covariates: vec![promo],
            covariate_names: vec!["promo".into()],
            ..from_file(target)
        };
        let (with, without) = (mae(&known_ahead), mae(&only_past));
        assert!(
            with < 0.5 * without,
            "MAE {with} with the promotions ahead, {without} without"
        );
    }

    #[test]
    fn series_of_a_panel_are_scaled_and_scored_on_their_own() {
        let a: Vec<f64> = (0..60)
            .map(|t| 10.0 + (t % 4) as f64 + 0.1 * t as f64)
            .collect();
        let b: Vec<f64> = (0..48)
            .map(|t| 5000.0 + 100.0 * (t % 4) as f64 + (t * t % 7) as f64)
            .collect();
        let panel = Panel {
            id_column: Some("store".into()),
            ids: vec!["a".into(), "b".into()],
            series: vec![from_file(a.clone()), from_file(b)],
            test_sizes: vec![6, 8],
        };
        let s = settings();
        let (mut quiet, stop) = ((), AtomicBool::new(false));
        let control = Control::new(&mut quiet, &stop);
        let r = run_panel(&panel, &s, &[0.8], &Threads::single(), control).unwrap();
        let (ra, rb) = (&r.series[0], &r.series[1]);
        assert_eq!((ra.id.as_str(), ra.test_start), ("a", 54));
        assert_eq!((rb.id.as_str(), rb.test_start), ("b", 40));
        assert!(ra.scaling.target.0 < 20.0 && rb.scaling.target.0 > 4000.0);
        assert_eq!(rb.results[0].forecast.len(), 8);
        assert_eq!(rb.intervals[0].lower.len(), 8);
        // The validation MAE of the panel weighs each series by its own scale.
        let mean = (ra.val_mae / ra.scale + rb.val_mae / rb.scale) / 2.0;
        assert!((r.val_mae - mean).abs() < 1e-12);
        let config = r.config(&s, &panel.info());
        assert_eq!(config["series"][1]["id"], "b");
        assert!(config.get("scaling").is_none());
        // A panel of one series trains and scores as that series alone.
        let alone = super::run(
            &from_file(a.clone()),
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
        )
        .unwrap();
        let one = Panel {
            id_column: Some("store".into()),
            ids: vec!["a".into()],
            series: vec![from_file(a)],
            test_sizes: vec![6],
        };
        let control = Control::new(&mut quiet, &stop);
        let r1 = run_panel(&one, &s, &[], &Threads::single(), control).unwrap();
        assert_eq!(
            r1.series[0].results[0].forecast,
            alone.series[0].results[0].forecast
        );
    }
}
