//! Time-series forecasting: reading series, baselines and forecast metrics.
//!
//! The building blocks of `recur forecast`: a CSV reader whose errors name row and column, the
//! naive, seasonal-naive and drift baselines every model must beat, and MAE, RMSE, MAPE, sMAPE and
//! MASE computed the same way for the model and the baselines.

pub mod baselines;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod series;

pub use baselines::{drift, naive, seasonal_naive};
pub use metrics::{mase_scale, metrics, ForecastMetrics};
pub use series::{read_series, Series};
