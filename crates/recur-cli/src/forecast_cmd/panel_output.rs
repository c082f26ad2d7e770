//! What `recur forecast --id COLUMN` writes and prints: `forecast.csv` with an `id` column,
//! `metrics.json` with the mean over the series and a section per series, and the tables of the
//! methods by mean MASE and of each series' MASE.

use super::output::{percent, ranking};
use super::{Outcome, RunFlags};
use recur::forecast::pipeline::SeriesRun;
use recur::forecast::{ForecastMetrics, Panel};
use recur::Result;

/// `forecast.csv`: per series and test point its id, time, the truth, each method's forecast
/// and each interval's bounds.
pub(super) fn forecast_csv(panel: &Panel, runs: &[SeriesRun]) -> String {
    let mut csv = String::from("id,time,actual");
    for m in &runs[0].results {
        csv += &format!(",{}", m.name);
    }
    for iv in &runs[0].intervals {
        let p = percent(iv.level);
        csv += &format!(",lower_{p},upper_{p}");
    }
    csv.push('\n');
    for ((id, series), r) in panel.ids.iter().zip(&panel.series).zip(runs) {
        let truth = &series.target[r.test_start..];
        for (i, t) in series.times[r.test_start..].iter().enumerate() {
            csv += &format!("{},{t},{}", quoted(id), truth[i]);
            for m in &r.results {
                csv += &format!(",{:.4}", m.forecast[i]);
            }
            for iv in &r.intervals {
                csv += &format!(",{:.4},{:.4}", iv.lower[i], iv.upper[i]);
            }
            csv.push('\n');
        }
    }
    csv
}

/// `id` as a CSV field: quoted when it holds a comma, a quote or a line break.
pub(super) fn quoted(id: &str) -> String {
    if id.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", id.replace('"', "\"\""))
    } else {
        id.to_string()
    }
}

/// The mean of each metric of method `k` over the series.
fn mean_metrics(runs: &[SeriesRun], k: usize) -> ForecastMetrics {
    let n = runs.len() as f64;
    let mean = |f: fn(&ForecastMetrics) -> f64| {
        runs.iter().map(|r| f(&r.results[k].metrics)).sum::<f64>() / n
    };
    ForecastMetrics {
        mae: mean(|m| m.mae),
        rmse: mean(|m| m.rmse),
        mape: mean(|m| m.mape),
        smape: mean(|m| m.smape),
        mase: mean(|m| m.mase),
    }
}

/// The methods with their mean metrics over the series, best mean MASE first.
fn aggregate(runs: &[SeriesRun]) -> Vec<(String, ForecastMetrics)> {
    let mut out: Vec<(String, ForecastMetrics)> = runs[0]
        .results
        .iter()
        .enumerate()
        .map(|(k, m)| (m.name.clone(), mean_metrics(runs, k)))
        .collect();
    out.sort_by(|a, b| a.1.mase.total_cmp(&b.1.mase));
    out
}

/// Per interval level, the mean coverage and MSIS over the series.
fn mean_intervals(runs: &[SeriesRun]) -> Vec<serde_json::Value> {
    let n = runs.len() as f64;
    (0..runs[0].intervals.len())
        .map(|k| {
            let coverage = runs.iter().map(|r| r.intervals[k].coverage).sum::<f64>() / n;
            let msis = runs.iter().map(|r| r.intervals[k].msis).sum::<f64>() / n;
            serde_json::json!({"level": runs[0].intervals[k].level, "coverage": coverage, "msis": msis})
        })
        .collect()
}

/// `metrics.json` of a long file: the inputs, settings and transform (and the transforms
/// tried); `metrics`, `ranking_by_mase` and `intervals` as means over the series; and `series`,
/// one section per series as a single-series run reports it.
pub(super) fn report_json(flags: &RunFlags, panel: &Panel, o: &Outcome) -> serde_json::Value {
    let runs = &o.run.series;
    let agg = aggregate(runs);
    let metrics: serde_json::Map<String, serde_json::Value> = agg
        .iter()
        .map(|(name, m)| {
            (
                name.clone(),
                serde_json::to_value(m).expect("metrics serialise"),
            )
        })
        .collect();
    let series: Vec<serde_json::Value> = panel
        .series
        .iter()
        .zip(runs)
        .map(|(s, r)| {
            let metrics: serde_json::Map<String, serde_json::Value> = r
                .results
                .iter()
                .map(|m| (m.name.clone(), serde_json::to_value(m.metrics).expect("metrics serialise")))
                .collect();
            let intervals: Vec<serde_json::Value> = r
                .intervals
                .iter()
                .map(|iv| serde_json::json!({"level": iv.level, "coverage": iv.coverage, "msis": iv.msis}))
                .collect();
            serde_json::json!({
                "id": r.id,
                "points": s.target.len(),
                "test_points": s.target.len() - r.test_start,
                "test_start": s.times[r.test_start],
                "metrics": metrics,
                "ranking_by_mase": ranking(r).iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
                "intervals": intervals,
                "validation_mae": r.val_mae,
            })
        })
        .collect();
    let csv = flags.csv.as_deref().map(|p| p.display().to_string());
    serde_json::json!({
        "csv": csv,
        "target": flags.target,
        "id_column": panel.id_column,
        "series_count": runs.len(),
        "epochs": o.run.epochs,
        "frequency": panel.frequency().name(),
        "period": o.settings.period,
        "transform": recur::forecast::pipeline::transform_name(&o.settings),
        "transform_trials": o.trials,
        "settings": o.settings,
        "metrics": metrics,
        "metrics_are": "means over the series",
        "ranking_by_mase": agg.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        "intervals": mean_intervals(runs),
        "validation_scaled_mae": o.run.val_mae,
        "series": series,
    })
}

/// The results of a long file as people read them: the series and their spans, the period,
/// horizon, lookback and transform, the methods by mean MASE (with mean sMAPE), each series'
/// MASE per method, the intervals' mean scores, and where the outputs are.
pub(super) fn print_table(
    panel: &Panel,
    o: &Outcome,
    (period_source, transform_line): (&str, &str),
    out: &std::path::Path,
) -> Result<()> {
    let (runs, s) = (&o.run.series, &o.settings);
    let points: usize = panel.series.iter().map(|x| x.target.len()).sum();
    let tests: Vec<usize> = panel
        .series
        .iter()
        .zip(runs)
        .map(|(x, r)| x.target.len() - r.test_start)
        .collect();
    outln!(
        "{} series, {points} points; test spans of {}-{} points (epochs trained: {})",
        runs.len(),
        tests.iter().min().unwrap_or(&0),
        tests.iter().max().unwrap_or(&0),
        o.run.epochs
    )?;
    outln!(
        "period {} ({period_source}), horizon {}, lookback {}; {transform_line}",
        s.period,
        s.horizon,
        s.lookback
    )?;
    outln!(
        "{:<24}{:>10}{:>10}",
        "method (by mean MASE)",
        "sMAPE %",
        "MASE"
    )?;
    for (name, m) in aggregate(runs) {
        outln!("{name:<24}{:>10.2}{:>10.3}", m.smape, m.mase)?;
    }
    let names: Vec<&str> = runs[0].results.iter().map(|m| m.name.as_str()).collect();
    let mut header = format!("{:<24}", "MASE by series");
    for n in &names {
        header += &format!("{n:>15}");
    }
    outln!("{header}")?;
    for r in runs {
        let mut line = format!("{:<24}", r.id);
        for m in &r.results {
            line += &format!("{:>15.3}", m.metrics.mase);
        }
        outln!("{line}")?;
    }
    for iv in mean_intervals(runs) {
        outln!(
            "model {}% interval: coverage {:.1} % of the test points (mean over the series), MSIS {:.3}",
            percent(iv["level"].as_f64().unwrap_or(0.0)),
            100.0 * iv["coverage"].as_f64().unwrap_or(0.0),
            iv["msis"].as_f64().unwrap_or(0.0)
        )?;
    }
    outln!(
        "outputs: {}/forecast.csv, forecast.svg, metrics.json",
        out.display()
    )?;
    Ok(())
}
