//! Scoring a trained forecaster on each series: its errors on the validation windows (their
//! mean, and the split-conformal half-widths of its intervals), and its forecasts of the test
//! span from rolling origins beside the baselines', with the intervals' coverage and score.

use super::baselines::{drift, naive, seasonal_naive};
use super::metrics::{mase_scale, metrics};
use super::model::Forecaster;
use super::panel::Panel;
use super::pipeline::{ForecastRun, ForecastSettings, MethodResult, SeriesRun, Trained};
use super::prepare::{floor, forecast_with, History, Prepared};
use super::series::Series;
use crate::error::{Error, Result};
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};

/// Split-conformal half-widths at one level: for horizon step `h`, the
/// `⌈(n + 1) · level⌉`-th smallest absolute error of the `n` validation windows at that step
/// (Vovk, Gammerman and Shafer 2005; Angelopoulos and Bates 2021), so that the interval
/// `forecast ± half_width[h]` covers the truth with probability `level` when the test errors
/// resemble the validation errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conformal {
    /// Nominal coverage, in (0, 1).
    pub level: f64,
    /// One half-width per horizon step, in the series' units.
    pub half_width: Vec<f64>,
}

/// The model's prediction interval at one level over the test span, and how it scored.
#[derive(Clone, Debug, Serialize)]
pub struct IntervalResult {
    /// Nominal coverage, in (0, 1).
    pub level: f64,
    /// Lower bound, one per test point.
    pub lower: Vec<f64>,
    /// Upper bound, one per test point.
    pub upper: Vec<f64>,
    /// The share of test points inside `[lower, upper]`.
    pub coverage: f64,
    /// Mean scaled interval score (M4 competition): the mean over test points of
    /// `(U - L) + 2/α (L - y)·[y < L] + 2/α (y - U)·[y > U]` with `α = 1 - level`, over the
    /// same scale as MASE.
    pub msis: f64,
}

/// The `⌈(n + 1) · level⌉`-th smallest of `errors` (absolute values), the largest when that
/// rank passes `n`.
pub fn conformal_quantile(errors: &[f64], level: f64) -> f64 {
    let mut e: Vec<f64> = errors.iter().map(|v| v.abs()).collect();
    if e.is_empty() {
        return f64::NAN;
    }
    e.sort_by(f64::total_cmp);
    let rank = ((e.len() + 1) as f64 * level).ceil() as usize;
    e[rank.clamp(1, e.len()) - 1]
}

/// The interval `forecast ± half_width` scored against `truth`: its coverage and its mean
/// scaled interval score over `scale`.
pub fn score_interval(
    truth: &[f64],
    lower: &[f64],
    upper: &[f64],
    level: f64,
    scale: f64,
) -> (f64, f64) {
    let alpha = 1.0 - level;
    let n = truth.len() as f64;
    let mut inside = 0usize;
    let mut score = 0.0;
    for ((&y, &l), &u) in truth.iter().zip(lower).zip(upper) {
        inside += usize::from(l <= y && y <= u);
        score += (u - l) + 2.0 / alpha * (l - y).max(0.0) + 2.0 / alpha * (y - u).max(0.0);
    }
    (inside as f64 / n, score / n / scale)
}

/// Scores a trained forecaster on every series: its errors on the validation windows (their
/// mean absolute value, and the conformal half-widths at each of `levels`), and its forecasts
/// of the test span from rolling origins beside the baselines', with its intervals.
pub(super) fn finish(
    panel: &Panel,
    s: &ForecastSettings,
    levels: &[f64],
    threads: &Threads,
    prepared: &Prepared,
    trained: Trained,
) -> Result<ForecastRun> {
    let val_errors = validation_errors(panel, s, prepared, &trained.best, threads)?;
    let mut series = Vec::with_capacity(panel.series.len());
    for (i, errors) in val_errors.iter().enumerate() {
        let count = if s.series_identity {
            panel.series.len()
        } else {
            0
        };
        let part = Scored {
            series: &panel.series[i],
            part: &prepared.parts[i],
            val_errors: errors,
            identity: super::prepare::series_identity(i, count),
            index: i,
        };
        let run = part
            .score(s, levels, threads, &trained.best)
            .map_err(|e| panel.name_error(i, e))?;
        series.push(SeriesRun {
            id: panel.ids[i].clone(),
            ..run
        });
    }
    let val_mae = match &series[..] {
        [one] => one.val_mae,
        all => {
            let scaled = all
                .iter()
                .zip(&panel.series)
                .map(|(r, x)| r.val_mae / error_scale(r.scale, &x.target[..r.test_start]));
            scaled.sum::<f64>() / all.len() as f64
        }
    };
    Ok(ForecastRun {
        model: trained.best,
        series,
        epochs: trained.summary.epochs as usize,
        best_val: trained.summary.best.0.loss,
        summary: trained.summary,
        val_mae,
        end: trained.end,
    })
}

/// The scale that makes a series' errors comparable with another's: MASE's `scale` when it is
/// positive, else (a training span that repeats itself exactly each season) the in-sample MAE
/// of the naive forecast over `train`, else 1.
fn error_scale(scale: f64, train: &[f64]) -> f64 {
    let naive = mase_scale(train, 1);
    [scale, naive, 1.0]
        .into_iter()
        .find(|v| v.is_finite() && *v > 0.0)
        .unwrap_or(1.0)
}

/// One series of a panel with its prepared part and the model's validation errors, to score.
struct Scored<'a> {
    series: &'a Series,
    part: &'a super::prepare::Part,
    /// One list per horizon step.
    val_errors: &'a [Vec<f64>],
    /// The series' identity inputs.
    identity: Vec<f64>,
    /// The series' place in the panel.
    index: usize,
}

impl Scored<'_> {
    /// The series' validation MAE, conformal half-widths, test forecasts and intervals.
    fn score(
        &self,
        s: &ForecastSettings,
        levels: &[f64],
        threads: &Threads,
        model: &Forecaster,
    ) -> Result<SeriesRun> {
        let val_errors = self.val_errors;
        let val_mae = val_errors.iter().flatten().map(|e| e.abs()).sum::<f64>()
            / val_errors.iter().map(Vec::len).sum::<usize>().max(1) as f64;
        let conformal: Vec<Conformal> = levels
            .iter()
            .map(|&level| Conformal {
                level,
                half_width: val_errors
                    .iter()
                    .map(|e| conformal_quantile(e, level))
                    .collect(),
            })
            .collect();
        let (results, steps, scale) = self.test_forecasts(s, model, threads)?;
        let test_start = self.part.test_start;
        let truth = &self.series.target[test_start..];
        let intervals = conformal
            .iter()
            .map(|c| {
                let band = (&results[0].forecast[..], &steps[..]);
                interval(band, c, truth, scale, self.part.scaling.floor)
            })
            .collect();
        Ok(SeriesRun {
            id: String::new(),
            test_start,
            results,
            scaling: self.part.scaling.clone(),
            conformal,
            intervals,
            scale,
            val_mae,
        })
    }

    /// The model's and the baselines' forecasts of the test span from rolling origins every
    /// `horizon` steps, scored; with the horizon step of each test point, and MASE's scale.
    fn test_forecasts(
        &self,
        s: &ForecastSettings,
        model: &Forecaster,
        threads: &Threads,
    ) -> Result<(Vec<MethodResult>, Vec<usize>, f64)> {
        let (series, part) = (self.series, self.part);
        let own = s.for_series(Some(self.index));
        let y = &series.target;
        let (n, test_start) = (y.len(), part.test_start);
        let mut results: Vec<MethodResult> = ["model", "naive", "seasonal_naive", "drift"]
            .iter()
            .map(|name| MethodResult {
                name: name.to_string(),
                forecast: Vec::new(),
                metrics: metrics(&[0.0], &[0.0], 1.0),
            })
            .collect();
        let mut steps = Vec::new();
        let mut origin = test_start;
        while origin < n {
            let h = s.horizon.min(n - origin);
            let history = &y[..origin];
            let covariates: Vec<&[f64]> = series.covariates.iter().map(|c| &c[..origin]).collect();
            let known = (origin + s.horizon).min(n);
            let future: Vec<&[f64]> = part.future_raw.iter().map(|c| &c[..known]).collect();
            let input = History {
                target: history,
                covariates: &covariates,
                future: &future,
                identity: &self.identity,
            };
            let forecast = forecast_with(model, &own, &part.scaling, threads, &input)?;
            results[0].forecast.extend(&forecast[..h]);
            results[1].forecast.extend(naive(history, h));
            results[2]
                .forecast
                .extend(seasonal_naive(history, h, s.period));
            results[3].forecast.extend(drift(history, h));
            steps.extend(0..h);
            origin += s.horizon;
        }
        for r in &results {
            if let Some(i) = r.forecast.iter().position(|v| !v.is_finite()) {
                return Err(Error::Input(format!(
                    "the {} forecast for {} is {}: the series' values are too large for the model to scale back",
                    r.name,
                    series.locate(test_start + i),
                    r.forecast[i]
                )));
            }
        }
        let truth = &y[test_start..];
        let scale = mase_scale(&y[..test_start], s.period);
        for r in &mut results {
            r.metrics = metrics(truth, &r.forecast, scale);
        }
        Ok((results, steps, scale))
    }
}

/// The model's errors on the validation windows of each series in the series' units, one list
/// per horizon step.
fn validation_errors(
    panel: &Panel,
    s: &ForecastSettings,
    prepared: &Prepared,
    model: &Forecaster,
    threads: &Threads,
) -> Result<Vec<Vec<Vec<f64>>>> {
    let (windows, _) = prepared.windows(s).batch(&prepared.val_keys)?;
    let (p, _) = model.run(threads, &windows, None, None)?;
    let mut out = Vec::with_capacity(prepared.parts.len());
    let mut k = 0;
    for (part, series) in prepared.parts.iter().zip(&panel.series) {
        let y = &series.target;
        let (mean, std) = part.scaling.target;
        let lag = part.tf.lag();
        let mut val_errors: Vec<Vec<f64>> = vec![Vec::new(); s.horizon];
        for &e in &part.val_ends {
            let origin = e + lag;
            let z_hat: Vec<f64> = p[k * s.horizon..(k + 1) * s.horizon]
                .iter()
                .map(|&v| v as f64 * std + mean)
                .collect();
            let f = floor(part.tf.invert(&y[..origin], &z_hat), part.scaling.floor);
            for (h, fh) in f.iter().enumerate() {
                val_errors[h].push(y[origin + h] - fh);
            }
            k += 1;
        }
        out.push(val_errors);
    }
    Ok(out)
}

/// The interval `forecast ± half-width` of `c` over the test span (each point taking the
/// half-width of its horizon step in `steps`), its lower bound raised to `floor_at`, scored
/// against `truth` on MASE's `scale`.
fn interval(
    (forecast, steps): (&[f64], &[usize]),
    c: &Conformal,
    truth: &[f64],
    scale: f64,
    floor_at: Option<f64>,
) -> IntervalResult {
    let lower: Vec<f64> = forecast
        .iter()
        .zip(steps)
        .map(|(v, &h)| v - c.half_width[h])
        .collect();
    let lower = floor(lower, floor_at);
    let upper: Vec<f64> = forecast
        .iter()
        .zip(steps)
        .map(|(v, &h)| v + c.half_width[h])
        .collect();
    let (coverage, msis) = score_interval(truth, &lower, &upper, c.level, scale);
    IntervalResult {
        level: c.level,
        lower,
        upper,
        coverage,
        msis,
    }
}
