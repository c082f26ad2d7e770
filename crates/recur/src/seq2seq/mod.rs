//! Sequence-to-sequence models: an RNN encoder-decoder with attention (Sutskever et al. 2014,
//! Bahdanau et al. 2015, Luong et al. 2015), trained with teacher forcing, decoded greedily or
//! by beam search. The model is a composition of [`crate::nn`]'s blocks and
//! [`crate::Recurrent`] layers; translation's text side lives in `crate::translate`.

mod batch;
pub mod bench;
mod decode;
mod model;
mod train;

pub use batch::{PairBatch, PAD};
pub use decode::{DecodeOptions, Hypothesis, LengthPenalty};
pub use model::{BatchLoss, Seq2Seq, Seq2SeqConfig, Seq2SeqForward, Seq2SeqGrads};
pub use train::{Scorer, Seq2SeqTask, TokenPairs};
