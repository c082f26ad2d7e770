//! The forecaster: a window of `lookback` steps → stacked RNN/LSTM/GRU → the last step's state →
//! a linear head giving all `horizon` future values at once (direct multi-output).

use crate::config::{CellType, RecurrentConfig};
use crate::error::Result;
use crate::io::NamedTensor;
use crate::recurrent::{ForwardArgs, Recurrent};
use crate::rng::Rng;
use crate::tensor::Tensor;
use recur_kernels::{matmul, Accum, Operand, Threads};
use serde::{Deserialize, Serialize};

/// The architecture of a forecaster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForecasterConfig {
    /// Recurrent cell.
    pub cell: CellType,
    /// Features per step: the target plus covariates.
    pub inputs: usize,
    /// Hidden units.
    pub hidden_size: usize,
    /// Stacked layers.
    pub num_layers: usize,
    /// Steps predicted at once.
    pub horizon: usize,
}

/// A forecaster's parameters.
#[derive(Clone, Debug)]
pub struct Forecaster {
    config: ForecasterConfig,
    rnn: Recurrent<f32>,
    /// `[horizon, H]`.
    head_weight: Vec<f32>,
    /// `[horizon]`.
    head_bias: Vec<f32>,
}

impl Forecaster {
    /// PyTorch's initialisation (`U(-1/√H, 1/√H)` for the recurrent layers and the head).
    pub fn new(config: ForecasterConfig, rng: &mut Rng) -> Result<Self> {
        let rnn_config = RecurrentConfig::new(config.cell, config.inputs, config.hidden_size)
            .layers(config.num_layers);
        let rnn = Recurrent::new(rnn_config, rng)?;
        let k = 1.0 / (config.hidden_size as f64).sqrt();
        let mut draw = |n: usize| {
            (0..n)
                .map(|_| rng.uniform_range(-k, k) as f32)
                .collect::<Vec<_>>()
        };
        let head_weight = draw(config.horizon * config.hidden_size);
        let head_bias = draw(config.horizon);
        Ok(Forecaster {
            config,
            rnn,
            head_weight,
            head_bias,
        })
    }

    /// The architecture.
    pub fn config(&self) -> &ForecasterConfig {
        &self.config
    }

    /// Parameter buffers: recurrent, head weight, head bias.
    pub fn buffers(&self) -> Vec<&[f32]> {
        vec![self.rnn.params(), &self.head_weight, &self.head_bias]
    }

    /// Parameter buffers, mutable, in [`Self::buffers`] order.
    pub fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        vec![
            self.rnn.params_mut(),
            &mut self.head_weight,
            &mut self.head_bias,
        ]
    }

    /// The parameters under PyTorch-style names (`rnn.*`, `head.weight`, `head.bias`).
    pub fn named_tensors(&self) -> Vec<NamedTensor<'_>> {
        let (hz, h) = (self.config.horizon, self.config.hidden_size);
        let mut out = self.rnn.named_tensors("rnn.");
        out.push(("head.weight".into(), vec![hz, h], &self.head_weight[..]));
        out.push(("head.bias".into(), vec![hz], &self.head_bias[..]));
        out
    }

    /// Predictions `[B, horizon]` for windows `x [lookback, B, inputs]` (time-major). With
    /// `targets` and `grads`, also adds the gradient of the mean squared error and returns it.
    pub fn run(
        &self,
        threads: &Threads,
        x: &Tensor<f32>,
        targets: Option<&[f32]>,
        grads: Option<&mut [Vec<f32>]>,
    ) -> Result<(Vec<f32>, f64)> {
        let (steps, batch) = (x.shape()[0], x.shape()[1]);
        let (hz, h) = (self.config.horizon, self.config.hidden_size);
        let mut out = self.rnn.forward(threads, x, ForwardArgs::default())?;
        let last = &out.output.data()[(steps - 1) * batch * h..];
        let mut pred = Vec::with_capacity(batch * hz);
        for _ in 0..batch {
            pred.extend_from_slice(&self.head_bias);
        }
        let w = Operand::t(&self.head_weight, h);
        matmul(
            threads,
            batch,
            hz,
            h,
            Operand::new(last, h),
            w,
            &mut pred,
            hz,
            Accum::Add,
        );
        let (Some(targets), Some(grads)) = (targets, grads) else {
            return Ok((pred, f64::NAN));
        };
        let n = (batch * hz) as f64;
        let mut d_pred = Vec::with_capacity(batch * hz);
        let mut loss = 0.0;
        for (p, t) in pred.iter().zip(targets) {
            let e = (p - t) as f64;
            loss += e * e;
            d_pred.push((2.0 * e / n) as f32);
        }
        let [rnn_g, w_g, b_g] = grads else {
            unreachable!("three gradient buffers")
        };
        matmul(
            threads,
            hz,
            h,
            batch,
            Operand::t(&d_pred, hz),
            Operand::new(last, h),
            w_g,
            h,
            Accum::Add,
        );
        for row in d_pred.chunks_exact(hz) {
            for (g, &d) in b_g.iter_mut().zip(row) {
                *g += d;
            }
        }
        let mut d_out = Tensor::zeros(&[steps, batch, h]);
        let d_last = &mut d_out.data_mut()[(steps - 1) * batch * h..];
        let w = Operand::new(&self.head_weight, h);
        matmul(
            threads,
            batch,
            h,
            hz,
            Operand::new(&d_pred, hz),
            w,
            d_last,
            h,
            Accum::Replace,
        );
        self.rnn
            .backward(threads, &mut out.cache, rnn_g, &d_out, None, None)?;
        Ok((pred, loss / n))
    }
}
