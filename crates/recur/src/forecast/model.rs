//! The forecaster: a window of `lookback` steps → stacked RNN/LSTM/GRU → the last step's state →
//! a linear head giving all `horizon` future values at once (direct multi-output). A forecaster
//! that reads known-future values (`future_steps`) runs on through the `horizon` steps ahead and
//! reads the forecast of step `k` from its state there, with row `k` of the head.

use crate::config::{CellType, RecurrentConfig};
use crate::error::{Error, Result};
use crate::io::NamedTensor;
use crate::nn::loss::mse_loss;
use crate::nn::{Linear, LinearConfig, LinearGrads};
use crate::recurrent::{ForwardArgs, Recurrent};
use crate::rng::Rng;
use crate::tensor::Tensor;
use recur_kernels::Threads;
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
    /// The windows go on through the `horizon` steps ahead (the known-future columns and a
    /// flag; the target and covariates there are 0), and step `k`'s forecast is row `k` of
    /// the head applied to the state at step `lookback + k`: in PyTorch,
    /// `head(out[:, -horizon:]).diagonal(dim1=1, dim2=2)`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub future_steps: bool,
}

/// A forecaster: `rnn` → the last step's output → `head` ([`Recurrent`] and [`Linear`]).
#[derive(Clone, Debug)]
pub struct Forecaster {
    config: ForecasterConfig,
    rnn: Recurrent<f32>,
    /// `[horizon, H]` and `[horizon]`.
    head: Linear<f32>,
}

/// Gradients of a [`Forecaster`], shaped as its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecasterGrads {
    /// The recurrent layers' parameters, in [`Recurrent::params`] order.
    pub rnn: Vec<f32>,
    /// The head.
    pub head: LinearGrads<f32>,
}

impl crate::nn::Gradients for ForecasterGrads {
    /// The buffers in the order of [`Forecaster::buffers_mut`].
    fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut v: Vec<&mut [f32]> = vec![&mut self.rnn];
        v.extend(self.head.buffers_mut());
        v
    }
}

impl ForecasterConfig {
    /// The recurrent part.
    pub fn rnn(&self) -> RecurrentConfig {
        RecurrentConfig::new(self.cell, self.inputs, self.hidden_size).layers(self.num_layers)
    }

    /// Parameters of the whole forecaster, counted without overflow (`None` on overflow).
    pub fn param_count(&self) -> Option<usize> {
        self.rnn()
            .param_count()?
            .checked_add(self.horizon.checked_mul(self.hidden_size)?)?
            .checked_add(self.horizon)
    }

    /// The tensors of a forecaster of this configuration: (name, shape), as
    /// [`Forecaster::named_tensors`] names them.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut out: Vec<(String, Vec<usize>)> = crate::param_layout(&self.rnn())
            .into_iter()
            .map(|p| (format!("rnn.{}", p.name), p.shape))
            .collect();
        out.push(("head.weight".into(), vec![self.horizon, self.hidden_size]));
        out.push(("head.bias".into(), vec![self.horizon]));
        out
    }

    /// Checks every field: sizes at least 1, at most [`crate::MAX_LAYERS`] layers and
    /// [`crate::MAX_PARAMETERS`] parameters; messages name the field (`inputs`, `hidden_size`,
    /// `num_layers`, `horizon`).
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("inputs", self.inputs),
            ("hidden_size", self.hidden_size),
            ("horizon", self.horizon),
        ] {
            if v == 0 {
                return Err(Error::Config(format!("{name} must be at least 1")));
            }
        }
        if self.num_layers == 0 || self.num_layers > crate::MAX_LAYERS {
            return Err(Error::Config(format!(
                "num_layers must be in 1..={}, got {}",
                crate::MAX_LAYERS,
                self.num_layers
            )));
        }
        crate::check_param_count(
            self.param_count(),
            &format!(
                "hidden_size {}, num_layers {}, inputs {} and horizon {}",
                self.hidden_size, self.num_layers, self.inputs, self.horizon
            ),
        )?;
        self.rnn().validate()
    }
}

impl crate::training::Checkpointed for Forecaster {
    fn named_tensors(&self) -> Vec<NamedTensor<'_>> {
        Forecaster::named_tensors(self)
    }
    fn buffers(&self) -> Vec<&[f32]> {
        Forecaster::buffers(self)
    }
}

impl Forecaster {
    /// PyTorch's initialisation (`U(-1/√H, 1/√H)` for the recurrent layers, then the head as
    /// `nn.Linear`).
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is invalid ([`ForecasterConfig::validate`]).
    pub fn new(config: ForecasterConfig, rng: &mut Rng) -> Result<Self> {
        let mut model = Self::zeros(config)?;
        model.rnn = Recurrent::new(model.config.rnn(), rng)?;
        model.head = model.head_config().init(rng);
        Ok(model)
    }

    fn head_config(&self) -> LinearConfig {
        LinearConfig::new(self.config.hidden_size, self.config.horizon)
    }

    /// A forecaster with every parameter zero (to be loaded), after
    /// [`ForecasterConfig::validate`] (which bounds every size).
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is invalid.
    pub fn zeros(config: ForecasterConfig) -> Result<Self> {
        config.validate()?;
        Ok(Forecaster {
            rnn: Recurrent::zeros(config.rnn())?,
            head: LinearConfig::new(config.hidden_size, config.horizon).zeros(),
            config,
        })
    }

    /// Zero gradients shaped as this model's parameters.
    pub fn zero_grads(&self) -> ForecasterGrads {
        ForecasterGrads {
            rnn: vec![0.0; self.rnn.params().len()],
            head: LinearGrads::zeros_like(&self.head),
        }
    }

    /// Loads every parameter from a file written from [`Self::named_tensors`].
    ///
    /// # Errors
    /// [`Error::Format`] naming the tensor that is missing, misshapen or left over.
    pub fn load_tensors(&mut self, mut file: crate::io::TensorFile) -> Result<()> {
        self.rnn.load_tensors(&mut file, "rnn.")?;
        self.head.load_tensors(&mut file, "head.")?;
        file.finish()
    }

    /// The architecture.
    pub fn config(&self) -> &ForecasterConfig {
        &self.config
    }

    /// The recurrent layers.
    pub fn rnn(&self) -> &Recurrent<f32> {
        &self.rnn
    }

    /// Parameter buffers: recurrent, head weight, head bias.
    pub fn buffers(&self) -> Vec<&[f32]> {
        let mut v = vec![self.rnn.params(), &self.head.weight[..]];
        v.extend(self.head.bias.as_deref());
        v
    }

    /// Parameter buffers, mutable, in [`Self::buffers`] order.
    pub fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut v = vec![self.rnn.params_mut()];
        v.extend(self.head.buffers_mut());
        v
    }

    /// The parameters under PyTorch-style names (`rnn.*`, `head.weight`, `head.bias`).
    pub fn named_tensors(&self) -> Vec<NamedTensor<'_>> {
        let mut out = self.rnn.named_tensors("rnn.");
        out.extend(self.head.named_tensors("head."));
        out
    }

    /// Predictions `[B, horizon]` for windows `x [lookback, B, inputs]` (time-major;
    /// `[lookback + horizon, B, inputs]` with `future_steps`). With
    /// `targets`, also the mean squared error (`nn.MSELoss`); with `grads` as well, adds its
    /// gradient into `grads`. The loss is NaN without targets.
    ///
    /// # Errors
    /// [`Error::Shape`] or [`Error::Input`] for windows, targets or gradients that do not fit.
    pub fn run(
        &self,
        threads: &Threads,
        x: &Tensor<f32>,
        targets: Option<&[f32]>,
        grads: Option<&mut ForecasterGrads>,
    ) -> Result<(Vec<f32>, f64)> {
        let inputs = self.config.inputs;
        let &[steps, batch, width] = x.shape() else {
            return Err(Error::Shape {
                name: "x".into(),
                expected: vec![0, 0, inputs],
                found: x.shape().to_vec(),
            });
        };
        if steps == 0 || batch == 0 || width != inputs {
            return Err(Error::Input(format!(
                "x: windows of shape {:?}, expected [lookback >= 1, batch >= 1, {inputs}]",
                x.shape()
            )));
        }
        let (hz, h) = (self.config.horizon, self.config.hidden_size);
        if let Some(t) = targets.filter(|t| t.len() != batch * hz) {
            return Err(Error::Input(format!(
                "targets: {} values, expected batch {batch} × horizon {hz}",
                t.len()
            )));
        }
        if let Some(g) = grads.as_deref() {
            if g.rnn.len() != self.rnn.params().len() || g.head.weight.len() != hz * h {
                return Err(Error::Input(
                    "grads: shaped for another model (use Forecaster::zero_grads)".into(),
                ));
            }
        }
        if self.config.future_steps && steps <= hz {
            return Err(Error::Input(format!(
                "x: {steps} steps, expected the lookback and the {hz} steps ahead"
            )));
        }
        let mut out = self.rnn.forward(threads, x, ForwardArgs::default())?;
        // The states the head reads: the last step's, or each step ahead's.
        let read_from = if self.config.future_steps {
            steps - hz
        } else {
            steps - 1
        };
        let states = &out.output.data()[read_from * batch * h..];
        let mut full = vec![0.0f32; states.len() / h * hz];
        self.head.forward(threads, states, &mut full)?;
        let pred = if self.config.future_steps {
            // Row k of the head on the state of step k ahead.
            let mut pred = vec![0.0f32; batch * hz];
            for b in 0..batch {
                for k in 0..hz {
                    pred[b * hz + k] = full[(k * batch + b) * hz + k];
                }
            }
            pred
        } else {
            full
        };
        let Some(targets) = targets else {
            return Ok((pred, f64::NAN));
        };
        let mut d_pred = grads.as_ref().map(|_| vec![0.0f32; batch * hz]);
        let loss = mse_loss(&pred, targets, d_pred.as_deref_mut())?;
        let (Some(grads), Some(d_pred)) = (grads, d_pred) else {
            return Ok((pred, loss));
        };
        let d_full = if self.config.future_steps {
            let mut d = vec![0.0f32; batch * hz * hz];
            for b in 0..batch {
                for k in 0..hz {
                    d[(k * batch + b) * hz + k] = d_pred[b * hz + k];
                }
            }
            d
        } else {
            d_pred
        };
        let d_states = self
            .head
            .backward(threads, states, &d_full, &mut grads.head)?;
        let mut d_out = Tensor::zeros(&[steps, batch, h]);
        d_out.data_mut()[read_from * batch * h..].copy_from_slice(&d_states);
        self.rnn
            .backward(threads, &mut out.cache, &mut grads.rnn, &d_out, None, None)?;
        Ok((pred, loss))
    }
}

pub use super::saved::{load, Band, LoadedForecaster, SavedSeries};

#[cfg(test)]
mod tests {
    use super::*;

    /// A forecaster of 3 inputs, horizon 3, that reads the steps ahead, and windows `[5, 2, 3]`
    /// (lookback 2).
    fn reading_ahead() -> (Forecaster, Tensor<f32>) {
        let config = ForecasterConfig {
            cell: CellType::Gru,
            inputs: 3,
            hidden_size: 5,
            num_layers: 1,
            horizon: 3,
            future_steps: true,
        };
        let model = Forecaster::new(config, &mut Rng::new(3)).unwrap();
        let x: Vec<f32> = (0..30).map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0).collect();
        (model, Tensor::new("x", &[5, 2, 3], x).unwrap())
    }

    #[test]
    fn the_forecast_of_a_step_ahead_reads_nothing_after_it() {
        let (model, x) = reading_ahead();
        let threads = Threads::single();
        let (p, _) = model.run(&threads, &x, None, None).unwrap();
        // Change the last step (the third ahead) of window 1: only its third forecast moves.
        let mut changed = x.clone();
        let at = (4 * 2 + 1) * 3;
        changed.data_mut()[at..at + 3].copy_from_slice(&[9.0, -9.0, 9.0]);
        let (q, _) = model.run(&threads, &changed, None, None).unwrap();
        assert_eq!(&p[..5], &q[..5]);
        assert_ne!(p[5], q[5]);
        // Too few steps for the horizon ahead is an error.
        let short = Tensor::new("x", &[3, 2, 3], x.data()[..18].to_vec()).unwrap();
        assert!(model.run(&threads, &short, None, None).is_err());
    }

    #[test]
    fn the_gradient_of_reading_ahead_matches_central_differences() {
        let (mut model, x) = reading_ahead();
        let threads = Threads::single();
        let targets = [0.3f32, -0.2, 0.5, 0.1, 0.0, -0.4];
        let mut grads = model.zero_grads();
        model
            .run(&threads, &x, Some(&targets), Some(&mut grads))
            .unwrap();
        let analytic: Vec<f32> = grads
            .rnn
            .iter()
            .chain(grads.head.weight.iter())
            .copied()
            .collect();
        let eps = 1e-2f32;
        let mut loss_at = |which: usize, delta: f32| {
            let rnn = model.rnn.params().len();
            let slot = if which < rnn {
                &mut model.rnn.params_mut()[which]
            } else {
                &mut model.head.weight[which - rnn]
            };
            *slot += delta;
            let (_, l) = model.run(&threads, &x, Some(&targets), None).unwrap();
            let slot = if which < rnn {
                &mut model.rnn.params_mut()[which]
            } else {
                &mut model.head.weight[which - rnn]
            };
            *slot -= delta;
            l
        };
        for which in (0..analytic.len()).step_by(7) {
            let numeric = (loss_at(which, eps) - loss_at(which, -eps)) / (2.0 * eps as f64);
            let a = analytic[which] as f64;
            assert!(
                (numeric - a).abs() <= 2e-3 + 2e-2 * a.abs(),
                "parameter {which}: analytic {a}, numeric {numeric}"
            );
        }
    }
}
