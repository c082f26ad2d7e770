//! The forecaster: a window of `lookback` steps → stacked RNN/LSTM/GRU → the last step's state →
//! a linear head giving all `horizon` future values at once (direct multi-output).

use crate::config::{CellType, RecurrentConfig};
use crate::error::{Error, Result};
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

impl Forecaster {
    /// PyTorch's initialisation (`U(-1/√H, 1/√H)` for the recurrent layers and the head).
    pub fn new(config: ForecasterConfig, rng: &mut Rng) -> Result<Self> {
        let mut model = Self::zeros(config)?;
        model.rnn = Recurrent::new(model.config.rnn(), rng)?;
        let k = 1.0 / (model.config.hidden_size as f64).sqrt();
        for v in model.head_weight.iter_mut().chain(&mut model.head_bias) {
            *v = rng.uniform_range(-k, k) as f32;
        }
        Ok(model)
    }

    /// A forecaster with every parameter zero (to be loaded), after
    /// [`ForecasterConfig::validate`].
    pub fn zeros(config: ForecasterConfig) -> Result<Self> {
        config.validate()?;
        Ok(Forecaster {
            rnn: Recurrent::zeros(config.rnn())?,
            head_weight: crate::try_zeros(config.horizon * config.hidden_size, "head.weight")?,
            head_bias: crate::try_zeros(config.horizon, "head.bias")?,
            config,
        })
    }

    /// Loads every parameter from a file written from [`Self::named_tensors`].
    pub fn load_tensors(&mut self, mut file: crate::io::TensorFile) -> Result<()> {
        let (hz, h) = (self.config.horizon, self.config.hidden_size);
        self.rnn.load_tensors(&mut file, "rnn.")?;
        self.head_weight = file.take("head.weight", &[hz, h])?;
        self.head_bias = file.take("head.bias", &[hz])?;
        file.finish()
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
            let sizes: Vec<usize> = self.buffers().iter().map(|b| b.len()).collect();
            if g.len() != 3 || g.iter().zip(&sizes).any(|(g, &n)| g.len() != n) {
                return Err(Error::Input(format!(
                    "grads: {} buffers, expected 3 of sizes {sizes:?}",
                    g.len()
                )));
            }
        }
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

/// A forecaster loaded from a checkpoint directory, with the settings it was trained with.
#[derive(Debug)]
pub struct LoadedForecaster {
    /// The model.
    pub model: Forecaster,
    /// The `settings` section of `config.json`.
    pub settings: super::pipeline::ForecastSettings,
}

#[derive(Deserialize)]
struct CheckpointFile {
    format: String,
    version: u32,
    model: ForecasterConfig,
    settings: super::pipeline::ForecastSettings,
}

/// Loads the forecaster of checkpoint `dir` (`config.json` with `model` and `settings`, and
/// `model.safetensors`). Every field is checked: sizes against [`crate::MAX_PARAMETERS`], the
/// settings against the model (`horizon`, `hidden`, `layers`, `cell`) and their own ranges, the
/// tensors' shapes before the model is allocated; errors name the file and the field or tensor.
pub fn load(dir: &std::path::Path) -> Result<LoadedForecaster> {
    let path = dir.join("config.json");
    if !dir.is_dir() {
        return Err(Error::format(dir, "no such checkpoint directory"));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::format(&path, format!("not JSON ({e})")))?;
    if v.get("task").and_then(|t| t.as_str()) != Some("forecast") {
        return Err(Error::format(
            &path,
            "not a forecaster checkpoint (task is not \"forecast\")",
        ));
    }
    let file: CheckpointFile = serde_json::from_value(v)
        .map_err(|e| Error::format(&path, format!("not a recur forecaster config ({e})")))?;
    if file.format != "recur" || file.version != 1 {
        return Err(Error::format(
            &path,
            format!(
                "format {:?} version {}, expected \"recur\" 1",
                file.format, file.version
            ),
        ));
    }
    let (m, s) = (&file.model, &file.settings);
    let bad = |msg: String| Err(Error::format(&path, msg));
    if let Err(e) = m.validate() {
        let msg = match e {
            Error::Config(m) => m,
            other => other.to_string(),
        };
        return bad(format!("model: {msg}"));
    }
    for (field, a, model_field, b) in [
        ("horizon", s.horizon, "horizon", m.horizon),
        ("hidden", s.hidden, "hidden_size", m.hidden_size),
        ("layers", s.layers, "num_layers", m.num_layers),
    ] {
        if a != b {
            return bad(format!(
                "settings.{field} is {a} but model.{model_field} is {b}"
            ));
        }
    }
    if s.cell != m.cell {
        return bad(format!(
            "settings.cell is {:?} but model.cell is {:?}",
            s.cell, m.cell
        ));
    }
    for (field, v) in [
        ("lookback", s.lookback),
        ("test_size", s.test_size),
        ("period", s.period),
        ("batch_size", s.batch_size),
    ] {
        if v == 0 {
            return bad(format!("settings.{field} must be at least 1"));
        }
    }
    if !(0.0..1.0).contains(&s.val_frac) {
        return bad(format!(
            "settings.val_frac is {}, expected a value in [0, 1)",
            s.val_frac
        ));
    }
    if !(s.lr.is_finite() && s.lr > 0.0) {
        return bad(format!(
            "settings.lr is {}, expected a finite rate > 0",
            s.lr
        ));
    }
    let tensors = crate::io::TensorFile::read(dir.join("model.safetensors"))?;
    tensors.check_shapes(
        &m.tensor_shapes(),
        &format!(
            "{}'s hidden_size {}, num_layers {}, inputs {} and horizon {}",
            path.display(),
            m.hidden_size,
            m.num_layers,
            m.inputs,
            m.horizon
        ),
    )?;
    let mut model = Forecaster::zeros(file.model.clone())?;
    model.load_tensors(tensors)?;
    Ok(LoadedForecaster {
        model,
        settings: file.settings,
    })
}
