//! Series made ready for a forecaster: the transform, the scaling fitted on each series' own
//! training span, and the windows the model reads (training, validation, and the one a
//! forecast starts from).
//!
//! A window is `lookback` steps of `[target, covariates…, future columns…, 0]`; when the model
//! reads future columns (future covariates and calendar features), `horizon` steps of
//! `[0, 0…, future columns…, 1]` follow, and the forecast of step `k` is read from the state at
//! the window's `lookback + k`-th step ([`super::model::Forecaster::run`]).

use super::model::{Forecaster, ForecasterConfig};
use super::panel::Panel;
use super::pipeline::ForecastSettings;
use super::series::Series;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};

/// The scaling fitted on the training span: mean and standard deviation of the transformed
/// target, and of each covariate (stored in the checkpoint as `scaling`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// `(mean, std)` of the transformed target.
    pub target: (f64, f64),
    /// `(mean, std)` of each covariate, in column order.
    pub covariates: Vec<(f64, f64)>,
    /// `(mean, std)` of each future column: the future covariates in column order, then the
    /// calendar features' sines and cosines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub future: Vec<(f64, f64)>,
    /// The lowest value a forecast takes: 0 when the training span holds no negative value
    /// (counts, sales, prices), so that forecasts stay in the series' range; none otherwise.
    #[serde(default)]
    pub floor: Option<f64>,
}

/// What a forecast starts from: the history and what is known of the steps after it.
#[derive(Clone, Copy, Debug, Default)]
pub struct History<'a> {
    /// The target, oldest first, in the series' units.
    pub target: &'a [f64],
    /// The covariates over the same span (`covariates[k]` as long as `target`).
    pub covariates: &'a [&'a [f64]],
    /// The future columns (the future covariates, then the calendar features'
    /// [`super::calendar::calendar_columns`]), each over the history and the steps after it that
    /// are known (at least one when the model reads them).
    pub future: &'a [&'a [f64]],
    /// The series' identity, read at every step by a model of `series_identity`: a one-hot of
    /// its place among the series the model was trained on ([`series_identity`]); empty
    /// otherwise.
    pub identity: &'a [f64],
}

/// The identity inputs of series `index` of `count` (a one-hot; all zeros for an `index` past
/// the series, a series the model was not trained on).
pub fn series_identity(index: usize, count: usize) -> Vec<f64> {
    (0..count).map(|k| f64::from(k == index)).collect()
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
    let identity = if settings.series_identity {
        &[1.0][..]
    } else {
        &[]
    };
    let h = History {
        target: history,
        covariates,
        future: &[],
        identity,
    };
    forecast_with(model, settings, scaling, threads, &h)
}

/// [`forecast_from`] with the future columns a model of future covariates or calendar features
/// reads: the values after `h.target` that every future column covers are forecast (at most
/// `horizon`; the model's forecast of a step reads no future value after it, so these values
/// are those of a forecast over the whole horizon).
///
/// # Errors
/// As [`forecast_from`]; [`Error::Input`] when the future columns do not match the model or
/// cover no step after the history.
pub fn forecast_with(
    model: &Forecaster,
    settings: &ForecastSettings,
    scaling: &Scaling,
    threads: &Threads,
    h: &History<'_>,
) -> Result<Vec<f64>> {
    let tf = Transform::of(settings);
    let history = h.target;
    check_history(settings, &tf, history)?;
    let steps = check_columns(model, scaling, h)?;
    let z = tf.forward(history);
    let lag = tf.lag();
    let (mean, std) = scaling.target;
    let start = z.len() - settings.lookback;
    let future_steps = model.config().future_steps;
    let inputs = model.config().inputs;
    let width = settings.lookback + if future_steps { settings.horizon } else { 0 };
    let mut x = Vec::with_capacity(width * inputs);
    for t in start..z.len() {
        x.push(((z[t] - mean) / std) as f32);
        for (c, &(m, sd)) in h.covariates.iter().zip(&scaling.covariates) {
            x.push(((c[t + lag] - m) / sd) as f32);
        }
        if future_steps {
            push_future(&mut x, h.future, &scaling.future, t + lag);
        }
        x.extend(h.identity.iter().map(|&v| v as f32));
        if future_steps {
            x.push(0.0);
        }
    }
    if future_steps {
        for k in 0..settings.horizon {
            x.push(0.0);
            x.extend(std::iter::repeat_n(0.0, h.covariates.len()));
            // Steps past the known values repeat the last one: no earlier forecast reads them.
            let at = history.len() + k.min(steps - 1);
            push_future(&mut x, h.future, &scaling.future, at);
            x.extend(h.identity.iter().map(|&v| v as f32));
            x.push(1.0);
        }
    }
    let x = Tensor::new("window", &[width, 1, inputs], x)?;
    let (p, _) = model.run(threads, &x, None, None)?;
    let z_hat: Vec<f64> = p[..steps].iter().map(|&v| v as f64 * std + mean).collect();
    Ok(floor(tf.invert(history, &z_hat), scaling.floor))
}

/// The scaling of a series the model was not trained on, fitted on its history `h` as training
/// fits it on a training span: the mean and deviation of the transformed target and of each
/// covariate and future column over the history, and a floor of 0 when no value is negative.
///
/// # Errors
/// [`Error::Input`] for a history too short for the lookback and transform, or holding a value
/// the transform cannot take.
pub fn fit_scaling(settings: &ForecastSettings, h: &History<'_>) -> Result<Scaling> {
    let tf = Transform::of(settings);
    check_history(settings, &tf, h.target)?;
    let (n, lag) = (h.target.len(), tf.lag());
    let z = tf.forward(h.target);
    let stats = |c: &&[f64]| mean_and_deviation(&c[lag..n.min(c.len())]);
    Ok(Scaling {
        target: mean_and_deviation(&z),
        covariates: h.covariates.iter().map(stats).collect(),
        future: h.future.iter().map(stats).collect(),
        floor: h.target.iter().all(|&v| v >= 0.0).then_some(0.0),
    })
}

/// Pushes the scaled values of the future columns at point `t`.
fn push_future(x: &mut Vec<f32>, future: &[&[f64]], scaling: &[(f64, f64)], t: usize) {
    for (c, &(m, sd)) in future.iter().zip(scaling) {
        x.push(((c[t] - m) / sd) as f32);
    }
}

/// Refuses a history too short for the lookback and the transform, or holding a value the
/// transform cannot take.
fn check_history(settings: &ForecastSettings, tf: &Transform, history: &[f64]) -> Result<()> {
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
    Ok(())
}

/// Checks the covariates and future columns of `h` against the model and its scaling; returns
/// how many steps can be forecast (the horizon, or the steps the future columns cover).
fn check_columns(model: &Forecaster, scaling: &Scaling, h: &History<'_>) -> Result<usize> {
    let config = model.config();
    let n = h.target.len();
    let (covs, future) = (h.covariates.len(), h.future.len());
    let flag = usize::from(config.future_steps);
    if covs + future + h.identity.len() + flag + 1 != config.inputs
        || covs != scaling.covariates.len()
        || future != scaling.future.len()
        || (future > 0) != config.future_steps
    {
        return Err(Error::Input(format!(
            "covariates: {covs} series, {future} future columns and {} identity inputs given, the model reads {} inputs ({} covariates, {} future columns)",
            h.identity.len(),
            config.inputs,
            scaling.covariates.len(),
            scaling.future.len()
        )));
    }
    if let Some((k, c)) = h
        .covariates
        .iter()
        .enumerate()
        .find(|(_, c)| c.len() != n || c.iter().any(|v| !v.is_finite()))
    {
        return Err(Error::Input(format!(
            "covariate {k}: {} values (expected {n}, all finite)",
            c.len()
        )));
    }
    let known = h.future.iter().map(|c| c.len()).min().unwrap_or(n);
    if let Some((k, c)) = h
        .future
        .iter()
        .enumerate()
        .find(|(_, c)| c.len() <= n || c.iter().any(|v| !v.is_finite()))
    {
        return Err(Error::Input(format!(
            "future column {k}: {} values, expected the {n} of the history and at least one after it, all finite",
            c.len()
        )));
    }
    Ok(if config.future_steps {
        (known - n).min(config.horizon)
    } else {
        config.horizon
    })
}

/// `values` raised to `floor` where they fall below it.
pub(super) fn floor(mut values: Vec<f64>, floor: Option<f64>) -> Vec<f64> {
    if let Some(f) = floor {
        for v in &mut values {
            *v = v.max(f);
        }
    }
    values
}

/// The series as the model sees it, and how to undo it.
pub(super) struct Transform {
    log: bool,
    seasonal: Option<usize>,
    diff: bool,
}

impl Transform {
    pub(super) fn of(s: &ForecastSettings) -> Self {
        Transform {
            log: s.log,
            seasonal: s.seasonal_diff.then_some(s.period),
            diff: s.diff,
        }
    }

    pub(super) fn forward(&self, y: &[f64]) -> Vec<f64> {
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
    pub(super) fn lag(&self) -> usize {
        self.seasonal.unwrap_or(0) + usize::from(self.diff)
    }

    /// Values of the original series for steps after `history`, from transformed forecasts.
    pub(super) fn invert(&self, history: &[f64], z: &[f64]) -> Vec<f64> {
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

/// One series made ready: transformed, scaled with its training span's statistics, and its
/// windows before the test span.
pub(super) struct Part {
    /// The series' transform.
    pub tf: Transform,
    /// Index of the first test point.
    pub test_start: usize,
    /// The transformed target, scaled: `scaled[i]` belongs to point `i + lag`.
    scaled: Vec<f32>,
    /// The covariates, scaled, from point `lag` on.
    covs: Vec<Vec<f32>>,
    /// The future columns, unscaled, over every point (for the rolling origins).
    pub future_raw: Vec<Vec<f64>>,
    /// The future columns, scaled, from point `lag` on.
    future: Vec<Vec<f32>>,
    /// The statistics of the scaling.
    pub scaling: Scaling,
    /// Ends of the training windows (the training examples).
    train_ends: Vec<usize>,
    /// Ends of the validation windows.
    pub val_ends: Vec<usize>,
    /// This series' windows are named by `base + end` among the panel's ([`Windows`]).
    base: usize,
}

impl Part {
    /// The number of training windows of the series.
    pub(super) fn train_len(&self) -> usize {
        self.train_ends.len()
    }
}

/// Windows over the scaled series of a panel, `lookback` steps in and `horizon` out. A window
/// is named by a key, `base + end` of its series' [`Part`], so that the keys of one series are
/// its windows' ends.
pub(super) struct Windows<'a> {
    parts: &'a [Part],
    lookback: usize,
    horizon: usize,
    future_steps: bool,
    /// Identity inputs: one per series with `series_identity`, else none.
    identity: usize,
}

impl Windows<'_> {
    /// Features per step: the target, the covariates, the future columns, the series' identity
    /// and (with future columns) the flag of a step ahead.
    fn inputs(&self) -> usize {
        let p = &self.parts[0];
        1 + p.covs.len() + p.future.len() + self.identity + usize::from(self.future_steps)
    }

    /// Steps per window: the lookback, and the horizon when the model reads future columns.
    fn steps(&self) -> usize {
        self.lookback + if self.future_steps { self.horizon } else { 0 }
    }

    /// The part, its place among the parts and the end of the window named `key`.
    fn locate(&self, key: usize) -> (&Part, usize, usize) {
        let i = self.parts.partition_point(|p| p.base <= key) - 1;
        (&self.parts[i], i, key - self.parts[i].base)
    }

    /// Writes window `key` into column `b` of a time-major `[steps, batch, inputs]` buffer.
    fn fill(&self, key: usize, b: usize, batch: usize, x: &mut [f32]) {
        let inputs = self.inputs();
        let (p, index, end) = self.locate(key);
        let start = end - self.lookback;
        for i in 0..self.steps() {
            let (t, ahead) = (start + i, i >= self.lookback);
            let row = (i * batch + b) * inputs;
            x[row] = if ahead { 0.0 } else { p.scaled[t] };
            for (k, c) in p.covs.iter().enumerate() {
                x[row + 1 + k] = if ahead { 0.0 } else { c[t] };
            }
            let at = row + 1 + p.covs.len();
            for (k, c) in p.future.iter().enumerate() {
                x[at + k] = c[t];
            }
            let at = at + p.future.len();
            if self.identity > 0 {
                x[at + index] = 1.0;
            }
            if self.future_steps {
                x[at + self.identity] = if ahead { 1.0 } else { 0.0 };
            }
        }
    }

    /// The windows named `keys` and their targets `[B, horizon]`.
    pub(super) fn batch(&self, keys: &[usize]) -> Result<(Tensor<f32>, Vec<f32>)> {
        let (b, inputs) = (keys.len(), self.inputs());
        let mut x = vec![0.0f32; self.steps() * b * inputs];
        let mut t = Vec::with_capacity(b * self.horizon);
        for (k, &key) in keys.iter().enumerate() {
            self.fill(key, k, b, &mut x);
            let (p, _, e) = self.locate(key);
            t.extend_from_slice(&p.scaled[e..e + self.horizon]);
        }
        Ok((Tensor::new("windows", &[self.steps(), b, inputs], x)?, t))
    }
}

/// The panel made ready for training ([`prepare`]).
pub(super) struct Prepared {
    /// One per series, in the panel's order.
    pub parts: Vec<Part>,
    /// The keys of the training windows of every series ([`Windows`]), those of a series with
    /// fewer windows repeated so that every series weighs about alike ([`balanced`]).
    pub train_keys: Vec<usize>,
    /// The keys of the validation windows of every series, series by series.
    pub val_keys: Vec<usize>,
    /// The validation windows whose mean squared error selects the model: `val_keys`, repeated
    /// as the training windows are.
    pub val_loss_keys: Vec<usize>,
}

/// The keys of `lists` (one list of window keys per series) in one list, each list repeated
/// `round(longest / its length)` times, so that every series of a panel weighs about alike in
/// the mean squared error however many windows it has (one series: its keys as they are).
pub(super) fn balanced(lists: &[Vec<usize>]) -> Vec<usize> {
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for keys in lists.iter().filter(|k| !k.is_empty()) {
        let times = ((longest + keys.len() / 2) / keys.len()).max(1);
        for _ in 0..times {
            out.extend_from_slice(keys);
        }
    }
    out
}

impl Prepared {
    /// The windows over the scaled series, `s.lookback` steps in and `s.horizon` out.
    pub(super) fn windows(&self, s: &ForecastSettings) -> Windows<'_> {
        Windows {
            parts: &self.parts,
            lookback: s.lookback,
            horizon: s.horizon,
            future_steps: !self.parts[0].future.is_empty(),
            identity: if s.series_identity {
                self.parts.len()
            } else {
                0
            },
        }
    }

    /// The configuration of the forecaster that `s` trains on these windows.
    pub(super) fn model_config(&self, s: &ForecastSettings) -> ForecasterConfig {
        let w = self.windows(s);
        ForecasterConfig {
            cell: s.cell,
            inputs: w.inputs(),
            hidden_size: s.hidden,
            num_layers: s.layers,
            horizon: s.horizon,
            future_steps: w.future_steps,
        }
    }
}

/// Transforms each series of the panel, scales it with the statistics of its own training span
/// only, and splits its windows before its test span into training and (the latest) validation
/// windows; errors name the series.
pub(super) fn prepare(panel: &Panel, s: &ForecastSettings) -> Result<Prepared> {
    let mut parts: Vec<Part> = Vec::with_capacity(panel.series.len());
    let mut base = 0;
    for (i, series) in panel.series.iter().enumerate() {
        let test_size = panel.test_size(i, s.test_size);
        let own = s.for_series(Some(i));
        let tf = Transform::of(&own);
        let part =
            prepare_part(series, &own, tf, test_size, base).map_err(|e| panel.name_error(i, e))?;
        base += part.scaled.len() + 1;
        parts.push(part);
    }
    let keys = |ends: fn(&Part) -> &[usize]| -> Vec<Vec<usize>> {
        parts
            .iter()
            .map(|p| ends(p).iter().map(|e| p.base + e).collect())
            .collect()
    };
    let train_keys = balanced(&keys(|p| &p.train_ends));
    let val_lists = keys(|p| &p.val_ends);
    Ok(Prepared {
        parts,
        train_keys,
        val_keys: val_lists.concat(),
        val_loss_keys: balanced(&val_lists),
    })
}

/// One series of [`prepare`], its windows named from `base`.
fn prepare_part(
    series: &Series,
    s: &ForecastSettings,
    tf: Transform,
    test_size: usize,
    base: usize,
) -> Result<Part> {
    let y = &series.target;
    let n = y.len();
    let test_start = n.checked_sub(test_size).filter(|&t| t > tf.lag() + s.lookback + s.horizon).ok_or_else(|| {
        Error::Input(format!(
            "the series has {n} points: too few for a test span of {test_size} after lookback {} and horizon {}",
            s.lookback, s.horizon
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
    let named = |k: usize| {
        series
            .covariate_names
            .get(k)
            .map_or(format!("covariate {}", k + 1), |n| format!("column '{n}'"))
    };
    let (covs, cov_scaling) = scale_columns(series, &series.covariates, named, (lag, test_start))?;
    let future_raw = future_columns(series, s)?;
    let future_named = |k: usize| {
        series
            .future_covariate_names
            .get(k)
            .map_or(format!("calendar feature {}", k + 1), |n| {
                format!("column '{n}'")
            })
    };
    let (future, future_scaling) =
        scale_columns(series, &future_raw, future_named, (lag, test_start))?;
    let scaling = Scaling {
        target: (mean, std),
        covariates: cov_scaling,
        future: future_scaling,
        floor: y[..test_start].iter().all(|&v| v >= 0.0).then_some(0.0),
    };
    let (train_ends, val_ends) = split_windows(s, train_len, lag, test_start)?;
    Ok(Part {
        tf,
        test_start,
        scaled,
        covs,
        future_raw,
        future,
        scaling,
        train_ends,
        val_ends,
        base,
    })
}

/// The future columns of `series` under `s`: its future covariates, then the sine and cosine
/// of each calendar feature of `s` over its time stamps.
///
/// # Errors
/// [`Error::Input`] when `s` asks for calendar features and the series has no time stamps.
pub(super) fn future_columns(series: &Series, s: &ForecastSettings) -> Result<Vec<Vec<f64>>> {
    let mut columns = series.future_covariates.clone();
    if !s.calendar.is_empty() {
        if series.stamps.len() != series.target.len() {
            return Err(Error::Input(
                "`calendar` needs time stamps, and the time labels read as none".into(),
            ));
        }
        columns.extend(super::calendar::calendar_columns(
            &series.stamps,
            &s.calendar,
        ));
    }
    Ok(columns)
}

/// The mean and the (population) standard deviation of `v`, the deviation at least `1e-8`.
pub(super) fn mean_and_deviation(v: &[f64]) -> (f64, f64) {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64)
        .sqrt()
        .max(1e-8);
    (mean, std)
}

/// A series' mean and standard deviation.
type MeanAndDeviation = (f64, f64);

/// `columns` of `series` from point `lag` on, each scaled by the mean and deviation of its
/// training span (before `test_start`), and those statistics; `named(k)` names column `k` in
/// errors.
fn scale_columns(
    series: &Series,
    columns: &[Vec<f64>],
    named: impl Fn(usize) -> String,
    (lag, test_start): (usize, usize),
) -> Result<(Vec<Vec<f32>>, Vec<MeanAndDeviation>)> {
    let scaled = columns
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let (m, sd) = mean_and_deviation(&c[lag..test_start]);
            let scaled: Vec<f32> = c[lag..].iter().map(|v| ((v - m) / sd) as f32).collect();
            check_scaled(series, &named(k), &scaled, lag, (m, sd))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_with_fewer_windows_are_repeated_to_weigh_alike() {
        assert_eq!(balanced(&[vec![1, 2, 3]]), [1, 2, 3]);
        let keys = balanced(&[
            vec![1, 2, 3, 4, 5, 6],
            vec![10, 11],
            vec![20, 21, 22, 23, 24],
        ]);
        assert_eq!(keys.iter().filter(|&&k| k >= 20).count(), 5);
        assert_eq!(keys.iter().filter(|&&k| (10..20).contains(&k)).count(), 6);
        assert_eq!(keys.iter().filter(|&&k| k < 10).count(), 6);
    }

    #[test]
    fn training_windows_never_reach_past_the_training_span() {
        assert_eq!(training_window_ends(10, 3, 2), vec![3, 4, 5, 6, 7, 8]);
        // The last window's targets are points 8 and 9, the last two of the span.
        assert!(training_window_ends(4, 3, 2).is_empty());
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
}
