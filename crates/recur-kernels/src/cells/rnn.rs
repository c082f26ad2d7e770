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
        let g = s.gates(b, Self::GATES);
        if RELU {
            g.iter_mut().for_each(|v| *v = relu(*v));
        } else {
            T::tanh_in_place(g);
        }
        s.state(s.h, b).copy_from_slice(g);
        s.out(b).copy_from_slice(g);
    }

    #[inline(always)]
    unsafe fn backward_gates<T: Scalar>(s: &BackStep<'_, T>, b: usize) {
        let gates = s.gates(b, Self::GATES);
        let dh = s.state(s.d_h, b);
        let da = s.grad(s.d_gates, b, Self::GATES);
        for j in 0..s.hidden {
            let y = gates[j];
            let slope = if RELU { relu_grad(y) } else { tanh_grad(y) };
            da[j] = dh[j] * slope;
            dh[j] = T::zero();
        }
    }
}
