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
        let panels = n.div_ceil(NR);
        self.k = k;
        self.n = n;
        self.panels.clear();
        self.panels.resize(panels * k * NR, T::zero());
        if k == 0 {
            return;
        }
        for panel in 0..panels {
            let j0 = panel * NR;
            let cols = NR.min(n - j0);
            let dst = &mut self.panels[panel * k * NR..(panel + 1) * k * NR];
            if b.transposed {
                // Row j of the stored matrix is column j of op(B): walk it contiguously.
                for jj in 0..cols {
                    let row = &b.data[(j0 + jj) * b.ld..(j0 + jj) * b.ld + k];
                    for (p, &v) in row.iter().enumerate() {
                        dst[p * NR + jj] = v;
                    }
                }
            } else {
                for p in 0..k {
                    for jj in 0..cols {
                        dst[p * NR + jj] = b.at(p, j0 + jj);
                    }
                }
            }
        }
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

/// `dst[cols, rows] = srcᵀ` for a row-major `src[rows, cols]`, in cache-sized tiles, the column
/// blocks spread over `threads` (each writes its own rows of `dst`).
pub fn transpose<T: Scalar>(threads: &Threads, src: &[T], rows: usize, cols: usize, dst: &mut [T]) {
    const TILE: usize = 32;
    assert!(src.len() >= rows * cols && dst.len() >= rows * cols);
    let pd = SendPtr(dst.as_mut_ptr());
    threads.for_each_sized(cols.div_ceil(TILE), rows * cols, |block| {
        let j0 = block * TILE;
        let j1 = (j0 + TILE).min(cols);
        for i0 in (0..rows).step_by(TILE) {
            for i in i0..(i0 + TILE).min(rows) {
                for j in j0..j1 {
                    // SAFETY: row j of dst belongs to this block only; bounds asserted above.
                    unsafe { *pd.get().add(j * rows + i) = src[i * cols + j] };
                }
            }
        }
    });
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
    let pa = SendPtr(a.data.as_ptr() as *mut T);
    let pc = SendPtr(c.as_mut_ptr());
    let accumulate = accum == Accum::Add;
    threads.for_each_sized(panels.div_ceil(per), m * n * k, |piece| {
        let first = piece * per;
        let last = (first + per).min(panels);
        for r0 in (0..m).step_by(MC) {
            let rows = MC.min(m - r0);
            for panel in first..last {
                let j0 = panel * NR;
                let cols = NR.min(n - j0);
                let bp = b.panels[panel * k * NR..].as_ptr();
                // SAFETY: bounds checked above; pieces own disjoint column ranges of C.
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
    //! AVX-512 and AVX2 panel kernels for f32.
    use super::NR;
    use std::arch::x86_64::*;

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
            let mut r = 0;
            while r + MR512 <= rows {
                block512::<MR512>(
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
                r += MR512;
            }
            macro_rules! tail {
                ($($n:literal)*) => {
                    match rows - r {
                        0 => {}
                        $($n => block512::<$n>(k, a.add(r * rsa), rsa, csa, b, c.add(r * ldc), ldc, cols, accumulate),)*
                        _ => unreachable!(),
                    }
                };
            }
            tail!(1 2 3 4 5 6 7);
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

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn block512<const R: usize>(
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
                acc1[r] = _mm512_maskz_loadu_ps(m1, c.add(r * ldc + 16));
            }
        }
        for p in 0..k {
            let b0 = _mm512_loadu_ps(b.add(p * NR));
            let b1 = _mm512_loadu_ps(b.add(p * NR + 16));
            for r in 0..R {
                let av = _mm512_set1_ps(*a.add(r * rsa + p * csa));
                acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
                acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
            }
        }
        for r in 0..R {
            _mm512_mask_storeu_ps(c.add(r * ldc), m0, acc0[r]);
            _mm512_mask_storeu_ps(c.add(r * ldc + 16), m1, acc1[r]);
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
