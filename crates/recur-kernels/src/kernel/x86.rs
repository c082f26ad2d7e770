//! AVX-512 and AVX2 panel kernels for f32, and an AVX transpose.

use super::{Panel, NR};
use crate::isa::isa;
use std::arch::x86_64::*;

/// [`super::Kernel::transpose_cols`] for f32: 8×8 blocks through AVX registers where the CPU
/// has AVX, element by element at the edges and elsewhere.
///
/// # Safety
/// As [`super::Kernel::transpose_cols`].
pub(super) unsafe fn transpose_cols_f32(
    src: *const f32,
    rows: usize,
    cols: usize,
    j0: usize,
    j1: usize,
    dst: *mut f32,
) {
    if !isa().avx {
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
/// As [`super::Kernel::panel_kernel`].
pub(super) unsafe fn panel_kernel_f32(p: &Panel<f32>) {
    let isa = isa();
    if isa.avx512f {
        // At most 16 live columns (the tail of an odd width, such as a 65-character head):
        // one vector per row, so the dead half of the panel costs nothing.
        if p.cols <= 16 {
            rows512::<16, false>(p);
        } else {
            rows512::<MR512, true>(p);
        }
    } else if isa.avx2_fma {
        let mut r = 0;
        while r + MR256 <= p.rows {
            block256::<MR256>(p, r);
            r += MR256;
        }
        if r < p.rows {
            block256::<1>(p, r);
        }
    } else {
        super::panel_kernel_generic(p);
    }
}

/// All rows of one panel in blocks of `MR` rows (then one block of the rest), each element
/// the same chain whichever block computes it. `WIDE`: both halves of the panel are live.
unsafe fn rows512<const MR: usize, const WIDE: bool>(p: &Panel<f32>) {
    let rows = p.rows;
    let mut r = 0;
    while r + MR <= rows {
        block512::<MR, WIDE>(p, r);
        r += MR;
    }
    macro_rules! tail {
        ($($n:literal)*) => {
            match rows - r {
                0 => {}
                $($n => block512::<$n, WIDE>(p, r),)*
                _ => unreachable!("a tail is shorter than MR <= 16"),
            }
        };
    }
    tail!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
}

/// Rows `r0..r0 + R` of a panel with AVX-512.
#[target_feature(enable = "avx512f")]
unsafe fn block512<const R: usize, const WIDE: bool>(p: &Panel<f32>, r0: usize) {
    let Panel {
        k,
        rsa,
        csa,
        b,
        ldc,
        cols,
        accumulate,
        ..
    } = *p;
    let (a, c) = (p.a.add(r0 * rsa), p.c.add(r0 * ldc));
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

/// Rows `r0..r0 + R` of a panel with AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn block256<const R: usize>(p: &Panel<f32>, r0: usize) {
    let Panel {
        k,
        rsa,
        csa,
        b,
        ldc,
        cols,
        accumulate,
        ..
    } = *p;
    let (a, c) = (p.a.add(r0 * rsa), p.c.add(r0 * ldc));
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
