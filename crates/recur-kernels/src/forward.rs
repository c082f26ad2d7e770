//! Fused forward pass of one direction of one recurrent layer over a whole sequence.
//!
//! One GEMM projects the inputs of every step; each step then runs one recurrent GEMM and one
//! fused pass over its gates. Nothing is allocated inside the time loop.

use crate::cell::{
    Cell, DirWeights, PackedWeights, SeqCache, SeqPass, SeqShape, GATE_COST, ROWS_PER_PIECE,
};
use crate::cells::{for_cell, CellKernel, FwdStep};
use crate::gemm::{MatMut, Operand};
use crate::packed::{matmul_packed_bias, product, PackedB, Start};
use crate::scalar::Scalar;
use crate::threads::{SendPtr, Threads};

/// Where a direction writes its per-step outputs: `out[(t*B + b) * ld + col + j]`.
#[derive(Debug)]
pub struct OutView<'a, T> {
    /// The output buffer, time-major.
    pub data: &'a mut [T],
    /// Row stride (`H`, or `2H` for a bidirectional layer).
    pub ld: usize,
    /// First column of this direction (`0` forward, `H` reverse).
    pub col: usize,
}

/// What a forward pass updates besides its cache: the recurrent state and the per-step outputs.
#[derive(Debug)]
pub struct SeqOut<'a, T> {
    /// `[B, H]`: `h0` on entry, `h_n` on return.
    pub h: &'a mut [T],
    /// `[B, H]`: the LSTM's `c0` on entry, `c_n` on return; `None` for the other cells.
    pub c: Option<&'a mut [T]>,
    /// Where the per-step outputs go.
    pub out: OutView<'a, T>,
}

/// The input of one direction of one layer over a sequence.
#[derive(Clone, Copy, Debug)]
pub enum SeqInput<'a, T> {
    /// `x [T, B, I]`, time-major.
    Rows(&'a [T]),
    /// Row `r` of the input is row `tokens[r]` of a table (an embedding, or the identity for
    /// one-hot inputs), and `projected [V, G*H]` holds that table already multiplied by `W_ihᵀ`
    /// with the biases added, by [`project_table`]. Each step then copies rows of `projected`
    /// instead of multiplying `T·B` input rows; the gates are bitwise the same as with
    /// [`SeqInput::Rows`] of the gathered table rows.
    Tokens {
        /// Token of every row, time-major `[T, B]`.
        tokens: &'a [u32],
        /// `[V, G*H]` from [`project_table`].
        projected: &'a [T],
    },
}

/// `projected [V, G*H] = table [V, I] · W_ihᵀ + biases`, the input projection of every row of a
/// table, computed exactly as [`forward_seq`] projects rows (so that a row of it is bitwise the
/// projection of that table row).
pub fn project_table<T: Scalar>(
    threads: &Threads,
    cell: Cell,
    table: &[T],
    input: usize,
    w: DirWeights<'_, T>,
    packed: &PackedWeights<T>,
    projected: &mut Vec<T>,
) {
    let gh = packed.w_ih_t.dims().1;
    assert!(
        input > 0 && table.len().is_multiple_of(input),
        "table must be [V, I]"
    );
    assert_eq!(
        packed.w_ih_t.dims().0,
        input,
        "packed W_ih does not fit the table"
    );
    let vocab = table.len() / input;
    projected.clear();
    projected.resize(vocab * gh, T::zero());
    project_rows(threads, cell, vocab, table, w, packed, projected);
}

/// `gates [rows, G*H] = x [rows, I] · W_ihᵀ + b_ih (+ b_hh, except for the GRU, which keeps
/// `b_hh` for the step product)`; `I` is that of `packed`.
fn project_rows<T: Scalar>(
    threads: &Threads,
    cell: Cell,
    rows: usize,
    x: &[T],
    w: DirWeights<'_, T>,
    packed: &PackedWeights<T>,
    gates: &mut [T],
) {
    let (input, gh) = packed.w_ih_t.dims();
    assert!(x.len() >= rows * input, "x must be [rows, I]");
    let mut bias = vec![T::zero(); gh];
    fill_bias(
        &mut bias,
        w.b_ih,
        if cell == Cell::Gru { None } else { w.b_hh },
    );
    let gates = MatMut::new(gates, gh);
    matmul_packed_bias(threads, rows, x, input, &packed.w_ih_t, &bias, gates);
}

/// Runs one direction of one layer over a sequence.
///
/// Shapes: `x [T, B, I]` time-major (or its tokens, [`SeqInput::Tokens`]); `state.h [B, H]` holds
/// `h0` on entry and `h_n` on return; `state.c` likewise for LSTM (`None` otherwise).
/// `pass.lengths [B]` (each `<= T`) marks the valid steps: past a sequence's end its output is zero
/// and its state is frozen, so `h_n` is the last valid state and the reverse direction starts at
/// the sequence's own end (PyTorch's packed semantics). `packed` must hold `w` packed by
/// [`PackedWeights::new`]; `w` supplies the biases.
pub fn forward_seq<T: Scalar>(
    threads: &Threads,
    pass: SeqPass<'_>,
    x: SeqInput<'_, T>,
    w: DirWeights<'_, T>,
    packed: &PackedWeights<T>,
    state: SeqOut<'_, T>,
    cache: &mut SeqCache<T>,
) {
    for_cell!(pass.cell, C => forward_cell::<C, T>(threads, pass, x, w, packed, state, cache))
}

/// [`forward_seq`] for the cell `C`: the time loop.
fn forward_cell<C: CellKernel, T: Scalar>(
    threads: &Threads,
    pass: SeqPass<'_>,
    x: SeqInput<'_, T>,
    w: DirWeights<'_, T>,
    packed: &PackedWeights<T>,
    state: SeqOut<'_, T>,
    cache: &mut SeqCache<T>,
) {
    let SeqPass {
        cell,
        shape,
        reverse,
        lengths,
    } = pass;
    let SeqOut { h, mut c, out } = state;
    let SeqShape {
        steps,
        batch,
        input,
        hidden,
    } = shape;
    debug_assert_eq!(C::GATES, cell.gates());
    let gh = C::GATES * hidden;
    assert_eq!(h.len(), batch * hidden, "h must be [B, H]");
    assert_eq!(
        c.is_some(),
        cell.has_cell_state(),
        "c is required exactly for LSTM"
    );
    assert!(
        c.as_ref().is_none_or(|c| c.len() == batch * hidden),
        "c must be [B, H]"
    );
    assert!(
        out.col + hidden <= out.ld
            && (shape.rows() == 0
                || (shape.rows() - 1) * out.ld + out.col + hidden <= out.data.len()),
        "out must hold [T, B, H] at column {} of rows of {}",
        out.col,
        out.ld
    );
    cache.prepare(cell, shape);

    assert_eq!(
        packed.w_hh_t.dims(),
        (hidden, gh),
        "packed W_hh does not fit the shape"
    );
    let rows = shape.rows();
    match x {
        SeqInput::Rows(x) => {
            assert_eq!(x.len(), rows * input, "x must be [T, B, I]");
            assert_eq!(
                packed.w_ih_t.dims(),
                (input, gh),
                "packed W_ih does not fit the shape"
            );
            project_rows(threads, cell, rows, x, w, packed, &mut cache.gates);
        }
        SeqInput::Tokens { tokens, projected } => {
            assert_eq!(tokens.len(), rows, "tokens must be [T, B]");
            assert_eq!(projected.len() % gh, 0, "projected table must be [V, G*H]");
            let vocab = projected.len() / gh;
            assert!(
                tokens.iter().all(|&t| (t as usize) < vocab),
                "token outside the projected table"
            );
            // The rows of `projected` are copied into the gates step by step, each just before
            // it is used (by the thread that uses it), in the loop below.
        }
    }
    let token_rows = match x {
        SeqInput::Tokens { tokens, projected } => Some((tokens, projected)),
        SeqInput::Rows(_) => None,
    };
    let bh = batch * hidden;
    for s in 0..steps {
        let t = if reverse { steps - 1 - s } else { s };
        let h_prev = &mut cache.h_prev[t * bh..(t + 1) * bh];
        h_prev.copy_from_slice(h);
        let gates = &mut cache.gates[t * batch * gh..(t + 1) * batch * gh];
        let h_prev = &cache.h_prev[t * bh..(t + 1) * bh];
        // This step's tokens and their projected rows (token input only).
        let step_tokens =
            token_rows.map(|(tokens, projected)| (&tokens[t * batch..(t + 1) * batch], projected));
        if C::SPLIT {
            // The hidden side starts from b_hh (or zero); the gate pass fills the input side.
            let step = &mut cache.step_gates;
            let start = w.b_hh.map_or(Start::Zero, Start::Row);
            recurrent_product(threads, batch, h_prev, &packed.w_hh_t, step, start);
        } else {
            // Gates start from the input projection: already there, or a row of the table.
            let start = step_tokens.map_or(Start::C, |(rows, table)| Start::Gather {
                table,
                ld: gh,
                rows,
            });
            recurrent_product(threads, batch, h_prev, &packed.w_hh_t, gates, start);
        }
        // The fused gate pass, rows spread over the threads (every row is computed the same
        // way whichever thread takes it).
        let p = FwdStep {
            hidden,
            row0: t * batch,
            gates: SendPtr(gates.as_mut_ptr()),
            h: SendPtr(h.as_mut_ptr()),
            c: SendPtr(
                c.as_deref_mut()
                    .map_or(std::ptr::null_mut(), |c| c.as_mut_ptr()),
            ),
            out: (SendPtr(out.data.as_mut_ptr()), out.ld, out.col),
            c_prev: SendPtr(cache.c_prev.as_mut_ptr()),
            tanh_c: SendPtr(cache.tanh_c.as_mut_ptr()),
            gh_n: SendPtr(cache.gh_n.as_mut_ptr()),
            hidden_side: SendPtr(cache.step_gates.as_mut_ptr()),
        };
        let chunks = batch.div_ceil(ROWS_PER_PIECE);
        threads.for_each_sized(chunks, batch * gh * GATE_COST, |chunk| {
            let rows = chunk * ROWS_PER_PIECE..((chunk + 1) * ROWS_PER_PIECE).min(batch);
            for b in rows {
                // SAFETY (all three blocks): row `b` of every buffer of the step is touched by
                // this iteration only, and the buffers are sized for the cell (above).
                if let (true, Some((tokens, table))) = (C::SPLIT, step_tokens) {
                    // A split cell's input side comes from the projected table row of the token.
                    let s = tokens[b] as usize * gh;
                    unsafe { p.gates(b, C::GATES) }.copy_from_slice(&table[s..s + gh]);
                }
                if SeqShape::valid(lengths, t, b) {
                    unsafe { C::forward_gates(&p, b) };
                } else {
                    unsafe {
                        p.out(b).fill(T::zero());
                        p.gates(b, C::GATES).fill(T::zero());
                    }
                }
            }
        });
    }
}

/// `row = b_ih (+ b_hh)`, or zero without biases.
fn fill_bias<T: Scalar>(row: &mut [T], b_ih: Option<&[T]>, b_hh: Option<&[T]>) {
    match (b_ih, b_hh) {
        (Some(a), Some(b)) => {
            for ((r, &a), &b) in row.iter_mut().zip(a).zip(b) {
                *r = a + b;
            }
        }
        (Some(a), None) | (None, Some(a)) => row.copy_from_slice(a),
        (None, None) => row.fill(T::zero()),
    }
}

/// `gates[B, G*H] (+)= h_prev[B, H] · W_hhᵀ`, from zero, from what `gates` holds, or from the
/// rows of `start`.
fn recurrent_product<T: Scalar>(
    threads: &Threads,
    batch: usize,
    h_prev: &[T],
    w_hh_t: &PackedB<T>,
    gates: &mut [T],
    start: Start<'_, T>,
) {
    let (hidden, gh) = w_hh_t.dims();
    let a = Operand::new(h_prev, hidden.max(1));
    product(threads, batch, a, w_hh_t, MatMut::new(gates, gh), start);
}
