//! Speech recognition with CTC: the loss ([`CtcLoss`], `nn.CTCLoss`), decoders (best path and
//! prefix beam search), error rates (WER, CER) by edit distance, and an acoustic model
//! ([`model::AcousticModel`]) over feature frames trained with the shared loop ([`train`]).
//!
//! ```
//! use recur::speech::{greedy_decode, word_error_rate, PrefixBeamSearch};
//! // Frames of log-probabilities over {blank, "one", "two"}: blank one one blank two.
//! let p = |row: [f32; 3]| row.map(f32::ln);
//! let frames: Vec<f32> = [
//!     p([0.8, 0.1, 0.1]),
//!     p([0.1, 0.8, 0.1]),
//!     p([0.2, 0.7, 0.1]),
//!     p([0.9, 0.05, 0.05]),
//!     p([0.1, 0.1, 0.8]),
//! ]
//! .concat();
//! assert_eq!(greedy_decode(&frames, 3, 0).unwrap(), vec![1, 2]);
//! let best = &PrefixBeamSearch { width: 8, blank: 0 }.decode(&frames, 3).unwrap()[0];
//! assert_eq!(best.labels, vec![1, 2]);
//! assert_eq!(word_error_rate([("one two", "one")]).rate(), 0.5);
//! ```

mod alphabet;
pub mod checkpoint;
mod decode;
pub mod digits;
pub mod input;
pub mod manifest;
mod metrics;
pub mod model;
pub mod stream;
pub mod train;

pub use crate::nn::{CtcBatch, CtcGradient, CtcLoss, CtcReduction, CtcReport, CtcTargets};
pub use alphabet::{Alphabet, Unit, BLANK};
pub use decode::{greedy_decode, Hypothesis, PrefixBeamSearch};
pub use metrics::{char_error_rate, edit_distance, word_error_rate, ErrorCount};
