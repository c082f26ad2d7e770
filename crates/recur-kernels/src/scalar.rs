//! The element types kernels run on: `f32` for real work, `f64` for gradient checks.

use num_traits::Float;
use std::fmt::Debug;
use std::ops::{AddAssign, MulAssign, SubAssign};

/// A floating-point element type with a strided GEMM.
///
/// Implemented for `f32` (training and inference) and `f64` (central-difference gradient checks).
pub trait Scalar:
    Float + AddAssign + SubAssign + MulAssign + Send + Sync + Debug + Default + 'static
{
    /// Converts from `f64` (rounding for `f32`).
    fn of(v: f64) -> Self;

    /// `v[i] = sigmoid(v[i])`, vectorised for `f32`.
    fn sigmoid_in_place(v: &mut [Self]);

    /// `v[i] = tanh(v[i])`, vectorised for `f32`.
    fn tanh_in_place(v: &mut [Self]);

    /// `v[i] = e^v[i]`, vectorised for `f32`.
    fn exp_in_place(v: &mut [Self]);

    /// One panel of [`crate::packed::matmul_packed`]: `C[rows, cols] (+)= A[rows, k] · P[k, NR]`,
    /// one fused multiply-add chain per element.
    ///
    /// # Safety
    /// As [`crate::packed::panel_kernel_generic`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn panel_kernel(
        rows: usize,
        k: usize,
        a: *const Self,
        rsa: usize,
        csa: usize,
        b: *const Self,
        c: *mut Self,
        ldc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        crate::packed::panel_kernel_generic(rows, k, a, rsa, csa, b, c, ldc, cols, accumulate)
    }

    /// Columns `j0..j1` of a row-major `src [rows, cols]` into rows `j0..j1` of
    /// `dst [cols, rows]` (one piece of [`crate::packed::transpose`]).
    ///
    /// # Safety
    /// `src` must address `rows × cols` elements and `dst` `cols × rows`; no other thread may
    /// write rows `j0..j1` of `dst` meanwhile.
    unsafe fn transpose_cols(
        src: *const Self,
        rows: usize,
        cols: usize,
        j0: usize,
        j1: usize,
        dst: *mut Self,
    ) {
        crate::packed::transpose_cols_generic(src, rows, cols, j0, j1, dst)
    }

    /// `C = alpha·A·B + beta·C` over strided views, as `matrixmultiply` defines it.
    ///
    /// # Safety
    /// Every element addressed by the sizes and strides must lie inside its allocation, and `c`
    /// must not alias `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_strided(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

impl Scalar for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }

    fn sigmoid_in_place(v: &mut [f32]) {
        crate::fastmath::sigmoid_in_place(v)
    }

    fn tanh_in_place(v: &mut [f32]) {
        crate::fastmath::tanh_in_place(v)
    }

    fn exp_in_place(v: &mut [f32]) {
        crate::fastmath::exp_in_place(v)
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn panel_kernel(
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
        crate::packed::x86::panel_kernel_f32(rows, k, a, rsa, csa, b, c, ldc, cols, accumulate)
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn transpose_cols(
        src: *const f32,
        rows: usize,
        cols: usize,
        j0: usize,
        j1: usize,
        dst: *mut f32,
    ) {
        crate::packed::x86::transpose_cols_f32(src, rows, cols, j0, j1, dst)
    }

    unsafe fn gemm_strided(
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
    }
}

impl Scalar for f64 {
    fn of(v: f64) -> Self {
        v
    }

    // f64 serves gradient checks: exact library functions, speed is no concern.
    fn sigmoid_in_place(v: &mut [f64]) {
        v.iter_mut()
            .for_each(|x| *x = crate::activation::sigmoid(*x));
    }

    fn tanh_in_place(v: &mut [f64]) {
        v.iter_mut().for_each(|x| *x = x.tanh());
    }

    fn exp_in_place(v: &mut [f64]) {
        v.iter_mut().for_each(|x| *x = x.exp());
    }

    unsafe fn gemm_strided(
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        beta: f64,
        c: *mut f64,
        rsc: isize,
        csc: isize,
    ) {
        matrixmultiply::dgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
    }
}
