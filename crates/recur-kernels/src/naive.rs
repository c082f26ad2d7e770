//! Naive twins of the sequence kernels: one element at a time, no GEMM, no reuse of buffers.
//! They exist to be obviously right; tests compare the fast kernels against them.

use crate::activation::{relu, sigmoid, tanh};
use crate::cell::{Cell, DirWeights, SeqPass, SeqShape};
use crate::scalar::Scalar;

/// A recurrent state, read only: `h [B, H]`, and `c [B, H]` for the LSTM (`None` otherwise).
#[derive(Clone, Copy, Debug)]
pub struct StateRef<'a, T> {
    /// Hidden state, or its gradient.
    pub h: &'a [T],
    /// Cell state (LSTM only), or its gradient.
    pub c: Option<&'a [T]>,
}

/// Outputs of [`forward_seq_naive`]: `out [T, B, H]`, `h_n [B, H]`, `c_n [B, H]` (LSTM).
#[derive(Clone, Debug)]
pub struct NaiveForward<T> {
    /// Per-step outputs, zero past each sequence's end.
    pub out: Vec<T>,
    /// Final hidden state.
    pub h_n: Vec<T>,
    /// Final cell state (LSTM only).
    pub c_n: Option<Vec<T>>,
}

/// Gradients from [`backward_seq_naive`], in PyTorch layouts.
#[derive(Clone, Debug)]
pub struct NaiveGrads<T> {
    /// `dL/dW_ih [G*H, I]`.
    pub w_ih: Vec<T>,
    /// `dL/dW_hh [G*H, H]`.
    pub w_hh: Vec<T>,
    /// `dL/db_ih [G*H]`.
    pub b_ih: Vec<T>,
    /// `dL/db_hh [G*H]`.
    pub b_hh: Vec<T>,
    /// `dL/dx [T, B, I]`.
    pub x: Vec<T>,
    /// `dL/dh0 [B, H]`.
    pub h0: Vec<T>,
    /// `dL/dc0 [B, H]` (LSTM only).
    pub c0: Option<Vec<T>>,
}

/// Per-step record of one sequence row, for the naive backward pass.
struct StepRecord<T> {
    /// Pre-activations, input side `[G*H]` (with `b_ih`).
    ax: Vec<T>,
    /// Pre-activations, hidden side `[G*H]` (with `b_hh`).
    ah: Vec<T>,
    h_prev: Vec<T>,
    c_prev: Vec<T>,
}

fn bias<T: Scalar>(b: Option<&[T]>, k: usize) -> T {
    b.map_or(T::zero(), |b| b[k])
}

/// `W[k, :] · v + b[k]` for every `k`.
fn affine<T: Scalar>(w: &[T], b: Option<&[T]>, v: &[T], rows: usize) -> Vec<T> {
    let n = v.len();
    (0..rows)
        .map(|k| {
            let mut s = bias(b, k);
            for (p, &vp) in v.iter().enumerate() {
                s += w[k * n + p] * vp;
            }
            s
        })
        .collect()
}

/// One cell step from pre-activations: returns `(h, c)` and the activated gates.
fn cell_step<T: Scalar>(
    cell: Cell,
    ax: &[T],
    ah: &[T],
    h_prev: &[T],
    c_prev: &[T],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let hsz = h_prev.len();
    let mut h = vec![T::zero(); hsz];
    let mut c = c_prev.to_vec();
    let mut act = vec![T::zero(); ax.len()];
    for j in 0..hsz {
        match cell {
            Cell::RnnTanh => h[j] = tanh(ax[j] + ah[j]),
            Cell::RnnRelu => h[j] = relu(ax[j] + ah[j]),
            Cell::Lstm => {
                let i = sigmoid(ax[j] + ah[j]);
                let f = sigmoid(ax[hsz + j] + ah[hsz + j]);
                let g = tanh(ax[2 * hsz + j] + ah[2 * hsz + j]);
                let o = sigmoid(ax[3 * hsz + j] + ah[3 * hsz + j]);
                c[j] = f * c_prev[j] + i * g;
                h[j] = o * tanh(c[j]);
                act[j] = i;
                act[hsz + j] = f;
                act[2 * hsz + j] = g;
                act[3 * hsz + j] = o;
            }
            Cell::Gru => {
                let r = sigmoid(ax[j] + ah[j]);
                let z = sigmoid(ax[hsz + j] + ah[hsz + j]);
                let n = tanh(ax[2 * hsz + j] + r * ah[2 * hsz + j]);
                h[j] = (T::one() - z) * n + z * h_prev[j];
                act[j] = r;
                act[hsz + j] = z;
                act[2 * hsz + j] = n;
            }
        }
    }
    (h, c, act)
}

fn order(steps: usize, reverse: bool) -> Vec<usize> {
    if reverse {
        (0..steps).rev().collect()
    } else {
        (0..steps).collect()
    }
}

type Records<T> = Vec<Vec<Option<StepRecord<T>>>>;

fn run<T: Scalar>(
    pass: SeqPass<'_>,
    x: &[T],
    w: DirWeights<'_, T>,
    start: StateRef<'_, T>,
) -> (NaiveForward<T>, Records<T>) {
    let SeqPass {
        cell,
        shape,
        reverse,
        lengths,
    } = pass;
    let StateRef { h: h0, c: c0 } = start;
    let SeqShape {
        steps,
        batch,
        input,
        hidden,
    } = shape;
    let gh = cell.gates() * hidden;
    let mut out = vec![T::zero(); steps * batch * hidden];
    let mut h_n = h0.to_vec();
    let mut c_n = c0.map_or(vec![T::zero(); batch * hidden], |c| c.to_vec());
    let mut records: Records<T> = (0..steps)
        .map(|_| (0..batch).map(|_| None).collect())
        .collect();
    for b in 0..batch {
        let mut h = h0[b * hidden..(b + 1) * hidden].to_vec();
        let mut c = c_n[b * hidden..(b + 1) * hidden].to_vec();
        for t in order(steps, reverse) {
            if !SeqShape::valid(lengths, t, b) {
                continue;
            }
            let xt = &x[(t * batch + b) * input..(t * batch + b + 1) * input];
            let ax = affine(w.w_ih, w.b_ih, xt, gh);
            let ah = affine(w.w_hh, w.b_hh, &h, gh);
            let (h_new, c_new, _) = cell_step(cell, &ax, &ah, &h, &c);
            records[t][b] = Some(StepRecord {
                ax,
                ah,
                h_prev: h.clone(),
                c_prev: c.clone(),
            });
            h = h_new;
            c = c_new;
            out[(t * batch + b) * hidden..(t * batch + b + 1) * hidden].copy_from_slice(&h);
        }
        h_n[b * hidden..(b + 1) * hidden].copy_from_slice(&h);
        c_n[b * hidden..(b + 1) * hidden].copy_from_slice(&c);
    }
    let c_n = cell.has_cell_state().then_some(c_n);
    (NaiveForward { out, h_n, c_n }, records)
}

/// Naive twin of [`crate::forward_seq`] on rows `x [T, B, I]`, from the state `start` (output
/// `[T, B, H]`, not strided).
pub fn forward_seq_naive<T: Scalar>(
    pass: SeqPass<'_>,
    x: &[T],
    w: DirWeights<'_, T>,
    start: StateRef<'_, T>,
) -> NaiveForward<T> {
    run(pass, x, w, start).0
}

/// Naive twin of [`crate::backward_seq`]: recomputes the forward pass and returns all gradients
/// for the loss `Σ d_out·out + Σ d_h_n·h_n (+ Σ d_c_n·c_n)`, `d_out [T, B, H]` and
/// `d_end = (d_h_n, d_c_n)`.
pub fn backward_seq_naive<T: Scalar>(
    pass: SeqPass<'_>,
    x: &[T],
    w: DirWeights<'_, T>,
    start: StateRef<'_, T>,
    d_out: &[T],
    d_end: StateRef<'_, T>,
) -> NaiveGrads<T> {
    let SeqPass {
        cell,
        shape,
        reverse,
        ..
    } = pass;
    let StateRef { h: d_h_n, c: d_c_n } = d_end;
    let SeqShape {
        steps,
        batch,
        input,
        hidden,
    } = shape;
    let gh = cell.gates() * hidden;
    let (_, records) = run(pass, x, w, start);
    let zero = T::zero();
    let mut g = NaiveGrads {
        w_ih: vec![zero; gh * input],
        w_hh: vec![zero; gh * hidden],
        b_ih: vec![zero; gh],
        b_hh: vec![zero; gh],
        x: vec![zero; steps * batch * input],
        h0: vec![zero; batch * hidden],
        c0: cell.has_cell_state().then(|| vec![zero; batch * hidden]),
    };
    let mut backward_order = order(steps, reverse);
    backward_order.reverse();
    for b in 0..batch {
        let mut dh = d_h_n[b * hidden..(b + 1) * hidden].to_vec();
        let mut dc = d_c_n.map_or(vec![zero; hidden], |d| {
            d[b * hidden..(b + 1) * hidden].to_vec()
        });
        for &t in &backward_order {
            let Some(rec) = &records[t][b] else { continue };
            for j in 0..hidden {
                dh[j] += d_out[(t * batch + b) * hidden + j];
            }
            let (h, c, act) = cell_step(cell, &rec.ax, &rec.ah, &rec.h_prev, &rec.c_prev);
            // Gradients at the input-side and hidden-side pre-activations.
            let mut dax = vec![zero; gh];
            let mut dah = vec![zero; gh];
            let mut dh_prev = vec![zero; hidden];
            for j in 0..hidden {
                match cell {
                    Cell::RnnTanh => dax[j] = dh[j] * (T::one() - h[j] * h[j]),
                    Cell::RnnRelu => {
                        dax[j] = if h[j] > zero { dh[j] } else { zero };
                    }
                    Cell::Lstm => {
                        let (i, f, gg, o) = (
                            act[j],
                            act[hidden + j],
                            act[2 * hidden + j],
                            act[3 * hidden + j],
                        );
                        let tc = tanh(c[j]);
                        let dct = dc[j] + dh[j] * o * (T::one() - tc * tc);
                        dax[j] = dct * gg * i * (T::one() - i);
                        dax[hidden + j] = dct * rec.c_prev[j] * f * (T::one() - f);
                        dax[2 * hidden + j] = dct * i * (T::one() - gg * gg);
                        dax[3 * hidden + j] = dh[j] * tc * o * (T::one() - o);
                        dc[j] = dct * f;
                    }
                    Cell::Gru => {
                        let (r, z, n) = (act[j], act[hidden + j], act[2 * hidden + j]);
                        let dn = dh[j] * (T::one() - z) * (T::one() - n * n);
                        let dz = dh[j] * (rec.h_prev[j] - n) * z * (T::one() - z);
                        let dr = dn * rec.ah[2 * hidden + j] * r * (T::one() - r);
                        dax[j] = dr;
                        dax[hidden + j] = dz;
                        dax[2 * hidden + j] = dn;
                        dah[2 * hidden + j] = dn * r;
                        dh_prev[j] = dh[j] * z;
                    }
                }
            }
            if cell != Cell::Gru {
                dah.copy_from_slice(&dax);
            } else {
                dah[..2 * hidden].copy_from_slice(&dax[..2 * hidden]);
            }
            let xt = &x[(t * batch + b) * input..(t * batch + b + 1) * input];
            for k in 0..gh {
                g.b_ih[k] += dax[k];
                g.b_hh[k] += dah[k];
                for p in 0..input {
                    g.w_ih[k * input + p] += dax[k] * xt[p];
                    g.x[(t * batch + b) * input + p] += dax[k] * w.w_ih[k * input + p];
                }
                for p in 0..hidden {
                    g.w_hh[k * hidden + p] += dah[k] * rec.h_prev[p];
                    dh_prev[p] += dah[k] * w.w_hh[k * hidden + p];
                }
            }
            dh = dh_prev;
        }
        g.h0[b * hidden..(b + 1) * hidden].copy_from_slice(&dh);
        if let Some(dc0) = &mut g.c0 {
            dc0[b * hidden..(b + 1) * hidden].copy_from_slice(&dc);
        }
    }
    g
}
