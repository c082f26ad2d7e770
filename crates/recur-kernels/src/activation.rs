//! Elementwise nonlinearities and their derivatives written in terms of the outputs.

use crate::scalar::Scalar;

/// Logistic sigmoid `1 / (1 + e^-x)`.
#[inline]
pub fn sigmoid<T: Scalar>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// Hyperbolic tangent.
#[inline]
pub fn tanh<T: Scalar>(x: T) -> T {
    x.tanh()
}

/// Rectified linear unit `max(x, 0)`.
#[inline]
pub fn relu<T: Scalar>(x: T) -> T {
    if x > T::zero() {
        x
    } else {
        T::zero()
    }
}

/// `d sigmoid / dx` given `y = sigmoid(x)`.
#[inline]
pub fn sigmoid_grad<T: Scalar>(y: T) -> T {
    y * (T::one() - y)
}

/// `d tanh / dx` given `y = tanh(x)`.
#[inline]
pub fn tanh_grad<T: Scalar>(y: T) -> T {
    T::one() - y * y
}

/// `d relu / dx` given `y = relu(x)` (0 at the kink, as PyTorch).
#[inline]
pub fn relu_grad<T: Scalar>(y: T) -> T {
    if y > T::zero() {
        T::one()
    } else {
        T::zero()
    }
}
