//! Training an encoder-decoder through the shared loop ([`crate::training`]): batches of
//! sentence pairs of similar lengths, teacher forcing, label smoothing, validation by the
//! per-token loss.

use super::batch::PairBatch;
use super::model::{Seq2Seq, Seq2SeqGrads};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::training::{Task, Validation};
use recur_kernels::Threads;

/// Sentence pairs as token ids (no `<s>`/`</s>`), with the ids of those two tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenPairs {
    /// `(source, target)` pairs.
    pub pairs: Vec<(Vec<u32>, Vec<u32>)>,
    /// The start token.
    pub bos: u32,
    /// The end token.
    pub eos: u32,
}

impl TokenPairs {
    /// Batches of `batch_size` pairs in the order `order`.
    ///
    /// # Errors
    /// As [`PairBatch::new`].
    pub fn batches(&self, order: &[usize], batch_size: usize) -> Result<Vec<PairBatch>> {
        order
            .chunks(batch_size.max(1))
            .map(|idx| {
                let pairs: Vec<(&[u32], &[u32])> = idx
                    .iter()
                    .map(|&i| (&self.pairs[i].0[..], &self.pairs[i].1[..]))
                    .collect();
                PairBatch::new(&pairs, self.bos, self.eos)
            })
            .collect()
    }
}

/// Pairs per bucket of similar lengths: a pass shuffles the pairs, sorts each run of
/// `BUCKET × batch` of them by length, cuts batches, and shuffles the batches (less padding,
/// still a fresh mix every pass).
const BUCKET: usize = 50;

/// An encoder-decoder as a [`Task`] of the shared training loop.
pub struct Seq2SeqTask<'a> {
    /// The model being trained.
    pub model: Seq2Seq<f32>,
    grads: Seq2SeqGrads<f32>,
    /// The model of the lowest validation loss so far.
    pub best: Option<Seq2Seq<f32>>,
    train: &'a TokenPairs,
    /// The current pass's batches, as indices into the training pairs.
    batches: Vec<Vec<usize>>,
    batch_size: usize,
    val: Vec<PairBatch>,
    label_smoothing: f64,
}

impl<'a> Seq2SeqTask<'a> {
    /// Trains `model` on `train` in batches of `batch_size` pairs, validating on `val`.
    ///
    /// # Errors
    /// [`Error::Input`] for no training pairs or a pair the model cannot read;
    /// [`Error::Config`] for a batch size of 0 or a label smoothing outside `[0, 1)`.
    pub fn new(
        model: Seq2Seq<f32>,
        (train, val): (&'a TokenPairs, &TokenPairs),
        batch_size: usize,
        label_smoothing: f64,
    ) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::Config("`batch_size` must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&label_smoothing) {
            return Err(Error::Config(format!(
                "`label_smoothing` must be in [0, 1), got {label_smoothing}"
            )));
        }
        if train.pairs.is_empty() {
            return Err(Error::Input("no training sentence pairs".into()));
        }
        let mut by_len: Vec<usize> = (0..val.pairs.len()).collect();
        by_len.sort_by_key(|&i| (val.pairs[i].0.len(), val.pairs[i].1.len()));
        let val = val.batches(&by_len, batch_size)?;
        let order: Vec<usize> = (0..train.pairs.len()).collect();
        Ok(Seq2SeqTask {
            grads: model.zero_grads(),
            model,
            best: None,
            train,
            batches: order.chunks(batch_size).map(<[usize]>::to_vec).collect(),
            batch_size,
            val,
            label_smoothing,
        })
    }

    /// The current pass's batches (indices of training pairs), to checkpoint a run.
    pub fn order(&self) -> Vec<usize> {
        self.batches.concat()
    }
}

impl Task for Seq2SeqTask<'_> {
    fn batches_per_epoch(&self) -> u64 {
        self.train.pairs.len().div_ceil(self.batch_size) as u64
    }

    fn start_epoch(&mut self, rng: &mut Rng) {
        let mut order: Vec<usize> = (0..self.train.pairs.len()).collect();
        rng.shuffle(&mut order);
        let pairs = &self.train.pairs;
        for run in order.chunks_mut(BUCKET * self.batch_size) {
            run.sort_by_key(|&i| (pairs[i].0.len(), pairs[i].1.len()));
        }
        let mut batches: Vec<Vec<usize>> = order
            .chunks(self.batch_size)
            .map(<[usize]>::to_vec)
            .collect();
        rng.shuffle(&mut batches);
        self.batches = batches;
    }

    fn train_batch(&mut self, threads: &Threads, index: u64, rng: &mut Rng) -> Result<f64> {
        let batch = &self
            .train
            .batches(&self.batches[index as usize], self.batch_size)?[0];
        for g in self.grads.buffers_mut() {
            g.fill(0.0);
        }
        let train = Some((rng, &mut self.grads));
        Ok(self
            .model
            .loss(threads, batch, self.label_smoothing, train)?
            .loss)
    }

    fn param_sizes(&self) -> Vec<usize> {
        self.model.buffer_sizes()
    }

    fn params_and_grads(&mut self) -> (Vec<&mut [f32]>, Vec<&mut [f32]>) {
        (self.model.buffers_mut(), self.grads.buffers_mut())
    }

    fn validate(&mut self, threads: &Threads) -> Result<Validation> {
        let (mut sum, mut tokens, mut correct) = (0.0, 0usize, 0usize);
        for b in &self.val {
            let r = self.model.loss(threads, b, 0.0, None)?;
            sum += r.loss * r.tokens as f64;
            tokens += r.tokens;
            correct += r.correct;
        }
        if tokens == 0 {
            return Err(Error::Input("no validation sentence pairs".into()));
        }
        Ok(Validation {
            loss: sum / tokens as f64,
            score: Some(correct as f64 / tokens as f64),
        })
    }

    fn keep_best(&mut self) {
        self.best = Some(self.model.clone());
    }
}
