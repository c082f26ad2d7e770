//! Vanishing and exploding gradients, measured: how much of a loss reaches earlier steps of a
//! sequence ([`flow`]), and three long-range problems that only a model through which it
//! reaches them can learn ([`problems`], trained by [`train`] with the shared loop).
//!
//! ```
//! use recur::gradients::flow::{untrained, FlowSettings};
//! use recur::{CellType, Threads};
//! let settings = FlowSettings {
//!     cell: CellType::Rnn,
//!     hidden: 16,
//!     layers: 1,
//!     length: 30,
//!     seed: 1,
//!     threshold: 1e-6,
//!     forget_bias: None,
//! };
//! let report = untrained(&settings, &Threads::single()).unwrap();
//! assert_eq!(report.h_norms[0].len(), 30); // by distance from the loss step
//! assert!(report.first_over_last < 1e-3); // a tanh RNN at PyTorch's initialisation forgets
//! ```

pub mod flow;
pub mod model;
pub mod problems;
pub mod train;
