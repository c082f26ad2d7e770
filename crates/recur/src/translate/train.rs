//! Training a translation model: vocabularies learned from the training pairs, the
//! encoder-decoder trained through the shared loop ([`crate::training`]) with teacher forcing
//! and label smoothing, the model of the lowest validation loss kept, validation BLEU (greedy,
//! sacreBLEU's) on a cadence for people to watch.

use super::bleu::{corpus_bleu, BleuSettings};
use super::pairs::Pairs;
use super::subword::{VocabSettings, BOS, EOS};
use super::translator::{Translator, TASK};
use super::vocabularies::Vocabularies;
use crate::config::CellType;
use crate::error::{Error, Result};
use crate::nn::Score;
use crate::optim::Optimizer;
use crate::rng::Rng;
use crate::seq2seq::{DecodeOptions, Seq2Seq, Seq2SeqConfig, Seq2SeqTask, TokenPairs};
use crate::training::{self, Control, LoopSettings, LoopState, Summary, Task};
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};

/// Everything that defines a translation run besides its data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranslateSettings {
    /// `gru` or `lstm`, for the encoder and the decoder.
    pub cell: CellType,
    /// Embedding width.
    pub embed_dim: usize,
    /// The decoder's hidden size (the encoder has half of it per direction).
    pub hidden_size: usize,
    /// Layers of the encoder and of the decoder.
    pub num_layers: usize,
    /// Dropout on embeddings, between layers and on the attentional vector.
    pub dropout: f64,
    /// The attention score.
    pub attention: Score,
    /// Label smoothing of the training loss.
    pub label_smoothing: f64,
    /// How the vocabularies are learned.
    pub vocab: VocabSettings,
    /// One vocabulary for both sides (and languages) instead of one per side.
    pub shared_vocab: bool,
    /// The most tokens of a sentence (either side); longer pairs are an error.
    pub max_len: usize,
    /// Sentence pairs per batch.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Passes over the training pairs (unless `steps` or `time_budget`).
    pub epochs: usize,
    /// Optimiser steps, instead of epochs.
    pub steps: Option<u64>,
    /// Seconds of training, instead of epochs.
    pub time_budget: Option<f64>,
    /// Validations without improvement before training stops (0: never).
    pub patience: usize,
    /// Validate every this many steps (0: once per epoch).
    pub validate_every: u64,
    /// Validation sentences translated (greedy) for the BLEU shown at each validation (0: none).
    pub bleu_sentences: usize,
    /// Seed of the initialisation, shuffles and dropout.
    pub seed: u64,
}

impl Default for TranslateSettings {
    fn default() -> Self {
        TranslateSettings {
            cell: CellType::Gru,
            embed_dim: 256,
            hidden_size: 512,
            num_layers: 1,
            dropout: 0.3,
            attention: Score::General,
            label_smoothing: 0.1,
            vocab: VocabSettings::bpe(8000),
            shared_vocab: false,
            max_len: 100,
            batch_size: 64,
            lr: 1e-3,
            epochs: 10,
            steps: None,
            time_budget: None,
            patience: 4,
            validate_every: 0,
            bleu_sentences: 300,
            seed: 1,
        }
    }
}

impl TranslateSettings {
    /// Checks ranges; messages name the setting.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        self.vocab.check()?;
        if self.cell == CellType::Rnn {
            return Err(Error::Config(
                "`cell` must be gru or lstm for translation".into(),
            ));
        }
        crate::config::require_at_least_one(&[
            ("max_len", self.max_len),
            ("batch_size", self.batch_size),
            ("epochs", self.epochs),
        ])?;
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::Config(format!("`lr` must be > 0, got {}", self.lr)));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(Error::Config(format!(
                "`label_smoothing` must be in [0, 1), got {}",
                self.label_smoothing
            )));
        }
        Ok(())
    }

    /// The model for vocabularies of `src_vocab` and `tgt_vocab` entries.
    pub fn model_config(&self, src_vocab: usize, tgt_vocab: usize) -> Seq2SeqConfig {
        Seq2SeqConfig {
            cell: self.cell,
            src_vocab,
            tgt_vocab,
            embed_dim: self.embed_dim,
            hidden_size: self.hidden_size,
            num_layers: self.num_layers,
            dropout: self.dropout,
            attention: self.attention,
        }
    }

    /// The shared loop's settings: Adam at `lr`, gradient norm clipped to 1, validation once
    /// an epoch (or every `validate_every` steps), early stopping after `patience`
    /// validations without a 0.01 % lower loss.
    pub fn loop_settings(&self, batches_per_epoch: u64) -> LoopSettings {
        let mut s = LoopSettings::per_epoch(
            (self.steps, self.time_budget, self.epochs as u64),
            batches_per_epoch,
            self.lr,
            self.patience as u64,
            0,
            self.seed,
        );
        if self.validate_every > 0 {
            s.validate_every = self.validate_every;
        }
        s
    }
}

/// The training and validation pairs.
#[derive(Clone, Copy)]
pub struct TranslateData<'a> {
    /// Training pairs.
    pub train: &'a Pairs,
    /// Validation pairs (model selection, early stopping, the BLEU shown).
    pub valid: &'a Pairs,
}

/// A finished (or interrupted) run.
pub struct Trained {
    /// The model of the lowest validation loss, with its vocabularies and card.
    pub best: Translator,
    /// The model after the last step (what a resumed run continues from).
    pub current: Seq2Seq<f32>,
    /// Steps, validations, why it stopped.
    pub summary: Summary,
    /// The loop's state after the last step.
    pub state: LoopState,
    /// The optimiser after the last step.
    pub optimizer: Optimizer,
    /// The order of training pairs in the current pass.
    pub order: Vec<usize>,
    /// `config.json` of the checkpoint.
    pub config_json: serde_json::Value,
    /// The run's record of its inputs.
    pub run_record: serde_json::Value,
}

impl Trained {
    /// The run's final checkpoint: the best model, and what continues the run.
    pub fn checkpoint(&self) -> training::LoopCheckpoint<'_> {
        let snapshot = training::Snapshot {
            state: &self.state,
            optimizer: &self.optimizer,
        };
        let records = (&self.config_json, &self.run_record);
        training::LoopCheckpoint::of(
            &self.best.model,
            &self.current,
            &self.order,
            snapshot,
            records,
        )
    }
}

/// The pairs as token ids, checked against `max_len`.
///
/// # Errors
/// [`Error::Input`] naming the file and line of a sentence longer than `max_len` or without
/// tokens.
pub fn encode(pairs: &Pairs, vocab: &Vocabularies, max_len: usize) -> Result<TokenPairs> {
    let mut out = Vec::with_capacity(pairs.pairs.len());
    for p in &pairs.pairs {
        let s = vocab.source().encode(&p.source)?;
        let t = vocab.target().encode(&p.target)?;
        for (ids, file, side) in [
            (&s, &pairs.source_file, "source"),
            (&t, &pairs.target_file, "target"),
        ] {
            if ids.len() > max_len {
                return Err(Error::Input(format!(
                    "{} line {}: the {side} sentence has {} tokens, more than `max_len` {max_len}",
                    file.display(),
                    p.line,
                    ids.len()
                )));
            }
            if ids.is_empty() {
                return Err(Error::Input(format!(
                    "{} line {}: the {side} sentence gives no tokens",
                    file.display(),
                    p.line
                )));
            }
        }
        out.push((s, t));
    }
    Ok(TokenPairs {
        pairs: out,
        bos: BOS,
        eos: EOS,
    })
}

/// The `config.json` of a translation checkpoint.
pub fn checkpoint_config(
    model: &Seq2SeqConfig,
    vocab: &Vocabularies,
    settings: &TranslateSettings,
    card: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "format": "recur",
        "version": 1,
        "task": TASK,
        "model": model,
        "vocab": vocab.to_json(),
        "training": settings,
        "card": card,
    })
}

/// Greedy BLEU (sacreBLEU's, cased, 13a) of `model` on the first `n` validation pairs.
fn greedy_bleu(
    model: &Seq2Seq<f32>,
    threads: &Threads,
    (valid, ids, vocab): (&Pairs, &TokenPairs, &Vocabularies),
    n: usize,
) -> Result<f64> {
    let n = n.min(ids.pairs.len());
    let opts = DecodeOptions::new(1, BOS, EOS);
    let mut hyps = Vec::with_capacity(n);
    for chunk in ids.pairs[..n].chunks(128) {
        let src: Vec<&[u32]> = chunk.iter().map(|p| &p.0[..]).collect();
        for h in model.translate(threads, &src, &opts)? {
            hyps.push(vocab.target().decode(&h.tokens)?);
        }
    }
    let refs: Vec<&str> = valid.pairs[..n].iter().map(|p| p.target.as_str()).collect();
    Ok(corpus_bleu(&hyps, &[refs], &BleuSettings::default())?.score)
}

/// Trains a translation model on `data` under `s`: learns the vocabularies from the training
/// pairs, trains with the shared loop driven by `control` (progress, Ctrl-C, checkpoints
/// after every validation, resuming from a checkpoint directory, bit for bit), and keeps the
/// model of the lowest validation loss. Each validation's score is the greedy BLEU of the first
/// `bleu_sentences` validation pairs.
///
/// # Errors
/// [`Error::Config`] for settings out of range; [`Error::Input`] naming the file and line of a
/// sentence longer than `max_len` or without tokens; [`Error::Diverged`] for a non-finite loss;
/// [`Error::Format`] for a checkpoint to resume that does not fit.
pub fn train_with<'a>(
    data: TranslateData<'a>,
    s: &TranslateSettings,
    threads: &Threads,
    control: Control<'a>,
) -> Result<Trained> {
    s.validate()?;
    let vocab = Vocabularies::learn(&data.train.pairs, &s.vocab, s.shared_vocab)?;
    let train = encode(data.train, &vocab, s.max_len)?;
    let valid = encode(data.valid, &vocab, s.max_len)?;
    let config = s.model_config(vocab.source().size(), vocab.target().size());
    let model = config.init(&mut Rng::new(s.seed))?;
    let card = serde_json::json!({
        "train": {"source": data.train.source_file, "target": data.train.target_file,
                  "pairs": data.train.pairs.len()},
        "valid": {"source": data.valid.source_file, "target": data.valid.target_file,
                  "pairs": data.valid.pairs.len()},
        "vocab": {"units": s.vocab.units.name(), "source": vocab.source().size(),
                  "target": vocab.target().size(), "shared": s.shared_vocab},
    });
    let config_json = checkpoint_config(&config, &vocab, s, card.clone());
    let mut task = Seq2SeqTask::new(model, (&train, &valid), s.batch_size, s.label_smoothing)?;
    if s.bleu_sentences > 0 {
        let (valid_pairs, n) = (data.valid, s.bleu_sentences);
        let (ids, v) = (valid.clone(), vocab.clone());
        task.score_with(Box::new(move |m: &Seq2Seq<f32>, t: &Threads| {
            greedy_bleu(m, t, (valid_pairs, &ids, &v), n)
        }));
    }
    if let Some(save) = control.on_checkpoint {
        task.save_checkpoints(config_json.clone(), control.run_record.clone(), save);
    }
    let settings = s.loop_settings(task.batches_per_epoch());
    let resume = match control.resume_from {
        Some(dir) => Some(task.restore(dir, &settings)?),
        None => None,
    };
    let end = training::run_from(
        &mut task,
        &settings,
        threads,
        control.observer,
        control.stop,
        resume,
    )?;
    let best = task.best.clone().unwrap_or_else(|| task.model.clone());
    Ok(Trained {
        best: Translator {
            model: best,
            vocab,
            card,
        },
        order: task.order().to_vec(),
        current: task.model,
        summary: end.summary,
        state: end.state,
        optimizer: end.optimizer,
        config_json,
        run_record: control.run_record,
    })
}
