//! The encoder-decoder with attention (Luong et al. 2015, without input feeding), composed of
//! [`crate::nn`]'s blocks and [`Recurrent`] layers.

use super::batch::{PairBatch, PAD};
use crate::config::{CellType, RecurrentConfig};
use crate::error::{Error, Result};
use crate::io::{NamedTensor, TensorFile};
use crate::nn::loss::CrossEntropyLoss;
use crate::nn::{
    Attended, Attention, AttentionConfig, AttentionGrads, AttentionShape, Dropout, Embedding,
    EmbeddingConfig, Linear, LinearConfig, LinearGrads, Score,
};
use crate::recurrent::{ForwardArgs, Recurrent, RecurrentOutput};
use crate::rng::Rng;
use crate::tensor::{swap_leading_axes, Tensor};
use recur_kernels::{Scalar, Threads};
use serde::{Deserialize, Serialize};

/// Everything that defines an encoder-decoder besides its weights.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Seq2SeqConfig {
    /// Recurrent cell of the encoder and the decoder.
    pub cell: CellType,
    /// Source vocabulary size (token 0 is padding).
    pub src_vocab: usize,
    /// Target vocabulary size (token 0 is padding).
    pub tgt_vocab: usize,
    /// Width of both embeddings.
    pub embed_dim: usize,
    /// The decoder's hidden size; the bidirectional encoder has `hidden_size / 2` per direction,
    /// so that its outputs and its two final states side by side are `hidden_size` wide.
    pub hidden_size: usize,
    /// Stacked layers of the encoder and of the decoder.
    pub num_layers: usize,
    /// Dropout on the embeddings, between recurrent layers and on the attentional vector.
    pub dropout: f64,
    /// The attention score.
    pub attention: Score,
}

impl Seq2SeqConfig {
    /// Checks the sizes.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.src_vocab < 2 || self.tgt_vocab < 2 {
            return bad(
                "`src_vocab` and `tgt_vocab` must be at least 2 (padding and one token)".into(),
            );
        }
        if self.embed_dim == 0 || self.num_layers == 0 {
            return bad("`embed_dim` and `num_layers` must be at least 1".into());
        }
        if self.hidden_size < 2 || !self.hidden_size.is_multiple_of(2) {
            return bad(format!(
                "`hidden_size` must be even (two encoder directions of half of it), got {}",
                self.hidden_size
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("`dropout` must be in [0, 1), got {}", self.dropout));
        }
        Ok(())
    }

    fn encoder(&self) -> RecurrentConfig {
        let mut c = RecurrentConfig::new(self.cell, self.embed_dim, self.hidden_size / 2);
        c.num_layers = self.num_layers;
        c.bidirectional = true;
        c.dropout = self.dropout;
        c
    }

    fn decoder(&self) -> RecurrentConfig {
        let mut c = RecurrentConfig::new(self.cell, self.embed_dim, self.hidden_size);
        c.num_layers = self.num_layers;
        c.dropout = self.dropout;
        c
    }

    fn attention_config(&self) -> AttentionConfig {
        AttentionConfig {
            score: self.attention,
            query_size: self.hidden_size,
            key_size: self.hidden_size,
            attention_size: self.hidden_size,
        }
    }

    /// A model with PyTorch's initialisation of every block, drawn from `rng`.
    ///
    /// # Errors
    /// As [`Self::validate`].
    pub fn init<T: Scalar>(&self, rng: &mut Rng) -> Result<Seq2Seq<T>> {
        self.validate()?;
        let h = self.hidden_size;
        Ok(Seq2Seq {
            config: *self,
            src_embedding: EmbeddingConfig::new(self.src_vocab, self.embed_dim)
                .padding_idx(PAD as usize)
                .init(rng)?,
            encoder: Recurrent::new(self.encoder(), rng)?,
            tgt_embedding: EmbeddingConfig::new(self.tgt_vocab, self.embed_dim)
                .padding_idx(PAD as usize)
                .init(rng)?,
            decoder: Recurrent::new(self.decoder(), rng)?,
            attention: self.attention_config().init(rng)?,
            combine: LinearConfig::new(2 * h, h).bias(false).init(rng),
            generator: LinearConfig::new(h, self.tgt_vocab).init(rng),
        })
    }
}

/// An RNN encoder-decoder with attention:
///
/// ```text
/// encoder:   e = BiRNN(src_embedding(x))                        [S, B, H]
/// decoder:   h_t = RNN(tgt_embedding(y_<t)), h_0 = both directions' final states side by side
/// attention: c_t = Σ_s softmax_s(score(h_t, e_s)) e_s            (padding masked)
/// output:    p(y_t) = softmax(generator(dropout(tanh(combine([c_t; h_t])))))
/// ```
///
/// The PyTorch names of the parameters: `src_embedding.weight`, `encoder.weight_ih_l0`, …
/// (an `nn.GRU/LSTM(bidirectional=True)`), `tgt_embedding.weight`, `decoder.*`, `attention.*`
/// ([`Attention`]), `combine.weight [H, 2H]`, `generator.weight [V, H]`, `generator.bias [V]`.
#[derive(Clone, Debug)]
pub struct Seq2Seq<T> {
    config: Seq2SeqConfig,
    /// `[src_vocab, embed_dim]`.
    pub src_embedding: Embedding<T>,
    /// Bidirectional, `hidden_size / 2` per direction.
    pub encoder: Recurrent<T>,
    /// `[tgt_vocab, embed_dim]`.
    pub tgt_embedding: Embedding<T>,
    /// Unidirectional, `hidden_size`.
    pub decoder: Recurrent<T>,
    /// Over the encoder's outputs.
    pub attention: Attention<T>,
    /// Luong's `W_c`: `[c; h] → h̃`, no bias.
    pub combine: Linear<T>,
    /// The output layer `h̃ → logits`.
    pub generator: Linear<T>,
}

/// Gradients of a [`Seq2Seq`], shaped as its parameters.
#[derive(Clone, Debug)]
pub struct Seq2SeqGrads<T> {
    /// `[src_vocab, embed_dim]`.
    pub src_embedding: Vec<T>,
    /// As [`Recurrent::params`].
    pub encoder: Vec<T>,
    /// `[tgt_vocab, embed_dim]`.
    pub tgt_embedding: Vec<T>,
    /// As [`Recurrent::params`].
    pub decoder: Vec<T>,
    /// The attention's layers.
    pub attention: AttentionGrads<T>,
    /// `combine`.
    pub combine: LinearGrads<T>,
    /// `generator`.
    pub generator: LinearGrads<T>,
}

impl<T: Scalar> Seq2SeqGrads<T> {
    /// Every buffer, in the order of [`Seq2Seq::buffers_mut`].
    pub fn buffers_mut(&mut self) -> Vec<&mut [T]> {
        let mut v: Vec<&mut [T]> = vec![
            &mut self.src_embedding,
            &mut self.encoder,
            &mut self.tgt_embedding,
            &mut self.decoder,
        ];
        v.extend(self.attention.buffers_mut());
        v.extend(self.combine.buffers_mut());
        v.extend(self.generator.buffers_mut());
        v
    }
}

impl crate::nn::Gradients for Seq2SeqGrads<f32> {
    fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        Seq2SeqGrads::buffers_mut(self)
    }
}

/// What a training forward pass keeps for the backward pass.
pub struct Seq2SeqForward<T> {
    src_emb_mask: Vec<T>,
    enc: RecurrentOutput<T>,
    tgt_emb_mask: Vec<T>,
    dec: RecurrentOutput<T>,
    att: Attended<T>,
    /// `[T·B, 2H]`: the context and the decoder's output side by side.
    cat: Vec<T>,
    /// `[T·B, H]`: `tanh(combine(cat))`.
    h_tilde: Vec<T>,
    out_mask: Vec<T>,
    /// `[T·B, H]`: `h̃` after dropout, the generator's input.
    gen_in: Vec<T>,
    /// `[T·B, V]`.
    pub logits: Vec<T>,
}

/// The encoder's outputs `[S, B, H]` and the decoder's initial `h_0` (and `c_0` for an LSTM).
pub(super) type Encoded<T> = (RecurrentOutput<T>, Tensor<T>, Option<Tensor<T>>);

/// A batch's loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchLoss {
    /// Mean cross-entropy per target token (with label smoothing when training).
    pub loss: f64,
    /// Target tokens counted.
    pub tokens: usize,
    /// Target tokens whose most likely prediction is right (teacher forced).
    pub correct: usize,
}

impl<T: Scalar> Seq2Seq<T> {
    /// The configuration.
    pub fn config(&self) -> &Seq2SeqConfig {
        &self.config
    }

    /// Zero gradients of this model's shapes.
    pub fn zero_grads(&self) -> Seq2SeqGrads<T> {
        Seq2SeqGrads {
            src_embedding: vec![T::zero(); self.src_embedding.weight.len()],
            encoder: vec![T::zero(); self.encoder.params().len()],
            tgt_embedding: vec![T::zero(); self.tgt_embedding.weight.len()],
            decoder: vec![T::zero(); self.decoder.params().len()],
            attention: AttentionGrads::zeros_like(&self.attention),
            combine: LinearGrads::zeros_like(&self.combine),
            generator: LinearGrads::zeros_like(&self.generator),
        }
    }

    /// Every parameter buffer, in the order of [`Self::buffers_mut`].
    pub fn buffers(&self) -> Vec<&[T]> {
        let mut v: Vec<&[T]> = vec![
            &self.src_embedding.weight,
            self.encoder.params(),
            &self.tgt_embedding.weight,
            self.decoder.params(),
        ];
        v.extend(self.attention.buffers());
        v.extend(self.combine.buffers());
        v.extend(self.generator.buffers());
        v
    }

    /// The length of every parameter buffer, in the order of [`Self::buffers_mut`].
    pub fn buffer_sizes(&self) -> Vec<usize> {
        let mut v = vec![
            self.src_embedding.weight.len(),
            self.encoder.params().len(),
            self.tgt_embedding.weight.len(),
            self.decoder.params().len(),
        ];
        v.extend(self.attention.buffers().iter().map(|b| b.len()));
        v.extend(self.combine.buffers().iter().map(|b| b.len()));
        v.extend(self.generator.buffers().iter().map(|b| b.len()));
        v
    }

    /// Every parameter buffer, in a fixed order (the optimiser's flat view).
    pub fn buffers_mut(&mut self) -> Vec<&mut [T]> {
        let mut v: Vec<&mut [T]> = vec![
            &mut self.src_embedding.weight,
            self.encoder.params_mut(),
            &mut self.tgt_embedding.weight,
            self.decoder.params_mut(),
        ];
        v.extend(self.attention.buffers_mut());
        v.extend(self.combine.buffers_mut());
        v.extend(self.generator.buffers_mut());
        v
    }

    /// Runs the encoder over `src [S, B]` (padded, `lengths [B]`): its outputs `[S, B, H]` and
    /// the decoder's initial state (`h_0`, and `c_0` for an LSTM), `[layers, B, H]` each.
    pub(super) fn encode(
        &self,
        threads: &Threads,
        (src, lengths): (&[u32], &[usize]),
        mut rng: Option<&mut Rng>,
        emb_mask: &mut Vec<T>,
    ) -> Result<Encoded<T>> {
        let (b, e) = (lengths.len(), self.config.embed_dim);
        let s = src.len() / b;
        let mut x = vec![T::zero(); src.len() * e];
        self.src_embedding.forward(src, &mut x)?;
        if let Some(r) = rng.as_deref_mut() {
            Dropout::new(self.config.dropout)?.forward(r, &mut x, emb_mask);
        }
        let x = Tensor::new("source embeddings", &[s, b, e], x)?;
        let args = ForwardArgs {
            lengths: Some(lengths),
            h0: None,
            c0: None,
            dropout_rng: rng,
        };
        let enc = self.encoder.forward(threads, &x, args)?;
        let h0 = self.bridge(enc.h_n.data(), b)?;
        let c0 = enc
            .c_n
            .as_ref()
            .map(|c| self.bridge(c.data(), b))
            .transpose()?;
        Ok((enc, h0, c0))
    }

    /// `[2·layers, B, H/2]` final states (forward and reverse of each layer) as `[layers, B, H]`,
    /// each layer's two directions side by side: per layer, `[2, B, H/2]` → `[B, 2, H/2]`.
    fn bridge(&self, states: &[T], b: usize) -> Result<Tensor<T>> {
        let (l, h) = (self.config.num_layers, self.config.hidden_size);
        let out = states
            .chunks(b * h)
            .flat_map(|layer| swap_leading_axes(layer, 2, b, h / 2))
            .collect();
        Tensor::new("decoder initial state", &[l, b, h], out)
    }

    /// The gradient of [`Self::bridge`]: `[layers, B, H]` back to `[2·layers, B, H/2]`.
    fn unbridge(&self, d: &[T], b: usize) -> Result<Tensor<T>> {
        let (l, h) = (self.config.num_layers, self.config.hidden_size);
        let out = d
            .chunks(b * h)
            .flat_map(|layer| swap_leading_axes(layer, b, 2, h / 2))
            .collect();
        Tensor::new("encoder final state gradient", &[2 * l, b, h / 2], out)
    }

    /// The teacher-forced forward pass of `batch`; training mode (dropout) when `rng` is given.
    ///
    /// # Errors
    /// [`Error::Input`] for a token outside a vocabulary or a batch that does not fit.
    pub fn forward(
        &self,
        threads: &Threads,
        batch: &PairBatch,
        mut rng: Option<&mut Rng>,
    ) -> Result<Seq2SeqForward<T>> {
        let c = self.config;
        let (b, h, e) = (batch.batch, c.hidden_size, c.embed_dim);
        let (s, t) = (batch.src_steps(), batch.tgt_steps());
        let mut src_emb_mask = Vec::new();
        let src = (&batch.src[..], &batch.src_lengths[..]);
        let (enc, h0, c0) = self.encode(threads, src, rng.as_deref_mut(), &mut src_emb_mask)?;
        let mut y = vec![T::zero(); t * b * e];
        self.tgt_embedding.forward(&batch.tgt_in, &mut y)?;
        let mut tgt_emb_mask = Vec::new();
        if let Some(r) = rng.as_deref_mut() {
            Dropout::new(c.dropout)?.forward(r, &mut y, &mut tgt_emb_mask);
        }
        let y = Tensor::new("target embeddings", &[t, b, e], y)?;
        let args = ForwardArgs {
            lengths: Some(&batch.tgt_lengths),
            h0: Some(&h0),
            c0: c0.as_ref(),
            dropout_rng: rng.as_deref_mut(),
        };
        let dec = self.decoder.forward(threads, &y, args)?;
        let shape = AttentionShape {
            queries: t,
            keys: s,
            batch: b,
            lengths: &batch.src_lengths,
        };
        let att = self
            .attention
            .forward(threads, dec.output.data(), enc.output.data(), &shape)?;
        let mut cat = vec![T::zero(); t * b * 2 * h];
        for ((row, ctx), out) in cat
            .chunks_exact_mut(2 * h)
            .zip(att.context.chunks_exact(h))
            .zip(dec.output.data().chunks_exact(h))
        {
            row[..h].copy_from_slice(ctx);
            row[h..].copy_from_slice(out);
        }
        let mut h_tilde = vec![T::zero(); t * b * h];
        let packed = self.combine.pack(threads);
        self.combine
            .forward_packed(threads, &packed, &cat, &mut h_tilde)?;
        T::tanh_in_place(&mut h_tilde);
        let mut gen_in = h_tilde.clone();
        let mut out_mask = Vec::new();
        if let Some(r) = rng {
            Dropout::new(c.dropout)?.forward(r, &mut gen_in, &mut out_mask);
        }
        let mut logits = vec![T::zero(); t * b * c.tgt_vocab];
        let packed = self.generator.pack(threads);
        self.generator
            .forward_packed(threads, &packed, &gen_in, &mut logits)?;
        Ok(Seq2SeqForward {
            src_emb_mask,
            enc,
            tgt_emb_mask,
            dec,
            att,
            cat,
            h_tilde,
            out_mask,
            gen_in,
            logits,
        })
    }

    /// The loss of `batch` (mean over target tokens, padding ignored, with `label_smoothing`);
    /// with `grads`, a training step's forward (dropout from `rng`) and backward, adding the
    /// gradient into `grads`.
    ///
    /// # Errors
    /// As [`Self::forward`].
    pub fn loss(
        &self,
        threads: &Threads,
        batch: &PairBatch,
        label_smoothing: f64,
        train: Option<(&mut Rng, &mut Seq2SeqGrads<T>)>,
    ) -> Result<BatchLoss> {
        let ce = CrossEntropyLoss {
            ignore_index: Some(PAD),
            label_smoothing,
        };
        let v = self.config.tgt_vocab;
        match train {
            None => {
                let f = self.forward(threads, batch, None)?;
                let r = ce.forward_par(threads, &f.logits, v, &batch.tgt_out, None)?;
                Ok(BatchLoss {
                    loss: r.loss,
                    tokens: r.count,
                    correct: r.correct,
                })
            }
            Some((rng, grads)) => {
                let mut f = self.forward(threads, batch, Some(rng))?;
                let mut d_logits = vec![T::zero(); f.logits.len()];
                let r =
                    ce.forward_par(threads, &f.logits, v, &batch.tgt_out, Some(&mut d_logits))?;
                self.backward(threads, batch, &mut f, &d_logits, grads)?;
                Ok(BatchLoss {
                    loss: r.loss,
                    tokens: r.count,
                    correct: r.correct,
                })
            }
        }
    }

    /// The teacher-forced loss over several batches (evaluation mode, no label smoothing):
    /// the mean per target token, with the counts of all batches.
    ///
    /// # Errors
    /// As [`Self::forward`]; [`Error::Input`] when the batches hold no target token.
    pub fn mean_loss(&self, threads: &Threads, batches: &[PairBatch]) -> Result<BatchLoss> {
        let (mut sum, mut tokens, mut correct) = (0.0, 0usize, 0usize);
        for b in batches {
            let r = self.loss(threads, b, 0.0, None)?;
            sum += r.loss * r.tokens as f64;
            tokens += r.tokens;
            correct += r.correct;
        }
        if tokens == 0 {
            return Err(Error::Input("no sentence pairs to score".into()));
        }
        Ok(BatchLoss {
            loss: sum / tokens as f64,
            tokens,
            correct,
        })
    }

    /// Adds the gradient of the loss whose gradient with respect to the logits is `d_logits`
    /// into `grads`.
    ///
    /// # Errors
    /// [`Error::Input`] when the buffers do not fit `batch` and `f`.
    pub fn backward(
        &self,
        threads: &Threads,
        batch: &PairBatch,
        f: &mut Seq2SeqForward<T>,
        d_logits: &[T],
        grads: &mut Seq2SeqGrads<T>,
    ) -> Result<()> {
        let c = self.config;
        let (b, h) = (batch.batch, c.hidden_size);
        let (s, t) = (batch.src_steps(), batch.tgt_steps());
        let mut d =
            self.generator
                .backward_packed(threads, &f.gen_in, d_logits, &mut grads.generator)?;
        if !f.out_mask.is_empty() {
            Dropout::new(c.dropout)?.backward(&f.out_mask, &mut d)?;
        }
        for (dv, &y) in d.iter_mut().zip(&f.h_tilde) {
            *dv *= T::one() - y * y;
        }
        let d_cat = self
            .combine
            .backward_packed(threads, &f.cat, &d, &mut grads.combine)?;
        let mut d_context = vec![T::zero(); t * b * h];
        let mut d_dec = vec![T::zero(); t * b * h];
        for ((row, dc), dd) in d_cat
            .chunks_exact(2 * h)
            .zip(d_context.chunks_exact_mut(h))
            .zip(d_dec.chunks_exact_mut(h))
        {
            dc.copy_from_slice(&row[..h]);
            dd.copy_from_slice(&row[h..]);
        }
        let shape = AttentionShape {
            queries: t,
            keys: s,
            batch: b,
            lengths: &batch.src_lengths,
        };
        let inputs = (f.dec.output.data(), f.enc.output.data());
        let (dq, d_keys) = self.attention.backward(
            threads,
            inputs,
            &f.att,
            &d_context,
            &shape,
            &mut grads.attention,
        )?;
        for (a, q) in d_dec.iter_mut().zip(dq) {
            *a += q;
        }
        let d_dec = Tensor::new("decoder output gradient", &[t, b, h], d_dec)?;
        let dec_in = self.decoder.backward(
            threads,
            &mut f.dec.cache,
            &mut grads.decoder,
            &d_dec,
            None,
            None,
        )?;
        let mut d_y = dec_in.input.into_data();
        if !f.tgt_emb_mask.is_empty() {
            Dropout::new(c.dropout)?.backward(&f.tgt_emb_mask, &mut d_y)?;
        }
        let (tgt, gt) = (&self.tgt_embedding, &mut grads.tgt_embedding);
        tgt.backward(&batch.tgt_in, &d_y, gt)?;
        let d_h_n = self.unbridge(dec_in.h0.data(), b)?;
        let d_c_n = dec_in
            .c0
            .as_ref()
            .map(|d| self.unbridge(d.data(), b))
            .transpose()?;
        let d_keys = Tensor::new("encoder output gradient", &[s, b, h], d_keys)?;
        let enc_in = self.encoder.backward(
            threads,
            &mut f.enc.cache,
            &mut grads.encoder,
            &d_keys,
            Some(&d_h_n),
            d_c_n.as_ref(),
        )?;
        let mut d_x = enc_in.input.into_data();
        if !f.src_emb_mask.is_empty() {
            Dropout::new(c.dropout)?.backward(&f.src_emb_mask, &mut d_x)?;
        }
        let (src, gs) = (&self.src_embedding, &mut grads.src_embedding);
        src.backward(&batch.src, &d_x, gs)
    }
}

impl crate::training::Checkpointed for Seq2Seq<f32> {
    fn named_tensors(&self) -> Vec<NamedTensor<'_>> {
        Seq2Seq::named_tensors(self)
    }
    fn buffers(&self) -> Vec<&[f32]> {
        Seq2Seq::buffers(self)
    }
}

impl Seq2Seq<f32> {
    /// A model with every parameter zero (to be loaded).
    ///
    /// # Errors
    /// As [`Seq2SeqConfig::validate`].
    pub fn zeros(config: Seq2SeqConfig) -> Result<Self> {
        config.validate()?;
        let h = config.hidden_size;
        Ok(Seq2Seq {
            config,
            src_embedding: EmbeddingConfig::new(config.src_vocab, config.embed_dim)
                .padding_idx(PAD as usize)
                .zeros()?,
            encoder: Recurrent::zeros(config.encoder())?,
            tgt_embedding: EmbeddingConfig::new(config.tgt_vocab, config.embed_dim)
                .padding_idx(PAD as usize)
                .zeros()?,
            decoder: Recurrent::zeros(config.decoder())?,
            attention: config.attention_config().zeros()?,
            combine: LinearConfig::new(2 * h, h).bias(false).zeros(),
            generator: LinearConfig::new(h, config.tgt_vocab).zeros(),
        })
    }

    /// The parameters under their PyTorch names (see [`Seq2Seq`]).
    pub fn named_tensors(&self) -> Vec<NamedTensor<'_>> {
        let c = &self.config;
        let mut out: Vec<NamedTensor<'_>> = vec![(
            "src_embedding.weight".into(),
            vec![c.src_vocab, c.embed_dim],
            &self.src_embedding.weight[..],
        )];
        out.extend(self.encoder.named_tensors("encoder."));
        out.push((
            "tgt_embedding.weight".into(),
            vec![c.tgt_vocab, c.embed_dim],
            &self.tgt_embedding.weight[..],
        ));
        out.extend(self.decoder.named_tensors("decoder."));
        out.extend(self.attention.named_tensors("attention"));
        out.extend(self.combine.named_tensors("combine."));
        out.extend(self.generator.named_tensors("generator."));
        out
    }

    /// Loads every parameter from a file written from [`Self::named_tensors`].
    ///
    /// # Errors
    /// [`Error::Format`] naming the tensor that is missing, misshapen or left over.
    pub fn load_tensors(&mut self, mut file: TensorFile) -> Result<()> {
        let c = self.config;
        self.src_embedding.weight =
            file.take("src_embedding.weight", &[c.src_vocab, c.embed_dim])?;
        self.encoder.load_tensors(&mut file, "encoder.")?;
        self.tgt_embedding.weight =
            file.take("tgt_embedding.weight", &[c.tgt_vocab, c.embed_dim])?;
        self.decoder.load_tensors(&mut file, "decoder.")?;
        self.attention.load_tensors(&mut file, "attention")?;
        self.combine.load_tensors(&mut file, "combine.")?;
        self.generator.load_tensors(&mut file, "generator.")?;
        file.finish()
    }
}
