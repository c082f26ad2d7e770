//! A forecaster saved by `recur forecast`, loaded from its checkpoint directory and forecasting
//! new history without training.

use super::calendar::Frequency;
use super::model::{Forecaster, ForecasterConfig};
use super::pipeline::{Conformal, DataColumns, ForecastSettings};
use super::prepare::{forecast_with, History, Scaling};
use crate::error::{Error, Result};
use recur_kernels::Threads;
use serde::Deserialize;
use std::path::Path;

/// A prediction interval around a forecast: `(level, lower, upper)`, one bound per step.
pub type Band = (f64, Vec<f64>, Vec<f64>);

/// One series of a forecaster trained on many ([`super::panel::Panel`]): its id, and the
/// scaling and interval half-widths fitted on it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct SavedSeries {
    /// The series' id.
    pub id: String,
    /// Its scaling.
    pub scaling: Scaling,
    /// Its split-conformal half-widths, one per level.
    #[serde(default)]
    pub conformal: Vec<Conformal>,
}

/// A forecaster loaded from a checkpoint directory, with the settings it was trained with.
#[derive(Debug)]
pub struct LoadedForecaster {
    /// The model.
    pub model: Forecaster,
    /// The `settings` section of `config.json`.
    pub settings: ForecastSettings,
    /// The `scaling` section (absent in checkpoints written before it was stored, and in those
    /// of many series, which keep one per series in `series`).
    pub scaling: Option<Scaling>,
    /// The split-conformal half-widths of the run's prediction intervals (`conformal`; empty in
    /// checkpoints written without intervals).
    pub conformal: Vec<Conformal>,
    /// The columns the run read (`data`; absent in older checkpoints).
    pub data: Option<DataColumns>,
    /// The frequency of the series the run read.
    pub frequency: Frequency,
    /// Per series of a run on many series, its scaling and half-widths (empty otherwise).
    pub series: Vec<SavedSeries>,
}

impl LoadedForecaster {
    /// The `horizon` values after `history` (in the series' units, oldest first), with the
    /// covariates' values over the same span: the checkpoint's transforms and scaling applied
    /// as in training ([`super::pipeline::forecast_from`]).
    ///
    /// # Errors
    /// [`Error::Input`] for a checkpoint without `scaling`, or a history the model cannot read.
    pub fn forecast(
        &self,
        threads: &Threads,
        history: &[f64],
        covariates: &[&[f64]],
    ) -> Result<Vec<f64>> {
        let h = History {
            target: history,
            covariates,
            future: &[],
            identity: &[],
        };
        Ok(self.forecast_series(threads, None, &h)?.0)
    }

    /// [`LoadedForecaster::forecast`] with the checkpoint's prediction intervals: for each
    /// stored level, `(level, lower, upper)` around the forecast (raised to the scaling's floor
    /// as the forecast is).
    ///
    /// # Errors
    /// As [`LoadedForecaster::forecast`].
    pub fn forecast_intervals(
        &self,
        threads: &Threads,
        history: &[f64],
        covariates: &[&[f64]],
    ) -> Result<(Vec<f64>, Vec<Band>)> {
        let h = History {
            target: history,
            covariates,
            future: &[],
            identity: &[],
        };
        self.forecast_series(threads, None, &h)
    }

    /// The forecast after history `h` of the series `id` (`None` for the series of a
    /// single-series checkpoint), with its intervals: the series' own scaling and half-widths
    /// for a series the model was trained on (and its identity input, which this sets in `h`).
    /// A series it was not trained on (a new id) is scaled by its own history, has no identity
    /// (zeros) and gets no intervals.
    ///
    /// # Errors
    /// [`Error::Input`] for a checkpoint without scaling, or a history the model cannot read
    /// ([`super::prepare::forecast_with`]).
    pub fn forecast_series(
        &self,
        threads: &Threads,
        id: Option<&str>,
        h: &History<'_>,
    ) -> Result<(Vec<f64>, Vec<Band>)> {
        let known = id.and_then(|id| self.series.iter().position(|s| s.id == id));
        let settings = self.settings.for_series(known);
        let fitted;
        let (scaling, conformal): (&Scaling, &[Conformal]) = match (id, &self.scaling) {
            (None, Some(s)) => (s, &self.conformal),
            (None, None) if self.series.is_empty() => {
                return Err(Error::Input(
                    "this checkpoint stores no scaling: train it again to forecast".into(),
                ))
            }
            (None, None) => {
                return Err(Error::Input(
                    "this forecaster was trained on many series: name the series to forecast"
                        .into(),
                ))
            }
            (Some(id), _) => match self.series.iter().find(|s| s.id == id) {
                Some(s) => (&s.scaling, &s.conformal),
                None => {
                    fitted = super::prepare::fit_scaling(&settings, h)?;
                    (&fitted, &[])
                }
            },
        };
        let count = if self.settings.series_identity {
            self.series.len().max(1)
        } else {
            0
        };
        let index = if id.is_some() {
            known.unwrap_or(count)
        } else {
            0
        };
        let identity = super::prepare::series_identity(index, count);
        let h = History {
            identity: &identity,
            ..*h
        };
        let f = forecast_with(&self.model, &settings, scaling, threads, &h)?;
        let floor = scaling.floor;
        let bands = conformal
            .iter()
            .map(|c| {
                let lower = f
                    .iter()
                    .zip(&c.half_width)
                    .map(|(v, w)| floor.map_or(v - w, |fl| (v - w).max(fl)))
                    .collect();
                let upper = f.iter().zip(&c.half_width).map(|(v, w)| v + w).collect();
                (c.level, lower, upper)
            })
            .collect();
        Ok((f, bands))
    }
}

#[derive(Deserialize)]
struct CheckpointFile {
    format: String,
    version: u32,
    model: ForecasterConfig,
    settings: ForecastSettings,
    #[serde(default)]
    scaling: Option<Scaling>,
    #[serde(default)]
    conformal: Vec<Conformal>,
    #[serde(default)]
    data: Option<DataColumns>,
    #[serde(default)]
    frequency: Option<Frequency>,
    #[serde(default)]
    series: Vec<SavedSeries>,
}

/// Loads the forecaster of checkpoint `dir` (`config.json` with `model` and `settings`, and
/// `model.safetensors`). Every field is checked: sizes against [`crate::MAX_PARAMETERS`], the
/// settings against the model (`horizon`, `hidden`, `layers`, `cell`) and their own ranges, the
/// scalings and half-widths against the model's inputs and horizon, the tensors' shapes before
/// the model is allocated; errors name the file and the field or tensor.
///
/// # Errors
/// [`Error::Io`] or [`Error::Format`] naming the file: a checkpoint of another task, a field
/// out of range, a tensor missing or misshapen.
pub fn load(dir: &Path) -> Result<LoadedForecaster> {
    let path = dir.join("config.json");
    crate::checkpoint::check_dir(dir)?;
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::format(&path, format!("not JSON ({e})")))?;
    if v.get("task").and_then(|t| t.as_str()) != Some("forecast") {
        return Err(Error::format(
            &path,
            "not a forecaster checkpoint (task is not \"forecast\")",
        ));
    }
    let file: CheckpointFile = serde_json::from_value(v)
        .map_err(|e| Error::format(&path, format!("not a recur forecaster config ({e})")))?;
    if file.format != "recur" || file.version != 1 {
        return Err(Error::format(
            &path,
            format!(
                "format {:?} version {}, expected \"recur\" 1",
                file.format, file.version
            ),
        ));
    }
    check_config(&file).map_err(|m| Error::format(&path, m))?;
    let m = &file.model;
    let tensors = crate::io::TensorFile::read(dir.join("model.safetensors"))?;
    tensors.check_shapes(
        &m.tensor_shapes(),
        &format!(
            "{}'s hidden_size {}, num_layers {}, inputs {} and horizon {}",
            path.display(),
            m.hidden_size,
            m.num_layers,
            m.inputs,
            m.horizon
        ),
    )?;
    let mut model = Forecaster::zeros(file.model.clone())?;
    model.load_tensors(tensors)?;
    Ok(LoadedForecaster {
        model,
        settings: file.settings,
        scaling: file.scaling,
        conformal: file.conformal,
        data: file.data,
        frequency: file.frequency.unwrap_or_default(),
        series: file.series,
    })
}

/// Checks the fields of a checkpoint's `config.json`; the message names the field at fault.
fn check_config(file: &CheckpointFile) -> std::result::Result<(), String> {
    let (m, s) = (&file.model, &file.settings);
    if let Err(e) = m.validate() {
        let msg = match e {
            Error::Config(m) => m,
            other => other.to_string(),
        };
        return Err(format!("model: {msg}"));
    }
    for (field, a, model_field, b) in [
        ("horizon", s.horizon, "horizon", m.horizon),
        ("hidden", s.hidden, "hidden_size", m.hidden_size),
        ("layers", s.layers, "num_layers", m.num_layers),
    ] {
        if a != b {
            return Err(format!(
                "settings.{field} is {a} but model.{model_field} is {b}"
            ));
        }
    }
    if s.cell != m.cell {
        return Err(format!(
            "settings.cell is {:?} but model.cell is {:?}",
            s.cell, m.cell
        ));
    }
    for (field, v) in [
        ("lookback", s.lookback),
        ("test_size", s.test_size),
        ("period", s.period),
        ("batch_size", s.batch_size),
    ] {
        if v == 0 {
            return Err(format!("settings.{field} must be at least 1"));
        }
    }
    if !(0.0..1.0).contains(&s.val_frac) {
        return Err(format!(
            "settings.val_frac is {}, expected a value in [0, 1)",
            s.val_frac
        ));
    }
    if !(s.lr.is_finite() && s.lr > 0.0) {
        return Err(format!(
            "settings.lr is {}, expected a finite rate > 0",
            s.lr
        ));
    }
    if let Some(sc) = &file.scaling {
        check_scaling("scaling", sc, file)?;
    }
    check_conformal("conformal", &file.conformal, m.horizon)?;
    for (i, saved) in file.series.iter().enumerate() {
        check_scaling(&format!("series[{i}].scaling"), &saved.scaling, file)?;
        check_conformal(
            &format!("series[{i}].conformal"),
            &saved.conformal,
            m.horizon,
        )?;
    }
    Ok(())
}

/// Checks one scaling against the model: finite statistics, one per input column.
fn check_scaling(
    field: &str,
    sc: &Scaling,
    file: &CheckpointFile,
) -> std::result::Result<(), String> {
    let ok = |(m, sd): (f64, f64)| m.is_finite() && sd.is_finite() && sd > 0.0;
    if !ok(sc.target)
        || !sc.covariates.iter().chain(&sc.future).all(|&p| ok(p))
        || sc.floor.is_some_and(|f| !f.is_finite())
    {
        return Err(format!(
            "{field}: every mean and the floor must be finite and every deviation finite and > 0"
        ));
    }
    let m = &file.model;
    let flag = usize::from(m.future_steps);
    let future = sc.future.len();
    if sc.covariates.len() + future + flag + 1 != m.inputs || (future > 0) != m.future_steps {
        return Err(format!(
            "{field} holds {} covariates and {future} future columns, but model.inputs is {}{}",
            sc.covariates.len(),
            m.inputs,
            if m.future_steps {
                " (with future steps)"
            } else {
                ""
            }
        ));
    }
    let calendar = 2 * file.settings.calendar.len();
    let named = file.data.as_ref().map(|d| d.future_covariates.len());
    if future < calendar || named.is_some_and(|n| n + calendar != future) {
        return Err(format!(
            "{field} holds {future} future columns, but data.future_covariates and settings.calendar make {}",
            named.unwrap_or(0) + calendar
        ));
    }
    Ok(())
}

/// Checks the half-widths of one series: levels in (0, 1), one finite, non-negative width per
/// horizon step.
fn check_conformal(
    field: &str,
    conformal: &[Conformal],
    horizon: usize,
) -> std::result::Result<(), String> {
    for c in conformal {
        if !(c.level > 0.0 && c.level < 1.0)
            || c.half_width.len() != horizon
            || c.half_width.iter().any(|w| !(w.is_finite() && *w >= 0.0))
        {
            return Err(format!(
                "{field}: each level must be in (0, 1) with {horizon} finite, non-negative half-widths"
            ));
        }
    }
    Ok(())
}
