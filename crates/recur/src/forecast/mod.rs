//! Time-series forecasting: reading series, baselines and forecast metrics.
//!
//! The building blocks of `recur forecast`: a CSV reader whose errors name row and column (with
//! gaps filled on request), time stamps and the frequency and period they imply ([`calendar`]),
//! the naive, seasonal-naive, drift and AutoETS baselines every model must beat, MAE, RMSE, MAPE,
//! sMAPE and MASE computed the same way for the model and the baselines, and the pipeline that
//! chooses a transform on validation and adds split-conformal intervals.
//!
//! Forecasting from new history with a trained forecaster (a checkpoint of `recur forecast`
//! loads with [`model::load`], whose [`model::LoadedForecaster::forecast`] does the same):
//! ```
//! use recur::forecast::pipeline::{forecast_from, run, ForecastSettings};
//! use recur::forecast::Series;
//! use recur::{CellType, Threads};
//! use std::sync::atomic::AtomicBool;
//! # fn main() -> recur::Result<()> {
//! let y: Vec<f64> = (0..48).map(|t| 100.0 + t as f64 + 10.0 * ((t % 12) as f64 / 2.0).sin()).collect();
//! let series = Series { times: (0..48).map(|t| t.to_string()).collect(), target: y.clone(),
//!     ..Default::default() };
//! let settings = ForecastSettings {
//!     lookback: 12, horizon: 6, test_size: 6, period: 12, log: false, seasonal_diff: false,
//!     diff: true, val_frac: 0.2, cell: CellType::Gru, hidden: 8, layers: 1, epochs: 5,
//!     steps: None, time_budget: None, patience: 5, batch_size: 8, lr: 3e-3, seed: 1,
//!     calendar: Vec::new(), series_identity: false, series_transforms: Vec::new(),
//! };
//! let threads = Threads::single();
//! let trained = run(&series, &settings, &threads, &mut (), &AtomicBool::new(false))?;
//! // The next 6 values after all 48 points, in the series' units.
//! let scaling = &trained.series[0].scaling;
//! let next = forecast_from(&trained.model, &settings, scaling, &threads, &y, &[])?;
//! assert_eq!(next.len(), 6);
//! # Ok(())
//! # }
//! ```

pub mod auto;
pub mod baselines;
pub mod calendar;
pub mod metrics;
pub mod model;
pub mod panel;
pub mod pipeline;
pub mod prepare;
pub mod saved;
mod scoring;
pub mod series;

pub use baselines::{drift, naive, seasonal_naive};
pub use calendar::Frequency;
pub use metrics::{mase_scale, metrics, ForecastMetrics};
pub use panel::{read_panel, Panel};
pub use series::{read_series, read_series_with, Ahead, Fill, Series, SeriesSpec};
