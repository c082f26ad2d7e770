//! The forecaster: a window of `lookback` steps → stacked RNN/LSTM/GRU → the last step's state →
//! a linear head giving all `horizon` future values at once (direct multi-output).

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

    /// Predictions `[B, horizon]` for windows `x [lookback, B, inputs]` (time-major). With
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
        let mut out = self.rnn.forward(threads, x, ForwardArgs::default())?;
        let last = &out.output.data()[(steps - 1) * batch * h..];
        let mut pred = vec![0.0f32; batch * hz];
        self.head.forward(threads, last, &mut pred)?;
        let Some(targets) = targets else {
            return Ok((pred, f64::NAN));
        };
        let mut d_pred = grads.as_ref().map(|_| vec![0.0f32; batch * hz]);
        let loss = mse_loss(&pred, targets, d_pred.as_deref_mut())?;
        let (Some(grads), Some(d_pred)) = (grads, d_pred) else {
            return Ok((pred, loss));
        };
        let d_last = self
            .head
            .backward(threads, last, &d_pred, &mut grads.head)?;
        let mut d_out = Tensor::zeros(&[steps, batch, h]);
        d_out.data_mut()[(steps - 1) * batch * h..].copy_from_slice(&d_last);
        self.rnn
            .backward(threads, &mut out.cache, &mut grads.rnn, &d_out, None, None)?;
        Ok((pred, loss))
    }
}

/// A prediction interval around a forecast: `(level, lower, upper)`, one bound per step.
pub type Band = (f64, Vec<f64>, Vec<f64>);

/// A forecaster loaded from a checkpoint directory, with the settings it was trained with.
#[derive(Debug)]
pub struct LoadedForecaster {
    /// The model.
    pub model: Forecaster,
    /// The `settings` section of `config.json`.
    pub settings: super::pipeline::ForecastSettings,
    /// The `scaling` section (absent in checkpoints written before it was stored).
    pub scaling: Option<super::pipeline::Scaling>,
    /// The split-conformal half-widths of the run's prediction intervals (`conformal`; empty in
    /// checkpoints written without intervals).
    pub conformal: Vec<super::pipeline::Conformal>,
}

impl LoadedForecaster {
    /// The `horizon` values after `history` (in the series' units, oldest first), with the
    /// covariates' values over the same span: the checkpoint's transforms and scaling applied
    /// as in training ([`super::pipeline::forecast_from`]).
    ///
    /// # Errors
    /// [`Error::Input`] for a checkpoint without `scaling`, or a history the model cannot read.
    pub fn forecast(
        &self,
        threads: &Threads,
        history: &[f64],
        covariates: &[&[f64]],
    ) -> Result<Vec<f64>> {
        let scaling = self.scaling.as_ref().ok_or_else(|| {
            Error::Input("this checkpoint stores no scaling: train it again to forecast".into())
        })?;
        super::pipeline::forecast_from(
            &self.model,
            &self.settings,
            scaling,
            threads,
            history,
            covariates,
        )
    }

    /// [`LoadedForecaster::forecast`] with the checkpoint's prediction intervals: for each
    /// stored level, `(level, lower, upper)` around the forecast (raised to the scaling's floor
    /// as the forecast is).
    ///
    /// # Errors
    /// As [`LoadedForecaster::forecast`].
    pub fn forecast_intervals(
        &self,
        threads: &Threads,
        history: &[f64],
        covariates: &[&[f64]],
    ) -> Result<(Vec<f64>, Vec<Band>)> {
        let f = self.forecast(threads, history, covariates)?;
        let floor = self.scaling.as_ref().and_then(|s| s.floor);
        let bands = self
            .conformal
            .iter()
            .map(|c| {
                let lower = f
                    .iter()
                    .zip(&c.half_width)
                    .map(|(v, w)| floor.map_or(v - w, |fl| (v - w).max(fl)))
                    .collect();
                let upper = f.iter().zip(&c.half_width).map(|(v, w)| v + w).collect();
                (c.level, lower, upper)
            })
            .collect();
        Ok((f, bands))
    }
}

#[derive(Deserialize)]
struct CheckpointFile {
    format: String,
    version: u32,
    model: ForecasterConfig,
    settings: super::pipeline::ForecastSettings,
    #[serde(default)]
    scaling: Option<super::pipeline::Scaling>,
    #[serde(default)]
    conformal: Vec<super::pipeline::Conformal>,
}

/// Loads the forecaster of checkpoint `dir` (`config.json` with `model` and `settings`, and
/// `model.safetensors`). Every field is checked: sizes against [`crate::MAX_PARAMETERS`], the
/// settings against the model (`horizon`, `hidden`, `layers`, `cell`) and their own ranges, the
/// tensors' shapes before the model is allocated; errors name the file and the field or tensor.
pub fn load(dir: &std::path::Path) -> Result<LoadedForecaster> {
    let path = dir.join("config.json");
    crate::checkpoint::check_dir(dir)?;
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
    if let Some(sc) = &file.scaling {
        let ok = |(m, sd): (f64, f64)| m.is_finite() && sd.is_finite() && sd > 0.0;
        if !ok(sc.target)
            || !sc.covariates.iter().all(|&p| ok(p))
            || sc.floor.is_some_and(|f| !f.is_finite())
        {
            return bad(
                "scaling: every mean and the floor must be finite and every deviation finite and > 0"
                    .into(),
            );
        }
        if sc.covariates.len() + 1 != file.model.inputs {
            return bad(format!(
                "scaling holds {} covariates, but model.inputs is {}",
                sc.covariates.len(),
                file.model.inputs
            ));
        }
    }
    for c in &file.conformal {
        if !(c.level > 0.0 && c.level < 1.0)
            || c.half_width.len() != file.model.horizon
            || c.half_width.iter().any(|w| !(w.is_finite() && *w >= 0.0))
        {
            return bad(format!(
                "conformal: each level must be in (0, 1) with {} finite, non-negative half-widths",
                file.model.horizon
            ));
        }
    }
    Ok(LoadedForecaster {
        model,
        settings: file.settings,
        scaling: file.scaling,
        conformal: file.conformal,
    })
}
