//! The forecasts every model must beat, from the history up to the forecast origin.

/// The last observed value, repeated for `horizon` steps.
pub fn naive(history: &[f64], horizon: usize) -> Vec<f64> {
    let last = *history.last().expect("history is not empty");
    vec![last; horizon]
}

/// The value one season (`period` steps) before each forecast step: the last season repeated.
pub fn seasonal_naive(history: &[f64], horizon: usize, period: usize) -> Vec<f64> {
    assert!(
        period >= 1 && history.len() >= period,
        "history shorter than one season"
    );
    let season = &history[history.len() - period..];
    (0..horizon).map(|h| season[h % period]).collect()
}

/// The line through the first and last observations, extended `horizon` steps.
pub fn drift(history: &[f64], horizon: usize) -> Vec<f64> {
    let n = history.len();
    let last = history[n - 1];
    let slope = if n > 1 {
        (last - history[0]) / (n - 1) as f64
    } else {
        0.0
    };
    (1..=horizon).map(|h| last + slope * h as f64).collect()
}

/// The seasonality test of the M4 competition's benchmarks: the autocorrelation of `y` at lag
/// `period` lies outside the 90 % band `±1.645·√((1 + 2·Σ_{k<period} r_k²) / n)`. `false`
/// without a period (under 2) or with fewer than three seasons of data.
pub fn is_seasonal(y: &[f64], period: usize) -> bool {
    let n = y.len();
    if period < 2 || n < 3 * period {
        return false;
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let var: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    if var <= 0.0 {
        return false;
    }
    let acf = |k: usize| -> f64 {
        (k..n)
            .map(|t| (y[t] - mean) * (y[t - k] - mean))
            .sum::<f64>()
            / var
    };
    let sum_sq: f64 = (1..period).map(|k| acf(k).powi(2)).sum();
    let limit = 1.645 * ((1.0 + 2.0 * sum_sq) / n as f64).sqrt();
    acf(period).abs() > limit
}

/// Exponential smoothing with its components chosen by AICc (statsforecast's `AutoETS`, through
/// the `augurs-ets` crate), fitted on `history` and extended `horizon` steps. That crate fits no
/// seasonal ETS model yet, so with a period of 2 or more (and at least two seasons of history)
/// the series is first decomposed by MSTL when it passes [`is_seasonal`] (`augurs-mstl`): AutoETS forecasts the seasonally
/// adjusted series and the last season is added back (the "STL-ETS" of the forecasting
/// literature). `None` when no model fits (too short a history).
pub fn auto_ets(history: &[f64], horizon: usize, period: usize) -> Option<Vec<f64>> {
    use augurs_core::{Fit, Predict};
    let finite = |p: Vec<f64>| p.iter().all(|v| v.is_finite()).then_some(p);
    if is_seasonal(history, period) {
        let trend = augurs_ets::AutoETS::non_seasonal().into_trend_model();
        let mstl = augurs_mstl::MSTLModel::new(vec![period], trend);
        if let Some(p) = mstl
            .fit(history)
            .ok()
            .and_then(|m| m.predict(horizon, None).ok())
        {
            return finite(p.point);
        }
    }
    let model = augurs_ets::AutoETS::non_seasonal().fit(history).ok()?;
    finite(model.predict(horizon, None).ok()?.point)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_baselines() {
        let h = [1.0, 2.0, 4.0, 7.0];
        assert_eq!(naive(&h, 3), [7.0, 7.0, 7.0]);
        assert_eq!(seasonal_naive(&h, 5, 2), [4.0, 7.0, 4.0, 7.0, 4.0]);
        assert_eq!(drift(&h, 2), [9.0, 11.0]);
    }

    #[test]
    fn auto_ets_follows_a_line_and_a_season() {
        let line: Vec<f64> = (0..30).map(|t| 5.0 + 2.0 * t as f64).collect();
        let f = auto_ets(&line, 3, 1).unwrap();
        for (h, v) in f.iter().enumerate() {
            assert!((v - (65.0 + 2.0 * h as f64)).abs() < 0.5, "{f:?}");
        }
        let season: Vec<f64> = (0..48)
            .map(|t| 10.0 + [0.0, 3.0, -2.0, 1.0][t % 4])
            .collect();
        let f = auto_ets(&season, 4, 4).unwrap();
        for (h, v) in f.iter().enumerate() {
            assert!((v - season[44 + h]).abs() < 0.5, "{f:?}");
        }
        assert!(auto_ets(&[1.0, 2.0], 2, 1).is_none());
        // Degenerate histories give a forecast or none, never a panic.
        let zigzag: Vec<f64> = (0..60)
            .map(|t| if t % 12 < 6 { 0.0 } else { 1e300 })
            .collect();
        for h in [
            vec![5.0; 60],
            vec![0.0; 60],
            zigzag,
            (0..60).map(f64::from).collect(),
        ] {
            if let Some(f) = auto_ets(&h, 12, 12) {
                assert!(f.iter().all(|v| v.is_finite()), "{f:?}");
            }
        }
    }

    #[test]
    fn the_seasonality_test_tells_a_season_from_noise() {
        let season: Vec<f64> = (0..48).map(|t| [0.0, 3.0, -2.0, 1.0][t % 4]).collect();
        assert!(is_seasonal(&season, 4));
        // A fixed pseudo-random sequence has no season of 4.
        let mut state = 7u64;
        let noise: Vec<f64> = (0..200)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                (state >> 40) as f64
            })
            .collect();
        assert!(!is_seasonal(&noise, 4));
        assert!(!is_seasonal(&season, 1) && !is_seasonal(&season[..8], 4));
    }
}
