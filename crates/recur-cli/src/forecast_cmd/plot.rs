//! `forecast.svg`: for each series, the history, the test truth, the model's forecast with its
//! intervals as bands, and the best baseline by MASE, against dates when the time column reads
//! as such; a long series gets a second chart zoomed on its test span.

use super::output::percent;
use recur::forecast::pipeline::SeriesRun;
use recur::forecast::{Panel, Series};
use recur::plot::{day_number, stack_to_svg, Band, ChartPanel, Line, LineChart};
use recur::Result;

/// The most series of a long file drawn (the first ones).
const MAX_DRAWN: usize = 6;

/// The chart of every series of `panel` (at most [`MAX_DRAWN`]) with its run in `runs`: one
/// series gets the whole series and, when its history before the test span is longer than
/// three test spans, a zoom on the test span and the three before it; the series of a long
/// file get one zoomed chart each.
pub(super) fn forecast_svg(panel: &Panel, runs: &[SeriesRun]) -> Result<String> {
    let mut panels = Vec::new();
    let shown = runs.len().min(MAX_DRAWN);
    for (i, (series, run)) in panel.series.iter().zip(runs).take(shown).enumerate() {
        let title = if panel.is_long() {
            let of = if runs.len() > shown && i == 0 {
                format!(" (series 1-{shown} of {})", runs.len())
            } else {
                String::new()
            };
            format!("{}: forecast of {}{of}", panel.ids[i], series.target_name)
        } else {
            format!("Forecast of {}", series.target_name)
        };
        let chart = series_chart(series, run, title);
        let n = series.target.len();
        let zoom_from = run
            .test_start
            .saturating_sub(3 * (n - run.test_start).max(24));
        let x = x_of(series);
        let zoom = (x(zoom_from), x(n - 1));
        if panel.is_long() {
            panels.push(ChartPanel {
                x_range: Some(zoom),
                ..chart
            });
            continue;
        }
        panels.push(chart.clone());
        if zoom_from > 0 {
            let mut z = chart;
            z.chart.title = format!(
                "{} (the test span and the history before it)",
                z.chart.title
            );
            z.x_range = Some(zoom);
            panels.push(z);
        }
    }
    stack_to_svg(&panels)
}

/// The x value of point `t` of `series`: its date as a day number when its time labels read
/// as time stamps, else `t`.
fn x_of(series: &Series) -> impl Fn(usize) -> f64 + '_ {
    let dated = series.stamps.len() == series.target.len();
    move |t| {
        if dated {
            day_number(&series.stamps[t])
        } else {
            t as f64
        }
    }
}

/// The whole chart of one series: history, test truth, forecast, best baseline by MASE and the
/// model's intervals.
fn series_chart(series: &Series, run: &SeriesRun, title: String) -> ChartPanel {
    let x = x_of(series);
    let dates = series.stamps.len() == series.target.len();
    let y = &series.target;
    let ts = run.test_start;
    let at = |start: usize, v: &[f64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, &v)| (x(start + i), v))
            .collect()
    };
    let mut lines = vec![
        Line::new("history", at(0, &y[..ts])),
        Line::new("test truth", at(ts, &y[ts..])),
        Line::new("model forecast", at(ts, &run.results[0].forecast)),
    ];
    let best = run.results[1..]
        .iter()
        .min_by(|a, b| a.metrics.mase.total_cmp(&b.metrics.mase));
    if let Some(b) = best {
        let name = format!("best baseline: {} (MASE {:.3})", b.name, b.metrics.mase);
        lines.push(Line::new(name, at(ts, &b.forecast)));
    }
    let bands: Vec<Band> = run
        .intervals
        .iter()
        .rev()
        .map(|iv| Band {
            name: format!("{} % interval", percent(iv.level)),
            points: (0..iv.lower.len())
                .map(|i| (x(ts + i), iv.lower[i], iv.upper[i]))
                .collect(),
        })
        .collect();
    let x_label = if dates {
        format!("date ({})", series.time_columns.join(", "))
    } else {
        "time step (rows of the CSV, in time order)".to_string()
    };
    ChartPanel {
        chart: LineChart {
            title,
            x_label,
            y_label: series.target_name.clone(),
            lines,
            marker_x: Some(x(ts)),
        },
        bands,
        x_range: None,
        dates,
    }
}
