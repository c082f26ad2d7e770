//! Sequence classification (many-to-one): numeric multivariate sequences and texts, with
//! variable lengths handled by the recurrent layer's length support.

pub mod data;
pub mod model;
pub mod train;

pub use data::{read_dataset, Dataset, Item};
