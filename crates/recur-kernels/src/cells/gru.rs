//! GRU, gates `r, z, n` (PyTorch's order): `n = tanh(W_in x + b_in + r (W_hn h + b_hn))`,
//! `h' = (1 - z) n + z h`.

use super::{BackStep, CellKernel, FwdStep};
use crate::activation::{sigmoid_grad, tanh_grad};
use crate::scalar::Scalar;

/// The GRU. Its hidden side stays apart (`b_hn` sits inside the product with `r`); forward
/// saves the activated gates and `W_hn h + b_hn` (and `h_{t-1}`, as every cell does).
pub(crate) struct Gru;

impl CellKernel for Gru {
    const GATES: usize = 3;
    const SPLIT: bool = true;

    #[inline(always)]
    unsafe fn forward_gates<T: Scalar>(s: &FwdStep<T>, b: usize) {
        let gh = Self::GATES * s.hidden;
        let step = s.hidden_side.slice(b * gh, gh);
        let (g, gh_n) = (s.gates(b, Self::GATES), s.saved(s.gh_n, b));
        forward(g, step, gh_n, s.state(s.h, b), s.out(b), s.hidden);
    }

    #[inline(always)]
    unsafe fn backward_gates<T: Scalar>(s: &BackStep<'_, T>, b: usize) {
        let gates = s.gates(b, Self::GATES);
        let (h_prev, gh_n) = (s.saved(&s.cache.h_prev, b), s.saved(&s.cache.gh_n, b));
        let dh = s.state(s.d_h, b);
        let da = s.grad(s.d_gates, b, Self::GATES);
        let da_hh = s.grad(s.d_gates_hh, b, Self::GATES);
        backward(gates, h_prev, gh_n, dh, da, da_hh, s.hidden);
    }
}

/// One row: `g` holds the input side `[x_r x_z x_n]` (with `b_ih`), `step` the hidden side
/// `[h_r h_z h_n]` (with `b_hh`). Leaves `[r z n]` in `g`, `h_n` in `gh_n`, and updates `h`.
fn forward<T: Scalar>(
    g: &mut [T],
    step: &[T],
    gh_n: &mut [T],
    h: &mut [T],
    out: &mut [T],
    hidden: usize,
) {
    for (a, &b) in g[..2 * hidden].iter_mut().zip(&step[..2 * hidden]) {
        *a += b;
    }
    T::sigmoid_in_place(&mut g[..2 * hidden]);
    gh_n.copy_from_slice(&step[2 * hidden..]);
    let (rz, gn) = g.split_at_mut(2 * hidden);
    for j in 0..hidden {
        gn[j] += rz[j] * gh_n[j];
    }
    T::tanh_in_place(gn);
    let gz = &rz[hidden..];
    for j in 0..hidden {
        let h_new = (T::one() - gz[j]) * gn[j] + gz[j] * h[j];
        h[j] = h_new;
        out[j] = h_new;
    }
}

/// One row. On entry `dh` is `dL/dh_t`; on return it holds `dL/dh_{t-1}` through `z` only.
/// `da` receives the input-side gradient `[r z n]`, `da_hh` the hidden-side one (`n` times `r`).
fn backward<T: Scalar>(
    gates: &[T],
    h_prev: &[T],
    gh_n: &[T],
    dh: &mut [T],
    da: &mut [T],
    da_hh: &mut [T],
    hidden: usize,
) {
    let (gr, rest) = gates.split_at(hidden);
    let (gz, gn) = rest.split_at(hidden);
    for j in 0..hidden {
        let (r, z, n) = (gr[j], gz[j], gn[j]);
        let d = dh[j];
        let da_n = d * (T::one() - z) * tanh_grad(n);
        let da_z = d * (h_prev[j] - n) * sigmoid_grad(z);
        let da_r = da_n * gh_n[j] * sigmoid_grad(r);
        da[j] = da_r;
        da[hidden + j] = da_z;
        da[2 * hidden + j] = da_n;
        da_hh[j] = da_r;
        da_hh[hidden + j] = da_z;
        da_hh[2 * hidden + j] = da_n * r;
        dh[j] = d * z;
    }
}
