//! One module per cell, each holding its gate forward and gate backward side by side: the
//! per-row arithmetic of one step, behind [`CellKernel`]. A cell's trait methods only cut its
//! rows out of the step's buffers and pass them to the module's safe `forward` and `backward`,
//! whose slice parameters tell the compiler that the rows do not overlap. The time loops of `forward.rs` and
//! `backward.rs` are generic over it, so each cell gets its own monomorphised loop; the public
//! [`Cell`] picks one of them once per sequence ([`for_cell!`]).
//!
//! To add a cell: a variant of [`Cell`] (its gate count, whether it has a cell state), a module
//! here implementing [`CellKernel`], an arm of [`for_cell!`], the buffers it saves in
//! [`crate::SeqCache`], and its naive twin in `naive.rs`.

mod gru;
mod lstm;
mod rnn;

pub(crate) use gru::Gru;
pub(crate) use lstm::Lstm;
pub(crate) use rnn::Rnn;

use crate::cell::SeqCache;
use crate::scalar::Scalar;
use crate::threads::SendPtr;

/// The gate arithmetic of one cell, row by row.
///
/// `forward_gates` turns the pre-activations of a row into its new state and output and saves
/// what `backward_gates` reads; `backward_gates` turns `dL/dh` (output gradient included) into
/// the gate gradients. Rows past their sequence's end never reach either.
pub(crate) trait CellKernel {
    /// Gate blocks per hidden unit: rows of `W_ih` are `GATES * hidden`.
    const GATES: usize;

    /// Whether the hidden side of the gates (`W_hh h + b_hh`) stays apart from the input side
    /// (the GRU, where `r` multiplies the hidden side of `n`): forward then gives each step's
    /// hidden product its own buffer, and backward writes a hidden-side gate gradient.
    const SPLIT: bool = false;

    /// The gate pass of row `b` of one forward step.
    ///
    /// # Safety
    /// `s` must describe the buffers of one step of a forward pass sized for this cell, and no
    /// other thread may touch row `b` of them meanwhile.
    unsafe fn forward_gates<T: Scalar>(s: &FwdStep<T>, b: usize);

    /// The gate pass of row `b` of one backward step: on entry `d_h` holds `dL/dh_t`; on return
    /// `d_gates` (and `d_gates_hh` if [`Self::SPLIT`]) the gate gradients, and `d_h` the part of
    /// `dL/dh_{t-1}` that bypasses `W_hh` (zero but for the GRU).
    ///
    /// # Safety
    /// As [`Self::forward_gates`], for one step of a backward pass.
    unsafe fn backward_gates<T: Scalar>(s: &BackStep<'_, T>, b: usize);
}

/// Runs `$body` with the type `$C` set to the [`CellKernel`] of the [`Cell`] `$cell`.
macro_rules! for_cell {
    ($cell:expr, $C:ident => $body:expr) => {
        match $cell {
            $crate::cell::Cell::RnnTanh => {
                type $C = $crate::cells::Rnn<false>;
                $body
            }
            $crate::cell::Cell::RnnRelu => {
                type $C = $crate::cells::Rnn<true>;
                $body
            }
            $crate::cell::Cell::Lstm => {
                type $C = $crate::cells::Lstm;
                $body
            }
            $crate::cell::Cell::Gru => {
                type $C = $crate::cells::Gru;
                $body
            }
        }
    };
}
pub(crate) use for_cell;

/// The buffers one forward step's gate pass writes, row by row.
///
/// Its accessors hand out rows of raw buffers. Safety, for each: the row must lie inside its
/// buffer (the time loop sized them for the cell), and the caller must be the only one touching
/// row `b` while the slice lives (the time loop gives each row to one thread).
#[derive(Clone, Copy)]
pub(crate) struct FwdStep<T> {
    /// Hidden units `H`.
    pub(crate) hidden: usize,
    /// Index of this step's first row in the `[T, B, ·]` buffers: `t * B`.
    pub(crate) row0: usize,
    /// `[B, G*H]`: this step's gates, pre-activations in, activations out.
    pub(crate) gates: SendPtr<T>,
    /// `[B, H]`: the running state `h`.
    pub(crate) h: SendPtr<T>,
    /// `[B, H]`: the running LSTM cell state `c` (null otherwise).
    pub(crate) c: SendPtr<T>,
    /// The output view: base, row stride, first column.
    pub(crate) out: (SendPtr<T>, usize, usize),
    /// `[T, B, H]`: LSTM `c_{t-1}`.
    pub(crate) c_prev: SendPtr<T>,
    /// `[T, B, H]`: LSTM `tanh(c_t)`.
    pub(crate) tanh_c: SendPtr<T>,
    /// `[T, B, H]`: GRU `W_hn h + b_hn`.
    pub(crate) gh_n: SendPtr<T>,
    /// `[B, 3H]`: GRU hidden side of this step's gates.
    pub(crate) hidden_side: SendPtr<T>,
}

impl<T> FwdStep<T> {
    /// Row `b` of this step's gates, `G*H` wide.
    #[inline(always)]
    pub(crate) unsafe fn gates<'a>(&self, b: usize, gates: usize) -> &'a mut [T] {
        let gh = gates * self.hidden;
        self.gates.slice(b * gh, gh)
    }

    /// Row `b` of a `[B, H]` state buffer.
    #[inline(always)]
    pub(crate) unsafe fn state<'a>(&self, buf: SendPtr<T>, b: usize) -> &'a mut [T] {
        buf.slice(b * self.hidden, self.hidden)
    }

    /// Row `b` of this step in a saved `[T, B, H]` buffer.
    #[inline(always)]
    pub(crate) unsafe fn saved<'a>(&self, buf: SendPtr<T>, b: usize) -> &'a mut [T] {
        buf.slice((self.row0 + b) * self.hidden, self.hidden)
    }

    /// Row `b` of this step's outputs.
    #[inline(always)]
    pub(crate) unsafe fn out<'a>(&self, b: usize) -> &'a mut [T] {
        let (base, ld, col) = self.out;
        base.slice((self.row0 + b) * ld + col, self.hidden)
    }
}

/// What one backward step's gate pass reads (the forward cache) and writes, row by row; the
/// unsafe accessors have the safety conditions of [`FwdStep`]'s.
#[derive(Clone, Copy)]
pub(crate) struct BackStep<'a, T> {
    /// Hidden units `H`.
    pub(crate) hidden: usize,
    /// Index of this step's first row in the `[T, B, ·]` buffers: `t * B`.
    pub(crate) row0: usize,
    /// What the forward pass saved.
    pub(crate) cache: &'a SeqCache<T>,
    /// `[B, H]`: the running `dL/dh`.
    pub(crate) d_h: SendPtr<T>,
    /// `[B, H]`: the running LSTM `dL/dc` (null otherwise).
    pub(crate) d_c: SendPtr<T>,
    /// `[T, B, G*H]`: gate gradients, input side.
    pub(crate) d_gates: SendPtr<T>,
    /// `[T, B, G*H]`: gate gradients, hidden side (split cells only).
    pub(crate) d_gates_hh: SendPtr<T>,
}

impl<'a, T> BackStep<'a, T> {
    /// Row `b` of this step in a `[T, B, G*H]` buffer (`gates` blocks).
    #[inline(always)]
    pub(crate) fn gate_span(&self, b: usize, gates: usize) -> std::ops::Range<usize> {
        let gh = gates * self.hidden;
        (self.row0 + b) * gh..(self.row0 + b + 1) * gh
    }

    /// Row `b` of this step in a saved `[T, B, H]` buffer of the cache.
    #[inline(always)]
    pub(crate) fn saved(&self, buf: &'a [T], b: usize) -> &'a [T] {
        let h = self.hidden;
        &buf[(self.row0 + b) * h..(self.row0 + b + 1) * h]
    }

    /// Row `b` of this step's saved gate activations.
    #[inline(always)]
    pub(crate) fn gates(&self, b: usize, gates: usize) -> &'a [T] {
        &self.cache.gates[self.gate_span(b, gates)]
    }

    /// Row `b` of a `[B, H]` running gradient.
    #[inline(always)]
    pub(crate) unsafe fn state<'s>(&self, buf: SendPtr<T>, b: usize) -> &'s mut [T] {
        buf.slice(b * self.hidden, self.hidden)
    }

    /// Row `b` of this step in a `[T, B, G*H]` gradient buffer.
    #[inline(always)]
    pub(crate) unsafe fn grad<'s>(&self, buf: SendPtr<T>, b: usize, gates: usize) -> &'s mut [T] {
        let span = self.gate_span(b, gates);
        buf.slice(span.start, span.len())
    }
}
