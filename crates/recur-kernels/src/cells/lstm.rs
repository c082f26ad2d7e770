//! LSTM, gates `i, f, g, o` (PyTorch's order): `c' = f c + i g`, `h' = o tanh(c')`.

use super::{BackStep, CellKernel, FwdStep};
use crate::activation::{sigmoid_grad, tanh_grad};
use crate::scalar::Scalar;

/// The LSTM. Forward saves the activated gates, `c_{t-1}` and `tanh(c_t)`.
pub(crate) struct Lstm;

impl CellKernel for Lstm {
    const GATES: usize = 4;

    #[inline(always)]
    unsafe fn forward_gates<T: Scalar>(s: &FwdStep<T>, b: usize) {
        let c = s.state(s.c, b);
        s.saved(s.c_prev, b).copy_from_slice(c);
        let (g, h, tanh_c, out) = (
            s.gates(b, Self::GATES),
            s.state(s.h, b),
            s.saved(s.tanh_c, b),
            s.out(b),
        );
        forward(g, c, h, tanh_c, out, s.hidden);
    }

    #[inline(always)]
    unsafe fn backward_gates<T: Scalar>(s: &BackStep<'_, T>, b: usize) {
        let gates = s.gates(b, Self::GATES);
        let (c_prev, tanh_c) = (s.saved(&s.cache.c_prev, b), s.saved(&s.cache.tanh_c, b));
        let (dh, dc) = (s.state(s.d_h, b), s.state(s.d_c, b));
        let da = s.grad(s.d_gates, b, Self::GATES);
        backward(gates, c_prev, tanh_c, dh, dc, da, s.hidden);
    }
}

/// One row: activates `g = [i f g o]` in place, updates `c` and `h`, and saves `tanh(c_t)`.
fn forward<T: Scalar>(
    g: &mut [T],
    c: &mut [T],
    h: &mut [T],
    tanh_c: &mut [T],
    out: &mut [T],
    hidden: usize,
) {
    T::sigmoid_in_place(&mut g[..2 * hidden]);
    T::tanh_in_place(&mut g[2 * hidden..3 * hidden]);
    T::sigmoid_in_place(&mut g[3 * hidden..]);
    let (gi, rest) = g.split_at(hidden);
    let (gf, rest) = rest.split_at(hidden);
    let (gg, go) = rest.split_at(hidden);
    for j in 0..hidden {
        c[j] = gf[j] * c[j] + gi[j] * gg[j];
    }
    tanh_c.copy_from_slice(c);
    T::tanh_in_place(tanh_c);
    for j in 0..hidden {
        let h_new = go[j] * tanh_c[j];
        h[j] = h_new;
        out[j] = h_new;
    }
}

/// One row. On entry `dh` is `dL/dh_t`, `dc` is `dL/dc_t` from the step after; on return `dh`
/// is zero, `dc` holds `dL/dc_{t-1}`, and `da` the gradient at the pre-activations `[i f g o]`.
fn backward<T: Scalar>(
    gates: &[T],
    c_prev: &[T],
    tanh_c: &[T],
    dh: &mut [T],
    dc: &mut [T],
    da: &mut [T],
    hidden: usize,
) {
    let (gi, rest) = gates.split_at(hidden);
    let (gf, rest) = rest.split_at(hidden);
    let (gg, go) = rest.split_at(hidden);
    let (dai, rest) = da.split_at_mut(hidden);
    let (daf, rest) = rest.split_at_mut(hidden);
    let (dag, dao) = rest.split_at_mut(hidden);
    for j in 0..hidden {
        let (i, f, g, o, tc) = (gi[j], gf[j], gg[j], go[j], tanh_c[j]);
        let d_c = dc[j] + dh[j] * o * tanh_grad(tc);
        dao[j] = dh[j] * tc * sigmoid_grad(o);
        dai[j] = d_c * g * sigmoid_grad(i);
        daf[j] = d_c * c_prev[j] * sigmoid_grad(f);
        dag[j] = d_c * i * tanh_grad(g);
        dc[j] = d_c * f;
        dh[j] = T::zero();
    }
}
