//! Matrix products against a right-hand operand packed once and reused: the recurrent weights of a
//! sequence, the head of a language model.
//!
//! `op(B) [K, N]` is stored as panels of [`NR`] columns, each `[K][NR]` contiguous and zero-padded.
//! Every element of `C` is one fused multiply-add chain over `k = 0, 1, …, K-1`, started from zero
//! or from `C`: its value does not depend on how many rows are multiplied at once, on which row
//! block or thread computes it, or on the instruction set used. That is what makes a one-step
//! update bitwise identical to the same step inside a whole-sequence pass.

use crate::gemm::{Accum, Operand};
use crate::scalar::Scalar;
use crate::threads::{SendPtr, Threads};

/// Columns per packed panel.
pub const NR: usize = 32;
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
        unsafe { T::transpose_cols(ps.get(), rows, cols, j0, j1, pd.get()) };
    });
}

/// Columns of the source per piece of [`transpose`].
const TRANSPOSE_COLS: usize = 32;

/// Portable [`Scalar::transpose_cols`].
///
/// # Safety
/// As [`Scalar::transpose_cols`].
pub unsafe fn transpose_cols_generic<T: Copy>(
    src: *const T,
    rows: usize,
    cols: usize,
    j0: usize,
    j1: usize,
    dst: *mut T,
) {
    transpose_block(src, rows, cols, 0..rows, j0..j1, dst)
}

/// `dst[j][i] = src[i][j]` for `i` in `is`, `j` in `js`, element by element in strips of 8 rows.
///
/// # Safety
/// As [`Scalar::transpose_cols`], for the rows `js` of `dst`.
pub(crate) unsafe fn transpose_block<T: Copy>(
    src: *const T,
    rows: usize,
    cols: usize,
    is: std::ops::Range<usize>,
    js: std::ops::Range<usize>,
    dst: *mut T,
) {
    for i0 in is.clone().step_by(8) {
        for j in js.clone() {
            for i in i0..(i0 + 8).min(is.end) {
                *dst.add(j * rows + i) = *src.add(i * cols + j);
            }
        }
    }
}

/// Panels per parallel piece: depends on the panel count only, never on the thread count.
fn panels_per_piece(panels: usize) -> usize {
    panels.div_ceil(8).max(1)
}

/// `C[m×n] (+)= A[m×k] · op(B)` with `A` row-major (`lda`) and `op(B)` packed.
#[allow(clippy::too_many_arguments)]
pub fn matmul_packed<T: Scalar>(
    threads: &Threads,
    m: usize,
    a: &[T],
    lda: usize,
    b: &PackedB<T>,
    c: &mut [T],
    ldc: usize,
    accum: Accum,
) {
    let ld = if m == 1 { lda.max(b.k) } else { lda };
    matmul_packed_op(threads, m, Operand::new(a, ld), b, c, ldc, accum)
}

/// `C[m×n] (+)= op(A)[m×k] · op(B)` with `op(B)` packed; `op(A)` may be a transposed view (the
/// weight gradients read `δAᵀ` this way, without a transposed copy).
pub fn matmul_packed_op<T: Scalar>(
    threads: &Threads,
    m: usize,
    a: Operand<'_, T>,
    b: &PackedB<T>,
    c: &mut [T],
    ldc: usize,
    accum: Accum,
) {
    product(threads, m, a, b, c, ldc, accum == Accum::Add, None)
}

/// `C[m×n] = bias + A[m×k] · op(B)`, `bias [n]` added to every row: the same bits as filling
/// each row of `C` with `bias` and accumulating, but each tile of `C` is filled just before its
/// product, while it is in cache, and by the thread that computes it.
#[allow(clippy::too_many_arguments)]
pub fn matmul_packed_bias<T: Scalar>(
    threads: &Threads,
    m: usize,
    a: &[T],
    lda: usize,
    b: &PackedB<T>,
    bias: &[T],
    c: &mut [T],
    ldc: usize,
) {
    assert_eq!(bias.len(), b.n, "bias must have one value per column");
    let ld = if m == 1 { lda.max(b.k) } else { lda };
    product(
        threads,
        m,
        Operand::new(a, ld),
        b,
        c,
        ldc,
        true,
        Some(Init::Row(bias)),
    )
}

/// What the tiles of `C` start from in [`product`].
#[derive(Clone, Copy)]
pub(crate) enum Init<'a, T> {
    /// The same row for every row of `C`.
    Row(&'a [T]),
    /// Row `r` of `C` starts as row `rows[r]` of `table` (row stride `ld`).
    Gather {
        table: &'a [T],
        ld: usize,
        rows: &'a [u32],
    },
}

/// The product behind [`matmul_packed_op`] and [`matmul_packed_bias`]: with `init`, each tile
/// of `C` is first filled from it, just before its product accumulates onto it (`accumulate`
/// must then be set).
#[allow(clippy::too_many_arguments)]
pub(crate) fn product<T: Scalar>(
    threads: &Threads,
    m: usize,
    a: Operand<'_, T>,
    b: &PackedB<T>,
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
    init: Option<Init<'_, T>>,
) {
    debug_assert!(init.is_none() || accumulate);
    if let Some(Init::Gather { table, ld, rows }) = init {
        assert!(rows.len() >= m, "a gathered start row for every row of C");
        let n = b.n;
        assert!(
            rows[..m]
                .iter()
                .all(|&r| r as usize * ld + n <= table.len()),
            "gathered start row outside its table"
        );
    }
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
                if let Some(init) = init {
                    for r in r0..r0 + rows {
                        let from = match init {
                            Init::Row(row) => &row[j0..j0 + cols],
                            Init::Gather { table, ld, rows } => {
                                let s = rows[r] as usize * ld + j0;
                                &table[s..s + cols]
                            }
                        };
                        // SAFETY: as below: this block of C belongs to this piece.
                        unsafe { pc.slice(r * ldc + j0, cols) }.copy_from_slice(from);
                    }
                }
                // SAFETY: bounds checked above; pieces own disjoint blocks of C.
                unsafe {
                    T::panel_kernel(
                        rows,
                        k,
                        pa.get().add(r0 * rsa),
                        rsa,
                        csa,
                        bp,
                        pc.get().add(r0 * ldc + j0),
                        ldc,
                        cols,
                        accumulate,
                    );
                }
            }
        }
    });
}

/// Portable panel kernel: `C[rows, cols] (+)= A[rows, k] · P[k, NR]` one chain per element.
///
/// # Safety
/// `a` must address `rows × k` elements at `a[r·rsa + p·csa]`, `b` a whole `[k][NR]` panel,
/// and `c` `rows × cols` elements with row stride `ldc`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn panel_kernel_generic<T: Scalar>(
    rows: usize,
    k: usize,
    a: *const T,
    rsa: usize,
    csa: usize,
    b: *const T,
    c: *mut T,
    ldc: usize,
    cols: usize,
    accumulate: bool,
) {
    for r in 0..rows {
        for j in 0..cols {
            let out = c.add(r * ldc + j);
            let mut s = if accumulate { *out } else { T::zero() };
            for p in 0..k {
                s = (*a.add(r * rsa + p * csa)).mul_add(*b.add(p * NR + j), s);
            }
            *out = s;
        }
    }
}

/// Naive twin of [`matmul_packed`] on the unpacked operand, with the same per-element chain.
#[allow(clippy::too_many_arguments)]
pub fn matmul_chain_naive<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    lda: usize,
    b: Operand<'_, T>,
    c: &mut [T],
    ldc: usize,
    accum: Accum,
) {
    for i in 0..m {
        for j in 0..n {
            let mut s = match accum {
                Accum::Add => c[i * ldc + j],
                Accum::Replace => T::zero(),
            };
            for p in 0..k {
                s = a[i * lda + p].mul_add(b.at(p, j), s);
            }
            c[i * ldc + j] = s;
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    //! AVX-512 and AVX2 panel kernels for f32, and an AVX transpose.
    use super::NR;
    use std::arch::x86_64::*;

    /// [`crate::Scalar::transpose_cols`] for f32: 8×8 blocks through AVX registers where the
    /// CPU has AVX, element by element at the edges and elsewhere.
    ///
    /// # Safety
    /// As [`crate::Scalar::transpose_cols`].
    pub unsafe fn transpose_cols_f32(
        src: *const f32,
        rows: usize,
        cols: usize,
        j0: usize,
        j1: usize,
        dst: *mut f32,
    ) {
        if !is_x86_feature_detected!("avx") {
            return super::transpose_cols_generic(src, rows, cols, j0, j1, dst);
        }
        let full = rows - rows % 8;
        let j_end = j0 + (j1 - j0) / 8 * 8;
        let mut i = 0;
        while i < full {
            let mut j = j0;
            while j < j_end {
                block8x8(src.add(i * cols + j), cols, dst.add(j * rows + i), rows);
                j += 8;
            }
            i += 8;
        }
        // The rows below the last whole block, then the columns right of it.
        super::transpose_block(src, rows, cols, full..rows, j0..j_end, dst);
        super::transpose_block(src, rows, cols, 0..rows, j_end..j1, dst);
    }

    /// `dst[q][p] = src[p][q]` for an 8×8 block with row strides `lds` and `ldd`.
    #[target_feature(enable = "avx")]
    unsafe fn block8x8(src: *const f32, lds: usize, dst: *mut f32, ldd: usize) {
        let r: [__m256; 8] = std::array::from_fn(|p| _mm256_loadu_ps(src.add(p * lds)));
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let out = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        for (q, v) in out.iter().enumerate() {
            _mm256_storeu_ps(dst.add(q * ldd), *v);
        }
    }

    /// Rows per register block (AVX-512: 8 rows × 2 vectors = 16 accumulators).
    const MR512: usize = 8;
    /// Rows per register block (AVX2: 2 rows × 4 vectors = 8 accumulators).
    const MR256: usize = 2;

    /// Picks the widest kernel this CPU runs.
    ///
    /// # Safety
    /// As [`super::panel_kernel_generic`].
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn panel_kernel_f32(
        rows: usize,
        k: usize,
        a: *const f32,
        rsa: usize,
        csa: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        if is_x86_feature_detected!("avx512f") {
            // At most 16 live columns (the tail of an odd width, such as a 65-character head):
            // one vector per row, so the dead half of the panel costs nothing.
            if cols <= 16 {
                rows512::<16, false>(rows, k, a, rsa, csa, b, c, ldc, cols, accumulate);
            } else {
                rows512::<MR512, true>(rows, k, a, rsa, csa, b, c, ldc, cols, accumulate);
            }
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            let mut r = 0;
            while r + MR256 <= rows {
                block256::<MR256>(
                    k,
                    a.add(r * rsa),
                    rsa,
                    csa,
                    b,
                    c.add(r * ldc),
                    ldc,
                    cols,
                    accumulate,
                );
                r += MR256;
            }
            if r < rows {
                block256::<1>(
                    k,
                    a.add(r * rsa),
                    rsa,
                    csa,
                    b,
                    c.add(r * ldc),
                    ldc,
                    cols,
                    accumulate,
                );
            }
        } else {
            super::panel_kernel_generic(rows, k, a, rsa, csa, b, c, ldc, cols, accumulate);
        }
    }

    /// All rows of one panel in blocks of `MR` rows (then one block of the rest), each element
    /// the same chain whichever block computes it. `WIDE`: both halves of the panel are live.
    #[allow(clippy::too_many_arguments)]
    unsafe fn rows512<const MR: usize, const WIDE: bool>(
        rows: usize,
        k: usize,
        a: *const f32,
        rsa: usize,
        csa: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let mut r = 0;
        while r + MR <= rows {
            block512::<MR, WIDE>(
                k,
                a.add(r * rsa),
                rsa,
                csa,
                b,
                c.add(r * ldc),
                ldc,
                cols,
                accumulate,
            );
            r += MR;
        }
        macro_rules! tail {
            ($($n:literal)*) => {
                match rows - r {
                    0 => {}
                    $($n => block512::<$n, WIDE>(k, a.add(r * rsa), rsa, csa, b, c.add(r * ldc), ldc, cols, accumulate),)*
                    _ => unreachable!("a tail is shorter than MR <= 16"),
                }
            };
        }
        tail!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn block512<const R: usize, const WIDE: bool>(
        k: usize,
        a: *const f32,
        rsa: usize,
        csa: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let m0: __mmask16 = if cols >= 16 {
            0xFFFF
        } else {
            (1u32 << cols) as u16 - 1
        };
        let m1: __mmask16 = if cols >= 32 {
            0xFFFF
        } else if cols > 16 {
            (1u32 << (cols - 16)) as u16 - 1
        } else {
            0
        };
        let mut acc0 = [_mm512_setzero_ps(); R];
        let mut acc1 = [_mm512_setzero_ps(); R];
        if accumulate {
            for r in 0..R {
                acc0[r] = _mm512_maskz_loadu_ps(m0, c.add(r * ldc));
                if WIDE {
                    acc1[r] = _mm512_maskz_loadu_ps(m1, c.add(r * ldc + 16));
                }
            }
        }
        for p in 0..k {
            let b0 = _mm512_loadu_ps(b.add(p * NR));
            if WIDE {
                let b1 = _mm512_loadu_ps(b.add(p * NR + 16));
                for r in 0..R {
                    let av = _mm512_set1_ps(*a.add(r * rsa + p * csa));
                    acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
                    acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
                }
            } else {
                for r in 0..R {
                    let av = _mm512_set1_ps(*a.add(r * rsa + p * csa));
                    acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
                }
            }
        }
        for r in 0..R {
            _mm512_mask_storeu_ps(c.add(r * ldc), m0, acc0[r]);
            if WIDE {
                _mm512_mask_storeu_ps(c.add(r * ldc + 16), m1, acc1[r]);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block256<const R: usize>(
        k: usize,
        a: *const f32,
        rsa: usize,
        csa: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 4]; R];
        let mut tmp = [0.0f32; NR];
        if accumulate {
            for r in 0..R {
                tmp[..cols].copy_from_slice(std::slice::from_raw_parts(c.add(r * ldc), cols));
                for v in 0..4 {
                    acc[r][v] = _mm256_loadu_ps(tmp.as_ptr().add(8 * v));
                }
            }
        }
        for p in 0..k {
            let bv = [
                _mm256_loadu_ps(b.add(p * NR)),
                _mm256_loadu_ps(b.add(p * NR + 8)),
                _mm256_loadu_ps(b.add(p * NR + 16)),
                _mm256_loadu_ps(b.add(p * NR + 24)),
            ];
            for r in 0..R {
                let av = _mm256_set1_ps(*a.add(r * rsa + p * csa));
                for v in 0..4 {
                    acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
                }
            }
        }
        for r in 0..R {
            for v in 0..4 {
                _mm256_storeu_ps(tmp.as_mut_ptr().add(8 * v), acc[r][v]);
            }
            std::ptr::copy_nonoverlapping(tmp.as_ptr(), c.add(r * ldc), cols);
        }
    }
}
