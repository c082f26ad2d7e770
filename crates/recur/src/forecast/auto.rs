//! Choosing the transform of a series (`--transform auto`): one forecaster per candidate
//! transform, each validated on the same windows before the test span, the lowest validation
//! error kept. A [`TrialStore`] keeps the trials of a search so that an interrupted one resumes:
//! the finished trials are read back (`recur forecast` saves them under `trials/<name>/` of its
//! run directory, [`write_trial`]), the interrupted one continues from its checkpoint, and the
//! later ones train as they would have.

use super::panel::Panel;
use super::pipeline::DataInfo;
use super::pipeline::{self, ForecastRun, ForecastSettings};
use crate::error::{Error, Result};
use crate::training::{Control, Observer};
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The folder of a run directory that holds the finished trials of a search, one folder each,
/// named by the transform (`trials/log+seasonal-diff/`).
pub const TRIALS_DIR: &str = "trials";

/// The transforms [`run_auto`] tries on a series whose training span is `y`: none, first
/// differences, seasonal differences (when the span passes the seasonality test
/// [`super::baselines::is_seasonal`] at `period`), each also on the logarithm when every value is
/// positive. Each is `(name, log, seasonal_diff, diff)`.
pub fn transform_candidates(y: &[f64], period: usize) -> Vec<(String, bool, bool, bool)> {
    let positive = y.iter().all(|&v| v > 0.0);
    let seasonal_ok = super::baselines::is_seasonal(y, period);
    candidates_of(positive, seasonal_ok)
}

/// The candidates of [`transform_candidates`] for a training span that is `positive` (every
/// value) and `seasonal` (passes the seasonality test).
fn candidates_of(positive: bool, seasonal_ok: bool) -> Vec<(String, bool, bool, bool)> {
    let mut out = Vec::new();
    for log in [false, true] {
        if log && !positive {
            continue;
        }
        for (name, seasonal, diff) in [
            ("none", false, false),
            ("diff", false, true),
            ("seasonal-diff", true, false),
        ] {
            if seasonal && !seasonal_ok {
                continue;
            }
            let name = match (log, name) {
                (true, "none") => "log".to_string(),
                (true, n) => format!("log+{n}"),
                (false, n) => n.to_string(),
            };
            out.push((name, log, seasonal, diff));
        }
    }
    out
}

/// The name of the trial of a panel whose series each take the transform that did best on
/// them ([`run_auto_with`]).
pub const PER_SERIES: &str = "per-series";

/// The name of the settings' transform, as [`transform_candidates`] names it ([`PER_SERIES`]
/// when each series of a panel has its own).
pub fn transform_name(s: &ForecastSettings) -> String {
    if !s.series_transforms.is_empty() {
        return PER_SERIES.into();
    }
    let base = match (s.seasonal_diff, s.diff) {
        (true, true) => "seasonal-diff+diff",
        (true, false) => "seasonal-diff",
        (false, true) => "diff",
        (false, false) => "none",
    };
    match (s.log, base) {
        (true, "none") => "log".into(),
        (true, b) => format!("log+{b}"),
        (false, b) => b.into(),
    }
}

/// One transform tried by [`run_auto`] and its validation error.
#[derive(Clone, Debug, Serialize)]
pub struct TransformTrial {
    /// The transform's name ([`transform_candidates`]).
    pub name: String,
    /// The model's mean absolute error on the validation windows, in the series' units; `None`
    /// when the transform left too few windows to train on.
    pub val_mae: Option<f64>,
}

/// The transforms [`run_auto`] tries on the series of `panel` under `s`, in order, each with
/// its settings: those of [`transform_candidates`] on the training spans (the logarithm only
/// when every value of every series, the test spans' too, is positive; seasonal differences
/// when at least half of the series pass the seasonality test), with `s`'s
/// `log`/`seasonal_diff`/`diff` replaced and its `time_budget` split evenly among them.
pub fn auto_candidates(panel: &Panel, s: &ForecastSettings) -> Vec<(String, ForecastSettings)> {
    let spans: Vec<&[f64]> = panel
        .series
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let test = panel.test_size(i, s.test_size);
            &x.target[..x.target.len().saturating_sub(test)]
        })
        .collect();
    let positive_spans = spans.iter().all(|y| y.iter().all(|&v| v > 0.0));
    let seasonal = spans
        .iter()
        .filter(|y| super::baselines::is_seasonal(y, s.period))
        .count();
    // The logarithm needs every value positive, the test span's too (the rolling origins' history).
    let positive = panel
        .series
        .iter()
        .all(|x| x.target.iter().all(|&v| v > 0.0));
    let candidates: Vec<_> = candidates_of(positive_spans, 2 * seasonal >= spans.len().max(1))
        .into_iter()
        .filter(|c| positive || !c.1)
        .collect();
    // A time budget is shared among the transforms tried.
    let time_budget = s.time_budget.map(|t| t / candidates.len().max(1) as f64);
    candidates
        .into_iter()
        .map(|(name, log, seasonal_diff, diff)| {
            let c = ForecastSettings {
                log,
                seasonal_diff,
                diff,
                time_budget,
                ..s.clone()
            };
            (name, c)
        })
        .collect()
}

/// Where [`run_auto_with`] keeps the trials of a search, so that an interrupted search resumes.
pub trait TrialStore {
    /// The directory of trial `name` as an earlier run finished and saved it ([`write_trial`]),
    /// if any: it is read back ([`read_trial`]) instead of trained.
    fn finished(&self, name: &str) -> Option<PathBuf>;

    /// Trains trial `name`: calls `train` with the control of its training (progress, Ctrl-C,
    /// checkpoints, and the directory to continue from when this is the trial an earlier run
    /// left unfinished) and returns what it returns.
    ///
    /// # Errors
    /// What `train` returns.
    fn train(
        &mut self,
        name: &str,
        train: &mut dyn FnMut(Control<'_>) -> Result<ForecastRun>,
    ) -> Result<ForecastRun>;

    /// Trial `name` of settings `s` has trained: to its end, or interrupted
    /// (`run.summary.interrupted`).
    ///
    /// # Errors
    /// Whatever keeping it reports; the search stops with it.
    fn trained(&mut self, name: &str, s: &ForecastSettings, run: &ForecastRun) -> Result<()>;
}

/// A store that keeps nothing: every trial trains, with progress through `observer`.
struct Unsaved<'a> {
    observer: &'a mut dyn Observer,
    stop: &'a AtomicBool,
}

impl TrialStore for Unsaved<'_> {
    fn finished(&self, _: &str) -> Option<PathBuf> {
        None
    }

    fn train(
        &mut self,
        _: &str,
        train: &mut dyn FnMut(Control<'_>) -> Result<ForecastRun>,
    ) -> Result<ForecastRun> {
        train(Control::new(&mut *self.observer, self.stop))
    }

    fn trained(&mut self, _: &str, _: &ForecastSettings, _: &ForecastRun) -> Result<()> {
        Ok(())
    }
}

/// What [`run_auto_with`] found.
pub struct AutoRun {
    /// The run of the lowest validation error.
    pub run: ForecastRun,
    /// Its settings (its transform).
    pub settings: ForecastSettings,
    /// Every transform tried, in order.
    pub trials: Vec<TransformTrial>,
    /// Whether every transform was tried to its end (no interruption).
    pub complete: bool,
}

/// Trains one forecaster per transform of [`auto_candidates`] (the settings' own
/// `log`/`seasonal_diff`/`diff` are replaced; a `time_budget` is split evenly among them) and
/// keeps the one with the lowest mean absolute error on the validation windows, which are the
/// same for every transform and lie before the test span. Returns that run, its settings and
/// every trial. Raising `stop` ends the trial in training with its best model so far, and no
/// later one starts.
///
/// # Errors
/// As [`pipeline::run_with_levels`] (a transform that leaves too few windows is skipped; when
/// every one does, its error).
pub fn run_auto(
    series: &super::series::Series,
    s: &ForecastSettings,
    levels: &[f64],
    threads: &Threads,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<(ForecastRun, ForecastSettings, Vec<TransformTrial>)> {
    let mut store = Unsaved { observer, stop };
    let panel = Panel::single(series.clone());
    let found = run_auto_with(&panel, s, levels, threads, &mut store, stop)?;
    Ok((found.run, found.settings, found.trials))
}

/// [`run_auto`] on the series of `panel` ([`pipeline::run_panel`]) with its trials kept in
/// `store`: a trial the store holds finished is read back instead of trained, and the others
/// train under the store's control; the choice is the one the uninterrupted search makes, bit
/// for bit. On a panel of several series, when the transforms that did best on each series
/// (by its own validation MAE) differ, one more trial ([`PER_SERIES`]) gives each series its
/// own, and is kept when its validation error is the lowest.
///
/// # Errors
/// As [`run_auto`]; what the store reports; [`Error::Format`] naming a saved trial's file that
/// does not fit the series.
pub fn run_auto_with(
    panel: &Panel,
    s: &ForecastSettings,
    levels: &[f64],
    threads: &Threads,
    store: &mut dyn TrialStore,
    stop: &AtomicBool,
) -> Result<AutoRun> {
    let mut search = Search {
        best: None,
        trials: Vec::new(),
        per_series: Vec::new(),
        first_error: None,
        complete: true,
    };
    let candidates = auto_candidates(panel, s);
    for (name, c) in &candidates {
        if stop.load(Ordering::Relaxed) && search.best.is_some() {
            search.complete = false;
            break;
        }
        let run = trial(panel, (name, c), levels, threads, store);
        search.add(name, c, run)?;
    }
    if let Some(c) = search.per_series_settings(s, &candidates) {
        if stop.load(Ordering::Relaxed) {
            search.complete = false;
        } else {
            let run = trial(panel, (PER_SERIES, &c), levels, threads, store);
            search.add(PER_SERIES, &c, run)?;
        }
    }
    search.finish()
}

/// The state of [`run_auto_with`]'s search.
struct Search {
    /// The run of the lowest validation error so far, and its settings.
    best: Option<(ForecastRun, ForecastSettings)>,
    /// Every transform tried.
    trials: Vec<TransformTrial>,
    /// Per transform trained, its validation MAE on each series.
    per_series: Vec<(String, Vec<f64>)>,
    /// The error of the first transform that left too few windows.
    first_error: Option<Error>,
    /// Whether every trial trained to its end.
    complete: bool,
}

impl Search {
    /// Adds the trial `name` of settings `c` that ended as `run`.
    fn add(&mut self, name: &str, c: &ForecastSettings, run: Result<ForecastRun>) -> Result<()> {
        match run {
            Ok(r) => {
                self.complete &= !r.summary.interrupted;
                self.trials.push(TransformTrial {
                    name: name.to_string(),
                    val_mae: Some(r.val_mae),
                });
                let maes = r.series.iter().map(|x| x.val_mae).collect();
                self.per_series.push((name.to_string(), maes));
                if self
                    .best
                    .as_ref()
                    .is_none_or(|(b, _)| r.val_mae < b.val_mae)
                {
                    self.best = Some((r, c.clone()));
                }
                Ok(())
            }
            Err(Error::Input(m)) if m.contains("too few") => {
                self.trials.push(TransformTrial {
                    name: name.to_string(),
                    val_mae: None,
                });
                self.first_error.get_or_insert(Error::Input(m));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// For a panel of several series whose search ran to its end: the settings that give each
    /// series the transform of the lowest validation MAE on it, when they differ between
    /// series (else `None`).
    fn per_series_settings(
        &self,
        s: &ForecastSettings,
        candidates: &[(String, ForecastSettings)],
    ) -> Option<ForecastSettings> {
        let series = self.per_series.first()?.1.len();
        if series < 2 || !self.complete {
            return None;
        }
        let picks: Vec<String> = (0..series)
            .map(|i| {
                let best = self
                    .per_series
                    .iter()
                    .min_by(|a, b| a.1[i].total_cmp(&b.1[i]))
                    .expect("a trial ran");
                best.0.clone()
            })
            .collect();
        if picks.iter().all(|p| *p == picks[0]) {
            return None;
        }
        Some(ForecastSettings {
            log: false,
            seasonal_diff: false,
            diff: false,
            series_transforms: picks,
            time_budget: candidates.first().and_then(|c| c.1.time_budget),
            ..s.clone()
        })
    }

    /// The run of the lowest validation error, or the first error when no transform could be
    /// tried.
    fn finish(self) -> Result<AutoRun> {
        match self.best {
            Some((run, settings)) => Ok(AutoRun {
                run,
                settings,
                trials: self.trials,
                complete: self.complete,
            }),
            None => Err(self
                .first_error
                .unwrap_or_else(|| Error::Input("no transform could be tried".into()))),
        }
    }
}

/// Trial `name` of settings `c`: read back when the store holds it finished, else trained and
/// handed to the store.
fn trial(
    panel: &Panel,
    (name, c): (&str, &ForecastSettings),
    levels: &[f64],
    threads: &Threads,
    store: &mut dyn TrialStore,
) -> Result<ForecastRun> {
    if let Some(dir) = store.finished(name) {
        return read_trial(&dir, panel, c, levels, threads);
    }
    let run = store.train(name, &mut |control| {
        pipeline::run_panel(panel, c, levels, threads, control)
    })?;
    store.trained(name, c, &run)?;
    Ok(run)
}

/// What a finished trial's `state.json` holds as `run`.
#[derive(Serialize, Deserialize)]
struct TrialRecord {
    /// The transform's name.
    trial: String,
    /// The model's mean absolute error on the validation windows.
    val_mae: f64,
    /// Whether early stopping ended its training.
    stopped_early: bool,
}

/// Writes the finished trial `run` of settings `s` into `dir` (`trials/<name>/` of a run
/// directory's temporary copy, [`crate::rundir::RunDir::save`]): the run's checkpoint
/// ([`ForecastRun::checkpoint`]) with its `config.json`, and as the record of `state.json` the
/// transform's name, the validation MAE and whether training stopped early.
///
/// # Errors
/// [`Error::Io`] naming the file that could not be written.
pub fn write_trial(
    dir: &Path,
    run: &ForecastRun,
    s: &ForecastSettings,
    info: &DataInfo,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let record = TrialRecord {
        trial: transform_name(s),
        val_mae: run.val_mae,
        stopped_early: run.summary.stopped_early,
    };
    let record = serde_json::to_value(record).expect("a trial record serialises");
    run.checkpoint(run.config(s, info), record).write(dir)
}

/// Reads back the trial of settings `s` on the series of `panel` that [`write_trial`] saved in `dir`: its
/// training restored, and its forecasts and scores computed again from its best model (the
/// same, bit for bit, as when it was trained).
///
/// # Errors
/// [`Error::Io`] or [`Error::Format`] naming the file that is missing or does not fit: a
/// record of another transform, or a validation error that differs (the data changed).
pub fn read_trial(
    dir: &Path,
    panel: &Panel,
    s: &ForecastSettings,
    levels: &[f64],
    threads: &Threads,
) -> Result<ForecastRun> {
    let state = dir.join("state.json");
    let record: TrialRecord = serde_json::from_value(crate::training::read_run(dir)?)
        .map_err(|e| Error::format(&state, format!("run: not a trial record ({e})")))?;
    let name = transform_name(s);
    if record.trial != name {
        return Err(Error::format(
            &state,
            format!(
                "run: the trial of transform '{}', expected '{name}'",
                record.trial
            ),
        ));
    }
    pipeline::check_run(panel, s, levels)?;
    let prepared = super::prepare::prepare(panel, s)?;
    let trained = pipeline::read_finished(dir, &prepared, s, record.stopped_early)?;
    let run = pipeline::finish(panel, s, levels, threads, &prepared, trained)?;
    if run.val_mae.to_bits() != record.val_mae.to_bits() {
        return Err(Error::format(
            &state,
            format!(
                "run: val_mae {} but the saved model scores {} on the series as read now (was the data changed?)",
                record.val_mae, run.val_mae
            ),
        ));
    }
    Ok(run)
}
