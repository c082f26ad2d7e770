//! `recur forecast`: train a forecaster on a CSV series and score it, with the naive,
//! seasonal-naive and drift baselines, on the held-out end of the series.

use clap::Args;
use recur::forecast::pipeline::{run as forecast, ForecastSettings};
use recur::forecast::read_series;
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
    /// Columns that label a row, comma-separated (e.g. year,month)
    #[arg(long, value_delimiter = ',')]
    time: Vec<String>,
    /// Further numeric columns fed to the model, comma-separated
    #[arg(long, value_delimiter = ',')]
    covariates: Vec<String>,
    /// Steps of history the model sees
    #[arg(long, default_value_t = 24)]
    lookback: usize,
    /// Steps predicted from each origin (direct multi-output)
    #[arg(long, default_value_t = 12)]
    horizon: usize,
    /// Points held out at the end as the test span
    #[arg(long, conflicts_with = "test_frac")]
    test_size: Option<usize>,
    /// Fraction of the points held out at the end [default: 0.1]
    #[arg(long)]
    test_frac: Option<f64>,
    /// Season length (seasonal naive, MASE, --seasonal-diff)
    #[arg(long, default_value_t = 12)]
    period: usize,
    /// Model the logarithm of the series
    #[arg(long)]
    log: bool,
    /// Model the change from one season before
    #[arg(long)]
    seasonal_diff: bool,
    /// Model first differences
    #[arg(long)]
    diff: bool,
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
    /// Train for this many seconds instead of --epochs
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

/// Runs `recur forecast`.
pub fn run(args: ForecastArgs) -> Result<ExitCode> {
    let threads = crate::threads(Some(args.threads))?;
    let mut out = crate::outdir::open(args.out.as_deref(), "runs/forecast", args.overwrite)?;
    let series = read_series(&args.csv, &args.time, &args.target, &args.covariates)?;
    if let Some(row) = series.sorted_from {
        errln!(
            "note: {}: the rows are not in time order (row {row} goes back in time); sorted by --time {}",
            args.csv.display(),
            args.time.join(",")
        );
    }
    let n = series.target.len();
    let test_size = match (args.test_size, args.test_frac) {
        (Some(k), _) => k,
        (None, f) => {
            let f = f.unwrap_or(0.1);
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
    };
    let settings = ForecastSettings {
        lookback: args.lookback,
        horizon: args.horizon,
        test_size,
        period: args.period,
        log: args.log,
        seasonal_diff: args.seasonal_diff,
        diff: args.diff,
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
    let mut lines = crate::progress::LoopLines::new(args.quiet, "");
    crate::catch_ctrl_c();
    let r = forecast(&series, &settings, &threads, &mut lines, &crate::STOP).map_err(|e| {
        crate::with_flags(
            e,
            &[
                ("hidden_size", "--hidden"),
                ("num_layers", "--layers"),
                ("horizon", "--horizon"),
            ],
        )
    })?;
    let truth = &series.target[r.test_start..];
    let times = &series.times[r.test_start..];
    let mut csv = String::from("time,actual");
    for m in &r.results {
        csv += &format!(",{}", m.name);
    }
    csv.push('\n');
    for (i, t) in times.iter().enumerate() {
        csv += &format!("{t},{}", truth[i]);
        for m in &r.results {
            csv += &format!(",{:.4}", m.forecast[i]);
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
    let report = serde_json::json!({
        "csv": args.csv.display().to_string(),
        "target": args.target,
        "test_points": truth.len(),
        "test_start": series.times[r.test_start],
        "epochs": r.epochs,
        "settings": settings,
        "metrics": metrics,
    });
    if !args.quiet {
        errln!("{}", crate::progress::loop_summary(&r.summary, ""));
    }
    let svg = plot(
        &args.target,
        &series.target,
        r.test_start,
        &r.results[0].forecast,
    )?;
    out.save(|tmp| {
        write_atomically(&tmp.join("forecast.csv"), csv.as_bytes())?;
        write_atomically(&tmp.join("forecast.svg"), svg.as_bytes())?;
        let json = serde_json::to_string_pretty(&report).expect("report serialises");
        write_atomically(&tmp.join("metrics.json"), format!("{json}\n").as_bytes())?;
        let config = serde_json::json!({"format": "recur", "version": 1, "task": "forecast",
            "model": r.model.config(), "settings": settings, "scaling": r.scaling});
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
            "{:<16}{:>12}{:>12}{:>10}{:>10}{:>8}",
            "method",
            "MAE",
            "RMSE",
            "MAPE %",
            "sMAPE %",
            "MASE"
        )?;
        for m in &r.results {
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
        outln!(
            "outputs: {}/forecast.csv, forecast.svg, metrics.json",
            out.path().display()
        )?;
    }
    Ok(crate::finished())
}

/// History, test truth and the model's forecast against the point index, as an SVG chart.
fn plot(target: &str, y: &[f64], test_start: usize, forecast: &[f64]) -> Result<String> {
    let at = |from: usize, v: &[f64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, &v)| ((from + i) as f64, v))
            .collect()
    };
    recur::plot::LineChart {
        title: format!("Forecast of {target}"),
        x_label: "time step (rows of the CSV, in time order)".into(),
        y_label: target.into(),
        lines: vec![
            recur::plot::Line::new("history", at(0, &y[..test_start])),
            recur::plot::Line::new("test truth", at(test_start, &y[test_start..])),
            recur::plot::Line::new("forecast", at(test_start, forecast)),
        ],
        marker_x: Some(test_start as f64),
    }
    .to_svg()
}
