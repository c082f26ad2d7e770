//! `Dropout`: inverted dropout, as `torch.nn.Dropout(p)` in training mode.

use super::check_len;
use crate::error::{Error, Result};
use crate::rng::Rng;
use recur_kernels::Scalar;

/// Zeroes each element with probability `p` in training and scales the rest by `1 / (1 - p)`,
/// so that evaluation (the identity) sees the same expected values (Srivastava et al. 2014;
/// PyTorch's `nn.Dropout`). The mask is drawn from recur's seeded [`Rng`], one draw per element
/// in order, so a run is reproducible (PyTorch's own masks differ).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    p: f64,
}

impl Dropout {
    /// Dropout with probability `p`.
    ///
    /// # Errors
    /// [`Error::Config`] unless `0 <= p < 1`.
    pub fn new(p: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::Config(format!(
                "dropout probability must be in [0, 1), got {p}"
            )));
        }
        Ok(Dropout { p })
    }

    /// The probability of dropping an element.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Applies dropout to `x` in place and writes the scale applied to each element into `mask`
    /// (`0` or `1 / (1 - p)`), which [`Self::backward`] needs. With `p = 0` nothing changes and
    /// `mask` is all ones.
    pub fn forward<T: Scalar>(&self, rng: &mut Rng, x: &mut [T], mask: &mut Vec<T>) {
        let keep = T::of(1.0 / (1.0 - self.p));
        mask.clear();
        mask.extend(x.iter_mut().map(|v| {
            let m = if self.p > 0.0 && rng.bernoulli(self.p) {
                T::zero()
            } else if self.p > 0.0 {
                keep
            } else {
                T::one()
            };
            *v *= m;
            m
        }));
    }

    /// `dy *= mask`: the gradient through the same mask.
    ///
    /// # Errors
    /// [`Error::Input`] when `mask` is not the size of `dy`.
    pub fn backward<T: Scalar>(&self, mask: &[T], dy: &mut [T]) -> Result<()> {
        check_len("Dropout mask", mask.len(), dy.len())?;
        for (d, &m) in dy.iter_mut().zip(mask) {
            *d *= m;
        }
        Ok(())
    }
}
