//! Building blocks that models are composed of, each a config/module pair with PyTorch's
//! parameter names and shapes, in the style of llm.c's forward/backward pairs: `forward` keeps
//! what `backward` needs, `backward` returns (or writes) the input gradient and *adds* into the
//! parameter gradients.
//!
//! | block | PyTorch | parameters |
//! |---|---|---|
//! | [`Linear`] | `nn.Linear(in, out, bias)` | `weight [out, in]`, `bias [out]` |
//! | [`Embedding`] | `nn.Embedding(num, dim, padding_idx)` | `weight [num, dim]` |
//! | [`Dropout`] | `nn.Dropout(p)` | none |
//! | [`Attention`] | (Luong / Bahdanau attention, masked) | `linear_in.weight`; or `Wa`, `Ua`, `Va` |
//! | [`Pooling`] | (pooling over `pack_padded_sequence` outputs) | none |
//! | [`crate::Recurrent`] | `nn.RNN / nn.LSTM / nn.GRU` | `weight_ih_l{k}`, … |
//!
//! Losses with `torch.nn`'s semantics are in [`loss`], and [`CtcLoss`] (`nn.CTCLoss`).
//!
//! ```
//! use recur::nn::{Linear, LinearConfig, LinearGrads};
//! use recur::{Rng, Threads};
//! let layer: Linear<f32> = LinearConfig::new(3, 2).init(&mut Rng::new(0));
//! let x = [1.0f32, 2.0, 3.0, 0.5, 0.0, -1.0]; // [N = 2, in = 3]
//! let mut y = vec![0.0f32; 4]; // [N, out]
//! layer.forward(&Threads::single(), &x, &mut y).unwrap();
//! let mut grads = LinearGrads::zeros_like(&layer);
//! let dx = layer.backward(&Threads::single(), &x, &[1.0; 4], &mut grads).unwrap();
//! assert_eq!(dx.len(), 6);
//! assert_eq!(grads.bias.unwrap(), vec![2.0, 2.0]); // the bias gradient sums dy over rows
//! ```

mod attention;
mod ctc;
mod dropout;
mod embedding;
mod linear;
pub mod loss;
mod pooling;

pub use attention::{Attended, Attention, AttentionConfig, AttentionGrads, AttentionShape, Score};
pub use ctc::{CtcBatch, CtcGradient, CtcLoss, CtcReduction, CtcReport, CtcTargets};
pub use dropout::Dropout;
pub use embedding::{Embedding, EmbeddingConfig};
pub use linear::{Linear, LinearConfig, LinearGrads};
pub use pooling::{PoolShape, Pooled, Pooling};

use crate::error::{Error, Result};

/// A model's typed gradients: its buffers in the order of the model's parameters (the flat view
/// the optimiser and clipping take), and zeroing them.
pub trait Gradients {
    /// The buffers, in the model's parameter order.
    fn buffers_mut(&mut self) -> Vec<&mut [f32]>;

    /// Sets every gradient to zero.
    fn zero(&mut self) {
        for b in self.buffers_mut() {
            b.fill(0.0);
        }
    }
}

/// Checks that buffer `name` holds `expected` values.
pub(crate) fn check_len(name: &str, len: usize, expected: usize) -> Result<()> {
    if len != expected {
        return Err(Error::Input(format!(
            "{name}: {len} values, expected {expected}"
        )));
    }
    Ok(())
}
