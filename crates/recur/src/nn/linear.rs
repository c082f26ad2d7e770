//! `Linear`: `y = x Wᵀ + b`, as `torch.nn.Linear`.

use super::check_len;
use crate::error::{Error, Result};
use crate::io::{NamedTensor, TensorFile};
use crate::rng::Rng;
use recur_kernels::packed::matmul_packed_bias;
use recur_kernels::{matmul, matmul_packed_op, Accum, MatMut, Operand, PackedB, Scalar, Threads};

/// Shape of a [`Linear`] layer (`torch.nn.Linear(in_features, out_features, bias)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearConfig {
    /// Input width.
    pub in_features: usize,
    /// Output width.
    pub out_features: usize,
    /// Whether the layer adds a bias (PyTorch's default: true).
    pub bias: bool,
}

impl LinearConfig {
    /// A layer `in_features → out_features` with a bias.
    pub fn new(in_features: usize, out_features: usize) -> Self {
        LinearConfig {
            in_features,
            out_features,
            bias: true,
        }
    }

    /// Sets whether the layer has a bias.
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// PyTorch's initialisation: weight and bias from `U(-1/√in, 1/√in)` (what
    /// `kaiming_uniform_(a=√5)` gives for the weight), weight first, row by row.
    pub fn init<T: Scalar>(&self, rng: &mut Rng) -> Linear<T> {
        let k = 1.0 / (self.in_features.max(1) as f64).sqrt();
        let n = self.out_features * self.in_features;
        let weight = (0..n).map(|_| T::of(rng.uniform_range(-k, k))).collect();
        let bias = self.bias.then(|| {
            (0..self.out_features)
                .map(|_| T::of(rng.uniform_range(-k, k)))
                .collect()
        });
        Linear {
            config: *self,
            weight,
            bias,
        }
    }

    /// A layer with every parameter zero (to be loaded).
    pub fn zeros<T: Scalar>(&self) -> Linear<T> {
        Linear {
            config: *self,
            weight: vec![T::zero(); self.out_features * self.in_features],
            bias: self.bias.then(|| vec![T::zero(); self.out_features]),
        }
    }
}

/// A linear layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear<T> {
    config: LinearConfig,
    /// `weight [out_features, in_features]`.
    pub weight: Vec<T>,
    /// `bias [out_features]`, if the layer has one.
    pub bias: Option<Vec<T>>,
}

/// Gradients of a [`Linear`] layer, shaped as its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearGrads<T> {
    /// `[out_features, in_features]`.
    pub weight: Vec<T>,
    /// `[out_features]`.
    pub bias: Option<Vec<T>>,
}

impl<T: Scalar> LinearGrads<T> {
    /// Zero gradients for `layer`.
    pub fn zeros_like(layer: &Linear<T>) -> Self {
        LinearGrads {
            weight: vec![T::zero(); layer.weight.len()],
            bias: layer.bias.as_ref().map(|b| vec![T::zero(); b.len()]),
        }
    }

    /// The gradient buffers, weight first (the order of [`Linear::buffers_mut`]).
    pub fn buffers(&self) -> Vec<&[T]> {
        let mut v = vec![&self.weight[..]];
        v.extend(self.bias.as_deref());
        v
    }

    /// The gradient buffers, mutable.
    pub fn buffers_mut(&mut self) -> Vec<&mut [T]> {
        let mut v = vec![&mut self.weight[..]];
        v.extend(self.bias.as_deref_mut());
        v
    }
}

impl<T: Scalar> Linear<T> {
    /// The shape.
    pub fn config(&self) -> &LinearConfig {
        &self.config
    }

    /// Rows of an input of `len` values.
    fn rows(&self, name: &str, len: usize) -> Result<usize> {
        let i = self.config.in_features;
        if i == 0 || !len.is_multiple_of(i) {
            return Err(Error::Input(format!(
                "{name}: {len} values is not a whole number of rows of {i}"
            )));
        }
        Ok(len / i)
    }

    /// `y [N, out] = x [N, in] · Wᵀ + b`.
    ///
    /// # Errors
    /// [`Error::Input`] when `x` is not whole rows of `in_features` or `y` does not fit.
    pub fn forward(&self, threads: &Threads, x: &[T], y: &mut [T]) -> Result<()> {
        let (i, o) = (self.config.in_features, self.config.out_features);
        let n = self.rows("Linear input", x.len())?;
        check_len("Linear output", y.len(), n * o)?;
        let accum = match &self.bias {
            Some(b) => {
                for row in y.chunks_exact_mut(o) {
                    row.copy_from_slice(b);
                }
                Accum::Add
            }
            None => Accum::Replace,
        };
        let w = Operand::t(&self.weight, i);
        matmul(
            threads,
            (n, o, i),
            Operand::new(x, i),
            w,
            MatMut::new(y, o),
            accum,
        );
        Ok(())
    }

    /// Adds `dyᵀ · x` into `grads.weight` and the column sums of `dy` into `grads.bias`, and
    /// returns `dx [N, in] = dy · W`.
    ///
    /// # Errors
    /// [`Error::Input`] when the buffers do not fit the layer or each other.
    pub fn backward(
        &self,
        threads: &Threads,
        x: &[T],
        dy: &[T],
        grads: &mut LinearGrads<T>,
    ) -> Result<Vec<T>> {
        let (i, o) = (self.config.in_features, self.config.out_features);
        let n = self.rows("Linear input", x.len())?;
        check_len("Linear output gradient", dy.len(), n * o)?;
        check_len("Linear weight gradient", grads.weight.len(), o * i)?;
        let (dyo, xo) = (Operand::t(dy, o), Operand::new(x, i));
        let gw = MatMut::new(&mut grads.weight, i);
        matmul(threads, (o, i, n), dyo, xo, gw, Accum::Add);
        add_bias_grad(dy, o, grads)?;
        let mut dx = vec![T::zero(); n * i];
        let w = Operand::new(&self.weight, i);
        let dxm = MatMut::new(&mut dx, i);
        matmul(
            threads,
            (n, i, o),
            Operand::new(dy, o),
            w,
            dxm,
            Accum::Replace,
        );
        Ok(dx)
    }

    /// `Wᵀ [in, out]` packed for [`Self::forward_packed`] (pack once, multiply many times:
    /// the steps of a decoder).
    pub fn pack(&self, threads: &Threads) -> PackedB<T> {
        let (i, o) = (self.config.in_features, self.config.out_features);
        let mut p = PackedB::new();
        p.pack_in(threads, Operand::t(&self.weight, i), i, o);
        p
    }

    /// [`Self::forward`] through recur's packed product ([`recur_kernels::packed`]) against
    /// `packed` = [`Self::pack`] of the current weights: every output is one fused
    /// multiply-add chain, whatever the rows or threads. Faster than [`Self::forward`] on large
    /// layers; the last bits of the results differ from it.
    ///
    /// # Errors
    /// As [`Self::forward`]; [`Error::Input`] when `packed` is not this layer's shape.
    pub fn forward_packed(
        &self,
        threads: &Threads,
        packed: &PackedB<T>,
        x: &[T],
        y: &mut [T],
    ) -> Result<()> {
        let (i, o) = (self.config.in_features, self.config.out_features);
        let n = self.rows("Linear input", x.len())?;
        check_len("Linear output", y.len(), n * o)?;
        if packed.dims() != (i, o) {
            return Err(Error::Input(format!(
                "Linear: packed weights {:?}, expected ({i}, {o})",
                packed.dims()
            )));
        }
        if n == 0 {
            return Ok(());
        }
        let out = MatMut::new(y, o);
        match &self.bias {
            Some(b) => matmul_packed_bias(threads, n, x, i, packed, b, out),
            None => matmul_packed_op(threads, n, Operand::new(x, i), packed, out, Accum::Replace),
        }
        Ok(())
    }

    /// [`Self::backward`] through recur's packed products (the twin of
    /// [`Self::forward_packed`]).
    ///
    /// # Errors
    /// As [`Self::backward`].
    pub fn backward_packed(
        &self,
        threads: &Threads,
        x: &[T],
        dy: &[T],
        grads: &mut LinearGrads<T>,
    ) -> Result<Vec<T>> {
        let (i, o) = (self.config.in_features, self.config.out_features);
        let n = self.rows("Linear input", x.len())?;
        check_len("Linear output gradient", dy.len(), n * o)?;
        check_len("Linear weight gradient", grads.weight.len(), o * i)?;
        let mut dx = vec![T::zero(); n * i];
        if n == 0 {
            return Ok(dx);
        }
        // δW [out, in] += δyᵀ · x, with x packed as the right operand.
        let mut xp = PackedB::new();
        xp.pack_in(threads, Operand::new(x, i), n, i);
        let gw = MatMut::new(&mut grads.weight, i);
        matmul_packed_op(threads, o, Operand::t(dy, o), &xp, gw, Accum::Add);
        add_bias_grad(dy, o, grads)?;
        // δx [N, in] = δy · W, with W packed as the right operand.
        let mut wp = PackedB::new();
        wp.pack_in(threads, Operand::new(&self.weight, i), o, i);
        let dxm = MatMut::new(&mut dx, i);
        matmul_packed_op(threads, n, Operand::new(dy, o), &wp, dxm, Accum::Replace);
        Ok(dx)
    }

    /// The parameter buffers, weight first.
    pub fn buffers(&self) -> Vec<&[T]> {
        let mut v = vec![&self.weight[..]];
        v.extend(self.bias.as_deref());
        v
    }

    /// The parameter buffers, weight first, mutable.
    pub fn buffers_mut(&mut self) -> Vec<&mut [T]> {
        let mut v = vec![&mut self.weight[..]];
        v.extend(self.bias.as_deref_mut());
        v
    }
}

/// Adds the column sums of `dy [N, out]` into the bias gradient, if the layer has a bias.
fn add_bias_grad<T: Scalar>(dy: &[T], out: usize, grads: &mut LinearGrads<T>) -> Result<()> {
    if let Some(gb) = &mut grads.bias {
        check_len("Linear bias gradient", gb.len(), out)?;
        for row in dy.chunks_exact(out) {
            for (g, &d) in gb.iter_mut().zip(row) {
                *g += d;
            }
        }
    }
    Ok(())
}

impl Linear<f32> {
    /// The parameters as `{prefix}weight` and `{prefix}bias`, PyTorch's names.
    pub fn named_tensors(&self, prefix: &str) -> Vec<NamedTensor<'_>> {
        let (i, o) = (self.config.in_features, self.config.out_features);
        let mut v = vec![(format!("{prefix}weight"), vec![o, i], &self.weight[..])];
        if let Some(b) = &self.bias {
            v.push((format!("{prefix}bias"), vec![o], &b[..]));
        }
        v
    }

    /// Takes `{prefix}weight` and `{prefix}bias` out of `file`, checking their shapes.
    ///
    /// # Errors
    /// [`Error::Format`] naming the file and tensor when one is missing or misshapen.
    pub fn load_tensors(&mut self, file: &mut TensorFile, prefix: &str) -> Result<()> {
        let (i, o) = (self.config.in_features, self.config.out_features);
        self.weight = file.take(&format!("{prefix}weight"), &[o, i])?;
        if self.bias.is_some() {
            self.bias = Some(file.take(&format!("{prefix}bias"), &[o])?);
        }
        Ok(())
    }
}
