//! What `recur forecast` writes and prints once training ends: the checkpoint with
//! `forecast.csv`, `forecast.svg`, `metrics.json`, `metrics.jsonl` and `loss.svg` in one atomic
//! save, and the table of the methods ranked by MASE (for a long file, [`super::panel_output`]).

use super::resume::{Record, Saver};
use super::{panel_output, Outcome, RunFlags};
use recur::forecast::baselines::auto_ets;
use recur::forecast::pipeline::{transform_name, ForecastSettings, MethodResult, SeriesRun};
use recur::forecast::{Frequency, Panel, Series};
use recur::io::write_atomically;
use recur::Result;

/// Adds the AutoETS baseline (unless `--no-ets`), saves the run directory (the checkpoint, with
/// the run record marked finished when training ended; the forecasts, the report and the
/// losses; the trials waiting to be saved), and prints the results (`json`: the metrics as one JSON object; `quiet`: no summary
/// of training).
///
/// # Errors
/// What saving or printing reports.
pub(super) fn finish(
    out: &mut Saver<'_>,
    record: &Record,
    panel: &Panel,
    mut o: Outcome,
    (json, quiet): (bool, bool),
) -> Result<()> {
    let flags = &record.flags;
    let transform_line = transform_line(&o);
    if !flags.no_ets {
        add_ets(panel, &o.settings, &mut o.run.series);
    }
    let r = &o.run;
    let (csv, report) = if panel.is_long() {
        let csv = panel_output::forecast_csv(panel, &r.series);
        (csv, panel_output::report_json(flags, panel, &o))
    } else {
        let (series, run) = (&panel.series[0], &r.series[0]);
        (forecast_csv(series, run), report_json(flags, series, &o))
    };
    if !quiet {
        errln!("{}", crate::progress::loop_summary(&r.summary, ""));
    }
    let svg = super::plot::forecast_svg(panel, &r.series)?;
    let config = r.config(&o.settings, out.info());
    out.save(|tmp| {
        r.checkpoint(config, record.json(None, o.complete))
            .write(tmp)?;
        write_atomically(&tmp.join("forecast.csv"), csv.as_bytes())?;
        write_atomically(&tmp.join("forecast.svg"), svg.as_bytes())?;
        let json = serde_json::to_string_pretty(&report).expect("report serialises");
        write_atomically(&tmp.join("metrics.json"), format!("{json}\n").as_bytes())?;
        let s = &r.summary;
        write_atomically(&tmp.join("metrics.jsonl"), s.metrics_jsonl().as_bytes())?;
        let chart = s.loss_chart("Forecaster: loss", "mean squared error (scaled units)");
        write_atomically(&tmp.join("loss.svg"), chart.to_svg()?.as_bytes())
    })?;
    if json {
        outln!("{}", report["metrics"])?;
        return Ok(());
    }
    let where_from = period_source(flags, panel.frequency());
    let lines = (where_from.as_str(), transform_line.as_str());
    if panel.is_long() {
        return panel_output::print_table(panel, &o, lines, out.path());
    }
    print_table(&panel.series[0], &o, lines, out.path())
}

/// Where the period comes from, for the printed line.
fn period_source(flags: &RunFlags, frequency: Frequency) -> String {
    match (flags.period, frequency) {
        (Some(_), _) => "--period".to_string(),
        (None, Frequency::Unknown) => "no time stamps".to_string(),
        (None, f) => format!("{} data", f.name()),
    }
}

/// The transform and, when it was chosen, every transform tried with its validation MAE.
fn transform_line(o: &Outcome) -> String {
    if o.trials.is_empty() {
        return format!("transform {} (given)", transform_name(&o.settings));
    }
    let tried: Vec<String> = o
        .trials
        .iter()
        .map(|t| match t.val_mae {
            Some(v) => format!("{} {v:.4}", t.name),
            None => format!("{} (too short)", t.name),
        })
        .collect();
    format!(
        "transform {} (chosen on the validation windows by MAE: {})",
        transform_name(&o.settings),
        tried.join(", ")
    )
}

/// `forecast.csv`: per test point its time, the truth, each method's forecast and each
/// interval's bounds.
fn forecast_csv(series: &Series, r: &SeriesRun) -> String {
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
    csv
}

/// The methods, best MASE first.
pub(super) fn ranking(r: &SeriesRun) -> Vec<&MethodResult> {
    let mut ranking: Vec<&MethodResult> = r.results.iter().collect();
    ranking.sort_by(|a, b| a.metrics.mase.total_cmp(&b.metrics.mase));
    ranking
}

/// `metrics.json`: the inputs, the settings and transform (and the transforms tried), every
/// method's metrics and their ranking, the intervals' scores.
fn report_json(flags: &RunFlags, series: &Series, o: &Outcome) -> serde_json::Value {
    let r = &o.run.series[0];
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
    let intervals: Vec<serde_json::Value> = r
        .intervals
        .iter()
        .map(|iv| serde_json::json!({"level": iv.level, "coverage": iv.coverage, "msis": iv.msis}))
        .collect();
    let csv = flags.csv.as_deref().map(|p| p.display().to_string());
    serde_json::json!({
        "csv": csv,
        "target": flags.target,
        "test_points": series.target.len() - r.test_start,
        "test_start": series.times[r.test_start],
        "epochs": o.run.epochs,
        "frequency": series.frequency.name(),
        "period": o.settings.period,
        "transform": transform_name(&o.settings),
        "transform_trials": o.trials,
        "settings": o.settings,
        "metrics": metrics,
        "ranking_by_mase": ranking(r).iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
        "intervals": intervals,
        "validation_mae": o.run.val_mae,
    })
}

/// The results as people read them: the series' span, the period, horizon, lookback and
/// transform, the methods by MASE, the intervals' scores, and where the outputs are.
fn print_table(
    series: &Series,
    o: &Outcome,
    (period_source, transform_line): (&str, &str),
    out: &std::path::Path,
) -> Result<()> {
    let (r, s) = (&o.run.series[0], &o.settings);
    outln!(
        "{} points, test span {} points from {} (epochs trained: {})",
        series.target.len(),
        series.target.len() - r.test_start,
        series.times[r.test_start],
        o.run.epochs
    )?;
    outln!(
        "period {} ({period_source}), horizon {}, lookback {}; {transform_line}",
        s.period,
        s.horizon,
        s.lookback
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
    for m in ranking(r) {
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
        out.display()
    )?;
    Ok(())
}

/// A level as a percentage for names (`0.8` → `80`, `0.975` → `97.5`).
pub(super) fn percent(level: f64) -> String {
    let p = (level * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p}")
    }
}

/// Adds the AutoETS baseline ([`recur::forecast::baselines::auto_ets`]) to every series, fitted
/// at each of its rolling origins; left out of every series, with a note, when no model fits
/// at some origin of one.
fn add_ets(panel: &Panel, s: &ForecastSettings, runs: &mut [SeriesRun]) {
    let mut found = Vec::with_capacity(runs.len());
    for (i, r) in runs.iter().enumerate() {
        match ets_forecast(&panel.series[i].target, s, r.test_start) {
            Some(f) => found.push(f),
            None => {
                errln!(
                    "note: {}AutoETS fits no model on the history before the test span; left out",
                    panel.prefix(i)
                );
                return;
            }
        }
    }
    for (r, (i, forecast)) in runs.iter_mut().zip(found.into_iter().enumerate()) {
        let y = &panel.series[i].target;
        let metrics = recur::forecast::metrics(&y[r.test_start..], &forecast, r.scale);
        r.results.push(MethodResult {
            name: "ets".into(),
            forecast,
            metrics,
        });
    }
}

/// AutoETS fitted at each rolling origin of the test span from `test_start`; `None` when no
/// model fits at some origin.
fn ets_forecast(y: &[f64], s: &ForecastSettings, test_start: usize) -> Option<Vec<f64>> {
    let n = y.len();
    let mut forecast = Vec::with_capacity(n - test_start);
    let mut origin = test_start;
    while origin < n {
        let h = s.horizon.min(n - origin);
        forecast.extend(auto_ets(&y[..origin], h, s.period)?);
        origin += s.horizon;
    }
    Some(forecast)
}
