//! Sequence pooling: one feature vector per sequence from a recurrent layer's outputs over each
//! sequence's valid steps.

use super::check_len;
use crate::error::{Error, Result};
use recur_kernels::Scalar;
use serde::{Deserialize, Serialize};

/// How a sequence's outputs become one feature vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The final state of each direction: the forward half of the output at the sequence's
    /// last valid step, the reverse half at its first step (together the last layer's `h_n`).
    Last,
    /// The mean of the outputs over the valid steps.
    Mean,
    /// The elementwise maximum of the outputs over the valid steps (the first step wins ties).
    Max,
}

impl std::str::FromStr for Pooling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "last" => Ok(Pooling::Last),
            "mean" => Ok(Pooling::Mean),
            "max" => Ok(Pooling::Max),
            _ => Err(Error::Config(format!(
                "pooling '{s}' is not one of last, mean, max"
            ))),
        }
    }
}

/// The shape of what is pooled: time-major outputs `[steps, batch, width]` of a layer with
/// `directions` directions (`width = directions · hidden`), and each sequence's valid length.
#[derive(Clone, Copy, Debug)]
pub struct PoolShape<'a> {
    /// `T`.
    pub steps: usize,
    /// `B`.
    pub batch: usize,
    /// `W`, a multiple of `directions`.
    pub width: usize,
    /// 1 or 2.
    pub directions: usize,
    /// `[B]`, each in `1..=T`.
    pub lengths: &'a [usize],
}

impl PoolShape<'_> {
    fn check<T>(&self, output: &[T]) -> Result<()> {
        check_len("Pooling lengths", self.lengths.len(), self.batch)?;
        check_len(
            "Pooling input",
            output.len(),
            self.steps * self.batch * self.width,
        )?;
        if self.directions == 0 || !self.width.is_multiple_of(self.directions) {
            return Err(Error::Input(format!(
                "Pooling: width {} is not a multiple of {} directions",
                self.width, self.directions
            )));
        }
        if let Some((k, &l)) = self
            .lengths
            .iter()
            .enumerate()
            .find(|(_, &l)| l == 0 || l > self.steps)
        {
            return Err(Error::Input(format!(
                "Pooling: sequence {k} has length {l}, outside 1..={}",
                self.steps
            )));
        }
        Ok(())
    }

    /// Index of `(t, k, j)` in the time-major buffer.
    fn at(&self, t: usize, k: usize, j: usize) -> usize {
        (t * self.batch + k) * self.width + j
    }
}

/// Pooled features `[B, W]`, with what the backward pass needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Pooled<T> {
    /// `[B, W]`.
    pub features: Vec<T>,
    /// For [`Pooling::Max`], the step each feature came from, `[B, W]`.
    argmax: Vec<usize>,
}

impl Pooling {
    /// Pools `output [T, B, W]` into `[B, W]` over each sequence's valid steps.
    ///
    /// # Errors
    /// [`Error::Input`] when the buffer or a length does not fit `shape`.
    pub fn forward<T: Scalar>(&self, output: &[T], shape: &PoolShape<'_>) -> Result<Pooled<T>> {
        shape.check(output)?;
        let (b, w) = (shape.batch, shape.width);
        let half = w / shape.directions;
        let mut features = vec![T::zero(); b * w];
        let mut argmax = vec![0usize; if *self == Pooling::Max { b * w } else { 0 }];
        for k in 0..b {
            let len = shape.lengths[k];
            let f = &mut features[k * w..(k + 1) * w];
            match self {
                Pooling::Last => {
                    for (j, fj) in f.iter_mut().enumerate() {
                        let t = if j < half { len - 1 } else { 0 };
                        *fj = output[shape.at(t, k, j)];
                    }
                }
                Pooling::Mean => {
                    for t in 0..len {
                        let row = &output[shape.at(t, k, 0)..shape.at(t, k, w)];
                        for (fj, &v) in f.iter_mut().zip(row) {
                            *fj += v;
                        }
                    }
                    let n = T::of(len as f64);
                    f.iter_mut().for_each(|v| *v = *v / n);
                }
                Pooling::Max => {
                    f.fill(T::neg_infinity());
                    for t in 0..len {
                        for j in 0..w {
                            let v = output[shape.at(t, k, j)];
                            if v > f[j] {
                                f[j] = v;
                                argmax[k * w + j] = t;
                            }
                        }
                    }
                }
            }
        }
        Ok(Pooled { features, argmax })
    }

    /// The gradient `[T, B, W]` of the outputs from that of the features `[B, W]` (zero past
    /// each sequence's end).
    ///
    /// # Errors
    /// [`Error::Input`] when the buffers do not fit `shape`.
    pub fn backward<T: Scalar>(
        &self,
        pooled: &Pooled<T>,
        d_features: &[T],
        shape: &PoolShape<'_>,
    ) -> Result<Vec<T>> {
        let (b, w) = (shape.batch, shape.width);
        check_len("Pooling feature gradient", d_features.len(), b * w)?;
        check_len("Pooled features", pooled.features.len(), b * w)?;
        let mut d_out = vec![T::zero(); shape.steps * b * w];
        shape.check(&d_out)?;
        let half = w / shape.directions;
        for k in 0..b {
            let len = shape.lengths[k];
            let df = &d_features[k * w..(k + 1) * w];
            match self {
                Pooling::Last => {
                    for (j, &g) in df.iter().enumerate() {
                        let t = if j < half { len - 1 } else { 0 };
                        d_out[shape.at(t, k, j)] = g;
                    }
                }
                Pooling::Mean => {
                    let n = T::of(len as f64);
                    for t in 0..len {
                        let at = shape.at(t, k, 0);
                        for (r, &g) in d_out[at..at + w].iter_mut().zip(df) {
                            *r = g / n;
                        }
                    }
                }
                Pooling::Max => {
                    for (j, &g) in df.iter().enumerate() {
                        d_out[shape.at(pooled.argmax[k * w + j], k, j)] = g;
                    }
                }
            }
        }
        Ok(d_out)
    }
}
