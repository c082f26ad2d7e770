//! The character language model: embedding (or one-hot input) → stacked RNN/LSTM/GRU → linear
//! head, with PyTorch's parameter names (`embedding.weight`, `rnn.*`, `head.weight`, `head.bias`).

use crate::config::{CellType, Nonlinearity, RecurrentConfig};
use crate::error::{Error, Result};
use crate::io::{NamedTensor, TensorFile};
use crate::nn::Dropout;
use crate::recurrent::{ForwardArgs, Recurrent, RecurrentCache};
use crate::rng::Rng;
use crate::tensor::Tensor;
use recur_kernels::{
    linear_cross_entropy, matmul_packed, Accum, CrossEntropy, HeadGrads, HeadWeights, HeadWork,
    MatMut, Operand, PackedB, Threads,
};
use serde::{Deserialize, Serialize};

/// The `model` section of a char-LM checkpoint's `config.json` (DESIGN contract).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CharLmConfig {
    /// `"rnn" | "lstm" | "gru"`.
    pub cell: CellType,
    /// RNN nonlinearity; absent for LSTM and GRU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonlinearity: Option<Nonlinearity>,
    /// Characters in the vocabulary `V`.
    pub vocab_size: usize,
    /// Embedding width `E`; 0 feeds one-hot vectors of width `V` (the textbook exercise).
    pub embed_dim: usize,
    /// Hidden units `H`.
    pub hidden_size: usize,
    /// Stacked recurrent layers.
    pub num_layers: usize,
    /// Dropout in training, between recurrent layers and on the head's input (the last layer's
    /// output), as PyTorch's word-language-model example applies one `dropout` to both
    /// (Zaremba et al. 2014: dropout on the non-recurrent connections).
    pub dropout: f64,
    /// Biases in the recurrent layers.
    pub bias: bool,
}

impl CharLmConfig {
    /// The recurrent part, time-major.
    pub fn rnn(&self) -> RecurrentConfig {
        let input = if self.embed_dim == 0 {
            self.vocab_size
        } else {
            self.embed_dim
        };
        RecurrentConfig::new(self.cell, input, self.hidden_size)
            .nonlinearity(self.nonlinearity.unwrap_or_default())
            .layers(self.num_layers)
            .dropout(self.dropout)
            .bias(self.bias)
    }

    /// Parameters of the whole model (embedding, recurrent layers, head), counted without
    /// overflow: `None` when the count does not fit in `usize`.
    pub fn param_count(&self) -> Option<usize> {
        let (v, e, h) = (self.vocab_size, self.embed_dim, self.hidden_size);
        v.checked_mul(e)?
            .checked_add(self.rnn().param_count()?)?
            .checked_add(v.checked_mul(h)?)?
            .checked_add(v)
    }

    /// The tensors of a model of this configuration: (name, shape), as [`CharLm::named_tensors`]
    /// names them.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (v, e, h) = (self.vocab_size, self.embed_dim, self.hidden_size);
        let mut out = Vec::new();
        if e > 0 {
            out.push(("embedding.weight".to_string(), vec![v, e]));
        }
        out.extend(
            crate::param_layout(&self.rnn())
                .into_iter()
                .map(|p| (format!("rnn.{}", p.name), p.shape)),
        );
        out.push(("head.weight".to_string(), vec![v, h]));
        out.push(("head.bias".to_string(), vec![v]));
        out
    }

    /// Checks every field: sizes at least 1 (`embed_dim` may be 0), at most
    /// [`crate::MAX_LAYERS`] layers, and at most [`crate::MAX_PARAMETERS`] parameters in all.
    /// Messages name the fields (`hidden_size`, `embed_dim`, `num_layers`, `vocab_size`).
    pub fn validate(&self) -> Result<()> {
        if self.vocab_size == 0 {
            return Err(Error::Config("vocab_size must be at least 1".into()));
        }
        if self.hidden_size == 0 {
            return Err(Error::Config("hidden_size must be at least 1".into()));
        }
        if self.num_layers == 0 || self.num_layers > crate::MAX_LAYERS {
            return Err(Error::Config(format!(
                "num_layers must be in 1..={}, got {}",
                crate::MAX_LAYERS,
                self.num_layers
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Config(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        if self.cell != CellType::Rnn && self.nonlinearity == Some(Nonlinearity::Relu) {
            return Err(Error::Config(
                "nonlinearity relu applies to the rnn cell only".into(),
            ));
        }
        crate::check_param_count(
            self.param_count(),
            &format!(
                "hidden_size {}, embed_dim {}, num_layers {} and vocab_size {}",
                self.hidden_size, self.embed_dim, self.num_layers, self.vocab_size
            ),
        )?;
        self.rnn().validate()
    }
}

/// A character language model.
#[derive(Clone, Debug)]
pub struct CharLm {
    config: CharLmConfig,
    /// `[V, E]`, empty for one-hot input.
    embedding: Vec<f32>,
    rnn: Recurrent<f32>,
    /// `[V, H]`.
    head_weight: Vec<f32>,
    /// `[V]`.
    head_bias: Vec<f32>,
}

/// Gradients of a [`CharLm`], one buffer per parameter buffer (see [`CharLm::buffers`]).
#[derive(Clone, Debug)]
pub struct CharLmGrads {
    /// One buffer per parameter buffer.
    pub buffers: Vec<Vec<f32>>,
}

impl CharLmGrads {
    /// Sets every gradient to zero.
    pub fn zero(&mut self) {
        self.buffers.iter_mut().for_each(|b| b.fill(0.0));
    }

    /// [`Self::zero`] spread over `threads`.
    pub fn zero_in(&mut self, threads: &Threads) {
        let bufs = self.buffers.iter_mut().map(|b| &mut b[..]);
        crate::optim::for_each_piece(threads, bufs, |_, piece| piece.fill(0.0));
    }

    /// The buffers as mutable slices.
    pub fn slices_mut(&mut self) -> Vec<&mut [f32]> {
        self.buffers.iter_mut().map(|b| &mut b[..]).collect()
    }

    /// The buffers as slices.
    pub fn slices(&self) -> Vec<&[f32]> {
        self.buffers.iter().map(|b| &b[..]).collect()
    }
}

/// The recurrent state carried from one training step to the next (`[layers, B, H]`).
#[derive(Clone, Debug)]
pub struct Carry {
    /// Hidden state.
    pub h: Tensor<f32>,
    /// Cell state (LSTM only).
    pub c: Option<Tensor<f32>>,
}

/// One training batch of a character model: `inputs` and `targets` time-major `[T, B]`, `B`
/// streams side by side.
#[derive(Clone, Copy, Debug)]
pub struct TokenBatch<'a> {
    /// The input characters.
    pub inputs: &'a [u32],
    /// The character that follows each input.
    pub targets: &'a [u32],
    /// Streams `B`.
    pub batch: usize,
}

/// Loss figures of one batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchStats {
    /// Mean cross-entropy in nats per character.
    pub loss: f64,
    /// Fraction of characters predicted exactly by the arg-max.
    pub accuracy: f64,
}

/// Reused buffers of training steps.
#[derive(Debug, Default)]
pub struct StepWork {
    /// The head weight packed as the right operand of `hs · W_headᵀ`.
    head: PackedB<f32>,
    /// The head weight packed as the right operand of `δlogits · W_head`.
    head_t: PackedB<f32>,
    head_work: HeadWork<f32>,
    d_out: Vec<f32>,
    rnn_cache: Option<RecurrentCache<f32>>,
    /// The head's input after dropout, and the dropout mask (training with dropout only).
    head_in: Vec<f32>,
    head_mask: Vec<f32>,
}

impl CharLm {
    /// A model initialised as PyTorch initialises the modules of the contract: embedding
    /// `N(0, 1)`, recurrent weights and head `U(-1/√H, 1/√H)`.
    pub fn new(config: CharLmConfig, rng: &mut Rng) -> Result<Self> {
        let mut m = Self::zeros(config)?;
        for v in &mut m.embedding {
            *v = rng.normal() as f32;
        }
        m.rnn = Recurrent::new(m.config.rnn(), rng)?;
        let k = 1.0 / (m.config.hidden_size as f64).sqrt();
        for v in m.head_weight.iter_mut().chain(&mut m.head_bias) {
            *v = rng.uniform_range(-k, k) as f32;
        }
        Ok(m)
    }

    /// A model with every parameter zero (to be loaded).
    pub fn zeros(config: CharLmConfig) -> Result<Self> {
        config.validate()?;
        let (v, e, h) = (config.vocab_size, config.embed_dim, config.hidden_size);
        Ok(CharLm {
            embedding: crate::try_zeros(v * e, "embedding.weight")?,
            rnn: Recurrent::zeros(config.rnn())?,
            head_weight: crate::try_zeros(v * h, "head.weight")?,
            head_bias: crate::try_zeros(v, "head.bias")?,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CharLmConfig {
        &self.config
    }

    /// Changes the dropout between recurrent layers (for fine-tuning a loaded model).
    ///
    /// # Errors
    /// [`Error::Config`] unless `0 <= p < 1`.
    pub fn set_dropout(&mut self, p: f64) -> Result<()> {
        self.rnn.set_dropout(p)?;
        self.config.dropout = p;
        Ok(())
    }

    /// The recurrent layers.
    pub fn rnn(&self) -> &Recurrent<f32> {
        &self.rnn
    }

    /// The parameter buffers in a fixed order: embedding (when present), recurrent, head weight,
    /// head bias.
    pub fn buffers(&self) -> Vec<&[f32]> {
        let mut out: Vec<&[f32]> = Vec::with_capacity(4);
        if self.config.embed_dim > 0 {
            out.push(&self.embedding);
        }
        out.extend([
            self.rnn.params(),
            &self.head_weight[..],
            &self.head_bias[..],
        ]);
        out
    }

    /// The parameter buffers, mutable, in [`Self::buffers`] order.
    pub fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut out: Vec<&mut [f32]> = Vec::with_capacity(4);
        if self.config.embed_dim > 0 {
            out.push(&mut self.embedding);
        }
        out.push(self.rnn.params_mut());
        out.push(&mut self.head_weight);
        out.push(&mut self.head_bias);
        out
    }

    /// Zero gradients shaped like the parameters.
    pub fn zero_grads(&self) -> CharLmGrads {
        CharLmGrads {
            buffers: self.buffers().iter().map(|b| vec![0.0; b.len()]).collect(),
        }
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.buffers().iter().map(|b| b.len()).sum()
    }

    /// The parameters under the names of the PyTorch module of the contract.
    pub fn named_tensors(&self) -> Vec<NamedTensor<'_>> {
        let (v, e, h) = (
            self.config.vocab_size,
            self.config.embed_dim,
            self.config.hidden_size,
        );
        let mut out = Vec::new();
        if e > 0 {
            out.push((
                "embedding.weight".to_string(),
                vec![v, e],
                &self.embedding[..],
            ));
        }
        out.extend(self.rnn.named_tensors("rnn."));
        out.push(("head.weight".to_string(), vec![v, h], &self.head_weight[..]));
        out.push(("head.bias".to_string(), vec![v], &self.head_bias[..]));
        out
    }

    /// Loads every parameter from `file`, which must hold exactly this model's tensors.
    pub fn load_tensors(&mut self, mut file: TensorFile) -> Result<()> {
        let (v, e, h) = (
            self.config.vocab_size,
            self.config.embed_dim,
            self.config.hidden_size,
        );
        if e > 0 {
            self.embedding = file.take("embedding.weight", &[v, e])?;
        }
        self.rnn.load_tensors(&mut file, "rnn.")?;
        self.head_weight = file.take("head.weight", &[v, h])?;
        self.head_bias = file.take("head.bias", &[v])?;
        file.finish()
    }

    /// A zero carried state for `batch` streams.
    pub fn zero_carry(&self, batch: usize) -> Carry {
        let shape = [self.config.num_layers, batch, self.config.hidden_size];
        Carry {
            h: Tensor::zeros(&shape),
            c: (self.config.cell == CellType::Lstm).then(|| Tensor::zeros(&shape)),
        }
    }

    /// The recurrent input for `tokens`: embedding rows or one-hot vectors, `[N, I]`.
    pub fn input_rows(&self, tokens: &[u32]) -> Vec<f32> {
        let mut x = Vec::new();
        self.input_rows_into(tokens, &mut x);
        x
    }

    /// [`Self::input_rows`] into `x`, reusing its memory.
    pub fn input_rows_into(&self, tokens: &[u32], x: &mut Vec<f32>) {
        let (v, e) = (self.config.vocab_size, self.config.embed_dim);
        x.clear();
        if e == 0 {
            x.resize(tokens.len() * v, 0.0);
            for (row, &t) in x.chunks_exact_mut(v).zip(tokens) {
                row[t as usize] = 1.0;
            }
        } else {
            for &t in tokens {
                x.extend_from_slice(&self.embedding[t as usize * e..(t as usize + 1) * e]);
            }
        }
    }

    /// The table the recurrent layers look tokens up in: the embedding `[V, E]`, or the identity
    /// `[V, V]` for one-hot input.
    pub fn input_table(&self) -> Result<Tensor<f32>> {
        let (v, e) = (self.config.vocab_size, self.config.embed_dim);
        if e > 0 {
            return Tensor::new("embedding.weight", &[v, e], self.embedding.clone());
        }
        let mut eye = vec![0.0; v * v];
        for i in 0..v {
            eye[i * v + i] = 1.0;
        }
        Tensor::new("one-hot table", &[v, v], eye)
    }

    /// The head packed as the right operand of `h · W_headᵀ`.
    pub fn packed_head(&self) -> PackedB<f32> {
        let h = self.config.hidden_size;
        PackedB::packed(Operand::t(&self.head_weight, h), h, self.config.vocab_size)
    }

    /// The summed cross-entropy of the head's predictions from `hs [N, H]` against
    /// `targets [N]` (and the count of right arg-max predictions), in one parallel pass over
    /// blocks of rows; `packed` is [`Self::packed_head`].
    pub fn head_loss(
        &self,
        threads: &Threads,
        packed: &PackedB<f32>,
        hs: &[f32],
        targets: &[u32],
        work: &mut HeadWork<f32>,
    ) -> CrossEntropy {
        let head = HeadWeights {
            weight_t: packed,
            bias: &self.head_bias,
        };
        linear_cross_entropy(threads, hs, targets, head, 1.0, None, work)
    }

    /// `logits [N, V] = hs [N, H] · W_headᵀ + b`.
    pub fn head_logits(
        &self,
        threads: &Threads,
        packed: &PackedB<f32>,
        hs: &[f32],
        logits: &mut Vec<f32>,
    ) {
        let (v, h) = (self.config.vocab_size, self.config.hidden_size);
        let n = hs.len() / h;
        logits.resize(n * v, 0.0);
        for row in logits.chunks_exact_mut(v) {
            row.copy_from_slice(&self.head_bias);
        }
        matmul_packed(
            threads,
            n,
            hs,
            h,
            packed,
            MatMut::new(logits, v),
            Accum::Add,
        );
    }

    /// Forward and backward over one batch of `tokens`. Adds the gradient of the mean
    /// cross-entropy to `grads`, and moves `carry` to the batch's final state (the next step
    /// starts there; no gradient flows across steps). `dropout_rng` is the training-mode dropout
    /// source.
    pub fn train_batch(
        &self,
        threads: &Threads,
        tokens: TokenBatch<'_>,
        carry: &mut Carry,
        dropout_rng: &mut Rng,
        grads: &mut CharLmGrads,
        work: &mut StepWork,
    ) -> Result<BatchStats> {
        let TokenBatch {
            inputs,
            targets,
            batch,
        } = tokens;
        let (v, e, h) = (
            self.config.vocab_size,
            self.config.embed_dim,
            self.config.hidden_size,
        );
        let n = inputs.len();
        if batch == 0 || n == 0 || !n.is_multiple_of(batch) || targets.len() != n {
            return Err(Error::Input(format!(
                "train_batch: {n} inputs and {} targets do not make a batch of {batch} sequences",
                targets.len()
            )));
        }
        if let Some(&t) = targets.iter().find(|&&t| t as usize >= v) {
            return Err(Error::Input(format!(
                "train_batch: target {t} is outside the vocabulary of {v}"
            )));
        }
        let expected: Vec<usize> = self.buffers().iter().map(|b| b.len()).collect();
        if grads.buffers.len() != expected.len()
            || grads
                .buffers
                .iter()
                .zip(&expected)
                .any(|(g, &e)| g.len() != e)
        {
            return Err(Error::Input(
                "train_batch: the gradients are not shaped like this model's parameters".into(),
            ));
        }
        let steps = n / batch;
        let args = ForwardArgs {
            lengths: None,
            h0: Some(&carry.h),
            c0: carry.c.as_ref(),
            dropout_rng: Some(dropout_rng),
        };
        let table = self.input_table()?;
        let recycled = work.rnn_cache.take();
        let mut out = self
            .rnn
            .forward_tokens(threads, &table, inputs, batch, args, recycled)?;
        let dropout = Dropout::new(self.config.dropout)?;
        let hs = if dropout.p() > 0.0 {
            work.head_in.clear();
            work.head_in.extend_from_slice(out.output.data());
            dropout.forward(dropout_rng, &mut work.head_in, &mut work.head_mask);
            &work.head_in[..]
        } else {
            out.output.data()
        };
        work.head
            .pack_in(threads, Operand::t(&self.head_weight, h), h, v);
        work.head_t
            .pack_in(threads, Operand::new(&self.head_weight, h), v, h);
        let mut bufs = grads.slices_mut();
        let k = bufs.len();
        let (rest, head_bias) = bufs.split_at_mut(k - 1);
        let (rest, head_weight) = rest.split_at_mut(k - 2);
        work.d_out.resize(n * h, 0.0);
        let head = HeadWeights {
            weight_t: &work.head,
            bias: &self.head_bias,
        };
        let head_grads = HeadGrads {
            weight: &work.head_t,
            d_weight: head_weight[0],
            d_bias: head_bias[0],
            d_x: &mut work.d_out,
        };
        let scale = 1.0 / n as f32;
        let ce = linear_cross_entropy(
            threads,
            hs,
            targets,
            head,
            scale,
            Some(head_grads),
            &mut work.head_work,
        );
        if dropout.p() > 0.0 {
            dropout.backward(&work.head_mask, &mut work.d_out)?;
        }
        let d_out = Tensor::new(
            "d_output",
            &[steps, batch, h],
            std::mem::take(&mut work.d_out),
        )?;
        let (emb_grad, rnn_grad) = if e > 0 {
            let (a, b) = rest.split_at_mut(1);
            (Some(&mut *a[0]), &mut *b[0])
        } else {
            (None, &mut *rest[0])
        };
        let d_in = self
            .rnn
            .backward(threads, &mut out.cache, rnn_grad, &d_out, None, None)?;
        work.d_out = d_out.into_data();
        if let Some(g) = emb_grad {
            for (d, &s) in g.iter_mut().zip(d_in.input.data()) {
                *d += s;
            }
        }
        work.rnn_cache = Some(out.cache);
        carry.h = out.h_n;
        carry.c = out.c_n;
        Ok(BatchStats {
            loss: ce.loss_sum / n as f64,
            accuracy: ce.correct as f64 / n as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroing_over_threads_clears_every_buffer() {
        let config = CharLmConfig {
            cell: CellType::Gru,
            nonlinearity: None,
            vocab_size: 300,
            embed_dim: 64,
            hidden_size: 128,
            num_layers: 2,
            dropout: 0.0,
            bias: true,
        };
        let model = CharLm::new(config, &mut Rng::new(1)).unwrap();
        let mut grads = model.zero_grads();
        grads.buffers.iter_mut().for_each(|b| b.fill(1.5));
        assert!(grads.buffers.iter().map(|b| b.len()).sum::<usize>() > 4 * crate::optim::PIECE);
        grads.zero_in(&Threads::new(2).unwrap());
        assert!(grads.buffers.iter().flatten().all(|&v| v == 0.0));
    }
}
