//! `recur forecast`: train a forecaster on a CSV series (or on the many series of a long file,
//! `--id`) and score it, with the naive, seasonal-naive, drift and AutoETS baselines and
//! split-conformal intervals, on the held-out end of each series. The run checkpoints into its
//! directory as it trains, so that `--resume DIR` continues an interrupted run (Ctrl-C,
//! `--stop-after`) bit for bit. `recur forecast predict` forecasts new history with a saved
//! forecaster.

mod output;
mod panel_output;
mod plot;
mod predict;
mod resume;

use clap::{Args, Subcommand};
use recur::forecast::auto::run_auto_with;
use recur::forecast::calendar::calendar_features;
use recur::forecast::pipeline::{run_panel, ForecastRun, ForecastSettings, TransformTrial};
use recur::forecast::{read_panel, read_series_with, Fill, Frequency, Panel, Series, SeriesSpec};
use recur::rundir::{OutPolicy, RunDir};
use recur::{CellType, Error, Result};
use resume::Record;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

/// Flags of `recur forecast`.
#[derive(Args)]
#[command(
    allow_negative_numbers = true,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct ForecastArgs {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    run: RunFlags,
    /// Worker threads
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Output directory: forecast.csv, forecast.svg, metrics.json, metrics.jsonl, loss.svg, the model and what continues its training (with --transform auto, each transform's model in trials/) [default: runs/forecast, numbered (runs/forecast-2, …) when that holds a run]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Let this run replace the files of an earlier run in --out (files recur did not write are kept)
    #[arg(long)]
    overwrite: bool,
    /// Continue the run saved in this directory exactly where it stopped (Ctrl-C or --stop-after), ending as the run that was not interrupted; the CSV (which must be unchanged) and every flag come from the run
    #[arg(long, conflicts_with_all = ["csv", "target", "time", "covariates", "id", "id_input", "future_covariates", "calendar", "delimiter", "fill", "lookback", "horizon", "test_size", "test_frac", "period", "transform", "log", "seasonal_diff", "diff", "level", "no_ets", "cell", "hidden", "layers", "epochs", "steps", "time_budget", "patience", "batch_size", "lr", "seed", "out", "overwrite"])]
    resume: Option<PathBuf>,
    /// Stop as if interrupted after this many optimiser steps (counted over the transforms tried), leaving a checkpoint to continue with --resume
    #[arg(long)]
    stop_after: Option<u64>,
    /// Print the metrics as one JSON object
    #[arg(long)]
    json: bool,
    /// No progress lines
    #[arg(long)]
    quiet: bool,
}

/// What `recur forecast` does instead of training.
#[derive(Subcommand)]
enum Action {
    /// Forecast the steps after the end of new history with a saved forecaster (no training): writes time, forecast and interval bounds as CSV
    Predict(predict::PredictArgs),
}

/// The flags that define a run: kept in its `state.json`, so that `--resume` needs none of them.
#[derive(Args, Clone, Serialize, Deserialize)]
struct RunFlags {
    /// CSV file with a header row
    #[arg(long, required_unless_present = "resume")]
    csv: Option<PathBuf>,
    /// Column to forecast
    #[arg(long, required_unless_present = "resume")]
    target: Option<String>,
    /// Columns that label a row, comma-separated (e.g. year,month; '' names an unnamed column) [default: the first column whose cells all read as dates or times, else an unnamed first column]
    #[arg(long, value_delimiter = ',')]
    time: Vec<String>,
    /// Further numeric columns fed to the model, comma-separated
    #[arg(long, value_delimiter = ',')]
    covariates: Vec<String>,
    /// Long format: the column naming the series of each row; one model is trained on the windows of every series, each scaled, validated and scored on its own
    #[arg(long)]
    #[serde(default)]
    id: Option<String>,
    /// Numeric columns known ahead of time (prices, holidays, planned events), comma-separated: the model reads their values at the forecast steps too
    #[arg(long, value_delimiter = ',')]
    #[serde(default)]
    future_covariates: Vec<String>,
    /// With --id: tell the model which series each window comes from (a one-hot input of the series, which the recurrent layer turns into a learned per-series embedding); without it the model treats every series alike, new ones included
    #[arg(long, requires = "id")]
    #[serde(default)]
    id_input: bool,
    /// Calendar features of the time column as known-future inputs: month of year (quarterly and finer), day of week (daily and finer), time of day (hourly and finer), each as a sine and cosine
    #[arg(long)]
    #[serde(default)]
    calendar: bool,
    /// Field separator of the file: one character (';', '\t' or 'tab', '|')
    #[arg(long, default_value = ",")]
    delimiter: String,
    /// Empty cells of the target or covariates: error, linear (interpolate), ffill (repeat the last value) or drop (leave the row out)
    #[arg(long, default_value = "error")]
    fill: String,
    /// Steps of history the model sees [default: 24, or two seasons when longer, at most a third of the training span]
    #[arg(long)]
    lookback: Option<usize>,
    /// Steps predicted from each origin (direct multi-output) [default: by frequency: yearly 6, quarterly 8, monthly 12, weekly 13, daily 14, hourly 24, half-hourly 48; at most the test span]
    #[arg(long)]
    horizon: Option<usize>,
    /// Points held out at the end as the test span [default: 10 % of the points, or two seasons when more and at most a quarter of the series]
    #[arg(long, conflicts_with = "test_frac")]
    test_size: Option<usize>,
    /// Fraction of the points held out at the end
    #[arg(long)]
    test_frac: Option<f64>,
    /// Season length (seasonal naive, MASE, seasonal differencing); 1: no season [default: from the time column's frequency: daily 7, weekly 52, monthly 12, quarterly 4, hourly 24, half-hourly 48, yearly or unknown 1]
    #[arg(long)]
    period: Option<usize>,
    /// Transform of the series: auto (tried on the validation windows), none, diff, seasonal-diff, log, log+diff, log+seasonal-diff
    #[arg(long, default_value = "auto")]
    transform: String,
    /// Model the logarithm of the series (instead of --transform)
    #[arg(long)]
    log: bool,
    /// Model the change from one season before (instead of --transform)
    #[arg(long)]
    seasonal_diff: bool,
    /// Model first differences (instead of --transform)
    #[arg(long)]
    diff: bool,
    /// Prediction interval levels in percent, comma-separated (split-conformal, from the validation errors)
    #[arg(long, value_delimiter = ',', default_value = "80,95")]
    level: Vec<f64>,
    /// Leave the AutoETS baseline out (it is fitted at every origin)
    #[arg(long)]
    no_ets: bool,
    /// rnn, lstm or gru
    #[arg(long, default_value = "gru")]
    cell: String,
    /// Hidden units
    #[arg(long, default_value_t = 32)]
    hidden: usize,
    /// Layers
    #[arg(long, default_value_t = 1)]
    layers: usize,
    /// Maximum passes over the training windows
    #[arg(long, default_value_t = 300)]
    epochs: usize,
    /// Stop after this many optimiser steps instead of --epochs
    #[arg(long, conflicts_with = "time_budget")]
    steps: Option<u64>,
    /// Train for this many seconds instead of --epochs (with --transform auto, shared among the transforms tried)
    #[arg(long)]
    time_budget: Option<f64>,
    /// Epochs (one validation each) without a lower validation loss before stopping; 0 never stops early
    #[arg(long, default_value_t = 40)]
    patience: usize,
    /// Windows per step
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Adam learning rate
    #[arg(long, default_value_t = 3e-3, allow_negative_numbers = true)]
    lr: f64,
    /// Seed
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The flags' choices, checked before anything is opened or read.
struct Asked {
    spec: SeriesSpec,
    /// The transform as (log, seasonal_diff, diff); `None` for auto.
    chosen: Option<(bool, bool, bool)>,
    /// Interval levels as fractions.
    levels: Vec<f64>,
}

impl Asked {
    /// Reads and checks `--delimiter`, `--fill`, the transform flags and `--level`.
    fn of(flags: &RunFlags) -> Result<Asked> {
        let spec = SeriesSpec {
            time: flags.time.clone(),
            target: flags.target.clone().unwrap_or_default(),
            covariates: flags.covariates.clone(),
            future_covariates: flags.future_covariates.clone(),
            delimiter: delimiter(&flags.delimiter)?,
            fill: flags.fill.parse::<Fill>()?,
            open_end: false,
        };
        let chosen = if flags.log || flags.diff || flags.seasonal_diff {
            Some((flags.log, flags.seasonal_diff, flags.diff))
        } else {
            transform(&flags.transform)?
        };
        let levels = flags
            .level
            .iter()
            .map(|&l| if l >= 1.0 { l / 100.0 } else { l })
            .collect();
        if let Some(l) = flags.level.iter().find(|l| !(**l > 0.0 && **l < 100.0)) {
            return Err(Error::Config(format!(
                "--level {l}: expected a coverage in percent between 0 and 100 (e.g. 80,95)"
            )));
        }
        Ok(Asked {
            spec,
            chosen,
            levels,
        })
    }
}

/// The field separator named by `--delimiter`.
pub(super) fn delimiter(text: &str) -> Result<u8> {
    match text {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        t if t.len() == 1 && t.is_ascii() && t != "\"" && t != "\n" => Ok(t.as_bytes()[0]),
        t => Err(Error::Config(format!(
            "--delimiter {t:?}: expected one ASCII character such as ';' or '|', or 'tab'"
        ))),
    }
}

/// The transform named by `--transform` as (log, seasonal_diff, diff); `None` for auto.
fn transform(text: &str) -> Result<Option<(bool, bool, bool)>> {
    let (log, rest) = match text.strip_prefix("log") {
        Some(r) => (true, r.strip_prefix('+').unwrap_or(r)),
        None => (false, text),
    };
    Ok(Some(match rest {
        "auto" if !log => return Ok(None),
        "" if log => (true, false, false),
        "none" if !log => (false, false, false),
        "diff" => (log, false, true),
        "seasonal-diff" => (log, true, false),
        "seasonal-diff+diff" => (log, true, true),
        _ => {
            return Err(Error::Config(format!(
                "--transform {text:?}: expected auto, none, diff, seasonal-diff, log, log+diff or log+seasonal-diff"
            )))
        }
    }))
}

/// The defaults that follow from the series: (test size, period, horizon, lookback).
struct Shape {
    /// The test span of each series, in the panel's order.
    test_sizes: Vec<usize>,
    period: usize,
    horizon: usize,
    lookback: usize,
}

/// The test span of a series of `n` points under `args`: `--test-size`, `--test-frac`, or 10 %
/// of the points, two seasons when more and at most a quarter of the series.
fn test_size(args: &RunFlags, n: usize, period: usize) -> Result<usize> {
    Ok(match (args.test_size, args.test_frac) {
        (Some(k), _) => k,
        (None, Some(f)) => {
            if !(f > 0.0 && f < 1.0) {
                return Err(Error::Config(format!(
                    "--test-frac must be in (0, 1), got {f}"
                )));
            }
            let k = ((n as f64) * f).round().max(1.0) as usize;
            if k + 2 > n {
                return Err(Error::Config(format!(
                    "--test-frac {f} holds out {k} of the series' {n} points, leaving too few to train on"
                )));
            }
            k
        }
        (None, None) => {
            let tenth = ((n as f64) * 0.1).round().max(1.0) as usize;
            let seasons = 2 * period;
            if period > 1 && seasons > tenth && seasons * 4 <= n {
                seasons
            } else {
                tenth
            }
        }
    })
}

/// The test sizes, period, horizon and lookback of `flags` for series of `lengths` points
/// observed at `frequency`, each flag not given taking its default (one horizon and lookback
/// for every series: the shortest test span and training span bound them).
fn shape(args: &RunFlags, lengths: &[usize], frequency: Frequency) -> Result<Shape> {
    let period = args.period.unwrap_or(frequency.period());
    let test_sizes = lengths
        .iter()
        .map(|&n| test_size(args, n, period))
        .collect::<Result<Vec<usize>>>()?;
    let shortest_test = test_sizes.iter().copied().min().unwrap_or(1);
    let horizon = args.horizon.unwrap_or_else(|| {
        let by_frequency = match frequency {
            Frequency::Yearly => 6,
            Frequency::Quarterly => 8,
            Frequency::Weekly => 13,
            Frequency::Daily => 14,
            Frequency::Hourly => 24,
            Frequency::HalfHourly => 48,
            Frequency::QuarterHourly => 96,
            Frequency::Minutely => 60,
            _ => 12,
        };
        by_frequency.min(shortest_test.max(1))
    });
    let lookback = args.lookback.unwrap_or_else(|| {
        let train = lengths
            .iter()
            .zip(&test_sizes)
            .map(|(n, t)| n.saturating_sub(*t))
            .min()
            .unwrap_or(0);
        let cap = (train.saturating_sub(horizon) / 3).max(4);
        24.max(2 * period).min(cap)
    });
    Ok(Shape {
        test_sizes,
        period,
        horizon,
        lookback,
    })
}

/// Runs `recur forecast`.
pub fn run(args: ForecastArgs) -> Result<ExitCode> {
    if let Some(Action::Predict(p)) = args.action {
        return predict::run(p);
    }
    let threads = crate::threads(Some(args.threads))?;
    let (record, asked, mut panel, mut out) = match &args.resume {
        Some(dir) => resumed(dir)?,
        None => fresh(&args.run, args.out.as_deref(), args.overwrite)?,
    };
    let flags = &record.flags;
    let (settings, notes) = settings_for(flags, &mut panel, asked.chosen)?;
    let mut lines = crate::progress::LoopLines::new(args.quiet, "");
    crate::catch_ctrl_c();
    let flag = AtomicBool::new(false);
    let mut observer = crate::progress::Stopping::new(&mut lines, &flag, args.stop_after);
    let job = Job {
        panel: &panel,
        settings: &settings,
        levels: &asked.levels,
        threads: &threads,
        given: asked.chosen.is_some(),
    };
    let mut saver = resume::Saver::new(&mut out, panel.info());
    let outcome = job
        .train(
            &mut saver,
            (&mut observer, &flag),
            (&record, args.resume.is_some()),
        )
        .map_err(|e| {
            crate::with_flags(
                e,
                &[
                    ("hidden_size", "--hidden"),
                    ("num_layers", "--layers"),
                    ("horizon", "--horizon"),
                ],
            )
        })?;
    for note in &notes {
        errln!("{note}");
    }
    let (complete, stopped) = (outcome.complete, outcome.stopped.clone());
    if outcome.given || complete {
        output::finish(
            &mut saver,
            &record,
            &panel,
            outcome,
            (args.json, args.quiet),
        )?;
    } else if saver.has_pending() {
        // Stopped between two transforms: the finished ones are saved.
        saver.save(|_| Ok(()))?;
    }
    if !complete {
        let dir = saver.path().display();
        errln!("{stopped}; checkpoint in {dir} (continue with --resume {dir})");
    }
    Ok(crate::finished())
}

/// The series `flags` name in `csv`: the series of a long file with `--id`, else one.
fn read_data(csv: &Path, flags: &RunFlags, spec: &SeriesSpec) -> Result<Panel> {
    match &flags.id {
        Some(id) => read_panel(csv, spec, id),
        None => Ok(Panel::single(read_series_with(csv, spec)?)),
    }
}

/// A new run: the flags checked, `--out` opened (creating nothing), the CSV read and recorded.
fn fresh(
    flags: &RunFlags,
    out: Option<&Path>,
    overwrite: bool,
) -> Result<(Record, Asked, Panel, RunDir)> {
    let asked = Asked::of(flags)?;
    let out = crate::outdir::open(out, "runs/forecast", overwrite)?;
    let csv = flags
        .csv
        .clone()
        .expect("clap requires --csv without --resume");
    let panel = read_data(&csv, flags, &asked.spec)?;
    let record = Record::fresh(flags, &csv)?;
    Ok((record, asked, panel, out))
}

/// The run saved in `dir`, checked before anything there changes ([`resume::saved`]), its CSV
/// read again.
fn resumed(dir: &Path) -> Result<(Record, Asked, Panel, RunDir)> {
    let record = resume::saved(dir)?;
    let asked = Asked::of(&record.flags)?;
    let panel = read_data(&record.csv, &record.flags, &asked.spec)?;
    let out = RunDir::open(dir, OutPolicy::Resume)?;
    Ok((record, asked, panel, out))
}

/// The settings of the run on the series of `panel` (the flags, and the defaults the series
/// imply; the test span of each series of a long file is set in `panel`), and the notes on the
/// file to print once the run has succeeded (a note on rows out of time order is printed at
/// once).
fn settings_for(
    flags: &RunFlags,
    panel: &mut Panel,
    chosen: Option<(bool, bool, bool)>,
) -> Result<(ForecastSettings, Vec<String>)> {
    let mut notes = Vec::new();
    for (i, series) in panel.series.iter().enumerate() {
        notes.extend(file_notes(flags, series, (&panel.prefix(i), i == 0)));
    }
    let lengths: Vec<usize> = panel.series.iter().map(|s| s.target.len()).collect();
    let sh = shape(flags, &lengths, panel.frequency())?;
    if panel.is_long() {
        panel.test_sizes = sh.test_sizes.clone();
    }
    let calendar = if flags.calendar {
        let features = calendar_features(panel.frequency());
        if features.is_empty() {
            return Err(Error::Config(format!(
                "--calendar: {} data has no calendar features (they need a time column of dates or times, observed quarterly or more often)",
                panel.frequency().name()
            )));
        }
        features
    } else {
        Vec::new()
    };
    let (log, seasonal_diff, diff) = chosen.unwrap_or((false, false, false));
    let settings = ForecastSettings {
        lookback: sh.lookback,
        horizon: sh.horizon,
        test_size: sh.test_sizes[0],
        period: sh.period,
        log,
        seasonal_diff,
        diff,
        val_frac: 0.2,
        cell: flags.cell.parse::<CellType>()?,
        hidden: flags.hidden,
        layers: flags.layers,
        epochs: flags.epochs,
        steps: flags.steps,
        time_budget: flags.time_budget,
        patience: flags.patience,
        batch_size: flags.batch_size,
        lr: flags.lr,
        seed: flags.seed,
        calendar,
        series_identity: panel.is_long() && flags.id_input,
        series_transforms: Vec::new(),
    };
    Ok((settings, notes))
}

/// The time columns of `series` as the notes name them.
fn time_columns(series: &Series) -> String {
    series
        .time_columns
        .iter()
        .map(|c| if c.is_empty() { "'' (unnamed)" } else { c })
        .collect::<Vec<_>>()
        .join(",")
}

/// Notes on how the CSV was read (`prefix` names the series of a long file): rows sorted by
/// time (printed at once), cells filled, rows left out, a time column that gives no period
/// (with `first`: said once for a long file) (returned, to print once the run has succeeded,
/// so that an error stays one line).
fn file_notes(flags: &RunFlags, series: &Series, (prefix, first): (&str, bool)) -> Vec<String> {
    let csv_name = series
        .source
        .as_deref()
        .map_or(String::new(), |p| format!("{}: {prefix}", p.display()));
    if let Some(row) = series.sorted_from {
        errln!(
            "note: {csv_name}the rows are not in time order (row {row} goes back in time); sorted by --time {}",
            time_columns(series)
        );
    }
    let mut notes = Vec::new();
    if series.filled > 0 {
        notes.push(format!(
            "note: {csv_name}{} empty cells filled (--fill {})",
            series.filled, flags.fill
        ));
    }
    if series.dropped > 0 {
        notes.push(format!(
            "note: {csv_name}{} rows with an empty cell left out (--fill drop)",
            series.dropped
        ));
    }
    let frequency = series.frequency;
    if first && flags.period.is_none() && !series.time_columns.is_empty() && frequency.period() == 1
    {
        let why = match frequency {
            Frequency::Yearly => "yearly data".to_string(),
            Frequency::Irregular => format!(
                "the time column {} steps irregularly: the rows are taken in order, one step each",
                time_columns(series)
            ),
            _ => format!(
                "the time column {} reads in none of the known formats (see --help): the rows are taken in order",
                time_columns(series)
            ),
        };
        notes.push(format!(
            "note: {csv_name}{why}; no seasonal period (give --period to set one)"
        ));
    }
    notes
}

/// What to train: the series, its settings and interval levels, and whether the transform was
/// given (else it is chosen among the candidates).
struct Job<'a> {
    panel: &'a Panel,
    settings: &'a ForecastSettings,
    levels: &'a [f64],
    threads: &'a recur::Threads,
    given: bool,
}

/// What training produced: the run kept and its settings, the transforms tried, and whether
/// it ended (else where it stopped).
struct Outcome {
    run: ForecastRun,
    settings: ForecastSettings,
    trials: Vec<TransformTrial>,
    given: bool,
    complete: bool,
    /// Where an incomplete run stopped, for its message.
    stopped: String,
}

impl Job<'_> {
    /// Trains with checkpoints saved by `saver` (continuing the run saved there when `resuming`),
    /// progress through `observer`, and `stop` raised by Ctrl-C or `--stop-after`.
    fn train(
        &self,
        saver: &mut resume::Saver<'_>,
        (observer, stop): (&mut dyn recur::training::Observer, &AtomicBool),
        (record, resuming): (&Record, bool),
    ) -> Result<Outcome> {
        if self.given {
            let (s, levels, threads) = (self.settings, self.levels, self.threads);
            let run = resume::train_saving(
                saver,
                (observer, stop),
                (resuming, record.json(None, false)),
                &mut |control| run_panel(self.panel, s, levels, threads, control),
            )?;
            let (complete, steps) = (!run.summary.interrupted, run.summary.steps);
            return Ok(Outcome {
                run,
                settings: s.clone(),
                trials: Vec::new(),
                given: true,
                complete,
                stopped: format!("stopped at step {steps}"),
            });
        }
        let mut store = resume::RunStore {
            saver,
            progress: (observer, stop),
            record,
            resuming,
            stopped: None,
        };
        let found = run_auto_with(
            self.panel,
            self.settings,
            self.levels,
            self.threads,
            &mut store,
            stop,
        )?;
        let tried = recur::forecast::auto::auto_candidates(self.panel, self.settings).len();
        let stopped = match &store.stopped {
            Some((name, step)) => format!(
                "stopped at step {step} of transform {name} (transform {} of {tried})",
                found.trials.len()
            ),
            None => format!("stopped after {} of {tried} transforms", found.trials.len()),
        };
        Ok(Outcome {
            run: found.run,
            settings: found.settings,
            trials: found.trials,
            given: false,
            complete: found.complete,
            stopped,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Args as _;

    #[test]
    fn every_flag_a_run_keeps_conflicts_with_resume() {
        let mut cmd = super::ForecastArgs::augment_args(clap::Command::new("forecast"));
        cmd.build();
        let resume = cmd
            .get_arguments()
            .find(|a| a.get_id() == "resume")
            .unwrap();
        let conflicts: Vec<String> = cmd
            .get_arg_conflicts_with(resume)
            .iter()
            .map(|a| a.get_id().to_string())
            .collect();
        let run = super::RunFlags::augment_args(clap::Command::new("run"));
        let kept: Vec<String> = run
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        assert!(kept.len() > 20, "{kept:?}");
        for id in kept {
            assert!(
                conflicts.contains(&id),
                "--{id} does not conflict with --resume"
            );
        }
    }
}
