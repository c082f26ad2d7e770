//! A forecasting run: transform, scale (fitted on training data only), window, train with early
//! stopping on a chronological validation tail, and score model and baselines on the test span
//! from the same rolling origins.

use super::baselines::{drift, naive, seasonal_naive};
use super::metrics::{mase_scale, metrics, ForecastMetrics};
use super::model::{Forecaster, ForecasterConfig};
use super::series::Series;
use crate::config::CellType;
use crate::error::{Error, Result};
use crate::optim::{Optimizer, OptimizerConfig, OptimizerKind};
use crate::rng::Rng;
use crate::tensor::Tensor;
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};

/// How to forecast.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ForecastSettings {
    /// Steps of history the model sees.
    pub lookback: usize,
    /// Steps predicted from each origin.
    pub horizon: usize,
    /// Points at the end held out as the test span.
    pub test_size: usize,
    /// Season length for seasonal naive, MASE and seasonal differencing.
    pub period: usize,
    /// Model the logarithm of the series (positive series only).
    pub log: bool,
    /// Model `y_t - y_{t-period}` instead of `y_t`.
    pub seasonal_diff: bool,
    /// Model first differences (after the seasonal one, if any).
    pub diff: bool,
    /// Fraction of the training windows (the latest) used for early stopping.
    pub val_frac: f64,
    /// Recurrent cell.
    pub cell: CellType,
    /// Hidden units.
    pub hidden: usize,
    /// Layers.
    pub layers: usize,
    /// Passes over the training windows at most.
    pub epochs: usize,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Windows per optimiser step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed.
    pub seed: u64,
}

impl ForecastSettings {
    /// Checks every setting's range against a series of `points` values, before any work;
    /// messages name the flag and the limit.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self, points: usize) -> Result<()> {
        let at_least_one = [
            ("--lookback", self.lookback),
            ("--horizon", self.horizon),
            ("--test-size", self.test_size),
            ("--period", self.period),
            ("--hidden", self.hidden),
            ("--layers", self.layers),
            ("--epochs", self.epochs),
            ("--batch-size", self.batch_size),
        ];
        for (flag, v) in at_least_one {
            if v == 0 {
                return Err(Error::Config(format!("{flag} must be at least 1")));
            }
        }
        for (flag, v) in [
            ("--lookback", self.lookback),
            ("--horizon", self.horizon),
            ("--test-size", self.test_size),
            ("--period", self.period),
        ] {
            if v >= points {
                return Err(Error::Config(format!(
                    "{flag} {v}: the series has {points} points, too few (it must have more than {v})"
                )));
            }
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::Config(format!(
                "--lr must be a positive number, got {}",
                self.lr
            )));
        }
        if !(self.val_frac > 0.0 && self.val_frac < 1.0) {
            return Err(Error::Config(format!(
                "the validation share must be in (0, 1), got {}",
                self.val_frac
            )));
        }
        Ok(())
    }
}

/// One method's forecast of the test span and its accuracy.
#[derive(Clone, Debug, Serialize)]
pub struct MethodResult {
    /// `model`, `naive`, `seasonal_naive`, `drift`.
    pub name: String,
    /// One value per test point.
    pub forecast: Vec<f64>,
    /// Accuracy on the test span.
    pub metrics: ForecastMetrics,
}

/// What a run produces.
#[derive(Debug)]
pub struct ForecastRun {
    /// The trained model.
    pub model: Forecaster,
    /// Index of the first test point.
    pub test_start: usize,
    /// The model first, then the baselines.
    pub results: Vec<MethodResult>,
    /// Epochs trained and the best validation loss (scaled units).
    pub epochs: usize,
    /// Best validation MSE in scaled units.
    pub best_val: f64,
    /// Mean and standard deviation of the transformed training span (the scaling).
    pub scale: (f64, f64),
}

/// The series as the model sees it, and how to undo it.
struct Transform {
    log: bool,
    seasonal: Option<usize>,
    diff: bool,
}

impl Transform {
    fn forward(&self, y: &[f64]) -> Vec<f64> {
        let mut z: Vec<f64> = if self.log {
            y.iter().map(|v| v.ln()).collect()
        } else {
            y.to_vec()
        };
        if let Some(s) = self.seasonal {
            z = (s..z.len()).map(|t| z[t] - z[t - s]).collect();
        }
        if self.diff {
            z = (1..z.len()).map(|t| z[t] - z[t - 1]).collect();
        }
        z
    }

    /// Leading points lost to differencing.
    fn lag(&self) -> usize {
        self.seasonal.unwrap_or(0) + usize::from(self.diff)
    }

    /// Values of the original series for steps after `history`, from transformed forecasts.
    fn invert(&self, history: &[f64], z: &[f64]) -> Vec<f64> {
        let mut level: Vec<f64> = if self.log {
            history.iter().map(|v| v.ln()).collect()
        } else {
            history.to_vec()
        };
        let base = level.len();
        let s = self.seasonal;
        // Seasonal differences of the history, for undoing the first difference.
        let sdiff = |lv: &[f64], t: usize| match s {
            Some(s) => lv[t] - lv[t - s],
            None => lv[t],
        };
        let mut prev_w = sdiff(&level, base - 1);
        for &v in z {
            let w = if self.diff { prev_w + v } else { v };
            prev_w = w;
            let t = level.len();
            let y = match s {
                Some(s) => w + level[t - s],
                None => w,
            };
            level.push(y);
        }
        level[base..]
            .iter()
            .map(|&v| if self.log { v.exp() } else { v })
            .collect()
    }
}

/// Refuses a series whose scaling (mean and deviation of the training span) or scaled values
/// (the model works in 32-bit floats) are not finite, naming the first point at fault.
fn check_scaled(
    series: &Series,
    what: &str,
    scaled: &[f32],
    lag: usize,
    (mean, std): (f64, f64),
) -> Result<()> {
    if !(mean.is_finite() && std.is_finite()) {
        let src = series
            .source
            .as_ref()
            .map_or(String::new(), |p| format!("{}: ", p.display()));
        return Err(Error::Input(format!(
            "{src}{what}: the values of the training span are too large to scale (their mean or deviation overflows)"
        )));
    }
    match scaled.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::Input(format!(
            "{}: {what}: the value overflows when scaled to 32 bits (mean {mean:e}, deviation {std:e})",
            series.locate(i + lag)
        ))),
        None => Ok(()),
    }
}

/// The ends (exclusive) of the input windows used for training: every window of `lookback`
/// steps whose `horizon` targets all lie inside the first `train_len` points.
pub fn training_window_ends(train_len: usize, lookback: usize, horizon: usize) -> Vec<usize> {
    if train_len < lookback + horizon {
        return Vec::new();
    }
    (lookback..=train_len - horizon).collect()
}

/// Trains on the series before the test span and forecasts the span from rolling origins every
/// `horizon` steps (each using the actual history up to its origin); the baselines forecast from
/// the same origins.
pub fn run(series: &Series, s: &ForecastSettings, threads: &Threads) -> Result<ForecastRun> {
    let y = &series.target;
    let n = y.len();
    s.validate(n)?;
    if s.log {
        if let Some(i) = y.iter().position(|&v| v <= 0.0) {
            return Err(Error::Input(format!(
                "{}: --log needs a positive series, the value is {}",
                series.locate(i),
                y[i]
            )));
        }
    }
    let tf = Transform {
        log: s.log,
        seasonal: s.seasonal_diff.then_some(s.period),
        diff: s.diff,
    };
    let test_start = n.checked_sub(s.test_size).filter(|&t| t > tf.lag() + s.lookback + s.horizon).ok_or_else(|| {
        Error::Input(format!(
            "the series has {n} points: too few for a test span of {} after lookback {} and horizon {}",
            s.test_size, s.lookback, s.horizon
        ))
    })?;
    if test_start < s.period {
        return Err(Error::Input(
            "the training span is shorter than one --period".into(),
        ));
    }
    // Transformed series; z[i] corresponds to y[i + lag].
    let z = tf.forward(y);
    let lag = tf.lag();
    let train_z = &z[..test_start - lag];
    let mean = train_z.iter().sum::<f64>() / train_z.len() as f64;
    let std = (train_z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / train_z.len() as f64)
        .sqrt()
        .max(1e-8);
    let scaled: Vec<f32> = z.iter().map(|v| ((v - mean) / std) as f32).collect();
    check_scaled(series, "the target", &scaled, lag, (mean, std))?;
    let covs: Vec<Vec<f32>> = series
        .covariates
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let train = &c[lag..test_start];
            let m = train.iter().sum::<f64>() / train.len() as f64;
            let sd = (train.iter().map(|v| (v - m).powi(2)).sum::<f64>() / train.len() as f64)
                .sqrt()
                .max(1e-8);
            let scaled: Vec<f32> = c[lag..].iter().map(|v| ((v - m) / sd) as f32).collect();
            let name = series
                .covariate_names
                .get(k)
                .map_or(format!("covariate {}", k + 1), |n| format!("column '{n}'"));
            check_scaled(series, &name, &scaled, lag, (m, sd))?;
            Ok(scaled)
        })
        .collect::<Result<_>>()?;
    let inputs = 1 + covs.len();
    let window = |end: usize, b: usize, batch: usize, x: &mut [f32]| {
        // Steps end-lookback..end (exclusive) of the transformed series into column b of x.
        for (i, t) in (end - s.lookback..end).enumerate() {
            let row = (i * batch + b) * inputs;
            x[row] = scaled[t];
            for (k, c) in covs.iter().enumerate() {
                x[row + 1 + k] = c[t];
            }
        }
    };
    let ends = training_window_ends(train_z.len(), s.lookback, s.horizon);
    if ends.len() < 2 {
        return Err(Error::Input(
            "too few training windows: lower --lookback or --horizon".into(),
        ));
    }
    let n_val = ((ends.len() as f64 * s.val_frac).round() as usize).clamp(1, ends.len() - 1);
    let (train_ends, val_ends) = ends.split_at(ends.len() - n_val);

    let mut rng = Rng::new(s.seed);
    let config = ForecasterConfig {
        cell: s.cell,
        inputs,
        hidden_size: s.hidden,
        num_layers: s.layers,
        horizon: s.horizon,
    };
    let mut model = Forecaster::new(config, &mut rng)?;
    let sizes: Vec<usize> = model.buffers().iter().map(|b| b.len()).collect();
    let mut opt = Optimizer::new(OptimizerConfig::new(OptimizerKind::Adam), &sizes)?;
    let mut grads: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
    let batch_of = |ends: &[usize]| -> Result<(Tensor<f32>, Vec<f32>)> {
        let b = ends.len();
        let mut x = vec![0.0f32; s.lookback * b * inputs];
        let mut t = Vec::with_capacity(b * s.horizon);
        for (k, &e) in ends.iter().enumerate() {
            window(e, k, b, &mut x);
            t.extend_from_slice(&scaled[e..e + s.horizon]);
        }
        Ok((Tensor::new("windows", &[s.lookback, b, inputs], x)?, t))
    };
    let (val_x, val_t) = batch_of(val_ends)?;
    let val_loss = |m: &Forecaster| -> Result<f64> {
        let (p, _) = m.run(threads, &val_x, None, None)?;
        Ok(p.iter()
            .zip(&val_t)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum::<f64>()
            / p.len() as f64)
    };
    let mut best = (val_loss(&model)?, model.clone());
    let mut order: Vec<usize> = train_ends.to_vec();
    let (mut since_best, mut epochs) = (0, 0);
    for _ in 0..s.epochs {
        epochs += 1;
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for chunk in order.chunks(s.batch_size.max(1)) {
            let (x, t) = batch_of(chunk)?;
            grads.iter_mut().for_each(|g| g.fill(0.0));
            let (_, loss) = model.run(threads, &x, Some(&t), Some(&mut grads))?;
            if !loss.is_finite() {
                return Err(Error::Diverged(format!(
                    "epoch {epochs}: the training loss is {loss}; lower --lr"
                )));
            }
            opt.clip_and_step_in(threads, &mut model.buffers_mut(), &mut grads, 1.0, s.lr);
        }
        let v = val_loss(&model)?;
        if v < best.0 {
            best = (v, model.clone());
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= s.patience {
                break;
            }
        }
    }
    let (best_val, model) = best;

    // Rolling origins over the test span.
    let mut results: Vec<MethodResult> = ["model", "naive", "seasonal_naive", "drift"]
        .iter()
        .map(|name| MethodResult {
            name: name.to_string(),
            forecast: Vec::new(),
            metrics: metrics(&[0.0], &[0.0], 1.0),
        })
        .collect();
    let mut origin = test_start;
    while origin < n {
        let h = s.horizon.min(n - origin);
        let mut x = vec![0.0f32; s.lookback * inputs];
        window(origin - lag, 0, 1, &mut x);
        let (p, _) = model.run(
            threads,
            &Tensor::new("window", &[s.lookback, 1, inputs], x)?,
            None,
            None,
        )?;
        let z_hat: Vec<f64> = p.iter().map(|&v| v as f64 * std + mean).collect();
        let history = &y[..origin];
        results[0].forecast.extend(&tf.invert(history, &z_hat)[..h]);
        results[1].forecast.extend(naive(history, h));
        results[2]
            .forecast
            .extend(seasonal_naive(history, h, s.period));
        results[3].forecast.extend(drift(history, h));
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
    Ok(ForecastRun {
        model,
        test_start,
        results,
        epochs,
        best_val,
        scale: (mean, std),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ForecastSettings {
        ForecastSettings {
            lookback: 4,
            horizon: 2,
            test_size: 6,
            period: 4,
            log: false,
            seasonal_diff: false,
            diff: false,
            val_frac: 0.2,
            cell: CellType::Gru,
            hidden: 4,
            layers: 1,
            epochs: 2,
            patience: 2,
            batch_size: 4,
            lr: 1e-3,
            seed: 1,
        }
    }

    #[test]
    fn scaling_is_fitted_on_the_training_span_only_and_origins_cover_the_test_span() {
        // A series whose test span is wildly different: the scaling must not see it.
        let mut target: Vec<f64> = (0..30).map(|t| (t % 4) as f64).collect();
        target.extend([1000.0; 6]);
        let series = Series {
            times: (0..36).map(|t| t.to_string()).collect(),
            target,
            covariates: Vec::new(),
            covariate_names: Vec::new(),
            ..Series::default()
        };
        let run = super::run(&series, &settings(), &Threads::single()).unwrap();
        let train = &series.target[..30];
        let mean = train.iter().sum::<f64>() / 30.0;
        let std = (train.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 30.0).sqrt();
        assert!((run.scale.0 - mean).abs() < 1e-12 && (run.scale.1 - std).abs() < 1e-12);
        assert_eq!(run.test_start, 30);
        for r in &run.results {
            assert_eq!(r.forecast.len(), 6, "{}", r.name);
        }
        // Origins every horizon (2) steps with the actual history: naive repeats y[29], y[31], y[33].
        let naive = &run.results[1].forecast;
        assert_eq!(naive, &[1.0, 1.0, 1000.0, 1000.0, 1000.0, 1000.0]);
        let seasonal = &run.results[2].forecast;
        assert_eq!(&seasonal[..2], &[2.0, 3.0]);
    }

    #[test]
    fn training_windows_never_reach_past_the_training_span() {
        assert_eq!(training_window_ends(10, 3, 2), vec![3, 4, 5, 6, 7, 8]);
        // The last window's targets are points 8 and 9, the last two of the span.
        assert!(training_window_ends(4, 3, 2).is_empty());
    }

    #[test]
    fn too_short_a_series_is_refused() {
        let series = Series {
            times: vec!["1".into(); 8],
            target: vec![1.0; 8],
            covariates: Vec::new(),
            covariate_names: Vec::new(),
            ..Series::default()
        };
        let e = super::run(&series, &settings(), &Threads::single())
            .unwrap_err()
            .to_string();
        assert!(e.contains("too few"), "{e}");
    }

    #[test]
    fn transforms_invert_exactly() {
        let y: Vec<f64> = (0..40)
            .map(|t| 100.0 + t as f64 * 2.0 + ((t % 12) as f64 * 3.0))
            .collect();
        for (log, seasonal, diff) in [
            (false, None, false),
            (true, Some(12), false),
            (false, Some(12), true),
            (true, None, true),
        ] {
            let tf = Transform {
                log,
                seasonal,
                diff,
            };
            let z = tf.forward(&y);
            let cut = 30;
            let back = tf.invert(&y[..cut], &z[cut - tf.lag()..]);
            for (a, b) in back.iter().zip(&y[cut..]) {
                assert!(
                    (a - b).abs() < 1e-9,
                    "{log} {seasonal:?} {diff}: {a} vs {b}"
                );
            }
        }
    }

    fn from_file(target: Vec<f64>) -> Series {
        let n = target.len();
        Series {
            times: (0..n).map(|t| t.to_string()).collect(),
            target,
            source: Some("s.csv".into()),
            rows: (2..n + 2).collect(),
            ..Series::default()
        }
    }

    #[test]
    fn log_of_a_non_positive_series_names_file_and_row() {
        let mut y: Vec<f64> = (1..=40).map(f64::from).collect();
        y[7] = 0.0;
        let mut s = settings();
        s.log = true;
        let e = super::run(&from_file(y), &s, &Threads::single())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s.csv: row 9 (time 7)") && e.contains("--log"),
            "{e}"
        );
    }

    #[test]
    fn values_whose_scaling_overflows_are_refused() {
        // The training span is constant, so its deviation is the floor and a huge test value
        // leaves the 32-bit range when scaled.
        let mut y = vec![1.0; 40];
        y[36] = 1e40;
        let e = super::run(&from_file(y), &settings(), &Threads::single())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s.csv: row 38") && e.contains("overflows"),
            "{e}"
        );
        // Values whose mean or deviation overflows.
        let y: Vec<f64> = (0..40)
            .map(|t| if t % 2 == 0 { 1e308 } else { -1e308 })
            .collect();
        let e = super::run(&from_file(y), &settings(), &Threads::single())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s.csv") && e.contains("too large to scale"),
            "{e}"
        );
    }
}
