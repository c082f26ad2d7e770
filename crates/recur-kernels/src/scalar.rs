//! The element types kernels run on: `f32` for real work, `f64` for gradient checks.

use crate::kernel::Kernel;
use num_traits::Float;
use std::fmt::Debug;
use std::ops::{AddAssign, MulAssign, SubAssign};

/// A floating-point element type the kernels run on.
///
/// Implemented for `f32` (training and inference) and `f64` (central-difference gradient checks),
/// and sealed: its raw-pointer kernels (the panel of a packed product, the transpose, the strided
/// GEMM) belong to a supertrait private to this crate.
pub trait Scalar:
    Float + AddAssign + SubAssign + MulAssign + Send + Sync + Debug + Default + 'static + Kernel
{
    /// Converts from `f64` (rounding for `f32`).
    fn of(v: f64) -> Self;

    /// `v[i] = sigmoid(v[i])`, vectorised for `f32`.
    fn sigmoid_in_place(v: &mut [Self]);

    /// `v[i] = tanh(v[i])`, vectorised for `f32`.
    fn tanh_in_place(v: &mut [Self]);

    /// `v[i] = e^v[i]`, vectorised for `f32`.
    fn exp_in_place(v: &mut [Self]);
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
}
