//! Plain slice kernels for recurrent networks.
//!
//! Every kernel works on flat, row-major, time-major (`[T, B, ·]`) buffers, allocates nothing
//! inside its time loop, takes its parallelism as an explicit [`Threads`] argument, and has a
//! naive twin in [`naive`] that the tests compare it with.
//!
//! ```
//! use recur_kernels::{
//!     forward_seq, Cell, DirWeights, OutView, PackedWeights, SeqCache, SeqInput, SeqOut, SeqPass,
//!     SeqShape, Threads,
//! };
//! let shape = SeqShape { steps: 3, batch: 2, input: 4, hidden: 5 };
//! let pass = SeqPass { cell: Cell::Lstm, shape, reverse: false, lengths: None };
//! let w_ih = vec![0.1f32; 4 * 5 * 4];
//! let w_hh = vec![0.05f32; 4 * 5 * 5];
//! let w = DirWeights { w_ih: &w_ih, w_hh: &w_hh, b_ih: None, b_hh: None };
//! let x = vec![1.0f32; 3 * 2 * 4];
//! let (mut h, mut c) = (vec![0.0f32; 2 * 5], vec![0.0f32; 2 * 5]);
//! let mut out = vec![0.0f32; 3 * 2 * 5];
//! let mut cache = SeqCache::new();
//! let packed = PackedWeights::new(Cell::Lstm, 4, 5, w);
//! let state = SeqOut { h: &mut h, c: Some(&mut c), out: OutView { data: &mut out, ld: 5, col: 0 } };
//! forward_seq(&Threads::single(), pass, SeqInput::Rows(&x), w, &packed, state, &mut cache);
//! assert_eq!(&out[25..], &h[5..]); // the last output of a sequence is its final state
//! ```

#![deny(missing_docs)]
// Numeric kernels index several parallel arrays by the same loop variable; iterators would hide it.
#![allow(clippy::needless_range_loop)]

pub mod activation;
mod backward;
mod cell;
mod cells;
pub mod fastmath;
mod forward;
pub mod gemm;
mod head;
mod isa;
mod kernel;
pub mod loss;
pub mod naive;
pub mod packed;
mod scalar;
mod threads;

pub use backward::{backward_seq, GradView, SeqGradInput, SeqGrads};
pub use cell::{
    Cell, DirGrads, DirWeights, PackedWeights, SeqCache, SeqGradWork, SeqPass, SeqShape,
};
pub use forward::{forward_seq, project_table, OutView, SeqInput, SeqOut};
pub use gemm::{matmul, matmul_naive, Accum, MatMut, Operand};
pub use head::{linear_cross_entropy, HeadGrads, HeadWeights, HeadWork, HEAD_ROWS};
pub use loss::{softmax_cross_entropy, softmax_cross_entropy_par, CrossEntropy};
pub use packed::{matmul_packed, matmul_packed_op, PackedB};
pub use scalar::Scalar;
pub use threads::{Threads, ThreadsError};
