//! A minimal owned tensor: a shape and row-major data. Enough for layer inputs and outputs.

use crate::error::{Error, Result};
use recur_kernels::Scalar;

/// Row-major data with a shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<T> {
    shape: Vec<usize>,
    data: Vec<T>,
}

impl<T: Scalar> Tensor<T> {
    /// Wraps `data` as `shape`; `name` appears in the error when the sizes disagree.
    pub fn new(name: &str, shape: &[usize], data: Vec<T>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::Input(format!(
                "{name}: shape {shape:?} needs {n} elements, got {}",
                data.len()
            )));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            data,
        })
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Tensor {
            shape: shape.to_vec(),
            data: vec![T::zero(); shape.iter().product()],
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The elements, row-major.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// The elements, row-major, mutable.
    pub fn data_mut(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// The elements, consuming the tensor.
    pub fn into_data(self) -> Vec<T> {
        self.data
    }

    /// Fails with a message naming `name` unless the shape is `expected`.
    pub fn expect_shape(&self, name: &str, expected: &[usize]) -> Result<()> {
        if self.shape != expected {
            return Err(Error::Shape {
                name: name.to_string(),
                expected: expected.to_vec(),
                found: self.shape.clone(),
            });
        }
        Ok(())
    }
}

/// Swaps the first two axes of a row-major `[a, b, c]` buffer into `[b, a, c]`.
pub fn swap_leading_axes<T: Copy>(data: &[T], a: usize, b: usize, c: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(data.len());
    for j in 0..b {
        for i in 0..a {
            out.extend_from_slice(&data[(i * b + j) * c..(i * b + j + 1) * c]);
        }
    }
    out
}
