//! The raw-pointer kernels under the packed product and the strided GEMM: one panel of a
//! packed product, one piece of a transpose, one `matrixmultiply` call. Portable versions here,
//! the f32 x86 ones (AVX-512, AVX2, AVX) in [`x86`], chosen by the instruction sets probed once
//! ([`crate::isa`]).
//!
//! They are reached only through [`Kernel`], a supertrait of [`crate::Scalar`] in this private
//! module, whose methods take a [`Token`] that only this crate can make: outside code can use
//! `Scalar` as a bound but can neither implement it nor call these methods.

use num_traits::Float;

#[cfg(target_arch = "x86_64")]
mod x86;

/// Columns per packed panel.
pub const NR: usize = 32;

/// Proof that the caller is this crate (its field is private to the crate).
#[derive(Clone, Copy, Debug)]
pub struct Token(pub(crate) ());

/// One panel of a packed product: `C[rows, cols] (+)= A[rows, k] · P[k, NR]`, one fused
/// multiply-add chain per element, started from zero or (`accumulate`) from `C`.
#[derive(Clone, Copy, Debug)]
pub struct Panel<T> {
    /// Rows of `A` and `C`.
    pub rows: usize,
    /// Columns of `A`, rows of the panel.
    pub k: usize,
    /// `A`, element `(r, p)` at `a[r·rsa + p·csa]`.
    pub a: *const T,
    /// Row stride of `A`.
    pub rsa: usize,
    /// Column stride of `A`.
    pub csa: usize,
    /// A whole `[k][NR]` panel.
    pub b: *const T,
    /// `C`, element `(r, j)` at `c[r·ldc + j]`.
    pub c: *mut T,
    /// Row stride of `C`.
    pub ldc: usize,
    /// Live columns of the panel (`<= NR`).
    pub cols: usize,
    /// Start from `C` rather than from zero.
    pub accumulate: bool,
}

/// `C[m, n] = A[m, k] · B[k, n] + beta·C` over strided views, as `matrixmultiply` defines it
/// (with `alpha = 1`).
#[derive(Clone, Copy, Debug)]
pub struct Strided<T> {
    /// Rows of `A` and `C`.
    pub m: usize,
    /// Columns of `A`, rows of `B`.
    pub k: usize,
    /// Columns of `B` and `C`.
    pub n: usize,
    /// `A` with its row and column strides.
    pub a: (*const T, isize, isize),
    /// `B` with its row and column strides.
    pub b: (*const T, isize, isize),
    /// `0` (overwrite `C`) or `1` (add to it).
    pub beta: T,
    /// `C` with its row and column strides.
    pub c: (*mut T, isize, isize),
}

/// The raw-pointer kernels of an element type, a sealed supertrait of [`crate::Scalar`].
pub trait Kernel: Float {
    /// One panel of a packed product (see [`Panel`]).
    ///
    /// # Safety
    /// `a` must address `rows × k` elements at `a[r·rsa + p·csa]`, `b` a whole `[k][NR]`
    /// panel, and `c` `rows × cols` elements with row stride `ldc`; `c` must not alias the others.
    #[inline]
    unsafe fn panel_kernel(_: Token, p: &Panel<Self>) {
        panel_kernel_generic(p)
    }

    /// Columns `j0..j1` of a row-major `src [rows, cols]` into rows `j0..j1` of
    /// `dst [cols, rows]` (one piece of [`crate::packed::transpose`]).
    ///
    /// # Safety
    /// `src` must address `rows × cols` elements and `dst` `cols × rows`; no other thread may
    /// write rows `j0..j1` of `dst` meanwhile.
    #[inline]
    unsafe fn transpose_cols(
        _: Token,
        src: *const Self,
        rows: usize,
        cols: usize,
        j0: usize,
        j1: usize,
        dst: *mut Self,
    ) {
        transpose_cols_generic(src, rows, cols, j0, j1, dst)
    }

    /// A strided product (see [`Strided`]).
    ///
    /// # Safety
    /// Every element addressed by the sizes and strides must lie inside its allocation, and `c`
    /// must not alias `a` or `b`.
    unsafe fn gemm_strided(_: Token, g: Strided<Self>);
}

impl Kernel for f32 {
    #[cfg(target_arch = "x86_64")]
    #[inline]
    unsafe fn panel_kernel(_: Token, p: &Panel<f32>) {
        x86::panel_kernel_f32(p)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    unsafe fn transpose_cols(
        _: Token,
        src: *const f32,
        rows: usize,
        cols: usize,
        j0: usize,
        j1: usize,
        dst: *mut f32,
    ) {
        x86::transpose_cols_f32(src, rows, cols, j0, j1, dst)
    }

    unsafe fn gemm_strided(_: Token, g: Strided<f32>) {
        let Strided {
            m,
            k,
            n,
            a,
            b,
            beta,
            c,
        } = g;
        matrixmultiply::sgemm(
            m, k, n, 1.0, a.0, a.1, a.2, b.0, b.1, b.2, beta, c.0, c.1, c.2,
        )
    }
}

impl Kernel for f64 {
    unsafe fn gemm_strided(_: Token, g: Strided<f64>) {
        let Strided {
            m,
            k,
            n,
            a,
            b,
            beta,
            c,
        } = g;
        matrixmultiply::dgemm(
            m, k, n, 1.0, a.0, a.1, a.2, b.0, b.1, b.2, beta, c.0, c.1, c.2,
        )
    }
}

/// Portable [`Kernel::panel_kernel`].
///
/// # Safety
/// As [`Kernel::panel_kernel`].
pub unsafe fn panel_kernel_generic<T: Float>(p: &Panel<T>) {
    let Panel {
        rows,
        k,
        a,
        rsa,
        csa,
        b,
        c,
        ldc,
        cols,
        accumulate,
    } = *p;
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

/// Portable [`Kernel::transpose_cols`].
///
/// # Safety
/// As [`Kernel::transpose_cols`].
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
/// As [`Kernel::transpose_cols`], for the rows `js` of `dst`.
pub unsafe fn transpose_block<T: Copy>(
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
