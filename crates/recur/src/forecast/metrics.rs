//! Forecast accuracy: MAE, RMSE, MAPE, sMAPE and MASE.

use serde::Serialize;

/// Accuracy of a forecast against the truth.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ForecastMetrics {
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute percentage error, in percent (over non-zero truths; NaN if all are zero).
    pub mape: f64,
    /// Symmetric MAPE, in percent: mean of `2|f - y| / (|f| + |y|)` (0 where both are 0).
    pub smape: f64,
    /// Mean absolute scaled error: MAE over the in-sample MAE of the seasonal-naive forecast
    /// (`scale`), so 1 means "as good as repeating last season".
    pub mase: f64,
}

/// In-sample MAE of the seasonal-naive forecast with `period` on `train`: MASE's denominator.
pub fn mase_scale(train: &[f64], period: usize) -> f64 {
    let period = period.max(1);
    let n = train.len().saturating_sub(period);
    if n == 0 {
        return f64::NAN;
    }
    (period..train.len())
        .map(|t| (train[t] - train[t - period]).abs())
        .sum::<f64>()
        / n as f64
}

/// The metrics of `forecast` against `truth` (same length), MASE scaled by `scale`.
pub fn metrics(truth: &[f64], forecast: &[f64], scale: f64) -> ForecastMetrics {
    assert_eq!(
        truth.len(),
        forecast.len(),
        "truth and forecast differ in length"
    );
    let n = truth.len() as f64;
    let mae = truth
        .iter()
        .zip(forecast)
        .map(|(y, f)| (y - f).abs())
        .sum::<f64>()
        / n;
    let rmse = (truth
        .iter()
        .zip(forecast)
        .map(|(y, f)| (y - f).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let nonzero: Vec<f64> = truth
        .iter()
        .zip(forecast)
        .filter(|(y, _)| **y != 0.0)
        .map(|(y, f)| ((y - f) / y).abs())
        .collect();
    let mape = if nonzero.is_empty() {
        f64::NAN
    } else {
        100.0 * nonzero.iter().sum::<f64>() / nonzero.len() as f64
    };
    let smape = 100.0
        * truth
            .iter()
            .zip(forecast)
            .map(|(y, f)| {
                let d = y.abs() + f.abs();
                if d == 0.0 {
                    0.0
                } else {
                    2.0 * (y - f).abs() / d
                }
            })
            .sum::<f64>()
        / n;
    ForecastMetrics {
        mae,
        rmse,
        mape,
        smape,
        mase: mae / scale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_metrics() {
        let truth = [10.0, 20.0, 0.0];
        let forecast = [12.0, 15.0, 0.0];
        let m = metrics(&truth, &forecast, 2.0);
        assert!((m.mae - 7.0 / 3.0).abs() < 1e-12);
        assert!((m.rmse - (29.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((m.mape - 100.0 * (0.2 + 0.25) / 2.0).abs() < 1e-12);
        let smape = 100.0 * (2.0 * 2.0 / 22.0 + 2.0 * 5.0 / 35.0 + 0.0) / 3.0;
        assert!((m.smape - smape).abs() < 1e-12);
        assert!((m.mase - 7.0 / 6.0).abs() < 1e-12);
        // Seasonal-naive in-sample MAE with period 2: |3-1|, |5-2|, |4-3| → 2.
        assert!((mase_scale(&[1.0, 2.0, 3.0, 5.0, 4.0], 2) - 2.0).abs() < 1e-12);
    }
}
