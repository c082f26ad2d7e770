//! Backward pass (backprop through time) of one direction of one layer over a whole sequence.
//!
//! The sequential part runs in reverse: one fused pass per step turns `dL/dh` into gate
//! gradients, then one GEMM carries them to the previous state. Weight gradients follow as single
//! GEMMs over all `T*B` rows, and the input gradient as one more. Equations: `docs/BACKWARD.md`.

use crate::cell::{
    DirGrads, DirWeights, SeqCache, SeqGradWork, SeqPass, SeqShape, GATE_COST, ROWS_PER_PIECE,
};
use crate::cells::{for_cell, BackStep, CellKernel};
use crate::gemm::{Accum, MatMut, Operand};
use crate::packed::{matmul_packed, matmul_packed_op, transpose, PackedB};
use crate::scalar::Scalar;
use crate::threads::{SendPtr, Threads};

/// The gradient arriving at a direction's per-step outputs: `d_out[(t*B + b) * ld + col + j]`.
#[derive(Clone, Copy, Debug)]
pub struct GradView<'a, T> {
    /// Gradient buffer, time-major.
    pub data: &'a [T],
    /// Row stride.
    pub ld: usize,
    /// First column of this direction.
    pub col: usize,
}

/// The gradients of a backward pass besides the input's: those arriving at the forward pass's
/// outputs and final state, and the parameter gradients.
#[derive(Debug)]
pub struct SeqGrads<'a, T> {
    /// The gradient at the per-step outputs.
    pub d_out: GradView<'a, T>,
    /// `[B, H]`: `dL/dh_n` on entry, `dL/dh0` on return.
    pub d_h: &'a mut [T],
    /// `[B, H]`: the LSTM's `dL/dc_n` on entry, `dL/dc0` on return; `None` for the other cells.
    pub d_c: Option<&'a mut [T]>,
    /// The parameter gradients, *added* to.
    pub params: DirGrads<'a, T>,
}

/// The input side of [`backward_seq`]: what the forward pass read, and where the
/// gradient with respect to it goes.
#[derive(Debug)]
pub enum SeqGradInput<'a, T> {
    /// The rows `x [T, B, I]` of [`crate::SeqInput::Rows`]; `dL/dx` is *added* to `d_x`.
    Rows {
        /// The forward input.
        x: &'a [T],
        /// `[T, B, I]`, added to.
        d_x: &'a mut [T],
    },
    /// The tokens and table of [`crate::SeqInput::Tokens`]. The gate gradients of all rows
    /// with the same token are summed first (`S [V, G*H]`), so that `dW_ih += Sᵀ · table` and
    /// `d_table += S · W_ih` cost `V` rows instead of `T·B`.
    Tokens {
        /// Token of every row, time-major `[T, B]`.
        tokens: &'a [u32],
        /// `[V, I]`.
        table: &'a [T],
        /// `[V, I]`, added to; `None` when the table is not trained (one-hot inputs).
        d_table: Option<&'a mut [T]>,
    },
}

/// Backward of [`crate::forward_seq`] with the same `pass`, input, and `w`, and the cache that
/// forward filled.
///
/// `grads.d_h [B, H]` holds `dL/dh_n` on entry and `dL/dh0` on return; `grads.d_c` likewise for
/// LSTM. Parameter gradients are *added* to `grads.params`; the input gradient is *added* to the
/// `d_x` (or `d_table`) of `x` (both directions of a bidirectional layer share it).
pub fn backward_seq<T: Scalar>(
    threads: &Threads,
    pass: SeqPass<'_>,
    x: SeqGradInput<'_, T>,
    w: DirWeights<'_, T>,
    cache: &SeqCache<T>,
    grads: SeqGrads<'_, T>,
    work: &mut SeqGradWork<T>,
) {
    for_cell!(pass.cell, C => backward_cell::<C, T>(threads, pass, x, w, cache, grads, work))
}

/// [`backward_seq`] for the cell `C`: the reverse time loop, then the products over all rows.
fn backward_cell<C: CellKernel, T: Scalar>(
    threads: &Threads,
    pass: SeqPass<'_>,
    x: SeqGradInput<'_, T>,
    w: DirWeights<'_, T>,
    cache: &SeqCache<T>,
    grads: SeqGrads<'_, T>,
    work: &mut SeqGradWork<T>,
) {
    let SeqPass {
        cell,
        shape,
        reverse,
        lengths,
    } = pass;
    let SeqGrads {
        d_out,
        d_h,
        mut d_c,
        params: grads,
    } = grads;
    assert_eq!(
        cache.shape,
        Some((cell, shape)),
        "cache is from another shape"
    );
    assert_eq!(
        d_c.is_some(),
        cell.has_cell_state(),
        "d_c is required exactly for LSTM"
    );
    let SeqShape {
        steps,
        batch,
        input,
        hidden,
    } = shape;
    debug_assert_eq!(C::GATES, cell.gates());
    let gh = C::GATES * hidden;
    let bh = batch * hidden;
    assert_eq!(d_h.len(), bh, "d_h must be [B, H]");
    assert!(
        d_c.as_ref().is_none_or(|d| d.len() == bh),
        "d_c must be [B, H]"
    );
    assert!(
        d_out.col + hidden <= d_out.ld
            && (shape.rows() == 0
                || (shape.rows() - 1) * d_out.ld + d_out.col + hidden <= d_out.data.len()),
        "d_out must hold [T, B, H] at column {} of rows of {}",
        d_out.col,
        d_out.ld
    );
    work.prepare(cell, shape);
    work.w_hh
        .pack_in(threads, Operand::new(w.w_hh, hidden), gh, hidden);
    let need_w_ih = match &x {
        SeqGradInput::Rows { .. } => true,
        SeqGradInput::Tokens {
            tokens,
            table,
            d_table,
        } => {
            assert_eq!(tokens.len(), shape.rows(), "tokens must be [T, B]");
            assert_eq!(table.len() % input, 0, "table must be [V, I]");
            if let Some(d) = d_table {
                assert_eq!(d.len(), table.len(), "d_table must be shaped as the table");
            }
            d_table.is_some()
        }
    };
    if need_w_ih {
        work.w_ih
            .pack_in(threads, Operand::new(w.w_ih, input), gh, input);
    }
    let split = C::SPLIT;
    // The bias gradients are summed as the gate pass writes each row (while it is in cache):
    // one partial sum per piece of rows, the pieces added in order at the end.
    let chunks = batch.div_ceil(ROWS_PER_PIECE);
    let sum_bias = grads.b_ih.is_some() || grads.b_hh.is_some();
    let sum_bias_hh = split && grads.b_hh.is_some();
    for (part, on) in [
        (&mut work.bias_part, sum_bias),
        (&mut work.bias_part_hh, sum_bias_hh),
    ] {
        part.clear();
        part.resize(if on { chunks * gh } else { 0 }, T::zero());
    }
    for s in (0..steps).rev() {
        let t = if reverse { steps - 1 - s } else { s };
        let span = t * batch * gh..(t + 1) * batch * gh;
        let p = BackStep {
            hidden,
            row0: t * batch,
            cache,
            d_h: SendPtr(d_h.as_mut_ptr()),
            d_c: SendPtr(
                d_c.as_deref_mut()
                    .map_or(std::ptr::null_mut(), |d| d.as_mut_ptr()),
            ),
            d_gates: SendPtr(work.d_gates.as_mut_ptr()),
            d_gates_hh: SendPtr(work.d_gates_hh.as_mut_ptr()),
        };
        let part = SendPtr(work.bias_part.as_mut_ptr());
        let part_hh = SendPtr(work.bias_part_hh.as_mut_ptr());
        threads.for_each_sized(chunks, batch * gh * GATE_COST, |chunk| {
            let rows = chunk * ROWS_PER_PIECE..((chunk + 1) * ROWS_PER_PIECE).min(batch);
            for b in rows {
                // SAFETY: row `b` of every written buffer is touched by this iteration only,
                // and so is the piece's own partial bias sum; the buffers are sized for the
                // cell (above).
                unsafe {
                    if SeqShape::valid(lengths, t, b) {
                        let o = (t * batch + b) * d_out.ld + d_out.col;
                        let dh = p.state(p.d_h, b);
                        for (dh, &g) in dh.iter_mut().zip(&d_out.data[o..o + hidden]) {
                            *dh += g;
                        }
                        C::backward_gates(&p, b);
                    } else {
                        p.grad(p.d_gates, b, C::GATES).fill(T::zero());
                        if split {
                            p.grad(p.d_gates_hh, b, C::GATES).fill(T::zero());
                        }
                    }
                    if sum_bias {
                        add_to(part.slice(chunk * gh, gh), p.grad(p.d_gates, b, C::GATES));
                    }
                    if sum_bias_hh {
                        let da_hh = p.grad(p.d_gates_hh, b, C::GATES);
                        add_to(part_hh.slice(chunk * gh, gh), da_hh);
                    }
                }
            }
        });
        // dL/dh_{t-1} += dA_hh · W_hh   ([B, G*H] · [G*H, H]), accumulated in the product
        // (the gate pass left in d_h only the part that bypasses W_hh: zero but for the GRU).
        let da_hh = if split {
            &work.d_gates_hh[span]
        } else {
            &work.d_gates[span]
        };
        let d_h = MatMut::new(&mut *d_h, hidden);
        matmul_packed(threads, batch, da_hh, gh, &work.w_hh, d_h, Accum::Add);
    }

    let rows = shape.rows();
    let SeqGradWork {
        d_gates,
        d_gates_hh,
        d_gates_t,
        rows_packed,
        token_sums,
        w_ih,
        bias_part,
        bias_part_hh,
        ..
    } = &mut *work;
    let d_gates_hh = if split { &d_gates_hh[..] } else { &d_gates[..] };
    let mut wg = WeightGrads {
        threads,
        gh,
        rows_packed,
        d_gates_t,
        copied_from: std::ptr::null(),
    };
    match x {
        SeqGradInput::Rows { x, d_x } => {
            assert_eq!(x.len(), rows * input, "x must be [T, B, I]");
            wg.add(d_gates, rows, x, input, grads.w_ih);
            wg.add(d_gates_hh, rows, &cache.h_prev, hidden, grads.w_hh);
            // dX += dA · W_ih   ([T*B, G*H] · [G*H, I])
            let d_x = MatMut::new(d_x, input);
            matmul_packed(threads, rows, d_gates, gh, w_ih, d_x, Accum::Add);
        }
        SeqGradInput::Tokens {
            tokens,
            table,
            d_table,
        } => {
            let vocab = table.len() / input;
            scatter_rows(threads, d_gates, gh, tokens, vocab, token_sums);
            // dW_ih += Sᵀ · table   ([G*H, V] · [V, I])
            wg.add(token_sums, vocab, table, input, grads.w_ih);
            wg.add(d_gates_hh, rows, &cache.h_prev, hidden, grads.w_hh);
            if let Some(d_table) = d_table {
                // d_table += S · W_ih   ([V, G*H] · [G*H, I])
                let d_table = MatMut::new(d_table, input);
                matmul_packed(threads, vocab, token_sums, gh, w_ih, d_table, Accum::Add);
            }
        }
    }
    // Both biases see the same gate gradient in all cells but the GRU.
    let parts_hh = if split {
        &bias_part_hh[..]
    } else {
        &bias_part[..]
    };
    for (db, parts) in [(grads.b_ih, &bias_part[..]), (grads.b_hh, parts_hh)] {
        if let Some(db) = db {
            for part in parts.chunks_exact(gh) {
                add_to(db, part);
            }
        }
    }
}

/// The weight-gradient products of one backward pass, `grad [G*H, ld] += δAᵀ · rows_of`, each
/// one product over all rows (the `T·B` steps, or the `V` token sums of a token input). Narrow
/// gate rows, and any feeding a narrow product, are read in place; wide ones are first copied
/// transposed (in parallel), because reading them in place strides by G·H floats per step of k,
/// which defeats the caches and the TLB (see [`COPY_MIN_WIDTH`]). A copy is reused when the next
/// product reads the same δA (all cells but the GRU).
struct WeightGrads<'a, 'w, T> {
    threads: &'a Threads,
    gh: usize,
    rows_packed: &'w mut PackedB<T>,
    d_gates_t: &'w mut Vec<T>,
    copied_from: *const T,
}

impl<T: Scalar> WeightGrads<'_, '_, T> {
    fn add(&mut self, source: &[T], rows: usize, rows_of: &[T], ld: usize, grad: &mut [T]) {
        let gh = self.gh;
        self.rows_packed
            .pack_in(self.threads, Operand::new(rows_of, ld), rows, ld);
        let da = if gh < COPY_MIN_WIDTH || ld <= IN_PLACE_MAX_COLS {
            Operand::t(source, gh)
        } else {
            if self.copied_from != source.as_ptr() {
                transpose(self.threads, source, rows, gh, self.d_gates_t);
                self.copied_from = source.as_ptr();
            }
            Operand::new(&self.d_gates_t[..], rows)
        };
        let grad = MatMut::new(grad, ld);
        matmul_packed_op(self.threads, gh, da, self.rows_packed, grad, Accum::Add);
    }
}

/// `sums [V, width] = Σ` of the rows of `m [N, width]` with the same token (starting from zero).
fn scatter_rows<T: Scalar>(
    threads: &Threads,
    m: &[T],
    width: usize,
    tokens: &[u32],
    vocab: usize,
    sums: &mut Vec<T>,
) {
    sums.clear();
    sums.resize(vocab * width, T::zero());
    add_rows_by(threads, sums, m, width, |r| tokens[r] as usize);
}

/// Gate rows at least this wide (`G·H` floats) are copied transposed before a weight-gradient
/// product: read in place, each step of the product's k-loop strides by `G·H` floats, and at
/// 2 KiB and above (a power of two here) every such read lands in the same few cache sets.
const COPY_MIN_WIDTH: usize = 512;

/// Products with at most this many output columns read the gate gradient in place whatever
/// its width: the transposed copy would cost more than the product loses.
const IN_PLACE_MAX_COLS: usize = 128;

/// `sum[j] += row[j]`.
fn add_to<T: Scalar>(sum: &mut [T], row: &[T]) {
    for (s, &v) in sum.iter_mut().zip(row) {
        *s += v;
    }
}

/// Adds row `r` of `m [N, width]` into row `target(r)` of `sums`, the columns cut into blocks
/// spread over the threads; every column is summed in row order whatever the thread count.
fn add_rows_by<T: Scalar>(
    threads: &Threads,
    sums: &mut [T],
    m: &[T],
    width: usize,
    target: impl Fn(usize) -> usize + Sync,
) {
    const COLS: usize = 64;
    let rows = m.len() / width;
    assert!((0..rows).all(|r| (target(r) + 1) * width <= sums.len()));
    let dst = SendPtr(sums.as_mut_ptr());
    threads.for_each_sized(width.div_ceil(COLS), m.len(), |piece| {
        let j0 = piece * COLS;
        let j1 = (j0 + COLS).min(width);
        for (r, row) in m.chunks_exact(width).enumerate() {
            // SAFETY: columns j0..j1 of every row of `sums` belong to this piece only; the
            // target rows lie inside `sums` (asserted above).
            let d = unsafe { dst.slice(target(r) * width + j0, j1 - j0) };
            for (d, &v) in d.iter_mut().zip(&row[j0..j1]) {
                *d += v;
            }
        }
    });
}
