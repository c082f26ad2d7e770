//! Training a classifier with a stratified validation split and early stopping, and scoring it:
//! accuracy, macro-F1, per-class precision and recall, confusion matrix.

use super::data::{Dataset, Item};
use super::model::{Classifier, ClassifierConfig, Pooling};
use crate::config::CellType;
use crate::error::{Error, Result};
use crate::nn::Gradients as _;
use crate::optim::Optimizer;
use crate::rng::Rng;
use crate::training::{
    self, Control, LoopCheckpoint, LoopSettings, LoopState, Observer, Snapshot, Task, Validation,
};
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

/// Hyperparameters of `recur classify train`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClassifySettings {
    /// Recurrent cell.
    pub cell: CellType,
    /// Hidden units per direction.
    pub hidden: usize,
    /// Layers.
    pub layers: usize,
    /// Two directions.
    pub bidirectional: bool,
    /// Dropout between layers.
    pub dropout: f64,
    /// Pooling.
    pub pooling: Pooling,
    /// Text: embedding width.
    pub embed: usize,
    /// Numeric: raw steps per step of the recurrent layers ([`ClassifierConfig::frame_size`]).
    #[serde(default = "one")]
    pub frame_size: usize,
    /// Text: most frequent characters given an embedding.
    pub max_vocab: usize,
    /// Fraction of the training data (stratified) held out for early stopping.
    pub val_frac: f64,
    /// Maximum epochs (when neither `steps` nor `time_budget` is set).
    pub epochs: usize,
    /// With a budget in epochs, train at least this many optimiser steps (more epochs on small
    /// data sets), and never stop early before half of them.
    #[serde(default)]
    pub min_steps: u64,
    /// Stop after this many optimiser steps instead.
    #[serde(default)]
    pub steps: Option<u64>,
    /// Stop after this many seconds of training instead.
    #[serde(default)]
    pub time_budget: Option<f64>,
    /// Validations (one per epoch) without a lower validation loss before stopping.
    pub patience: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed of initialisation, splits and shuffling.
    pub seed: u64,
    /// Text: characters or words, and the word vocabulary's settings. Absent from older
    /// checkpoints, which read characters.
    #[serde(default = "char_units")]
    pub text: super::text::TextSettings,
    /// Numeric data: strength of the training-time augmentation (window slicing, magnitude
    /// scaling, jitter; 0: none).
    #[serde(default)]
    pub augment: f64,
    /// Models trained (seeds `seed`, `seed + 1`, …, each with its own validation split) whose
    /// probabilities are averaged.
    #[serde(default = "one")]
    pub ensemble: usize,
    /// After choosing the number of passes on the validation split, train the model again on
    /// all the training data (the validation split included) for that many passes, and keep
    /// that model instead.
    #[serde(default)]
    pub refit: bool,
    /// Audio data: the feature settings the recordings were read with (stored in the model's
    /// configuration, so that it reads recordings at prediction time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<crate::audio::FeatureConfig>,
    /// Audio data: SpecAugment masks on the training batches' features (none when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_augment: Option<crate::audio::SpecAugment>,
}

fn char_units() -> super::text::TextSettings {
    super::text::TextSettings {
        units: super::text::Units::Char,
        embed_dropout: 0.0,
        head_dropout: 0.0,
        ..Default::default()
    }
}

/// The settings [`defaults_for`] fits to a data set (each used where the user set none).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DataDefaults {
    /// Raw steps per recurrent step.
    pub frame_size: usize,
    /// Augmentation strength.
    pub augment: f64,
    /// Two directions.
    pub bidirectional: bool,
    /// Pooling over the steps.
    pub pooling: Pooling,
    /// Hidden units per direction.
    pub hidden: usize,
    /// Models averaged.
    pub ensemble: usize,
    /// Median sequence length (raw steps) the rule read.
    pub median_length: usize,
}

/// Sequences of at least this median length (raw steps) are read in frames and augmented.
pub const LONG_SERIES: usize = 64;
/// Recurrent steps a long series is cut into (its median length over the frame size).
pub const FRAMES_PER_SERIES: usize = 16;
/// Data sets of at most this many sequence-steps (labelled sequences times the median number of
/// recurrent steps, after framing) train an ensemble: five models of such a set train in about a
/// minute on two cores.
pub const ENSEMBLE_WORK: usize = 5_000;
/// Augmentation strength for long numeric series (read in frames).
pub const LONG_AUGMENT: f64 = 0.2;
/// Augmentation strength for short numeric series (read step by step).
pub const SHORT_AUGMENT: f64 = 0.1;

/// The defaults that fit `data` (measured on the UCR/UEA sets of the README, chosen for
/// generality): a long numeric series (median length at least [`LONG_SERIES`] raw steps) is read
/// in frames so that the recurrence runs about [`FRAMES_PER_SERIES`] steps, and trained on
/// augmented copies (strength [`LONG_AUGMENT`]; shorter numeric series [`SHORT_AUGMENT`]); a
/// data set of at most [`ENSEMBLE_WORK`] sequence-steps trains an ensemble of 5 models; every
/// numeric set a bidirectional GRU of 128 units with max pooling.
/// For text the CLI takes [`super::text::TEXT_DEFAULTS`] (bidirectional, max pooling) instead.
pub fn defaults_for(data: &Dataset) -> DataDefaults {
    let mut lengths: Vec<usize> = (0..data.items.len()).map(|i| data.len_of(i)).collect();
    lengths.sort_unstable();
    let median = lengths.get(lengths.len() / 2).copied().unwrap_or(0);
    let numeric = data.dims > 0;
    let long = numeric && median >= LONG_SERIES;
    let frame_size = if long {
        ((median as f64 / FRAMES_PER_SERIES as f64).round() as usize).max(1)
    } else {
        1
    };
    let work = data.items.len() * median.div_ceil(frame_size).max(1);
    DataDefaults {
        frame_size,
        augment: match (numeric, long) {
            (true, true) => LONG_AUGMENT,
            (true, false) => SHORT_AUGMENT,
            _ => 0.0,
        },
        bidirectional: numeric,
        pooling: if numeric { Pooling::Max } else { Pooling::Last },
        hidden: if numeric { 128 } else { 64 },
        ensemble: if work <= ENSEMBLE_WORK { 5 } else { 1 },
        median_length: median,
    }
}

/// Class probabilities `[N, C]` of an ensemble: the mean of its members' ([`predict`]).
///
/// # Errors
/// As [`predict`]; [`Error::Input`] for an empty ensemble.
pub fn predict_members(
    members: &[Classifier],
    threads: &Threads,
    data: &Dataset,
    batch: usize,
) -> Result<Vec<f32>> {
    let Some(first) = members.first() else {
        return Err(Error::Input("an ensemble needs at least one model".into()));
    };
    let mut sum = predict(first, threads, data, batch)?;
    for m in &members[1..] {
        for (s, p) in sum.iter_mut().zip(predict(m, threads, data, batch)?) {
            *s += p;
        }
    }
    let n = members.len() as f32;
    sum.iter_mut().for_each(|s| *s /= n);
    Ok(sum)
}

fn one() -> usize {
    1
}

impl ClassifySettings {
    /// Checks every setting's range before any work; messages name the flag and the limit.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        crate::config::require_at_least_one(&[
            ("hidden", self.hidden),
            ("layers", self.layers),
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
            ("frame_size", self.frame_size),
            ("ensemble", self.ensemble),
        ])?;
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::Config(format!(
                "`lr` must be a positive number, got {}",
                self.lr
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Config(format!(
                "`dropout` must be in [0, 1), got {}",
                self.dropout
            )));
        }
        if !(self.val_frac > 0.0 && self.val_frac < 1.0) {
            return Err(Error::Config(format!(
                "`val_frac` must be in (0, 1), got {}",
                self.val_frac
            )));
        }
        if let Some(audio) = &self.audio {
            audio.validate()?;
        }
        Ok(())
    }
}

/// A stratified split of `labels` into (first, second) index lists, `frac` of each class in the
/// second, seeded.
pub fn stratified_split(labels: &[String], frac: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut by_class: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        by_class.entry(l).or_default().push(i);
    }
    let mut rng = Rng::new(seed);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (_, mut idx) in by_class {
        for i in (1..idx.len()).rev() {
            idx.swap(i, rng.below(i + 1));
        }
        let k = (((idx.len() as f64) * frac).round() as usize).min(idx.len());
        b.extend_from_slice(&idx[..k]);
        a.extend_from_slice(&idx[k..]);
    }
    a.sort_unstable();
    b.sort_unstable();
    (a, b)
}

/// Scores of predictions against the truth.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Fraction correct.
    pub accuracy: f64,
    /// Mean over classes of F1.
    pub macro_f1: f64,
    /// Per class: precision.
    pub precision: BTreeMap<String, f64>,
    /// Per class: recall.
    pub recall: BTreeMap<String, f64>,
    /// `confusion[true][predicted]`, classes in model order.
    pub confusion: Vec<Vec<usize>>,
    /// Class names, in the order of the confusion matrix.
    pub classes: Vec<String>,
    /// Sequences scored.
    pub count: usize,
}

/// The report of `predicted` against `truth` (class ids) for `classes`; an error if the lists
/// differ in length or hold an id that is not a class.
pub fn report(truth: &[u32], predicted: &[u32], classes: &[String]) -> Result<Report> {
    if truth.len() != predicted.len() {
        return Err(Error::Input(format!(
            "{} true labels but {} predictions",
            truth.len(),
            predicted.len()
        )));
    }
    if let Some(&bad) = truth
        .iter()
        .chain(predicted)
        .find(|&&k| k as usize >= classes.len())
    {
        return Err(Error::Input(format!(
            "class id {bad} is not below the {} classes",
            classes.len()
        )));
    }
    let c = classes.len();
    let mut confusion = vec![vec![0usize; c]; c];
    for (&t, &p) in truth.iter().zip(predicted) {
        confusion[t as usize][p as usize] += 1;
    }
    let (mut precision, mut recall) = (BTreeMap::new(), BTreeMap::new());
    let mut f1_sum = 0.0;
    for k in 0..c {
        let tp = confusion[k][k] as f64;
        let predicted_k: usize = (0..c).map(|t| confusion[t][k]).sum();
        let actual_k: usize = confusion[k].iter().sum();
        let p = if predicted_k > 0 {
            tp / predicted_k as f64
        } else {
            0.0
        };
        let r = if actual_k > 0 {
            tp / actual_k as f64
        } else {
            0.0
        };
        f1_sum += if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        precision.insert(classes[k].clone(), p);
        recall.insert(classes[k].clone(), r);
    }
    let correct = (0..c).map(|k| confusion[k][k]).sum::<usize>();
    Ok(Report {
        accuracy: correct as f64 / truth.len().max(1) as f64,
        macro_f1: f1_sum / c.max(1) as f64,
        precision,
        recall,
        confusion,
        classes: classes.to_vec(),
        count: truth.len(),
    })
}

/// Class ids of `labels` under `classes`; a label the model never saw is an error naming it.
pub fn class_ids(labels: &[String], classes: &[String]) -> Result<Vec<u32>> {
    let ids: HashMap<&str, u32> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u32))
        .collect();
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            ids.get(l.as_str()).copied().ok_or_else(|| {
                Error::Input(format!(
                    "sequence {}: label '{l}' was not seen in training (classes: {})",
                    i + 1,
                    classes.join(", ")
                ))
            })
        })
        .collect()
}

/// Class probabilities `[N, C]` for every sequence of `data`, in batches; an error (never a
/// panic) when the sequences are not of the kind or width the model reads.
pub fn predict(
    model: &Classifier,
    threads: &Threads,
    data: &Dataset,
    batch: usize,
) -> Result<Vec<f32>> {
    let idx: Vec<usize> = (0..data.items.len()).collect();
    model.check_data(data, &idx)?;
    let mut probs = Vec::new();
    for chunk in idx.chunks(batch.max(1)) {
        probs.extend(model.run(threads, data, chunk, None, None, None)?.0);
    }
    Ok(probs)
}

/// Arg-max class of each row of `probs` (none when `classes` is 0).
pub fn argmax_rows(probs: &[f32], classes: usize) -> Vec<u32> {
    if classes == 0 {
        return Vec::new();
    }
    probs
        .chunks_exact(classes)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |a, (i, &v)| if v > a.1 { (i, v) } else { a },
                )
                .0 as u32
        })
        .collect()
}

/// What training produced.
pub struct Trained {
    /// The classifier of the lowest validation loss.
    pub model: Classifier,
    /// Epochs run (the last may be partial).
    pub epochs: usize,
    /// Validation accuracy of the kept model.
    pub val_accuracy: f64,
    /// How the run went: steps, the best validation and its step, early stopping.
    pub summary: training::Summary,
    /// The classifier after the last step (to resume from).
    pub current: Classifier,
    /// The order of training examples in the last pass.
    pub order: Vec<usize>,
    /// The loop's state after the last step.
    pub state: LoopState,
    /// The optimiser after the last step.
    pub optimizer: Optimizer,
    /// The record of the inputs given in [`Control::run_record`].
    pub run_record: serde_json::Value,
    /// `config.json` of the checkpoint ([`checkpoint_config`]).
    pub config_json: serde_json::Value,
    /// How the kept model was trained again on all the data, when it was
    /// ([`ClassifySettings::refit`]).
    pub refitted: Option<Refitted>,
}

/// `config.json` of a classifier checkpoint: format, version, task, the model's configuration
/// and the settings it was trained with.
pub fn checkpoint_config(
    model: &ClassifierConfig,
    settings: &ClassifySettings,
) -> serde_json::Value {
    serde_json::json!({
        "format": "recur",
        "version": 1,
        "task": super::model::TASK,
        "model": model,
        "training": settings,
    })
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

/// The classifier as a [`Task`] of the shared training loop: shuffled batches of the training
/// split, validation loss and accuracy on the validation split.
struct ClassifyTask<'a> {
    model: Classifier,
    grads: super::model::ClassifierGrads,
    best: Option<Classifier>,
    data: &'a Dataset,
    targets: Vec<u32>,
    order: Vec<usize>,
    batch_size: usize,
    val: Dataset,
    val_targets: Vec<u32>,
    saving: training::Saving<'a>,
    augment: f64,
    /// SpecAugment masks, and the blocks of a frame (base features and their deltas).
    spec_augment: Option<(crate::audio::SpecAugment, usize)>,
}

/// Numeric sequences `idx` of `data`, each augmented (Le Guennec et al. 2016; Um et al. 2017):
/// a random window of `1 - strength` of its steps (window slicing), every value scaled by one
/// factor drawn from `N(1, strength)` per sequence (magnitude scaling) and moved by noise of
/// `N(0, strength / 2)` feature standard deviations (jitter).
fn augmented(
    data: &Dataset,
    idx: &[usize],
    strength: f64,
    config: &ClassifierConfig,
    rng: &mut Rng,
) -> Dataset {
    let d = data.dims;
    let items = idx
        .iter()
        .map(|&i| {
            let Item::Numeric(v) = &data.items[i] else {
                return data.items[i].clone();
            };
            let steps = v.len() / d;
            let keep = ((steps as f64 * (1.0 - strength)).ceil() as usize).clamp(1, steps);
            let from = rng.below(steps - keep + 1);
            let scale = 1.0 + strength * rng.normal();
            let mut out = v[from * d..(from + keep) * d].to_vec();
            for row in out.chunks_exact_mut(d) {
                for (j, x) in row.iter_mut().enumerate() {
                    let noise = 0.5 * strength * rng.normal() * config.std[j] as f64;
                    *x = (*x as f64 * scale + noise) as f32;
                }
            }
            Item::Numeric(out)
        })
        .collect();
    Dataset {
        dims: d,
        items,
        labels: idx.iter().map(|&i| data.labels[i].clone()).collect(),
        source: data.source.clone(),
        lines: Vec::new(),
        targets: Vec::new(),
    }
}

impl ClassifyTask<'_> {
    /// The sequences `chunk` augmented for training ([`augmented`], then SpecAugment masks), or
    /// `None` when no augmentation is asked for.
    fn augmented_batch(&self, chunk: &[usize], rng: &mut Rng) -> Option<Dataset> {
        let numeric = self.data.dims > 0;
        let mut batch = if self.augment > 0.0 && numeric {
            augmented(self.data, chunk, self.augment, self.model.config(), rng)
        } else if self.spec_augment.is_some() && numeric {
            self.data.subset(chunk)
        } else {
            return None;
        };
        if let Some((masks, blocks)) = &self.spec_augment {
            for item in &mut batch.items {
                if let Item::Numeric(v) = item {
                    masks.apply(v, batch.dims, *blocks, rng);
                }
            }
        }
        Some(batch)
    }
}

impl Task for ClassifyTask<'_> {
    fn batches_per_epoch(&self) -> u64 {
        self.order.len().div_ceil(self.batch_size) as u64
    }

    fn start_epoch(&mut self, rng: &mut Rng) {
        rng.shuffle(&mut self.order);
    }

    fn train_batch(&mut self, threads: &Threads, index: u64, rng: &mut Rng) -> Result<f64> {
        let start = index as usize * self.batch_size;
        let chunk = &self.order[start..(start + self.batch_size).min(self.order.len())];
        let t: Vec<u32> = chunk.iter().map(|&i| self.targets[i]).collect();
        self.grads.zero();
        let (_, r) = if let Some(batch) = self.augmented_batch(chunk, rng) {
            let all: Vec<usize> = (0..chunk.len()).collect();
            self.model.run(
                threads,
                &batch,
                &all,
                Some(&t),
                Some(&mut self.grads),
                Some(rng),
            )?
        } else {
            self.model.run(
                threads,
                self.data,
                chunk,
                Some(&t),
                Some(&mut self.grads),
                Some(rng),
            )?
        };
        Ok(r.loss_sum / chunk.len() as f64)
    }

    fn param_sizes(&self) -> Vec<usize> {
        self.model.buffer_sizes()
    }

    fn params_and_grads(&mut self) -> (Vec<&mut [f32]>, Vec<&mut [f32]>) {
        (self.model.buffers_mut(), self.grads.buffers_mut())
    }

    fn validate(&mut self, threads: &Threads) -> Result<Validation> {
        let all: Vec<usize> = (0..self.val.items.len()).collect();
        let (mut loss_sum, mut correct) = (0.0, 0);
        for chunk in all.chunks(64) {
            let t: Vec<u32> = chunk.iter().map(|&i| self.val_targets[i]).collect();
            let (_, r) = self
                .model
                .run(threads, &self.val, chunk, Some(&t), None, None)?;
            loss_sum += r.loss_sum;
            correct += r.correct;
        }
        let n = all.len() as f64;
        Ok(Validation {
            loss: loss_sum / n,
            score: Some(correct as f64 / n),
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

/// Trains on `data` with the shared loop ([`training::run`]): a stratified `val_frac` is held out
/// to select the model of the lowest validation loss and to stop early; feature scaling and the
/// text vocabulary come from the rest only. `observer` sees every step and validation; raising
/// `stop` ends the run with the best model so far.
///
/// # Errors
/// [`Error::Config`] for settings out of range, [`Error::Input`] for data that cannot be split
/// or trained on, [`Error::Diverged`] for a non-finite loss.
pub fn train(
    data: &Dataset,
    s: &ClassifySettings,
    threads: &Threads,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Trained> {
    train_with(data, s, threads, Control::new(observer, stop))
}

/// [`train`] driven by `control`: progress, Ctrl-C, a checkpoint offered after every validation
/// ([`Trained::checkpoint`]'s layout), and resuming a run from its checkpoint directory, which
/// continues it bit for bit (same `data` and settings; the splits, scaling and vocabulary are
/// computed again and must give the saved model's).
///
/// # Errors
/// As [`train`]; [`Error::Format`] naming the checkpoint file that is missing or does not fit
/// the data.
pub fn train_with<'a>(
    data: &'a Dataset,
    s: &ClassifySettings,
    threads: &Threads,
    control: Control<'a>,
) -> Result<Trained> {
    s.validate()?;
    let classes = classes_of(data)?;
    let from = data
        .source
        .as_ref()
        .map_or(String::new(), |p| format!("{}: ", p.display()));
    let val_frac = validation_share(s.val_frac, data.items.len(), classes.len());
    let (train_idx, val_idx) = stratified_split(&data.labels, val_frac, s.seed);
    if train_idx.is_empty() || val_idx.is_empty() {
        return Err(Error::Input(format!(
            "{from}{} sequences are too few for a training and a validation split",
            data.items.len()
        )));
    }
    let targets = class_ids(&data.labels, &classes)?;
    // Scaling and vocabulary from the training split only.
    let mut config = super::fit::encoder_config(data, &train_idx, s)?;
    config.classes = classes.clone();
    let model = Classifier::new(config, &mut Rng::new(s.seed))?;
    let val = data.subset(&val_idx);
    let saved_config = checkpoint_config(model.config(), s);
    let mut task = ClassifyTask {
        grads: model.zero_grads(),
        model,
        best: None,
        data,
        val_targets: val_idx.iter().map(|&i| targets[i]).collect(),
        targets,
        order: train_idx,
        batch_size: s.batch_size,
        val,
        saving: training::Saving {
            save: control.on_checkpoint,
            config: saved_config,
            run: control.run_record,
        },
        augment: s.augment,
        spec_augment: s
            .spec_augment
            .map(|m| (m, s.audio.as_ref().map_or(1, |a| 1 + a.deltas))),
    };
    let settings = s.loop_settings(task.batches_per_epoch());
    let resume = match control.resume_from {
        Some(dir) => Some(restore(
            (&mut task.model, &mut task.best, &mut task.order),
            &settings,
            dir,
        )?),
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
    let summary = end.summary;
    let mut model = task.best.take().unwrap_or_else(|| task.model.clone());
    let mut refitted = None;
    let mut config_json = std::mem::take(&mut task.saving.config);
    if s.refit && !summary.interrupted && !control.stop.load(Ordering::Relaxed) {
        let plan = Refit::after(&task, &summary, &classes);
        if let Some((m, r)) = refit(data, s, threads, &plan, control.stop)? {
            config_json = checkpoint_config(m.config(), s);
            config_json[REFIT_KEY] = serde_json::to_value(r).expect("refit serialises");
            (model, refitted) = (m, Some(r));
        }
    }
    Ok(Trained {
        model,
        epochs: summary.epochs as usize,
        val_accuracy: summary.best.0.score.unwrap_or(f64::NAN),
        summary,
        current: task.model,
        order: task.order,
        state: end.state,
        optimizer: end.optimizer,
        run_record: task.saving.run,
        config_json,
        refitted,
    })
}

/// The sorted classes of labelled `data`.
///
/// # Errors
/// [`Error::Input`] when the labels do not match the sequences or name fewer than 2 classes.
fn classes_of(data: &Dataset) -> Result<Vec<String>> {
    if data.labels.len() != data.items.len() {
        return Err(Error::Input(format!(
            "{} labels for {} sequences",
            data.labels.len(),
            data.items.len()
        )));
    }
    let mut classes: Vec<String> = data.labels.clone();
    classes.sort();
    classes.dedup();
    if classes.len() < 2 {
        let from = data
            .source
            .as_ref()
            .map_or(String::new(), |p| format!("{}: ", p.display()));
        return Err(Error::Input(format!(
            "{from}training data needs at least 2 classes, found {}",
            classes.len()
        )));
    }
    Ok(classes)
}

/// The key of `config.json` that records a refit ([`Refitted`]).
pub const REFIT_KEY: &str = "refit";

/// How the kept model of a run with [`ClassifySettings::refit`] was trained again.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refitted {
    /// Sequences trained on (the whole training data).
    pub sequences: usize,
    /// Passes over them (those of the model the validation split chose).
    pub epochs: u64,
    /// Optimiser steps.
    pub steps: u64,
    /// Seconds it took.
    pub seconds: f64,
}

/// What a refit on all the training data repeats of the run that chose the model.
struct Refit<'v> {
    /// Passes over the data of the kept model.
    epochs: u64,
    classes: &'v [String],
    val: &'v Dataset,
    val_targets: &'v [u32],
}

impl<'v> Refit<'v> {
    /// The refit that follows the run of `task` summed up by `summary`: the epochs of its kept
    /// model (at least one).
    fn after(task: &'v ClassifyTask, summary: &training::Summary, classes: &'v [String]) -> Self {
        Refit {
            epochs: summary
                .best
                .1
                .div_ceil(task.batches_per_epoch().max(1))
                .max(1),
            classes,
            val: &task.val,
            val_targets: &task.val_targets,
        }
    }
}

/// A model of the same seed trained on all of `data` (the validation split included) for as
/// many passes as the kept model took, its scaling and vocabulary fitted on all of `data`;
/// `None` when `stop` was raised on the way.
fn refit(
    data: &Dataset,
    s: &ClassifySettings,
    threads: &Threads,
    plan: &Refit,
    stop: &AtomicBool,
) -> Result<Option<(Classifier, Refitted)>> {
    let all: Vec<usize> = (0..data.items.len()).collect();
    let mut config = super::fit::encoder_config(data, &all, s)?;
    config.classes = plan.classes.to_vec();
    let model = Classifier::new(config, &mut Rng::new(s.seed))?;
    let mut task = ClassifyTask {
        grads: model.zero_grads(),
        model,
        best: None,
        data,
        targets: class_ids(&data.labels, plan.classes)?,
        order: all,
        batch_size: s.batch_size,
        val: plan.val.clone(),
        val_targets: plan.val_targets.to_vec(),
        saving: training::Saving::none(),
        augment: s.augment,
        spec_augment: s
            .spec_augment
            .map(|m| (m, s.audio.as_ref().map_or(1, |a| 1 + a.deltas))),
    };
    let bpe = task.batches_per_epoch().max(1);
    let mut settings = s.loop_settings(bpe);
    settings.stop = training::Stop::Steps(plan.epochs * bpe);
    // No validation on the way (the split is part of the training data now), no early stop.
    settings.validate_every = u64::MAX;
    settings.early_stopping.patience = u64::MAX;
    let end = training::run_from(&mut task, &settings, threads, &mut (), stop, None)?;
    let r = Refitted {
        sequences: data.items.len(),
        epochs: plan.epochs,
        steps: end.summary.steps,
        seconds: end.summary.seconds,
    };
    Ok((!end.summary.interrupted).then_some((task.model, r)))
}

/// Restores the run saved in `dir` (the classifier's or the regressor's): the current
/// parameters into `model`, the order of examples, and the best model (whose configuration must
/// be the one computed again from the data).
pub(super) fn restore(
    (model, best, order): (&mut Classifier, &mut Option<Classifier>, &mut Vec<usize>),
    settings: &LoopSettings,
    dir: &std::path::Path,
) -> Result<training::Resume> {
    let config = dir.join("config.json");
    let saved_json: serde_json::Value = std::fs::read_to_string(&config)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    if saved_json.get(REFIT_KEY).is_some() {
        return Err(Error::Config(format!(
            "the run in {} is finished (its model was trained again on all the data); nothing to resume",
            dir.display()
        )));
    }
    let restored = training::read_checkpoint(dir, settings, &model.buffer_sizes(), order)?;
    let saved = super::model::load(dir)?;
    if saved.config() != model.config() {
        return Err(Error::format(
            dir.join("config.json"),
            "the model does not fit the data as read now (its classes, targets, scaling or vocabulary differ): was the data changed?",
        ));
    }
    for (b, v) in model.buffers_mut().into_iter().zip(&restored.current) {
        b.copy_from_slice(v);
    }
    *best = Some(saved);
    *order = restored.order;
    Ok(restored.resume)
}

impl ClassifySettings {
    /// The shared loop's settings ([`LoopSettings::per_epoch`]): with a budget in epochs at
    /// least `min_steps` steps, and no early stop before half of them.
    pub fn loop_settings(&self, batches_per_epoch: u64) -> LoopSettings {
        LoopSettings::per_epoch(
            (self.steps, self.time_budget, self.epochs as u64),
            batches_per_epoch,
            self.lr,
            self.patience as u64,
            self.min_steps / 2,
            self.seed,
        )
    }
}

/// Smallest validation split: at least [`MIN_VALIDATION`] sequences (or one per class, when
/// there are more classes), but never more than a third of the data.
pub const MIN_VALIDATION: usize = 10;

/// The share of `n` sequences of `classes` classes held out for validation: `val_frac`, raised
/// so that the split holds at least `max(MIN_VALIDATION, classes)` sequences, capped at a third.
pub fn validation_share(val_frac: f64, n: usize, classes: usize) -> f64 {
    if n == 0 {
        return val_frac;
    }
    let floor = MIN_VALIDATION.max(classes).min(n / 3) as f64 / n as f64;
    val_frac.max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_matches_hand_counts() {
        let classes = vec!["a".to_string(), "b".to_string()];
        let r = report(&[0, 0, 1, 1, 1], &[0, 1, 1, 1, 0], &classes).unwrap();
        assert_eq!(r.confusion, vec![vec![1, 1], vec![1, 2]]);
        assert!((r.accuracy - 0.6).abs() < 1e-12);
        assert!(
            (r.precision["a"] - 0.5).abs() < 1e-12 && (r.recall["b"] - 2.0 / 3.0).abs() < 1e-12
        );
        let f1a = 0.5;
        let f1b = 2.0 * (2.0 / 3.0) * (2.0 / 3.0) / (4.0 / 3.0);
        assert!((r.macro_f1 - (f1a + f1b) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn scaling_comes_from_the_training_split_only() {
        // 20 sequences of one feature; class "b" has large values. The validation split's values
        // must not enter the mean.
        let mut items = Vec::new();
        let mut labels = Vec::new();
        for i in 0..20 {
            let v = i as f32;
            items.push(Item::Numeric(vec![v, v + 0.5, v + 1.0]));
            labels.push(if i % 2 == 0 {
                "a".to_string()
            } else {
                "b".to_string()
            });
        }
        let data = Dataset {
            dims: 1,
            items,
            labels,
            ..Dataset::default()
        };
        let s = ClassifySettings {
            cell: CellType::Gru,
            hidden: 4,
            layers: 1,
            bidirectional: true,
            dropout: 0.0,
            pooling: Pooling::Max,
            embed: 0,
            frame_size: 1,
            max_vocab: 0,
            val_frac: 0.2,
            epochs: 2,
            steps: None,
            time_budget: None,
            min_steps: 0,
            patience: 2,
            batch_size: 4,
            lr: 1e-2,
            seed: 5,
            text: Default::default(),
            augment: 0.0,
            ensemble: 1,
            refit: false,
            audio: None,
            spec_augment: None,
        };
        let trained = train(
            &data,
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
        )
        .unwrap();
        // The split `train` makes: 0.2 of 20 sequences, raised to the minimum validation size
        // (a third of the data here, 6 sequences).
        let (train_idx, _) = stratified_split(&data.labels, validation_share(0.2, 20, 2), 5);
        let values: Vec<f64> = train_idx
            .iter()
            .flat_map(|&i| [i as f64, i as f64 + 0.5, i as f64 + 1.0])
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((trained.model.config().mean[0] as f64 - mean).abs() < 1e-4);
        assert_eq!(train_idx.len(), 14);
    }

    #[test]
    fn stratified_split_keeps_class_shares_and_is_seeded() {
        let labels: Vec<String> = (0..100)
            .map(|i| if i % 4 == 0 { "x".into() } else { "y".into() })
            .collect();
        let (a, b) = stratified_split(&labels, 0.2, 3);
        assert_eq!(b.len(), 20);
        assert_eq!(b.iter().filter(|&&i| labels[i] == "x").count(), 5);
        assert_eq!(a.len() + b.len(), 100);
        assert_eq!(stratified_split(&labels, 0.2, 3), (a, b));
        let e = class_ids(&["z".into()], &["x".into(), "y".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'z' was not seen in training"), "{e}");
    }
}
