//! The output layer of a language model fused with its loss: `logits = x · Wᵀ + b`, softmax
//! cross-entropy against the targets and, when training, every gradient of the layer — one
//! block of rows at a time, so that a block's logits, their gradient and the rows of `x` they
//! come from are still in cache when the next product reads them, and the whole layer is one
//! parallel job instead of six.
//!
//! The row blocks are fixed ([`HEAD_ROWS`]), whatever the thread count: each block's share of
//! `δW` and `δb` goes to its own slot, and the slots are added in block order afterwards, so the
//! result is bitwise the same for any number of threads.

use crate::gemm::{Accum, MatMut, Operand};
use crate::loss::{softmax_cross_entropy, sum_in_order, CrossEntropy};
use crate::packed::{matmul_packed_bias, matmul_packed_op, PackedB};
use crate::scalar::Scalar;
use crate::threads::{SendPtr, Threads};

/// Rows per block of [`linear_cross_entropy`].
pub const HEAD_ROWS: usize = 128;

/// The output layer's parameters as the forward pass reads them.
#[derive(Clone, Copy, Debug)]
pub struct HeadWeights<'a, T> {
    /// `Wᵀ [H, V]` packed ([`PackedB::pack`] of `Operand::t(W, H)`, `k = H`, `n = V`).
    pub weight_t: &'a PackedB<T>,
    /// `b [V]`.
    pub bias: &'a [T],
}

/// What the backward pass reads and writes.
#[derive(Debug)]
pub struct HeadGrads<'a, T> {
    /// `W [V, H]` packed ([`PackedB::pack`] of `Operand::new(W, H)`, `k = V`, `n = H`).
    pub weight: &'a PackedB<T>,
    /// `δW [V, H]`, added to.
    pub d_weight: &'a mut [T],
    /// `δb [V]`, added to.
    pub d_bias: &'a mut [T],
    /// `δx [N, H]`, overwritten.
    pub d_x: &'a mut [T],
}

/// Scratch of [`linear_cross_entropy`], reused across calls.
#[derive(Clone, Debug, Default)]
pub struct HeadWork<T> {
    logits: Vec<T>,
    d_logits: Vec<T>,
    /// The rows of `x` of each block, packed as the right operand of that block's `δW`.
    rows: Vec<PackedB<T>>,
    partial_w: Vec<T>,
    partial_b: Vec<T>,
}

impl<T: Scalar> HeadWork<T> {
    /// Empty scratch; the first call sizes it.
    pub fn new() -> Self {
        HeadWork {
            logits: Vec::new(),
            d_logits: Vec::new(),
            rows: Vec::new(),
            partial_w: Vec::new(),
            partial_b: Vec::new(),
        }
    }

    /// The logits `[N, V]` of the last call.
    pub fn logits(&self) -> &[T] {
        &self.logits
    }
}

/// For the rows of `x [N, H]`: `logits = x · Wᵀ + b`, and the softmax cross-entropy of every row
/// against `targets [N]` (summed, with the count of rows whose arg-max is the target, as
/// [`softmax_cross_entropy`]). With `grads`, the gradient of `scale · Σ loss` is added to `δW`
/// and `δb` and written to `δx`.
///
/// # Panics
/// If the shapes disagree (the message names the tensor) or a target is outside `0..V`.
pub fn linear_cross_entropy<T: Scalar>(
    threads: &Threads,
    x: &[T],
    targets: &[u32],
    head: HeadWeights<'_, T>,
    scale: T,
    mut grads: Option<HeadGrads<'_, T>>,
    work: &mut HeadWork<T>,
) -> CrossEntropy {
    let (h, v) = head.weight_t.dims();
    let n = targets.len();
    assert_eq!(x.len(), n * h, "x must be [N, H] with one target per row");
    assert_eq!(head.bias.len(), v, "bias must be [V]");
    if let Some(g) = &grads {
        assert_eq!(g.weight.dims(), (v, h), "packed W must be [V, H]");
        assert_eq!(g.d_weight.len(), v * h, "d_weight must be [V, H]");
        assert_eq!(g.d_bias.len(), v, "d_bias must be [V]");
        assert_eq!(g.d_x.len(), n * h, "d_x must be [N, H]");
    }
    let blocks = n.div_ceil(HEAD_ROWS);
    let training = grads.is_some();
    let zero = T::zero();
    work.logits.resize(n * v, zero);
    if training {
        work.d_logits.resize(n * v, zero);
        work.rows.resize_with(blocks, PackedB::new);
        work.partial_w.resize(blocks * v * h, zero);
        work.partial_b.resize(blocks * v, zero);
    }
    let partial_ce: Vec<std::sync::Mutex<CrossEntropy>> = (0..blocks)
        .map(|_| std::sync::Mutex::new(CrossEntropy::default()))
        .collect();
    let logits = SendPtr(work.logits.as_mut_ptr());
    let d_logits = SendPtr(work.d_logits.as_mut_ptr());
    let rows_packed = SendPtr(work.rows.as_mut_ptr());
    let partial_w = SendPtr(work.partial_w.as_mut_ptr());
    let partial_b = SendPtr(work.partial_b.as_mut_ptr());
    let d_x = grads.as_mut().map(|g| SendPtr(g.d_x.as_mut_ptr()));
    let weight = grads.as_ref().map(|g| g.weight);
    let macs = n * h * v * if training { 3 } else { 1 };
    threads.for_each_sized(blocks, macs, |block| {
        let r0 = block * HEAD_ROWS;
        let rows = HEAD_ROWS.min(n - r0);
        let xb = &x[r0 * h..(r0 + rows) * h];
        // SAFETY: block `block` owns rows r0..r0+rows of the logits, their gradient and δx, its
        // own packed rows and its own partial sums; nothing else touches them during the job.
        let lg = unsafe { logits.slice(r0 * v, rows * v) };
        let serial = Threads::single();
        let lgm = MatMut::new(&mut *lg, v);
        matmul_packed_bias(&serial, rows, xb, h, head.weight_t, head.bias, lgm);
        let targets = &targets[r0..r0 + rows];
        let mut dl = weight.map(|_| unsafe { d_logits.slice(r0 * v, rows * v) });
        let ce = softmax_cross_entropy(lg, v, targets, dl.as_deref_mut(), scale, &mut Vec::new());
        *partial_ce[block].lock().unwrap_or_else(|e| e.into_inner()) = ce;
        let (Some(weight), Some(dl)) = (weight, dl) else {
            return;
        };
        let dl = &*dl;
        let xa = Operand::new(xb, h);
        // δx rows = δlogits · W.
        let dx = unsafe { d_x.expect("training").slice(r0 * h, rows * h) };
        let dla = Operand::new(dl, v);
        matmul_packed_op(
            &serial,
            rows,
            dla,
            weight,
            MatMut::new(dx, h),
            Accum::Replace,
        );
        // This block's δW = δlogitsᵀ · x rows, and δb = the column sums of δlogits.
        let packed = unsafe { &mut *rows_packed.get().add(block) };
        packed.pack(xa, rows, h);
        let pw = unsafe { partial_w.slice(block * v * h, v * h) };
        let pw = MatMut::new(pw, h);
        matmul_packed_op(&serial, v, Operand::t(dl, v), packed, pw, Accum::Replace);
        let pb = unsafe { partial_b.slice(block * v, v) };
        pb.fill(T::zero());
        for row in dl.chunks_exact(v) {
            for (b, &g) in pb.iter_mut().zip(row) {
                *b += g;
            }
        }
    });
    if let Some(g) = grads {
        add_partials(threads, g.d_weight, &work.partial_w, blocks);
        add_partials(threads, g.d_bias, &work.partial_b, blocks);
    }
    sum_in_order(partial_ce)
}

/// `dst[i] += Σ_b partial[b][i]`, the blocks added in order; the elements spread over the
/// threads in fixed pieces.
fn add_partials<T: Scalar>(threads: &Threads, dst: &mut [T], partial: &[T], blocks: usize) {
    const PIECE: usize = 4096;
    let len = dst.len();
    let out = SendPtr(dst.as_mut_ptr());
    threads.for_each_sized(len.div_ceil(PIECE), len * blocks, |piece| {
        let lo = piece * PIECE;
        let hi = (lo + PIECE).min(len);
        // SAFETY: elements lo..hi belong to this piece only.
        let d = unsafe { out.slice(lo, hi - lo) };
        for b in 0..blocks {
            let p = &partial[b * len + lo..b * len + hi];
            for (d, &p) in d.iter_mut().zip(p) {
                *d += p;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::matmul_naive;
    use crate::loss::softmax_cross_entropy_naive;

    struct Gen(u64);
    impl Gen {
        fn vec(&mut self, n: usize, scale: f64) -> Vec<f64> {
            (0..n)
                .map(|_| {
                    self.0 = self
                        .0
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
                })
                .collect()
        }
    }

    /// The unfused composition, in f64: logits, loss and gradients.
    #[allow(clippy::type_complexity)]
    fn naive(
        x: &[f64],
        w: &[f64],
        b: &[f64],
        targets: &[u32],
        h: usize,
        v: usize,
        scale: f64,
    ) -> (f64, usize, Vec<f64>, Vec<f64>, Vec<f64>) {
        let n = targets.len();
        let mut logits = vec![0.0; n * v];
        for row in logits.chunks_exact_mut(v) {
            row.copy_from_slice(b);
        }
        let (xo, wt) = (Operand::new(x, h), Operand::t(w, h));
        matmul_naive((n, v, h), xo, wt, MatMut::new(&mut logits, v), Accum::Add);
        let (loss, correct, dl) = softmax_cross_entropy_naive(&logits, v, targets, scale);
        let mut dw = vec![0.0; v * h];
        let dwm = MatMut::new(&mut dw, h);
        matmul_naive((v, h, n), Operand::t(&dl, v), xo, dwm, Accum::Replace);
        let mut db = vec![0.0; v];
        for row in dl.chunks_exact(v) {
            for (d, &g) in db.iter_mut().zip(row) {
                *d += g;
            }
        }
        let mut dx = vec![0.0; n * h];
        let wo = Operand::new(w, h);
        let dxm = MatMut::new(&mut dx, h);
        matmul_naive((n, h, v), Operand::new(&dl, v), wo, dxm, Accum::Replace);
        (loss, correct, dw, db, dx)
    }

    #[test]
    fn matches_the_unfused_layer_and_ignores_the_thread_count() {
        // Rows off and on the block size; vocabularies off and on the 32-column panels.
        for (n, h, v) in [(1, 3, 2), (130, 17, 65), (300, 40, 33), (256, 64, 32)] {
            let mut gen = Gen(n as u64 * 31 + v as u64);
            let x = gen.vec(n * h, 1.0);
            let w = gen.vec(v * h, 0.5);
            let b = gen.vec(v, 0.5);
            let targets: Vec<u32> = (0..n).map(|i| ((i * 7 + 3) % v) as u32).collect();
            let scale = 1.0 / n as f64;
            let (loss, correct, dw, db, dx) = naive(&x, &w, &b, &targets, h, v, scale);
            let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
            let (x32, w32, b32) = (f(&x), f(&w), f(&b));
            let wt = PackedB::packed(Operand::t(&w32, h), h, v);
            let wp = PackedB::packed(Operand::new(&w32, h), v, h);
            let mut first = None;
            for count in [1, 2, 3] {
                let threads = Threads::new(count).unwrap();
                let mut work = HeadWork::new();
                // Start the sums away from zero: the layer adds to them.
                let (mut gw, mut gb) = (vec![1.0f32; v * h], vec![-1.0f32; v]);
                let mut gx = vec![7.0f32; n * h];
                let head = HeadWeights {
                    weight_t: &wt,
                    bias: &b32,
                };
                let grads = HeadGrads {
                    weight: &wp,
                    d_weight: &mut gw,
                    d_bias: &mut gb,
                    d_x: &mut gx,
                };
                let ce = linear_cross_entropy(
                    &threads,
                    &x32,
                    &targets,
                    head,
                    scale as f32,
                    Some(grads),
                    &mut work,
                );
                assert!((ce.loss_sum - loss).abs() < 1e-5 * loss.abs().max(1.0));
                assert_eq!(ce.correct, correct);
                let close = |got: &[f32], want: &[f64], offset: f64| {
                    got.iter()
                        .zip(want)
                        .all(|(&g, &w)| (g as f64 - offset - w).abs() < 1e-5)
                };
                assert!(close(&gw, &dw, 1.0), "d_weight ({n}, {h}, {v})");
                assert!(close(&gb, &db, -1.0), "d_bias ({n}, {h}, {v})");
                assert!(close(&gx, &dx, 0.0), "d_x ({n}, {h}, {v})");
                // Without gradients: the same loss and logits.
                let mut eval = HeadWork::new();
                let ce2 = linear_cross_entropy(
                    &threads,
                    &x32,
                    &targets,
                    head,
                    scale as f32,
                    None,
                    &mut eval,
                );
                assert_eq!(ce2, ce);
                assert_eq!(eval.logits(), work.logits());
                let all = (ce, gw, gb, gx);
                match &first {
                    None => first = Some(all),
                    Some(f) => assert!(*f == all, "{count} threads differ"),
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "x must be [N, H]")]
    fn a_wrong_input_shape_is_named() {
        let w = vec![0.0f32; 6];
        let wt = PackedB::packed(Operand::t(&w, 3), 3, 2);
        let head = HeadWeights {
            weight_t: &wt,
            bias: &[0.0, 0.0],
        };
        let mut work = HeadWork::new();
        linear_cross_entropy(
            &Threads::single(),
            &[0.0; 5],
            &[0, 1],
            head,
            1.0,
            None,
            &mut work,
        );
    }
}
