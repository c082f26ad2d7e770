//! `recur forecast`: train a forecaster on a CSV series and score it, with the naive,
//! seasonal-naive, drift and AutoETS baselines and split-conformal intervals, on the held-out
//! end of the series.

use clap::Args;
use recur::forecast::baselines::auto_ets;
use recur::forecast::pipeline::{
    run_auto, run_with_levels as forecast, transform_name, ForecastRun, ForecastSettings,
    MethodResult,
};
use recur::forecast::{read_series_with, Fill, Frequency, SeriesSpec};
use recur::io::{write_atomically, write_safetensors};
use recur::{CellType, Error, Result};
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `recur forecast`.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct ForecastArgs {
    /// CSV file with a header row
    #[arg(long)]
    csv: PathBuf,
    /// Column to forecast
    #[arg(long)]
    target: String,
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
    /// Worker threads
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Output directory: forecast.csv, forecast.svg, metrics.json, metrics.jsonl, loss.svg, the model [default: runs/forecast, numbered (runs/forecast-2, …) when that holds a run]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Let this run replace the files of an earlier run in --out (files recur did not write are kept)
    #[arg(long)]
    overwrite: bool,
    /// Print the metrics as one JSON object
    #[arg(long)]
    json: bool,
    /// No progress lines
    #[arg(long)]
    quiet: bool,
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

fn shape(args: &ForecastArgs, n: usize, frequency: Frequency) -> Result<Shape> {
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
    let spec = SeriesSpec {
        time: args.time.clone(),
        target: args.target.clone(),
        covariates: args.covariates.clone(),
        delimiter: delimiter(&args.delimiter)?,
        fill: args.fill.parse::<Fill>()?,
    };
    let explicit = args.log || args.diff || args.seasonal_diff;
    let chosen = if explicit {
        Some((args.log, args.seasonal_diff, args.diff))
    } else {
        transform(&args.transform)?
    };
    let levels: Vec<f64> = args
        .level
        .iter()
        .map(|&l| if l >= 1.0 { l / 100.0 } else { l })
        .collect();
    if let Some(l) = args.level.iter().find(|l| !(**l > 0.0 && **l < 100.0)) {
        return Err(Error::Config(format!(
            "--level {l}: expected a coverage in percent between 0 and 100 (e.g. 80,95)"
        )));
    }
    let mut out = crate::outdir::open(args.out.as_deref(), "runs/forecast", args.overwrite)?;
    let series = read_series_with(&args.csv, &spec)?;
    let csv_name = args.csv.display();
    let time_columns: String = series
        .time_columns
        .iter()
        .map(|c| if c.is_empty() { "'' (unnamed)" } else { c })
        .collect::<Vec<_>>()
        .join(",");
    if let Some(row) = series.sorted_from {
        errln!(
            "note: {csv_name}: the rows are not in time order (row {row} goes back in time); sorted by --time {}",
            time_columns
        );
    }
    // Notes printed once the run has succeeded, so that an error stays one line.
    let mut notes = Vec::new();
    if series.filled > 0 {
        notes.push(format!(
            "note: {csv_name}: {} empty cells filled (--fill {})",
            series.filled, args.fill
        ));
    }
    if series.dropped > 0 {
        notes.push(format!(
            "note: {csv_name}: {} rows with an empty cell left out (--fill drop)",
            series.dropped
        ));
    }
    let n = series.target.len();
    let frequency = series.frequency;
    if args.period.is_none() && !series.time_columns.is_empty() && frequency.period() == 1 {
        let why = match frequency {
            Frequency::Yearly => "yearly data".to_string(),
            Frequency::Irregular => format!(
                "the time column {} steps irregularly: the rows are taken in order, one step each",
                time_columns
            ),
            _ => format!(
                "the time column {} reads in none of the known formats (see --help): the rows are taken in order",
                time_columns
            ),
        };
        notes.push(format!(
            "note: {csv_name}: {why}; no seasonal period (give --period to set one)"
        ));
    }
    let sh = shape(&args, n, frequency)?;
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
        cell: args.cell.parse::<CellType>()?,
        hidden: args.hidden,
        layers: args.layers,
        epochs: args.epochs,
        steps: args.steps,
        time_budget: args.time_budget,
        patience: args.patience,
        batch_size: args.batch_size,
        lr: args.lr,
        seed: args.seed,
    };
    let period_source = match (args.period, frequency) {
        (Some(_), _) => "--period".to_string(),
        (None, Frequency::Unknown) => "no time stamps".to_string(),
        (None, f) => format!("{} data", f.name()),
    };
    let mut lines = crate::progress::LoopLines::new(args.quiet, "");
    crate::catch_ctrl_c();
    let flags = |e| {
        crate::with_flags(
            e,
            &[
                ("hidden_size", "--hidden"),
                ("num_layers", "--layers"),
                ("horizon", "--horizon"),
            ],
        )
    };
    let (mut r, settings, trials) = match chosen {
        Some(_) => {
            let r = forecast(
                &series,
                &settings,
                &levels,
                &threads,
                &mut lines,
                &crate::STOP,
            )
            .map_err(flags)?;
            (r, settings, Vec::new())
        }
        None => run_auto(
            &series,
            &settings,
            &levels,
            &threads,
            &mut lines,
            &crate::STOP,
        )
        .map_err(flags)?,
    };
    for note in &notes {
        errln!("{note}");
    }
    let transform_line = if trials.is_empty() {
        format!("transform {} (given)", transform_name(&settings))
    } else {
        let tried: Vec<String> = trials
            .iter()
            .map(|t| match t.val_mae {
                Some(v) => format!("{} {v:.4}", t.name),
                None => format!("{} (too short)", t.name),
            })
            .collect();
        format!(
            "transform {} (chosen on the validation windows by MAE: {})",
            transform_name(&settings),
            tried.join(", ")
        )
    };
    if !args.no_ets {
        add_ets(&series.target, &settings, &mut r);
    }
    let truth = &series.target[r.test_start..];
    let times = &series.times[r.test_start..];
    let mut csv = String::from("time,actual");
    for m in &r.results {
        csv += &format!(",{}", m.name);
    }
    for iv in &r.intervals {
        let p = percent(iv.level);
        csv += &format!(",lower_{p},upper_{p}");
    }
    csv.push('\n');
    for (i, t) in times.iter().enumerate() {
        csv += &format!("{t},{}", truth[i]);
        for m in &r.results {
            csv += &format!(",{:.4}", m.forecast[i]);
        }
        for iv in &r.intervals {
            csv += &format!(",{:.4},{:.4}", iv.lower[i], iv.upper[i]);
        }
        csv.push('\n');
    }
    let metrics: serde_json::Map<String, serde_json::Value> = r
        .results
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                serde_json::to_value(m.metrics).expect("metrics serialise"),
            )
        })
        .collect();
    let mut ranking: Vec<&MethodResult> = r.results.iter().collect();
    ranking.sort_by(|a, b| a.metrics.mase.total_cmp(&b.metrics.mase));
    let intervals: Vec<serde_json::Value> = r
        .intervals
        .iter()
        .map(|iv| serde_json::json!({"level": iv.level, "coverage": iv.coverage, "msis": iv.msis}))
        .collect();
    let report = serde_json::json!({
        "csv": args.csv.display().to_string(),
        "target": args.target,
        "test_points": truth.len(),
        "test_start": series.times[r.test_start],
        "epochs": r.epochs,
        "frequency": frequency.name(),
        "period": settings.period,
        "transform": transform_name(&settings),
        "transform_trials": trials,
        "settings": settings,
        "metrics": metrics,
        "ranking_by_mase": ranking.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
        "intervals": intervals,
        "validation_mae": r.val_mae,
    });
    if !args.quiet {
        errln!("{}", crate::progress::loop_summary(&r.summary, ""));
    }
    let svg = plot(&args.target, &series.target, &r)?;
    out.save(|tmp| {
        write_atomically(&tmp.join("forecast.csv"), csv.as_bytes())?;
        write_atomically(&tmp.join("forecast.svg"), svg.as_bytes())?;
        let json = serde_json::to_string_pretty(&report).expect("report serialises");
        write_atomically(&tmp.join("metrics.json"), format!("{json}\n").as_bytes())?;
        let config = serde_json::json!({"format": "recur", "version": 1, "task": "forecast",
            "model": r.model.config(), "settings": settings, "scaling": r.scaling,
            "frequency": frequency.name(), "period": settings.period,
            "transform": transform_name(&settings), "conformal": r.conformal});
        write_atomically(&tmp.join("config.json"), format!("{config:#}\n").as_bytes())?;
        write_safetensors(tmp.join("model.safetensors"), &r.model.named_tensors())?;
        let s = &r.summary;
        write_atomically(&tmp.join("metrics.jsonl"), s.metrics_jsonl().as_bytes())?;
        let chart = s.loss_chart("Forecaster: loss", "mean squared error (scaled units)");
        write_atomically(&tmp.join("loss.svg"), chart.to_svg()?.as_bytes())
    })?;
    if args.json {
        outln!("{}", serde_json::Value::Object(metrics))?;
    } else {
        outln!(
            "{} points, test span {} points from {} (epochs trained: {})",
            n,
            truth.len(),
            series.times[r.test_start],
            r.epochs
        )?;
        outln!(
            "period {} ({period_source}), horizon {}, lookback {}; {transform_line}",
            settings.period,
            settings.horizon,
            settings.lookback
        )?;
        outln!(
            "{:<16}{:>12}{:>12}{:>10}{:>10}{:>8}",
            "method (by MASE)",
            "MAE",
            "RMSE",
            "MAPE %",
            "sMAPE %",
            "MASE"
        )?;
        for m in &ranking {
            let x = m.metrics;
            outln!(
                "{:<16}{:>12.3}{:>12.3}{:>10.2}{:>10.2}{:>8.3}",
                m.name,
                x.mae,
                x.rmse,
                x.mape,
                x.smape,
                x.mase
            )?;
        }
        for iv in &r.intervals {
            outln!(
                "model {}% interval: coverage {:.1} % of the test points, MSIS {:.3}",
                percent(iv.level),
                100.0 * iv.coverage,
                iv.msis
            )?;
        }
        outln!(
            "outputs: {}/forecast.csv, forecast.svg, metrics.json",
            out.path().display()
        )?;
    }
    Ok(crate::finished())
}

/// A level as a percentage for names (`0.8` → `80`, `0.975` → `97.5`).
fn percent(level: f64) -> String {
    let p = (level * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p}")
    }
}

/// Adds the AutoETS baseline ([`recur::forecast::baselines::auto_ets`]), fitted at each of the
/// run's rolling origins; left out, with a note, when no model fits at some origin.
fn add_ets(y: &[f64], s: &ForecastSettings, r: &mut ForecastRun) {
    let n = y.len();
    let mut forecast = Vec::with_capacity(n - r.test_start);
    let mut origin = r.test_start;
    while origin < n {
        let h = s.horizon.min(n - origin);
        match auto_ets(&y[..origin], h, s.period) {
            Some(f) => forecast.extend(f),
            None => {
                errln!("note: AutoETS fits no model on the history before the test span; left out");
                return;
            }
        }
        origin += s.horizon;
    }
    let metrics = recur::forecast::metrics(&y[r.test_start..], &forecast, r.scale);
    r.results.push(MethodResult {
        name: "ets".into(),
        forecast,
        metrics,
    });
}

/// History, test truth, the model's forecast and its widest interval as a band, against the
/// point index, as an SVG chart; a long history is cut to the three test spans before the test.
fn plot(target: &str, y: &[f64], r: &ForecastRun) -> Result<String> {
    let test_start = r.test_start;
    let from = test_start.saturating_sub(3 * (y.len() - test_start).max(24));
    let at = |start: usize, v: &[f64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, &v)| ((start + i) as f64, v))
            .collect()
    };
    let bands: Vec<recur::plot::Band> = r
        .intervals
        .iter()
        .rev()
        .map(|iv| recur::plot::Band {
            name: format!("{} % interval", percent(iv.level)),
            points: (0..iv.lower.len())
                .map(|i| ((test_start + i) as f64, iv.lower[i], iv.upper[i]))
                .collect(),
        })
        .collect();
    recur::plot::LineChart {
        title: format!("Forecast of {target}"),
        x_label: "time step (rows of the CSV, in time order)".into(),
        y_label: target.into(),
        lines: vec![
            recur::plot::Line::new("history", at(from, &y[from..test_start])),
            recur::plot::Line::new("test truth", at(test_start, &y[test_start..])),
            recur::plot::Line::new("forecast", at(test_start, &r.results[0].forecast)),
        ],
        marker_x: Some(test_start as f64),
    }
    .to_svg_with_bands(&bands)
}
