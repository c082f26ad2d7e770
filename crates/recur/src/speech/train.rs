//! Training an [`AcousticModel`] with the shared loop ([`training::run_from`]): shuffled batches
//! of the training utterances, CTC loss, the model of the lowest validation loss kept,
//! checkpoints offered after every validation and runs resumed from them bit for bit.

use super::alphabet::{Alphabet, Unit, BLANK};
use super::decode::greedy_decode;
use super::metrics::ErrorCount;
use super::model::{AcousticConfig, AcousticGrads, AcousticModel, TASK};
use crate::config::CellType;
use crate::error::{Error, Result};
use crate::nn::Gradients;
use crate::optim::Optimizer;
use crate::rng::Rng;
use crate::training::{
    self, Control, LoopCheckpoint, LoopSettings, LoopState, Snapshot, Task, Validation,
};
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};

/// One utterance: its feature frames and what was said.
#[derive(Clone, Debug, PartialEq)]
pub struct Utterance {
    /// `[T, F]` frames, row-major.
    pub frames: Vec<f32>,
    /// The transcript.
    pub transcript: String,
}

/// Utterances with `F` features per frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Corpus {
    /// `F`.
    pub input_size: usize,
    /// The utterances.
    pub utterances: Vec<Utterance>,
}

/// Everything an acoustic-model run is set by (`training` in its `config.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranscribeSettings {
    /// Recurrent cell.
    pub cell: CellType,
    /// Hidden units per direction.
    pub hidden: usize,
    /// Stacked layers.
    pub layers: usize,
    /// Two directions.
    pub bidirectional: bool,
    /// Dropout between layers.
    pub dropout: f64,
    /// Feature frames concatenated into one recurrent step.
    #[serde(default = "one")]
    pub frame_stack: usize,
    /// The alphabet's unit.
    pub unit: Unit,
    /// Utterances per optimiser step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Passes over the training utterances (when neither `steps` nor `time_budget` is set).
    pub epochs: u64,
    /// Stop after this many optimiser steps instead.
    pub steps: Option<u64>,
    /// Stop after this many seconds instead.
    pub time_budget: Option<f64>,
    /// Validations (one per epoch) without a lower validation loss before stopping (0: never).
    pub patience: u64,
    /// Share of the utterances held out for validation.
    pub val_frac: f64,
    /// Seed of the initialisation, the split, the shuffles and dropout.
    pub seed: u64,
}

fn one() -> usize {
    1
}

impl Default for TranscribeSettings {
    /// A bidirectional GRU of 2 layers of 96 units over single frames, word units, batches of
    /// 16, Adam at `2e-3`,
    /// 30 epochs with a patience of 5, 10 % held out.
    fn default() -> Self {
        TranscribeSettings {
            cell: CellType::Gru,
            hidden: 96,
            layers: 2,
            bidirectional: true,
            dropout: 0.0,
            frame_stack: 1,
            unit: Unit::Word,
            batch_size: 16,
            lr: 2e-3,
            epochs: 30,
            steps: None,
            time_budget: None,
            patience: 5,
            val_frac: 0.1,
            seed: 1,
        }
    }
}

impl TranscribeSettings {
    /// Checks ranges; messages name the setting as `` `field` ``.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        crate::config::require_at_least_one(&[
            ("hidden", self.hidden),
            ("layers", self.layers),
            ("batch_size", self.batch_size),
        ])?;
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::Config(format!("`lr` must be > 0, got {}", self.lr)));
        }
        if !(0.0..1.0).contains(&self.val_frac) || self.val_frac == 0.0 {
            return Err(Error::Config(format!(
                "`val_frac` must be in (0, 1), got {}",
                self.val_frac
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Config(format!(
                "`dropout` must be in [0, 1), got {}",
                self.dropout
            )));
        }
        self.loop_settings(1).validate()
    }

    /// The shared loop's settings ([`LoopSettings::per_epoch`]).
    pub fn loop_settings(&self, batches_per_epoch: u64) -> LoopSettings {
        LoopSettings::per_epoch(
            (self.steps, self.time_budget, self.epochs),
            batches_per_epoch,
            self.lr,
            self.patience,
            0,
            self.seed,
        )
    }
}

/// `config.json` of an acoustic-model checkpoint, with the caller's `extra` top-level fields
/// (the feature settings of audio input, say).
pub fn checkpoint_config(
    model: &AcousticConfig,
    settings: &TranscribeSettings,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "format": "recur",
        "version": 1,
        "task": TASK,
        "model": model,
        "training": settings,
    });
    if let Some(map) = v.as_object_mut() {
        map.extend(extra.clone());
    }
    v
}

/// The training and validation utterances, their labels, and the model's configuration.
struct Prepared {
    train: Vec<usize>,
    val: Vec<usize>,
    labels: Vec<Vec<u32>>,
    config: AcousticConfig,
}

/// Splits `corpus` (seeded), builds the alphabet from every transcript and the feature scaling
/// from the training split.
fn prepare(corpus: &Corpus, s: &TranscribeSettings) -> Result<Prepared> {
    let n = corpus.utterances.len();
    let f = corpus.input_size;
    if f == 0 {
        return Err(Error::Input("utterances with 0 features per frame".into()));
    }
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(s.seed ^ 0x5_91e7).shuffle(&mut order);
    let n_val = ((n as f64 * s.val_frac).round() as usize).max(1);
    if n < n_val + 1 {
        return Err(Error::Input(format!(
            "{n} utterances are too few for a training and a validation split"
        )));
    }
    let val = order.split_off(n - n_val);
    let alphabet = Alphabet::from_transcripts(
        s.unit,
        corpus.utterances.iter().map(|u| u.transcript.as_str()),
    )?;
    let labels = corpus
        .utterances
        .iter()
        .map(|u| alphabet.encode(&u.transcript))
        .collect::<Result<Vec<_>>>()?;
    let (mean, std) = scaling(corpus, &order);
    let config = AcousticConfig {
        cell: s.cell,
        input_size: f,
        frame_stack: s.frame_stack,
        hidden_size: s.hidden,
        num_layers: s.layers,
        bidirectional: s.bidirectional,
        dropout: s.dropout,
        alphabet,
        mean,
        std,
    };
    Ok(Prepared {
        train: order,
        val,
        labels,
        config,
    })
}

/// The mean and standard deviation (floored at `1e-5`) of each feature over the frames of
/// utterances `idx`.
fn scaling(corpus: &Corpus, idx: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let f = corpus.input_size;
    let (mut sum, mut sq, mut count) = (vec![0.0f64; f], vec![0.0f64; f], 0usize);
    for &i in idx {
        for frame in corpus.utterances[i].frames.chunks_exact(f) {
            for (j, &v) in frame.iter().enumerate() {
                sum[j] += f64::from(v);
                sq[j] += f64::from(v) * f64::from(v);
            }
            count += 1;
        }
    }
    let n = count.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| ((q / n - m * m).max(0.0).sqrt().max(1e-5)) as f32)
        .collect();
    (mean.iter().map(|&m| m as f32).collect(), std)
}

/// The acoustic model as a [`Task`] of the shared loop.
struct SpeechTask<'a> {
    model: AcousticModel,
    grads: AcousticGrads,
    best: Option<AcousticModel>,
    corpus: &'a Corpus,
    labels: Vec<Vec<u32>>,
    order: Vec<usize>,
    val: Vec<usize>,
    batch_size: usize,
    saving: training::Saving<'a>,
}

/// The frames and labels of utterances `idx`.
fn batch<'a>(
    corpus: &'a Corpus,
    labels: &'a [Vec<u32>],
    idx: &[usize],
) -> (Vec<&'a [f32]>, Vec<&'a [u32]>) {
    let u = idx
        .iter()
        .map(|&i| &corpus.utterances[i].frames[..])
        .collect();
    let l = idx.iter().map(|&i| &labels[i][..]).collect();
    (u, l)
}

impl Task for SpeechTask<'_> {
    fn batches_per_epoch(&self) -> u64 {
        self.order.len().div_ceil(self.batch_size) as u64
    }

    fn start_epoch(&mut self, rng: &mut Rng) {
        rng.shuffle(&mut self.order);
    }

    fn train_batch(&mut self, threads: &Threads, index: u64, rng: &mut Rng) -> Result<f64> {
        let start = index as usize * self.batch_size;
        let chunk = &self.order[start..(start + self.batch_size).min(self.order.len())];
        let (u, l) = batch(self.corpus, &self.labels, chunk);
        self.grads.zero();
        let r = self
            .model
            .loss(threads, &u, &l, Some(&mut self.grads), Some(rng))?;
        Ok(r.loss_sum / chunk.len() as f64)
    }

    fn param_sizes(&self) -> Vec<usize> {
        self.model.buffer_sizes()
    }

    fn params_and_grads(&mut self) -> (Vec<&mut [f32]>, Vec<&mut [f32]>) {
        (self.model.buffers_mut(), self.grads.buffers_mut())
    }

    fn validate(&mut self, threads: &Threads) -> Result<Validation> {
        let (mut loss_sum, mut wer) = (0.0, ErrorCount::default());
        for chunk in self.val.chunks(32) {
            let (u, l) = batch(self.corpus, &self.labels, chunk);
            loss_sum += self.model.loss(threads, &u, &l, None, None)?.loss_sum;
            let hyps = transcribe_greedy(&self.model, threads, &u)?;
            for (labels, hyp) in l.iter().zip(&hyps) {
                wer.add(labels, hyp);
            }
        }
        Ok(Validation {
            loss: loss_sum / self.val.len() as f64,
            score: Some(wer.rate()),
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

/// Best-path labels of every utterance of a batch.
///
/// # Errors
/// As [`AcousticModel::forward`].
pub fn transcribe_greedy(
    model: &AcousticModel,
    threads: &Threads,
    utterances: &[&[f32]],
) -> Result<Vec<Vec<u32>>> {
    let fwd = model.forward(threads, utterances, None)?;
    let (n, c) = (utterances.len(), model.config().alphabet.classes());
    (0..n)
        .map(|b| {
            let frames: Vec<f32> = (0..fwd.lengths[b])
                .flat_map(|t| &fwd.log_probs[(t * n + b) * c..(t * n + b + 1) * c])
                .copied()
                .collect();
            greedy_decode(&frames, c, BLANK)
        })
        .collect()
}

/// What training produced.
pub struct Trained {
    /// The model of the lowest validation loss.
    pub model: AcousticModel,
    /// How the run went.
    pub summary: training::Summary,
    /// The model after the last step (to resume from).
    pub current: AcousticModel,
    /// The order of training utterances in the last pass.
    pub order: Vec<usize>,
    /// The loop's state after the last step.
    pub state: LoopState,
    /// The optimiser after the last step.
    pub optimizer: Optimizer,
    /// The record of the inputs given in [`Control::run_record`].
    pub run_record: serde_json::Value,
    /// `config.json` of the checkpoint.
    pub config_json: serde_json::Value,
}

impl Trained {
    /// The run's final checkpoint: the best model, and what continues the run.
    pub fn checkpoint(&self) -> LoopCheckpoint<'_> {
        let snapshot = Snapshot {
            state: &self.state,
            optimizer: &self.optimizer,
        };
        let records = (&self.config_json, &self.run_record);
        LoopCheckpoint::of(&self.model, &self.current, &self.order, snapshot, records)
    }
}

/// Trains an acoustic model on `corpus` under `s`, driven by `control` (progress, Ctrl-C,
/// checkpoints after every validation, resuming from a checkpoint directory, which continues
/// the run bit for bit given the same corpus and settings). `extra` are top-level fields for
/// `config.json`. A seeded `val_frac` of the utterances is held out; the alphabet comes from
/// every transcript, the feature scaling from the training split.
///
/// # Errors
/// [`Error::Config`] for settings out of range, [`Error::Input`] for a corpus that cannot be
/// split or encoded, [`Error::Diverged`] for a non-finite loss, [`Error::Format`] for a
/// checkpoint to resume that does not fit.
pub fn train_with<'a>(
    corpus: &'a Corpus,
    s: &TranscribeSettings,
    extra: &serde_json::Map<String, serde_json::Value>,
    threads: &Threads,
    control: Control<'a>,
) -> Result<Trained> {
    s.validate()?;
    let p = prepare(corpus, s)?;
    let model = AcousticModel::new(p.config, &mut Rng::new(s.seed))?;
    let mut task = SpeechTask {
        grads: model.zero_grads(),
        saving: training::Saving {
            save: control.on_checkpoint,
            config: checkpoint_config(model.config(), s, extra),
            run: control.run_record,
        },
        model,
        best: None,
        corpus,
        labels: p.labels,
        order: p.train,
        val: p.val,
        batch_size: s.batch_size,
    };
    let settings = s.loop_settings(task.batches_per_epoch());
    let resume = match control.resume_from {
        Some(dir) => Some(restore(&mut task, &settings, dir)?),
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
    Ok(Trained {
        model: task.best.unwrap_or_else(|| task.model.clone()),
        summary: end.summary,
        current: task.model,
        order: task.order,
        state: end.state,
        optimizer: end.optimizer,
        run_record: task.saving.run,
        config_json: task.saving.config,
    })
}

/// Restores the run saved in `dir`: the current parameters, the order of utterances and the
/// best model, whose configuration must be the one computed again from the corpus.
fn restore(
    task: &mut SpeechTask<'_>,
    settings: &LoopSettings,
    dir: &std::path::Path,
) -> Result<training::Resume> {
    let restored =
        training::read_checkpoint(dir, settings, &task.model.buffer_sizes(), &task.order)?;
    let saved = super::checkpoint::load(dir)?;
    if saved.config() != task.model.config() {
        return Err(Error::format(
            dir.join("config.json"),
            "the model does not fit the data as read now (its alphabet, features or scaling differ): was the data changed?",
        ));
    }
    for (b, v) in task.model.buffers_mut().into_iter().zip(&restored.current) {
        b.copy_from_slice(v);
    }
    task.best = Some(saved);
    task.order = restored.order;
    Ok(restored.resume)
}
