//! Training an encoder-decoder through the shared loop ([`crate::training`]): batches of
//! sentence pairs of similar lengths, teacher forcing, label smoothing, validation by the
//! per-token loss.

use super::batch::PairBatch;
use super::model::{Seq2Seq, Seq2SeqGrads};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::training::{self, LoopSettings, SaveCheckpoint, Snapshot, Task, Validation};
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
            .map(|idx| self.batch(idx))
            .collect()
    }

    /// The pairs `idx` as one batch.
    ///
    /// # Errors
    /// As [`PairBatch::new`].
    pub fn batch(&self, idx: &[usize]) -> Result<PairBatch> {
        let pairs: Vec<(&[u32], &[u32])> = idx
            .iter()
            .map(|&i| (&self.pairs[i].0[..], &self.pairs[i].1[..]))
            .collect();
        PairBatch::new(&pairs, self.bos, self.eos)
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
    /// The current pass's order of training pairs: batch `i` is the `i`-th run of
    /// `batch_size` of them (the short remainder batch, if any, last).
    order: Vec<usize>,
    batch_size: usize,
    val: Vec<PairBatch>,
    label_smoothing: f64,
    saving: training::Saving<'a>,
    scorer: Option<Box<Scorer<'a>>>,
}

/// A validation score for people (translation: BLEU), computed from the model.
pub type Scorer<'a> = dyn FnMut(&Seq2Seq<f32>, &Threads) -> Result<f64> + 'a;

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
            order,
            batch_size,
            val,
            label_smoothing,
            saving: training::Saving::none(),
            scorer: None,
        })
    }

    /// Scores every validation with `scorer` (instead of the teacher-forced token accuracy).
    pub fn score_with(&mut self, scorer: Box<Scorer<'a>>) {
        self.scorer = Some(scorer);
    }

    /// Offers a checkpoint to `save` after every validation ([`training::LoopCheckpoint`]'s
    /// layout), with `config` as its `config.json` and `run` as the record of its inputs.
    pub fn save_checkpoints(
        &mut self,
        config: serde_json::Value,
        run: serde_json::Value,
        save: &'a mut SaveCheckpoint<'a>,
    ) {
        self.saving = training::Saving {
            save: Some(save),
            config,
            run,
        };
    }

    /// Restores the run saved in `dir` under `settings`: the current parameters, the best
    /// model, the order of pairs; returns what [`training::run_from`] continues from.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Format`] naming the checkpoint file that is missing or does
    /// not fit this model and data.
    pub fn restore(
        &mut self,
        dir: &std::path::Path,
        settings: &LoopSettings,
    ) -> Result<training::Resume> {
        let examples: Vec<usize> = (0..self.train.pairs.len()).collect();
        let sizes = self.model.buffer_sizes();
        let restored = training::read_checkpoint(dir, settings, &sizes, &examples)?;
        let mut best = Seq2Seq::zeros(*self.model.config())?;
        best.load_tensors(crate::io::TensorFile::read(dir.join("model.safetensors"))?)?;
        for (b, v) in self.model.buffers_mut().into_iter().zip(&restored.current) {
            b.copy_from_slice(v);
        }
        self.best = Some(best);
        self.order = restored.order;
        Ok(restored.resume)
    }

    /// The current pass's order of training pairs (what a checkpoint keeps).
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// Continues from `order`, a permutation of the training pairs saved by [`Self::order`].
    ///
    /// # Errors
    /// [`Error::Input`] when `order` is not a permutation of the training pairs.
    pub fn set_order(&mut self, order: Vec<usize>) -> Result<()> {
        let mut sorted = order.clone();
        sorted.sort_unstable();
        if !sorted.iter().copied().eq(0..self.train.pairs.len()) {
            return Err(Error::Input(format!(
                "the order of examples is not a permutation of the {} training pairs",
                self.train.pairs.len()
            )));
        }
        self.order = order;
        Ok(())
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
        let full = order.len() / self.batch_size;
        let mut batches: Vec<&[usize]> = order.chunks(self.batch_size).collect();
        rng.shuffle(&mut batches[..full]);
        self.order = batches.concat();
    }

    fn train_batch(&mut self, threads: &Threads, index: u64, rng: &mut Rng) -> Result<f64> {
        let from = index as usize * self.batch_size;
        let idx = &self.order[from..(from + self.batch_size).min(self.order.len())];
        let batch = &self.train.batch(idx)?;
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
        let r = self.model.mean_loss(threads, &self.val)?;
        let score = match self.scorer.as_mut() {
            Some(f) => f(&self.model, threads)?,
            None => r.correct as f64 / r.tokens as f64,
        };
        Ok(Validation {
            loss: r.loss,
            score: Some(score),
        })
    }

    fn keep_best(&mut self) {
        self.best = Some(self.model.clone());
    }

    fn checkpoint(&mut self, at: &Snapshot<'_>) -> Result<()> {
        self.saving
            .offer((&self.model, self.best.as_ref()), &self.order, at)
    }
}
