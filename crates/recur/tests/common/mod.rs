//! Helpers shared by the integration tests.
#![allow(dead_code)]

use recur::{Rng, Scalar, Tensor};

/// A tensor of uniform values in `[-scale, scale)`.
pub fn random<T: Scalar>(rng: &mut Rng, shape: &[usize], scale: f64) -> Tensor<T> {
    let n = shape.iter().product();
    let data = (0..n)
        .map(|_| T::of(rng.uniform_range(-scale, scale)))
        .collect();
    Tensor::new("random", shape, data).unwrap()
}

/// `max |a - b| / max |b|` (0 when both are empty).
pub fn max_rel_err<T: Scalar>(a: &[T], b: &[T]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let f = |v: T| v.to_f64().unwrap();
    let scale = b.iter().fold(0.0f64, |m, &v| m.max(f(v).abs())).max(1e-30);
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (&x, &y)| m.max((f(x) - f(y)).abs()));
    diff / scale
}

/// `Σ a·b`.
pub fn dot<T: Scalar>(a: &[T], b: &[T]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x * y).to_f64().unwrap())
        .sum()
}
