//! The model of the long-range problems: [`Recurrent`] → a [`Linear`] head on the last step's
//! output (adding, first) or on every step's (copy) → `nn.MSELoss` or `nn.CrossEntropyLoss`.

use super::problems::{Batch, Problem, Targets};
use crate::config::{CellType, RecurrentConfig};
use crate::error::{Error, Result};
use crate::io::NamedTensor;
use crate::nn::loss::{mse_loss, CrossEntropyLoss};
use crate::nn::{Linear, LinearConfig, LinearGrads};
use crate::recurrent::{ForwardArgs, Recurrent};
use crate::rng::Rng;
use crate::tensor::Tensor;
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};

/// The architecture of a [`SequenceModel`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequenceModelConfig {
    /// The problem, which fixes the input width, the head and the loss.
    pub problem: Problem,
    /// Recurrent cell.
    pub cell: CellType,
    /// Hidden units.
    pub hidden_size: usize,
    /// Stacked layers.
    pub num_layers: usize,
}

/// `config.json`'s `task` of a long-range checkpoint.
pub const TASK: &str = "long-range";

impl SequenceModelConfig {
    /// The tensors of a model of this configuration: (name, shape), as
    /// [`SequenceModel::named_tensors`] names them.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut out: Vec<(String, Vec<usize>)> = crate::param_layout(&self.rnn())
            .into_iter()
            .map(|p| (format!("rnn.{}", p.name), p.shape))
            .collect();
        let outputs = self.problem.outputs();
        out.push(("head.weight".into(), vec![outputs, self.hidden_size]));
        out.push(("head.bias".into(), vec![outputs]));
        out
    }

    /// The recurrent part (time-major, unidirectional, PyTorch's `tanh` for the RNN).
    pub fn rnn(&self) -> RecurrentConfig {
        RecurrentConfig::new(self.cell, self.problem.inputs(), self.hidden_size)
            .layers(self.num_layers)
    }
}

/// `rnn` → `head` (`[outputs, H]`, `[outputs]`), named `rnn.*`, `head.weight`, `head.bias` in
/// a checkpoint as in the PyTorch module `rnn = nn.RNN|LSTM|GRU(inputs, H, layers)`,
/// `head = nn.Linear(H, outputs)`.
#[derive(Clone, Debug)]
pub struct SequenceModel {
    config: SequenceModelConfig,
    /// The recurrent layers.
    pub rnn: Recurrent<f32>,
    /// The output layer.
    pub head: Linear<f32>,
}

/// Gradients of a [`SequenceModel`], shaped as its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceGrads {
    /// The recurrent layers' parameters, in [`Recurrent::params`] order.
    pub rnn: Vec<f32>,
    /// The head.
    pub head: LinearGrads<f32>,
}

impl crate::nn::Gradients for SequenceGrads {
    /// The buffers in the order of [`SequenceModel::buffers_mut`].
    fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut v: Vec<&mut [f32]> = vec![&mut self.rnn];
        v.extend(self.head.buffers_mut());
        v
    }
}

/// What a pass over a batch measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    /// The mean loss: MSE, or cross-entropy in nats per scored step.
    pub loss: f64,
    /// Correct arg-max predictions among `counted` (copy: the ten recalled symbols of each
    /// sequence; first: one per sequence); 0 for adding.
    pub correct: usize,
    /// Predictions counted for `correct`.
    pub counted: usize,
}

impl SequenceModel {
    /// PyTorch's initialisation: `U(-1/√H, 1/√H)` for the recurrent layers, then the head as
    /// `nn.Linear`, drawn from `rng` in that order.
    ///
    /// # Errors
    /// [`Error::Config`] for a hidden size or layer count out of range.
    pub fn new(config: SequenceModelConfig, rng: &mut Rng) -> Result<Self> {
        let rnn = Recurrent::new(config.rnn(), rng)?;
        let head = LinearConfig::new(config.hidden_size, config.problem.outputs()).init(rng);
        Ok(SequenceModel { config, rnn, head })
    }

    /// A model with every parameter zero (to be loaded).
    ///
    /// # Errors
    /// [`Error::Config`] for a hidden size or layer count out of range.
    pub fn zeros(config: SequenceModelConfig) -> Result<Self> {
        let rnn = Recurrent::zeros(config.rnn())?;
        let head = LinearConfig::new(config.hidden_size, config.problem.outputs()).zeros();
        Ok(SequenceModel { config, rnn, head })
    }

    /// The architecture.
    pub fn config(&self) -> &SequenceModelConfig {
        &self.config
    }

    /// Zero gradients shaped as this model's parameters.
    pub fn zero_grads(&self) -> SequenceGrads {
        SequenceGrads {
            rnn: vec![0.0; self.rnn.params().len()],
            head: LinearGrads::zeros_like(&self.head),
        }
    }

    /// Parameter buffers, mutable: recurrent, head weight, head bias.
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

    /// Loads every parameter from a file written from [`Self::named_tensors`].
    ///
    /// # Errors
    /// [`Error::Format`] naming the tensor that is missing, misshapen or left over.
    pub fn load_tensors(&mut self, mut file: crate::io::TensorFile) -> Result<()> {
        self.rnn.load_tensors(&mut file, "rnn.")?;
        self.head.load_tensors(&mut file, "head.")?;
        file.finish()
    }

    /// Runs `batch` forward (its `x` is `[steps, B, inputs]`, time-major) and measures the loss
    /// and accuracy; with `grads`, *adds* the gradient of the mean loss into them.
    ///
    /// # Errors
    /// [`Error::Input`] for a batch of another problem or shape.
    pub fn run(
        &self,
        threads: &Threads,
        batch: &Batch,
        grads: Option<&mut SequenceGrads>,
    ) -> Result<Outcome> {
        let &[steps, b, inputs] = batch.x.shape() else {
            return Err(Error::Input("batch: x must be [steps, B, inputs]".into()));
        };
        let (h, outputs) = (self.config.hidden_size, self.config.problem.outputs());
        if inputs != self.config.problem.inputs() || steps == 0 || b == 0 {
            return Err(Error::Input(format!(
                "batch: x is {:?}, expected [steps >= 1, B >= 1, {}]",
                batch.x.shape(),
                self.config.problem.inputs()
            )));
        }
        let mut out = self
            .rnn
            .forward(threads, &batch.x, ForwardArgs::default())?;
        // The head reads every step (copy) or only the last one.
        let first_row = if self.config.problem.every_step() {
            0
        } else {
            steps - 1
        };
        let read = &out.output.data()[first_row * b * h..];
        let rows = read.len() / h;
        let mut y = vec![0.0f32; rows * outputs];
        self.head.forward(threads, read, &mut y)?;
        let mut d_y = grads.as_ref().map(|_| vec![0.0f32; y.len()]);
        let outcome = match &batch.targets {
            Targets::Values(v) => Outcome {
                loss: mse_loss(&y, v, d_y.as_deref_mut())?,
                correct: 0,
                counted: 0,
            },
            Targets::Classes(c) => {
                let r = CrossEntropyLoss::default().forward(&y, outputs, c, d_y.as_deref_mut())?;
                let (correct, counted) = self.recall(&y, c, b);
                Outcome {
                    loss: r.loss,
                    correct,
                    counted,
                }
            }
        };
        let (Some(grads), Some(d_y)) = (grads, d_y) else {
            return Ok(outcome);
        };
        let d_read = self.head.backward(threads, read, &d_y, &mut grads.head)?;
        let mut d_out = Tensor::zeros(&[steps, b, h]);
        d_out.data_mut()[first_row * b * h..].copy_from_slice(&d_read);
        self.rnn
            .backward(threads, &mut out.cache, &mut grads.rnn, &d_out, None, None)?;
        Ok(outcome)
    }

    /// Correct arg-max predictions over the rows that hold something to remember: the last
    /// ten steps for copy, the one row for first.
    fn recall(&self, logits: &[f32], targets: &[u32], batch: usize) -> (usize, usize) {
        let classes = self.config.problem.outputs();
        let rows = targets.len();
        let from = if self.config.problem.every_step() {
            rows - super::problems::COPY_SYMBOLS * batch
        } else {
            0
        };
        let correct = (from..rows)
            .filter(|&r| {
                let row = &logits[r * classes..(r + 1) * classes];
                let best = (0..classes).fold(0, |m, j| if row[j] > row[m] { j } else { m });
                best as u32 == targets[r]
            })
            .count();
        (correct, rows - from)
    }
}

/// Loads the model of a long-range checkpoint `dir` (`config.json` with `"task": "long-range"`
/// and `model`, and `model.safetensors`), every size checked before anything is allocated.
///
/// # Errors
/// [`Error::Io`] when a file cannot be read; [`Error::Format`] naming the file and the field or
/// tensor that is wrong.
pub fn load(dir: &std::path::Path) -> Result<SequenceModel> {
    let path = dir.join("config.json");
    crate::checkpoint::check_dir(dir)?;
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let v: serde_json::Value = serde_json::from_str(crate::input::strip_bom(&text))
        .map_err(|e| Error::format(&path, format!("not JSON ({e})")))?;
    if v.get("format").and_then(|f| f.as_str()) != Some("recur")
        || v.get("version").and_then(|f| f.as_u64()) != Some(1)
    {
        return Err(Error::format(&path, "not a recur checkpoint of version 1"));
    }
    if v.get("task").and_then(|t| t.as_str()) != Some(TASK) {
        return Err(Error::format(
            &path,
            format!(
                "not a long-range checkpoint (task is not \"{TASK}\"; `recur task` writes them)"
            ),
        ));
    }
    let config: SequenceModelConfig = serde_json::from_value(v["model"].clone())
        .map_err(|e| Error::format(&path, format!("model: {e}")))?;
    if config.hidden_size == 0 {
        return Err(Error::format(&path, "model.hidden_size must be at least 1"));
    }
    crate::check_param_count(
        config.rnn().param_count(),
        &format!("{}'s hidden_size {}", path.display(), config.hidden_size),
    )
    .and_then(|()| config.rnn().validate())
    .map_err(|e| Error::format(&path, format!("model: {e}")))?;
    let tensors = crate::io::TensorFile::read(dir.join("model.safetensors"))?;
    tensors.check_shapes(
        &config.tensor_shapes(),
        &format!(
            "{}'s hidden_size {} and num_layers {}",
            path.display(),
            config.hidden_size,
            config.num_layers
        ),
    )?;
    let mut model = SequenceModel::zeros(config)?;
    model.load_tensors(tensors)?;
    Ok(model)
}
