//! Fused forward pass of one direction of one recurrent layer over a whole sequence.
//!
//! One GEMM projects the inputs of every step; each step then runs one recurrent GEMM and one
//! fused pass over its gates. Nothing is allocated inside the time loop.

use crate::activation::relu;
use crate::cell::{Cell, DirWeights, PackedWeights, SeqCache, SeqShape, GATE_COST, ROWS_PER_PIECE};
use crate::gemm::Operand;
use crate::packed::{matmul_packed_bias, product, Init, PackedB};
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
    let vocab = table.len() / input;
    projected.clear();
    projected.resize(vocab * gh, T::zero());
    project_rows(threads, cell, vocab, table, input, w, packed, projected);
}

/// `gates [rows, G*H] = x [rows, I] · W_ihᵀ + b_ih (+ b_hh, except for the GRU, which keeps
/// `b_hh` for the step product)`.
#[allow(clippy::too_many_arguments)]
fn project_rows<T: Scalar>(
    threads: &Threads,
    cell: Cell,
    rows: usize,
    x: &[T],
    input: usize,
    w: DirWeights<'_, T>,
    packed: &PackedWeights<T>,
    gates: &mut [T],
) {
    let gh = packed.w_ih_t.dims().1;
    assert_eq!(
        packed.w_ih_t.dims(),
        (input, gh),
        "packed W_ih does not fit the shape"
    );
    let mut bias = vec![T::zero(); gh];
    fill_bias(
        &mut bias,
        w.b_ih,
        if cell == Cell::Gru { None } else { w.b_hh },
    );
    matmul_packed_bias(threads, rows, x, input, &packed.w_ih_t, &bias, gates, gh);
}

/// Runs one direction of one layer over a sequence.
///
/// Shapes: `x [T, B, I]` time-major; `h [B, H]` holds `h0` on entry and `h_n` on return; `c`
/// likewise for LSTM (`None` otherwise). `lengths [B]` (each `<= T`) marks the valid steps: past a
/// sequence's end its output is zero and its state is frozen, so `h_n` is the last valid state
/// and the reverse direction starts at the sequence's own end (PyTorch's packed semantics).
/// `packed` must hold `w` packed by [`PackedWeights::new`]; `w` supplies the biases.
#[allow(clippy::too_many_arguments)]
pub fn forward_seq<T: Scalar>(
    threads: &Threads,
    cell: Cell,
    shape: SeqShape,
    reverse: bool,
    x: &[T],
    w: DirWeights<'_, T>,
    packed: &PackedWeights<T>,
    lengths: Option<&[usize]>,
    h: &mut [T],
    c: Option<&mut [T]>,
    out: OutView<'_, T>,
    cache: &mut SeqCache<T>,
) {
    let input = SeqInput::Rows(x);
    forward_seq_input(
        threads, cell, shape, reverse, input, w, packed, lengths, h, c, out, cache,
    )
}

/// [`forward_seq`] for either kind of [`SeqInput`].
#[allow(clippy::too_many_arguments)]
pub fn forward_seq_input<T: Scalar>(
    threads: &Threads,
    cell: Cell,
    shape: SeqShape,
    reverse: bool,
    x: SeqInput<'_, T>,
    w: DirWeights<'_, T>,
    packed: &PackedWeights<T>,
    lengths: Option<&[usize]>,
    h: &mut [T],
    mut c: Option<&mut [T]>,
    out: OutView<'_, T>,
    cache: &mut SeqCache<T>,
) {
    let SeqShape {
        steps,
        batch,
        input,
        hidden,
    } = shape;
    let gh = cell.gates() * hidden;
    assert_eq!(h.len(), batch * hidden, "h must be [B, H]");
    assert_eq!(
        c.is_some(),
        cell.has_cell_state(),
        "c is required exactly for LSTM"
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
            project_rows(threads, cell, rows, x, input, w, packed, &mut cache.gates);
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
        if cell == Cell::Gru {
            // The hidden side starts from b_hh (or zero); the gate pass fills the input side.
            let step = &mut cache.step_gates;
            let init = w.b_hh.map(Init::Row);
            let add = init.is_some();
            recurrent_product(threads, batch, h_prev, &packed.w_hh_t, step, add, init);
        } else {
            // Gates start from the input projection: already there, or a row of the table.
            let init = step_tokens.map(|(rows, table)| Init::Gather {
                table,
                ld: gh,
                rows,
            });
            recurrent_product(threads, batch, h_prev, &packed.w_hh_t, gates, true, init);
        }
        // The fused gate pass, rows spread over the threads (every row is computed the same
        // way whichever thread takes it).
        let p = RowPtrs {
            gates: SendPtr(gates.as_mut_ptr()),
            h: SendPtr(h.as_mut_ptr()),
            c: SendPtr(
                c.as_deref_mut()
                    .map_or(std::ptr::null_mut(), |c| c.as_mut_ptr()),
            ),
            out: SendPtr(out.data.as_mut_ptr()),
            c_prev: SendPtr(cache.c_prev.as_mut_ptr()),
            tanh_c: SendPtr(cache.tanh_c.as_mut_ptr()),
            gh_n: SendPtr(cache.gh_n.as_mut_ptr()),
            step: SendPtr(cache.step_gates.as_mut_ptr()),
        };
        let (out_ld, out_col) = (out.ld, out.col);
        let chunks = batch.div_ceil(ROWS_PER_PIECE);
        threads.for_each_sized(chunks, batch * gh * GATE_COST, |chunk| {
            let rows = chunk * ROWS_PER_PIECE..((chunk + 1) * ROWS_PER_PIECE).min(batch);
            for b in rows {
                if let (Cell::Gru, Some((tokens, table))) = (cell, step_tokens) {
                    // The GRU's input side comes from the projected table row of the token.
                    let s = tokens[b] as usize * gh;
                    // SAFETY: row `b` of the gates is touched by this iteration only.
                    unsafe { p.gates.slice(b * gh, gh) }.copy_from_slice(&table[s..s + gh]);
                }
                // SAFETY: row `b` of every buffer is touched by this iteration only.
                unsafe { forward_row(cell, hidden, batch, t, b, lengths, out_ld, out_col, p) };
            }
        });
    }
}

/// Base pointers of the buffers one step's gate pass writes, row by row.
#[derive(Clone, Copy)]
struct RowPtrs<T> {
    gates: SendPtr<T>,
    h: SendPtr<T>,
    c: SendPtr<T>,
    out: SendPtr<T>,
    c_prev: SendPtr<T>,
    tanh_c: SendPtr<T>,
    gh_n: SendPtr<T>,
    step: SendPtr<T>,
}

/// The gate pass of row `b` at time `t`.
///
/// # Safety
/// The pointers must be those of one `forward_seq` step, and no other thread may touch row `b`.
#[allow(clippy::too_many_arguments)]
unsafe fn forward_row<T: Scalar>(
    cell: Cell,
    hidden: usize,
    batch: usize,
    t: usize,
    b: usize,
    lengths: Option<&[usize]>,
    out_ld: usize,
    out_col: usize,
    p: RowPtrs<T>,
) {
    let gh = cell.gates() * hidden;
    let out_row = p.out.slice((t * batch + b) * out_ld + out_col, hidden);
    let g = p.gates.slice(b * gh, gh);
    if !SeqShape::valid(lengths, t, b) {
        out_row.fill(T::zero());
        g.fill(T::zero());
        return;
    }
    let hb = p.h.slice(b * hidden, hidden);
    let r = (t * batch + b) * hidden;
    match cell {
        Cell::RnnTanh | Cell::RnnRelu => {
            if cell == Cell::RnnTanh {
                T::tanh_in_place(g);
            } else {
                g.iter_mut().for_each(|v| *v = relu(*v));
            }
            hb.copy_from_slice(g);
            out_row.copy_from_slice(g);
        }
        Cell::Lstm => {
            let cb = p.c.slice(b * hidden, hidden);
            p.c_prev.slice(r, hidden).copy_from_slice(cb);
            lstm_cell(g, cb, hb, p.tanh_c.slice(r, hidden), out_row, hidden);
        }
        Cell::Gru => {
            let step = p.step.slice(b * gh, gh);
            gru_cell(g, step, p.gh_n.slice(r, hidden), hb, out_row, hidden);
        }
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

/// `gates[B, G*H] (+)= h_prev[B, H] · W_hhᵀ`: added to what `gates` holds (`add`), to the rows
/// of `init` (which implies `add`), or from zero.
fn recurrent_product<T: Scalar>(
    threads: &Threads,
    batch: usize,
    h_prev: &[T],
    w_hh_t: &PackedB<T>,
    gates: &mut [T],
    add: bool,
    init: Option<Init<'_, T>>,
) {
    let (hidden, gh) = w_hh_t.dims();
    let a = Operand::new(h_prev, hidden.max(1));
    product(threads, batch, a, w_hh_t, gates, gh, add, init);
}

/// One LSTM row: activates `g = [i f g o]` in place, updates `c` and `h`.
fn lstm_cell<T: Scalar>(
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

/// One GRU row: `g` holds the input side `[x_r x_z x_n]` (with `b_ih`), `step` the hidden side
/// `[h_r h_z h_n]` (with `b_hh`). Leaves `[r z n]` in `g`, `h_n` in `gh_n`, and updates `h`.
fn gru_cell<T: Scalar>(
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
