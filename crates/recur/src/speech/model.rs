//! The acoustic model: feature frames → [`Recurrent`] (bidirectional or not, stacked, dropout
//! between layers, variable lengths) → [`Linear`] head → log-softmax over the alphabet and the
//! blank → [`CtcLoss`]. As a PyTorch module:
//!
//! ```python
//! rnn = nn.GRU(F, H, num_layers, dropout=dropout, bidirectional=bidirectional)  # or nn.LSTM
//! head = nn.Linear(D * H, len(symbols) + 1)
//! log_probs = head(rnn(pack((x - mean) / std))[0]).log_softmax(-1)  # [T, N, C], blank = 0
//! ```

use super::alphabet::{Alphabet, BLANK};
use crate::config::{CellType, RecurrentConfig};
use crate::error::{Error, Result};
use crate::io::{NamedTensor, TensorFile};
use crate::nn::{CtcBatch, CtcLoss, CtcReduction, CtcTargets, Linear, LinearConfig, LinearGrads};
use crate::recurrent::{ForwardArgs, Recurrent, RecurrentOutput};
use crate::rng::Rng;
use crate::step::StepState;
use crate::tensor::Tensor;
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};

/// The `task` of an acoustic-model checkpoint.
pub const TASK: &str = "transcribe";

/// Everything an [`AcousticModel`] is built from (`model` in its `config.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcousticConfig {
    /// Recurrent cell (`gru` or `lstm`; `rnn` works too).
    pub cell: CellType,
    /// `F`: features per frame.
    pub input_size: usize,
    /// Consecutive frames concatenated into one step of the recurrent layers (1: none). `k`
    /// frames a step divide the steps, and the time to run them, by `k`; the last step of an
    /// utterance is padded with zero frames (after scaling).
    #[serde(default = "one")]
    pub frame_stack: usize,
    /// Hidden units per direction.
    pub hidden_size: usize,
    /// Stacked recurrent layers.
    pub num_layers: usize,
    /// Read each utterance in both directions (needs the whole utterance; a unidirectional
    /// model can transcribe a stream frame by frame).
    pub bidirectional: bool,
    /// Dropout between recurrent layers, in training.
    pub dropout: f64,
    /// The output symbols (class 0 is the blank).
    pub alphabet: Alphabet,
    /// `[F]` the training frames' mean per feature, subtracted from every frame.
    pub mean: Vec<f32>,
    /// `[F]` their standard deviation (floored at `1e-5`), dividing every frame.
    pub std: Vec<f32>,
}

fn one() -> usize {
    1
}

impl AcousticConfig {
    /// The recurrent layers' configuration (time-major), reading `F · frame_stack` values a step.
    pub fn rnn(&self) -> RecurrentConfig {
        RecurrentConfig::new(
            self.cell,
            self.input_size * self.frame_stack,
            self.hidden_size,
        )
        .layers(self.num_layers)
        .dropout(self.dropout)
        .bidirectional(self.bidirectional)
    }

    fn head(&self) -> LinearConfig {
        LinearConfig::new(self.rnn().output_size(), self.alphabet.classes())
    }

    /// Checks sizes, the alphabet and the scaling vectors.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        if !(1..=16).contains(&self.frame_stack) {
            return Err(Error::Config(format!(
                "`frame_stack` must be from 1 to 16, got {}",
                self.frame_stack
            )));
        }
        self.rnn().validate()?;
        self.alphabet.validate()?;
        for (field, v) in [("mean", &self.mean), ("std", &self.std)] {
            if v.len() != self.input_size {
                return Err(Error::Config(format!(
                    "`{field}` holds {} values for input_size {}",
                    v.len(),
                    self.input_size
                )));
            }
        }
        if self.mean.iter().any(|v| !v.is_finite())
            || self.std.iter().any(|v| !(v.is_finite() && *v > 0.0))
        {
            return Err(Error::Config(
                "`mean` must be finite and `std` finite and positive".into(),
            ));
        }
        Ok(())
    }

    /// The tensors of `model.safetensors` with their shapes.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut out: Vec<(String, Vec<usize>)> = crate::recurrent::param_layout(&self.rnn())
            .into_iter()
            .map(|p| (format!("rnn.{}", p.name), p.shape.to_vec()))
            .collect();
        let h = self.head();
        out.push(("head.weight".into(), vec![h.out_features, h.in_features]));
        out.push(("head.bias".into(), vec![h.out_features]));
        out
    }
}

/// An acoustic model: [`Recurrent`] and a [`Linear`] head over the alphabet and the blank.
#[derive(Clone, Debug)]
pub struct AcousticModel {
    config: AcousticConfig,
    rnn: Recurrent<f32>,
    head: Linear<f32>,
}

/// Gradients of an [`AcousticModel`], shaped as its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct AcousticGrads {
    /// The recurrent layers' parameters, in [`Recurrent::params`] order.
    pub rnn: Vec<f32>,
    /// The head.
    pub head: LinearGrads<f32>,
}

impl crate::nn::Gradients for AcousticGrads {
    fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut v: Vec<&mut [f32]> = vec![&mut self.rnn];
        v.extend(self.head.buffers_mut());
        v
    }
}

/// A batch's forward pass, kept for the backward pass.
pub struct Forward {
    /// `[T, N, C]` log-probabilities, `T` the longest utterance (rows past an utterance's end
    /// are the head's bias, to be ignored).
    pub log_probs: Vec<f32>,
    /// `[N]` frames of each utterance.
    pub lengths: Vec<usize>,
    out: RecurrentOutput<f32>,
}

/// What a batch's loss pass reports.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchLoss {
    /// `Σ_b nll_b / max(1, |labels_b|)` over the batch (the CTC mean reduction times `N`).
    pub loss_sum: f64,
    /// Utterances whose labels cannot be aligned to their frames (too many for too few
    /// frames): counted as zero loss and no gradient.
    pub impossible: usize,
}

impl crate::training::Checkpointed for AcousticModel {
    fn named_tensors(&self) -> Vec<NamedTensor<'_>> {
        AcousticModel::named_tensors(self)
    }
    fn buffers(&self) -> Vec<&[f32]> {
        AcousticModel::buffers(self)
    }
}

impl AcousticModel {
    /// A freshly initialised model with PyTorch's schemes: the recurrent layers, then the head,
    /// drawn in that order from `rng`.
    ///
    /// # Errors
    /// [`Error::Config`] for a configuration out of range.
    pub fn new(config: AcousticConfig, rng: &mut Rng) -> Result<Self> {
        config.validate()?;
        let rnn = Recurrent::new(config.rnn(), rng)?;
        let head = config.head().init(rng);
        Ok(AcousticModel { config, rnn, head })
    }

    /// A model with every parameter zero (to be loaded).
    ///
    /// # Errors
    /// [`Error::Config`] for a configuration out of range.
    pub fn zeros(config: AcousticConfig) -> Result<Self> {
        config.validate()?;
        Ok(AcousticModel {
            rnn: Recurrent::zeros(config.rnn())?,
            head: config.head().zeros(),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AcousticConfig {
        &self.config
    }

    /// The recurrent layers.
    pub fn rnn(&self) -> &Recurrent<f32> {
        &self.rnn
    }

    /// The head.
    pub fn head(&self) -> &Linear<f32> {
        &self.head
    }

    /// Zero gradients shaped as this model's parameters.
    pub fn zero_grads(&self) -> AcousticGrads {
        AcousticGrads {
            rnn: vec![0.0; self.rnn.params().len()],
            head: LinearGrads::zeros_like(&self.head),
        }
    }

    /// Parameter buffers: recurrent, head weight, head bias.
    pub fn buffers(&self) -> Vec<&[f32]> {
        let mut v = vec![self.rnn.params()];
        v.extend(self.head.buffers());
        v
    }

    /// Parameter buffers: recurrent, head weight, head bias.
    pub fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut v = vec![self.rnn.params_mut()];
        v.extend(self.head.buffers_mut());
        v
    }

    /// Sizes of the parameter buffers.
    pub fn buffer_sizes(&self) -> Vec<usize> {
        self.buffers().iter().map(|b| b.len()).collect()
    }

    /// The parameters under PyTorch's names (`rnn.weight_ih_l0`, …, `head.weight`, `head.bias`).
    pub fn named_tensors(&self) -> Vec<NamedTensor<'_>> {
        let mut out = self.rnn.named_tensors("rnn.");
        out.extend(self.head.named_tensors("head."));
        out
    }

    /// Loads every parameter from a file written from [`Self::named_tensors`].
    ///
    /// # Errors
    /// [`Error::Format`] naming the tensor that is missing, misshapen or left over.
    pub fn load_tensors(&mut self, mut file: TensorFile) -> Result<()> {
        self.rnn.load_tensors(&mut file, "rnn.")?;
        self.head.load_tensors(&mut file, "head.")?;
        file.finish()
    }

    /// Steps of the recurrent layers for `frames` feature frames.
    pub fn steps_for(&self, frames: usize) -> usize {
        frames.div_ceil(self.config.frame_stack)
    }

    /// The scaled input `[T, N, F·k]` of `utterances` (each `[T_b, F]` row-major; `k` frames
    /// stacked a step, zero-padded to whole steps and to the longest) and their step counts.
    fn inputs(&self, utterances: &[&[f32]]) -> Result<(Tensor<f32>, Vec<usize>)> {
        let f = self.config.input_size;
        let width = f * self.config.frame_stack;
        let mut lengths = Vec::with_capacity(utterances.len());
        for (b, u) in utterances.iter().enumerate() {
            if u.is_empty() || !u.len().is_multiple_of(f) {
                return Err(Error::Input(format!(
                    "utterance {b}: {} values are not one or more frames of {f} features",
                    u.len()
                )));
            }
            lengths.push(self.steps_for(u.len() / f));
        }
        let (steps, n) = (lengths.iter().copied().max().unwrap_or(0), utterances.len());
        let mut x = vec![0.0f32; steps * n * width];
        for (b, u) in utterances.iter().enumerate() {
            for (i, frame) in u.chunks_exact(f).enumerate() {
                let (t, slot) = (i / self.config.frame_stack, i % self.config.frame_stack);
                let at = (t * n + b) * width + slot * f;
                self.scale_into(frame, &mut x[at..at + f]);
            }
        }
        Ok((Tensor::new("input", &[steps, n, width], x)?, lengths))
    }

    /// `(frame - mean) / std` into `out`.
    fn scale_into(&self, frame: &[f32], out: &mut [f32]) {
        let c = &self.config;
        for (j, (r, v)) in out.iter_mut().zip(frame).enumerate() {
            *r = (v - c.mean[j]) / c.std[j];
        }
    }

    /// The forward pass of `utterances` (each `[T_b, F]`): log-probabilities `[T, N, C]` over
    /// the steps ([`Self::steps_for`] of each utterance's frames).
    /// Dropout between layers (training mode) when `rng` is given.
    ///
    /// # Errors
    /// [`Error::Input`] for an empty batch or an utterance that is not whole frames.
    pub fn forward(
        &self,
        threads: &Threads,
        utterances: &[&[f32]],
        rng: Option<&mut Rng>,
    ) -> Result<Forward> {
        if utterances.is_empty() {
            return Err(Error::Input("an empty batch of utterances".into()));
        }
        let (x, lengths) = self.inputs(utterances)?;
        let args = ForwardArgs {
            lengths: Some(&lengths),
            h0: None,
            c0: None,
            dropout_rng: rng,
        };
        let out = self.rnn.forward(threads, &x, args)?;
        let c = self.config.alphabet.classes();
        let mut log_probs = vec![0.0f32; x.shape()[0] * utterances.len() * c];
        self.head
            .forward(threads, out.output.data(), &mut log_probs)?;
        log_softmax_rows(&mut log_probs, c);
        Ok(Forward {
            log_probs,
            lengths,
            out,
        })
    }

    /// The CTC loss of `utterances` against `labels` (class ids, no blanks), infinite losses
    /// zeroed; with `grads`, adds the gradient of the batch's mean loss (the CTC mean
    /// reduction) into them.
    ///
    /// # Errors
    /// [`Error::Input`] for labels that do not fit the batch or the alphabet; as
    /// [`Self::forward`].
    pub fn loss(
        &self,
        threads: &Threads,
        utterances: &[&[f32]],
        labels: &[&[u32]],
        grads: Option<&mut AcousticGrads>,
        rng: Option<&mut Rng>,
    ) -> Result<BatchLoss> {
        if labels.len() != utterances.len() {
            return Err(Error::Input(format!(
                "{} label sequences for {} utterances",
                labels.len(),
                utterances.len()
            )));
        }
        let mut fwd = self.forward(threads, utterances, rng)?;
        let ids: Vec<u32> = labels.concat();
        let target_lengths: Vec<usize> = labels.iter().map(|l| l.len()).collect();
        let batch = CtcBatch {
            log_probs: &fwd.log_probs,
            classes: self.config.alphabet.classes(),
            input_lengths: &fwd.lengths,
            targets: CtcTargets::Concatenated(&ids),
            target_lengths: &target_lengths,
        };
        let ctc = CtcLoss {
            blank: BLANK,
            reduction: CtcReduction::Mean,
            zero_infinity: true,
            ..Default::default()
        };
        let mut d_logits = grads.as_ref().map(|_| vec![0.0f32; fwd.log_probs.len()]);
        let report = ctc.forward(threads, &batch, d_logits.as_deref_mut())?;
        if let (Some(grads), Some(d_logits)) = (grads, d_logits) {
            self.backward(threads, &mut fwd, &d_logits, grads)?;
        }
        Ok(BatchLoss {
            loss_sum: report.loss * utterances.len() as f64,
            impossible: report.zeroed,
        })
    }

    /// Adds into `grads` the gradient of a loss whose gradient with respect to the head's
    /// logits `[T, N, C]` is `d_logits`.
    fn backward(
        &self,
        threads: &Threads,
        fwd: &mut Forward,
        d_logits: &[f32],
        grads: &mut AcousticGrads,
    ) -> Result<()> {
        let d_hidden =
            self.head
                .backward(threads, fwd.out.output.data(), d_logits, &mut grads.head)?;
        let d_out = Tensor::new("output gradient", fwd.out.output.shape(), d_hidden)?;
        self.rnn.backward(
            threads,
            &mut fwd.out.cache,
            &mut grads.rnn,
            &d_out,
            None,
            None,
        )?;
        Ok(())
    }
}

/// The state of [`AcousticModel::step`]: the recurrent state and the frames of a step not yet
/// complete.
pub struct StreamState {
    rnn: StepState<f32>,
    /// Scaled frames waiting for a whole step (`frame_stack` of them).
    pending: Vec<f32>,
}

impl AcousticModel {
    /// A state for [`Self::step`] (a unidirectional model only).
    ///
    /// # Errors
    /// [`Error::Input`] for a bidirectional model, which needs whole utterances.
    pub fn step_state(&self) -> Result<StreamState> {
        Ok(StreamState {
            rnn: self.rnn.step_state(1, None, None)?,
            pending: Vec::new(),
        })
    }

    /// One frame `[F]` into the model through the step API: when it completes a step
    /// (`frame_stack` frames), that step's log-probabilities `[C]`, the same numbers, bit for
    /// bit, as [`Self::forward`] gives that step of the whole utterance.
    ///
    /// # Errors
    /// [`Error::Input`] for a frame of another width.
    pub fn step(
        &self,
        threads: &Threads,
        frame: &[f32],
        state: &mut StreamState,
    ) -> Result<Option<Vec<f32>>> {
        let f = self.config.input_size;
        if frame.len() != f {
            return Err(Error::Input(format!(
                "frame: {} features, the model reads {f}",
                frame.len()
            )));
        }
        let at = state.pending.len();
        state.pending.resize(at + f, 0.0);
        self.scale_into(frame, &mut state.pending[at..]);
        if state.pending.len() < f * self.config.frame_stack {
            return Ok(None);
        }
        let out = self.run_step(threads, state)?;
        Ok(Some(out))
    }

    /// The last, partial step of an utterance (zero-padded as [`Self::forward`] pads it), if
    /// frames are waiting.
    ///
    /// # Errors
    /// As [`Self::step`].
    pub fn finish_steps(
        &self,
        threads: &Threads,
        state: &mut StreamState,
    ) -> Result<Option<Vec<f32>>> {
        if state.pending.is_empty() {
            return Ok(None);
        }
        state
            .pending
            .resize(self.config.input_size * self.config.frame_stack, 0.0);
        Ok(Some(self.run_step(threads, state)?))
    }

    fn run_step(&self, threads: &Threads, state: &mut StreamState) -> Result<Vec<f32>> {
        let h = self.rnn.step(threads, &state.pending, &mut state.rnn)?;
        let mut out = vec![0.0f32; self.config.alphabet.classes()];
        self.head.forward(threads, h, &mut out)?;
        log_softmax_rows(&mut out, self.config.alphabet.classes());
        state.pending.clear();
        Ok(out)
    }
}

/// Log-softmax of every row of `[rows, c]`, in place.
pub fn log_softmax_rows(x: &mut [f32], c: usize) {
    for row in x.chunks_exact_mut(c) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
        let lse = max + sum.ln();
        for v in row.iter_mut() {
            *v -= lse;
        }
    }
}
