//! `recur forecast`: train a forecaster on a CSV series and score it, with the naive,
//! seasonal-naive, drift and AutoETS baselines and split-conformal intervals, on the held-out
//! end of the series. The run checkpoints into its directory as it trains, so that
//! `--resume DIR` continues an interrupted run (Ctrl-C, `--stop-after`) bit for bit.

mod output;
mod resume;

use clap::Args;
use recur::forecast::auto::run_auto_with;
use recur::forecast::pipeline::{run_with_control, ForecastRun, ForecastSettings, TransformTrial};
use recur::forecast::{read_series_with, Fill, Frequency, Series, SeriesSpec};
use recur::rundir::{OutPolicy, RunDir};
use recur::{CellType, Error, Result};
use resume::Record;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

/// Flags of `recur forecast`.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct ForecastArgs {
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
    #[arg(long, conflicts_with_all = ["csv", "target", "time", "covariates", "delimiter", "fill", "lookback", "horizon", "test_size", "test_frac", "period", "transform", "log", "seasonal_diff", "diff", "level", "no_ets", "cell", "hidden", "layers", "epochs", "steps", "time_budget", "patience", "batch_size", "lr", "seed", "out", "overwrite"])]
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
            delimiter: delimiter(&flags.delimiter)?,
            fill: flags.fill.parse::<Fill>()?,
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
fn delimiter(text: &str) -> Result<u8> {
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
    test_size: usize,
    period: usize,
    horizon: usize,
    lookback: usize,
}

/// The test size, period, horizon and lookback of `flags` for a series of `n` points observed at
/// `frequency`, each flag not given taking its default.
fn shape(args: &RunFlags, n: usize, frequency: Frequency) -> Result<Shape> {
    let period = args.period.unwrap_or(frequency.period());
    let test_size = match (args.test_size, args.test_frac) {
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
    };
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
        by_frequency.min(test_size.max(1))
    });
    let lookback = args.lookback.unwrap_or_else(|| {
        let train = n.saturating_sub(test_size);
        let cap = (train.saturating_sub(horizon) / 3).max(4);
        24.max(2 * period).min(cap)
    });
    Ok(Shape {
        test_size,
        period,
        horizon,
        lookback,
    })
}

/// Runs `recur forecast`.
pub fn run(args: ForecastArgs) -> Result<ExitCode> {
    let threads = crate::threads(Some(args.threads))?;
    let (record, asked, series, mut out) = match &args.resume {
        Some(dir) => resumed(dir)?,
        None => fresh(&args.run, args.out.as_deref(), args.overwrite)?,
    };
    let flags = &record.flags;
    let (settings, notes) = settings_for(flags, &series, asked.chosen)?;
    let mut lines = crate::progress::LoopLines::new(args.quiet, "");
    crate::catch_ctrl_c();
    let flag = AtomicBool::new(false);
    let mut observer = crate::progress::Stopping::new(&mut lines, &flag, args.stop_after);
    let job = Job {
        series: &series,
        settings: &settings,
        levels: &asked.levels,
        threads: &threads,
        given: asked.chosen.is_some(),
    };
    let mut saver = resume::Saver::new(&mut out, series.frequency);
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
            &series,
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

/// A new run: the flags checked, `--out` opened (creating nothing), the CSV read and recorded.
fn fresh(
    flags: &RunFlags,
    out: Option<&Path>,
    overwrite: bool,
) -> Result<(Record, Asked, Series, RunDir)> {
    let asked = Asked::of(flags)?;
    let out = crate::outdir::open(out, "runs/forecast", overwrite)?;
    let csv = flags
        .csv
        .clone()
        .expect("clap requires --csv without --resume");
    let series = read_series_with(&csv, &asked.spec)?;
    let record = Record::fresh(flags, &csv)?;
    Ok((record, asked, series, out))
}

/// The run saved in `dir`, checked before anything there changes ([`resume::saved`]), its CSV
/// read again.
fn resumed(dir: &Path) -> Result<(Record, Asked, Series, RunDir)> {
    let record = resume::saved(dir)?;
    let asked = Asked::of(&record.flags)?;
    let series = read_series_with(&record.csv, &asked.spec)?;
    let out = RunDir::open(dir, OutPolicy::Resume)?;
    Ok((record, asked, series, out))
}

/// The settings of the run on `series` (the flags, and the defaults the series implies), and
/// the notes on the file to print once the run has succeeded (a note on rows out of time order
/// is printed at once).
fn settings_for(
    flags: &RunFlags,
    series: &Series,
    chosen: Option<(bool, bool, bool)>,
) -> Result<(ForecastSettings, Vec<String>)> {
    let notes = file_notes(flags, series);
    let sh = shape(flags, series.target.len(), series.frequency)?;
    let (log, seasonal_diff, diff) = chosen.unwrap_or((false, false, false));
    let settings = ForecastSettings {
        lookback: sh.lookback,
        horizon: sh.horizon,
        test_size: sh.test_size,
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

/// Notes on how the CSV was read: rows sorted by time (printed at once), cells filled, rows
/// left out, a time column that gives no period (returned, to print once the run has
/// succeeded, so that an error stays one line).
fn file_notes(flags: &RunFlags, series: &Series) -> Vec<String> {
    let csv_name = series
        .source
        .as_deref()
        .map_or(String::new(), |p| p.display().to_string());
    if let Some(row) = series.sorted_from {
        errln!(
            "note: {csv_name}: the rows are not in time order (row {row} goes back in time); sorted by --time {}",
            time_columns(series)
        );
    }
    let mut notes = Vec::new();
    if series.filled > 0 {
        notes.push(format!(
            "note: {csv_name}: {} empty cells filled (--fill {})",
            series.filled, flags.fill
        ));
    }
    if series.dropped > 0 {
        notes.push(format!(
            "note: {csv_name}: {} rows with an empty cell left out (--fill drop)",
            series.dropped
        ));
    }
    let frequency = series.frequency;
    if flags.period.is_none() && !series.time_columns.is_empty() && frequency.period() == 1 {
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
            "note: {csv_name}: {why}; no seasonal period (give --period to set one)"
        ));
    }
    notes
}

/// What to train: the series, its settings and interval levels, and whether the transform was
/// given (else it is chosen among the candidates).
struct Job<'a> {
    series: &'a Series,
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
                &mut |control| run_with_control(self.series, s, levels, threads, control),
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
            self.series,
            self.settings,
            self.levels,
            self.threads,
            &mut store,
            stop,
        )?;
        let tried = recur::forecast::auto::auto_candidates(self.series, self.settings).len();
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
