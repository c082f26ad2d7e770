//! Matrix products against a right-hand operand packed once and reused: the recurrent weights of a
//! sequence, the head of a language model.
//!
//! `op(B) [K, N]` is stored as panels of [`NR`] columns, each `[K][NR]` contiguous and zero-padded.
//! Every element of `C` is one fused multiply-add chain over `k = 0, 1, …, K-1`, started from zero
//! or from `C`: its value does not depend on how many rows are multiplied at once, on which row
//! block or thread computes it, or on the instruction set used. That is what makes a one-step
//! update bitwise identical to the same step inside a whole-sequence pass.

use crate::gemm::{Accum, MatMut, Operand};
use crate::kernel::{Panel, Token};
use crate::scalar::Scalar;
use crate::threads::{SendPtr, Threads};

pub use crate::kernel::NR;
/// Rows of `A` kept hot in cache while every panel of a piece passes over them.
const MC: usize = 96;

/// `op(B)` packed into column panels.
#[derive(Clone, Debug, Default)]
pub struct PackedB<T> {
    k: usize,
    n: usize,
    panels: Vec<T>,
}

impl<T: Scalar> PackedB<T> {
    /// An empty packing; [`Self::pack`] fills it.
    pub fn new() -> Self {
        PackedB {
            k: 0,
            n: 0,
            panels: Vec::new(),
        }
    }

    /// Packs `op(B)` of shape `[k, n]`, reusing this buffer's memory.
    pub fn pack(&mut self, b: Operand<'_, T>, k: usize, n: usize) {
        self.pack_in(&Threads::single(), b, k, n)
    }

    /// [`Self::pack`] with the panels spread over `threads`.
    pub fn pack_in(&mut self, threads: &Threads, b: Operand<'_, T>, k: usize, n: usize) {
        let panels = n.div_ceil(NR);
        self.k = k;
        self.n = n;
        // Every element is written below (the columns past `n` with zeros), so a buffer of the
        // right size is reused as it is.
        self.panels.resize(panels * k * NR, T::zero());
        if k == 0 || n == 0 {
            return;
        }
        if b.transposed {
            assert!(b.data.len() >= (n - 1) * b.ld + k, "B: too short");
        } else {
            assert!(b.data.len() >= (k - 1) * b.ld + n, "B: too short");
        }
        let out = SendPtr(self.panels.as_mut_ptr());
        threads.for_each_sized(panels, k * n, |panel| {
            let j0 = panel * NR;
            let cols = NR.min(n - j0);
            // SAFETY: panel `panel` of the buffer belongs to this piece only.
            let dst = unsafe { out.slice(panel * k * NR, k * NR) };
            if cols < NR {
                for d in dst.chunks_exact_mut(NR) {
                    d[cols..].fill(T::zero());
                }
            }
            if b.transposed && cols == NR {
                // A whole panel is the transpose of NR stored rows: the register-block transpose
                // (stored rows j0..j0+NR, columns 0..k, row stride ld → dst [k, NR]).
                // SAFETY: it reads rows j0..j0+NR of the stored matrix at columns below k, all
                // inside `b.data` (asserted above), and writes this piece's panel only.
                unsafe {
                    T::transpose_cols(
                        Token(()),
                        b.data.as_ptr().add(j0 * b.ld),
                        NR,
                        b.ld,
                        0,
                        k,
                        dst.as_mut_ptr(),
                    )
                };
            } else if b.transposed {
                // Row j of the stored matrix is column j of op(B): walk it contiguously.
                for jj in 0..cols {
                    let row = &b.data[(j0 + jj) * b.ld..(j0 + jj) * b.ld + k];
                    for (p, &v) in row.iter().enumerate() {
                        dst[p * NR + jj] = v;
                    }
                }
            } else {
                for (p, d) in dst.chunks_exact_mut(NR).enumerate() {
                    d[..cols].copy_from_slice(&b.data[p * b.ld + j0..p * b.ld + j0 + cols]);
                }
            }
        });
    }

    /// A fresh packing of `op(B) [k, n]`.
    pub fn packed(b: Operand<'_, T>, k: usize, n: usize) -> Self {
        let mut p = Self::new();
        p.pack(b, k, n);
        p
    }

    /// `(k, n)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.k, self.n)
    }
}

/// `dst[cols, rows] = srcᵀ` for a row-major `src[rows, cols]`, the columns cut into pieces of
/// [`TRANSPOSE_COLS`] spread over `threads` (each writes its own rows of `dst`). The f32 path
/// moves 8×8 blocks through registers: with power-of-two strides, element-wise copies of larger
/// tiles evict their own cache lines (every destination row of a tile maps to the same set).
pub fn transpose<T: Scalar>(threads: &Threads, src: &[T], rows: usize, cols: usize, dst: &mut [T]) {
    assert!(src.len() >= rows * cols && dst.len() >= rows * cols);
    let pd = SendPtr(dst.as_mut_ptr());
    let ps = SendPtr(src.as_ptr() as *mut T);
    threads.for_each_sized(cols.div_ceil(TRANSPOSE_COLS), rows * cols, |block| {
        let j0 = block * TRANSPOSE_COLS;
        let j1 = (j0 + TRANSPOSE_COLS).min(cols);
        // SAFETY: rows j0..j1 of dst belong to this block only; bounds asserted above.
        unsafe { T::transpose_cols(Token(()), ps.get(), rows, cols, j0, j1, pd.get()) };
    });
}

/// Columns of the source per piece of [`transpose`].
const TRANSPOSE_COLS: usize = 32;

/// Panels per parallel piece: depends on the panel count only, never on the thread count.
fn panels_per_piece(panels: usize) -> usize {
    panels.div_ceil(8).max(1)
}

/// `C[m×n] (+)= A[m×k] · op(B)` with `A` row-major (`lda`) and `op(B)` packed.
pub fn matmul_packed<T: Scalar>(
    threads: &Threads,
    m: usize,
    a: &[T],
    lda: usize,
    b: &PackedB<T>,
    c: MatMut<'_, T>,
    accum: Accum,
) {
    let ld = if m == 1 { lda.max(b.k) } else { lda };
    matmul_packed_op(threads, m, Operand::new(a, ld), b, c, accum)
}

/// `C[m×n] (+)= op(A)[m×k] · op(B)` with `op(B)` packed; `op(A)` may be a transposed view (the
/// weight gradients read `δAᵀ` this way, without a transposed copy).
pub fn matmul_packed_op<T: Scalar>(
    threads: &Threads,
    m: usize,
    a: Operand<'_, T>,
    b: &PackedB<T>,
    c: MatMut<'_, T>,
    accum: Accum,
) {
    let start = match accum {
        Accum::Add => Start::C,
        Accum::Replace => Start::Zero,
    };
    product(threads, m, a, b, c, start)
}

/// `C[m×n] = bias + A[m×k] · op(B)`, `bias [n]` added to every row: the same bits as filling
/// each row of `C` with `bias` and accumulating, but each tile of `C` is filled just before its
/// product, while it is in cache, and by the thread that computes it.
pub fn matmul_packed_bias<T: Scalar>(
    threads: &Threads,
    m: usize,
    a: &[T],
    lda: usize,
    b: &PackedB<T>,
    bias: &[T],
    c: MatMut<'_, T>,
) {
    assert_eq!(bias.len(), b.n, "bias must have one value per column");
    let ld = if m == 1 { lda.max(b.k) } else { lda };
    product(threads, m, Operand::new(a, ld), b, c, Start::Row(bias))
}

/// What the tiles of `C` start from in [`product`].
#[derive(Clone, Copy)]
pub(crate) enum Start<'a, T> {
    /// Zero: `C = A · op(B)`.
    Zero,
    /// What `C` holds: `C += A · op(B)`.
    C,
    /// The same row for every row of `C`.
    Row(&'a [T]),
    /// Row `r` of `C` starts as row `rows[r]` of `table` (row stride `ld`).
    Gather {
        table: &'a [T],
        ld: usize,
        rows: &'a [u32],
    },
}

/// The product behind [`matmul_packed_op`] and [`matmul_packed_bias`]: each element one chain
/// from `start`; a [`Start::Row`] or [`Start::Gather`] fills each tile of `C` just before its
/// product accumulates onto it.
pub(crate) fn product<T: Scalar>(
    threads: &Threads,
    m: usize,
    a: Operand<'_, T>,
    b: &PackedB<T>,
    c: MatMut<'_, T>,
    start: Start<'_, T>,
) {
    let MatMut { data: c, ld: ldc } = c;
    if let Start::Gather { table, ld, rows } = start {
        assert!(rows.len() >= m, "a gathered start row for every row of C");
        let n = b.n;
        assert!(
            rows[..m]
                .iter()
                .all(|&r| r as usize * ld + n <= table.len()),
            "gathered start row outside its table"
        );
    }
    let accumulate = !matches!(start, Start::Zero);
    let fill = matches!(start, Start::Row(_) | Start::Gather { .. });
    let (k, n) = (b.k, b.n);
    if m == 0 || n == 0 {
        return;
    }
    a.check(m, k, "A");
    assert!(n <= ldc && (m - 1) * ldc + n <= c.len(), "C: too short");
    let (rsa, csa) = a.strides();
    let (rsa, csa) = (rsa as usize, csa as usize);
    let panels = n.div_ceil(NR);
    let per = panels_per_piece(panels);
    let panel_pieces = panels.div_ceil(per);
    // Few panels and many rows (a language model's head over all steps): split the rows too.
    let row_blocks = if panel_pieces < 8 && m >= 2 * MC {
        m.div_ceil(MC)
    } else {
        1
    };
    let rows_per_block = m.div_ceil(row_blocks);
    let pa = SendPtr(a.data.as_ptr() as *mut T);
    let pc = SendPtr(c.as_mut_ptr());
    threads.for_each_sized(panel_pieces * row_blocks, m * n * k, |piece| {
        let (piece, block) = (piece % panel_pieces, piece / panel_pieces);
        let first = piece * per;
        let last = (first + per).min(panels);
        let block_rows = block * rows_per_block..((block + 1) * rows_per_block).min(m);
        for r0 in block_rows.clone().step_by(MC) {
            let rows = MC.min(block_rows.end - r0);
            for panel in first..last {
                let j0 = panel * NR;
                let cols = NR.min(n - j0);
                let bp = b.panels[panel * k * NR..].as_ptr();
                if fill {
                    for r in r0..r0 + rows {
                        let from = match start {
                            Start::Row(row) => &row[j0..j0 + cols],
                            Start::Gather { table, ld, rows } => {
                                let s = rows[r] as usize * ld + j0;
                                &table[s..s + cols]
                            }
                            Start::Zero | Start::C => unreachable!("no tile to fill"),
                        };
                        // SAFETY: as below: this block of C belongs to this piece.
                        unsafe { pc.slice(r * ldc + j0, cols) }.copy_from_slice(from);
                    }
                }
                // SAFETY: bounds checked above; pieces own disjoint blocks of C.
                unsafe {
                    let panel = Panel {
                        rows,
                        k,
                        a: pa.get().add(r0 * rsa),
                        rsa,
                        csa,
                        b: bp,
                        c: pc.get().add(r0 * ldc + j0),
                        ldc,
                        cols,
                        accumulate,
                    };
                    T::panel_kernel(Token(()), &panel);
                }
            }
        }
    });
}

/// Naive twin of [`matmul_packed_op`] on the unpacked operand, with the same per-element
/// chain: `C[m×n] (+)= op(A)[m×k] · op(B)[k×n]`.
pub fn matmul_chain_naive<T: Scalar>(
    (m, n, k): (usize, usize, usize),
    a: Operand<'_, T>,
    b: Operand<'_, T>,
    c: MatMut<'_, T>,
    accum: Accum,
) {
    let MatMut { data: c, ld: ldc } = c;
    for i in 0..m {
        for j in 0..n {
            let mut s = match accum {
                Accum::Add => c[i * ldc + j],
                Accum::Replace => T::zero(),
            };
            for p in 0..k {
                s = a.at(i, p).mul_add(b.at(p, j), s);
            }
            c[i * ldc + j] = s;
        }
    }
}
