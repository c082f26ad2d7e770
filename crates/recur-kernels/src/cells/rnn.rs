//! Elman RNN, `h' = f(W_ih x + b_ih + W_hh h + b_hh)` with `f = tanh` or `relu`.

use super::{BackStep, CellKernel, FwdStep};
use crate::activation::{relu, relu_grad, tanh_grad};
use crate::scalar::Scalar;

/// The Elman RNN, `relu` in place of `tanh` when `RELU`. Its one gate block is the new state,
/// which is all backward needs.
pub(crate) struct Rnn<const RELU: bool>;

impl<const RELU: bool> CellKernel for Rnn<RELU> {
    const GATES: usize = 1;

    #[inline(always)]
    unsafe fn forward_gates<T: Scalar>(s: &FwdStep<T>, b: usize) {
        forward::<T, RELU>(s.gates(b, Self::GATES), s.state(s.h, b), s.out(b));
    }

    #[inline(always)]
    unsafe fn backward_gates<T: Scalar>(s: &BackStep<'_, T>, b: usize) {
        let da = s.grad(s.d_gates, b, Self::GATES);
        backward::<T, RELU>(s.gates(b, Self::GATES), s.state(s.d_h, b), da);
    }
}

/// One row: activates `g` in place into the new state, copied to `h` and to the output.
fn forward<T: Scalar, const RELU: bool>(g: &mut [T], h: &mut [T], out: &mut [T]) {
    if RELU {
        g.iter_mut().for_each(|v| *v = relu(*v));
    } else {
        T::tanh_in_place(g);
    }
    h.copy_from_slice(g);
    out.copy_from_slice(g);
}

/// One row: `da = dh ⊙ f'(y)` from the saved state `y`; `dh` is left zero (all of
/// `dL/dh_{t-1}` goes through `W_hh`).
fn backward<T: Scalar, const RELU: bool>(y: &[T], dh: &mut [T], da: &mut [T]) {
    for j in 0..dh.len() {
        let y = y[j];
        let slope = if RELU { relu_grad(y) } else { tanh_grad(y) };
        da[j] = dh[j] * slope;
        dh[j] = T::zero();
    }
}
