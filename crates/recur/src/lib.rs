//! recur: recurrent neural networks with PyTorch's semantics, in Rust.
//!
//! [`Recurrent`] is a stacked, optionally bidirectional RNN, LSTM or GRU that computes exactly
//! what `torch.nn.RNN/LSTM/GRU` compute, forward and backward, with variable-length batches;
//! its parameters carry PyTorch's names and load from and save to safetensors.
//!
//! ```
//! use recur::{CellType, ForwardArgs, Recurrent, RecurrentConfig, Rng, Tensor, Threads};
//! let config = RecurrentConfig::new(CellType::Gru, 3, 8).layers(2).batch_first(true);
//! let gru = Recurrent::<f32>::new(config, &mut Rng::new(0)).unwrap();
//! let x = Tensor::new("x", &[4, 5, 3], vec![0.5; 4 * 5 * 3]).unwrap(); // [B, T, I]
//! let out = gru.forward(&Threads::single(), &x, ForwardArgs::default()).unwrap();
//! assert_eq!(out.output.shape(), &[4, 5, 8]);
//! assert_eq!(out.h_n.shape(), &[2, 4, 8]);
//! ```

#![deny(missing_docs)]

pub mod audio;
pub mod bench;
pub mod charlm;
pub mod checkpoint;
pub mod classify;
mod config;
mod error;
pub mod export;
pub mod forecast;
pub mod gradients;
pub mod input;
pub mod io;
pub mod nn;
pub mod optim;
pub mod plot;
mod recurrent;
mod rng;
pub mod rundir;
pub mod seq2seq;
pub mod speech;
mod step;
mod tensor;
pub mod training;
pub mod translate;

pub use config::{
    check_activations, check_param_count, recurrent_param_count, try_zeros, CellType, Nonlinearity,
    RecurrentConfig, MAX_LAYERS, MAX_PARAMETERS,
};
pub use error::{Error, Result};
pub use recur_kernels::{Scalar, Threads, ThreadsError};
pub use recurrent::{
    param_layout, ForwardArgs, InputGrads, ParamInfo, Recurrent, RecurrentCache, RecurrentOutput,
};
pub use rng::Rng;
pub use step::StepState;
pub use tensor::{swap_leading_axes, Tensor};

/// The README's examples, compiled and run as doctests so they cannot rot.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
