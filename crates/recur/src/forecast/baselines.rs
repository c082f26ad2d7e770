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
}
