//! Training a character model on the shared loop ([`crate::training`]): stateful truncated
//! BPTT over `B` streams (DESIGN contract), clipping, an optimiser and a schedule; periodic
//! validation with a sample after each; atomic checkpoints that resume bit for bit.

use super::data::{split, Batcher};
use super::eval::{evaluate, EvalReport};
use super::model::{CharLm, StepWork};
use super::task::{Lm, Run};
use super::vocab::Vocab;
use crate::error::{Error, Result};
use crate::io::TensorFile;
use crate::optim::{Optimizer, OptimizerConfig, Schedule};
use crate::plot::{Line, LineChart};
use crate::rng::Rng;
use crate::rundir::RunDir;
use crate::tensor::Tensor;
use crate::training::{self, EarlyStopping, LoopSettings, LoopState, Observer, Stepped};
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::AtomicBool;

pub use super::state::{TrainState, MAX_STEPS};
pub use crate::training::{MetricsRow, Overfitting, Stop, OVERFIT_RISES};

/// Everything that defines a training run besides the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// The training text, as given.
    pub text: String,
    /// Streams per batch `B`.
    pub batch_size: usize,
    /// Steps of truncated BPTT `T`.
    pub seq_len: usize,
    /// When to stop.
    pub stop: Stop,
    /// Optimiser.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Global gradient-norm clip (0: off).
    pub clip: f64,
    /// Elementwise gradient clip (0: off).
    pub clip_value: f64,
    /// Fraction of the text (its tail) held out for validation.
    pub val_frac: f64,
    /// Validate every this many steps (0: four times in a run of known length, every 5 % of a
    /// time budget, and at the end).
    pub eval_every: u64,
    /// Stop when the run overfits ([`Trainer::overfitting`]), keeping `best/`.
    #[serde(default)]
    pub early_stop: bool,
    /// Seed of initialisation and dropout.
    pub seed: u64,
}

impl TrainSettings {
    /// Checks ranges; messages name the flag.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.batch_size == 0 {
            return bad("`batch_size` must be at least 1".into());
        }
        if self.seq_len == 0 {
            return bad("`seq_len` must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.val_frac) {
            return bad(format!(
                "`val_frac` must be in [0, 1), got {}",
                self.val_frac
            ));
        }
        self.loop_settings().validate()
    }

    /// The shared loop's settings of this run: validation every `eval_every` steps or spread
    /// over the budget (its time counted into a time budget), a row of metrics every 10 steps,
    /// early stopping only on the signs of overfitting, and only with `early_stop`.
    pub fn loop_settings(&self) -> LoopSettings {
        LoopSettings {
            stop: self.stop,
            optimizer: self.optimizer.clone(),
            schedule: self.schedule.clone(),
            clip: self.clip,
            clip_value: self.clip_value,
            validate_every: self.eval_every,
            budget_counts_validation: true,
            log_every: METRICS_EVERY,
            early_stopping: EarlyStopping {
                patience: 0,
                min_delta: 0.0,
                min_steps: 0,
                on_overfitting: self.early_stop,
            },
            seed: self.seed,
        }
    }
}

/// Steps between rows of `metrics.jsonl` besides the validations' rows.
const METRICS_EVERY: u64 = 10;

/// Characters of the sample taken after each validation (kept in `samples.txt`).
pub const SAMPLE_LENGTH: usize = 160;

/// Parallel streams of the validations during a time-budget run (see
/// [`super::eval::evaluate_streams`]).
pub const VAL_STREAMS: usize = 32;

/// The seed of the dropout generator is the run's seed mixed with this.
const DROPOUT_SEED: u64 = 0x5eed_d40b;

/// What the overfitting warning advises for a character model, after the signs themselves.
pub fn overfitting_warning(signs: &Overfitting) -> String {
    format!(
        "{signs}. best/ keeps the lowest validation loss; for more, add `dropout` (0.1-0.3: it drops the head's input, and between layers with `layers` 2 or more), use a smaller `hidden`, or train on more text"
    )
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Steps taken in all.
    pub steps: u64,
    /// Whether `stop` was raised (Ctrl-C, `--stop-after`) before the budget was spent; a
    /// checkpoint to resume from was saved.
    pub interrupted: bool,
    /// Final validation, when there is validation data and the run was not interrupted.
    pub final_val: Option<EvalReport>,
    /// Seconds of training.
    pub train_seconds: f64,
    /// Signs of overfitting at the end of the run, if any.
    pub overfitting: Option<Overfitting>,
    /// Whether `early_stop` ended the run before its budget.
    pub stopped_early: bool,
}

/// A training run in progress: the model and its data ([`Lm`]), and the shared loop's state
/// and optimiser.
pub struct Trainer {
    lm: Lm,
    state: LoopState,
    optimizer: Optimizer,
    loop_settings: LoopSettings,
}

/// The training and validation losses of `rows` against the step, for `loss.svg`.
pub fn loss_chart(rows: &[MetricsRow]) -> LineChart {
    let train = rows
        .iter()
        .filter_map(|r| r.train_loss.map(|l| (r.step as f64, l)))
        .collect();
    let val = rows
        .iter()
        .filter_map(|r| r.validation_loss().map(|v| (r.step as f64, v)))
        .collect();
    LineChart {
        title: "Character model: loss".into(),
        x_label: "optimiser step".into(),
        y_label: "cross-entropy (nats/char)".into(),
        lines: vec![
            Line::new("training (mean since last point)", train),
            Line::new("validation", val).with_markers(),
        ],
        marker_x: None,
    }
}

/// FNV-1a of the text, as hex.
fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Trainer {
    /// A fresh run of `model` on `text` (encoded with `vocab`).
    ///
    /// # Errors
    /// [`Error::Config`] for settings out of range, [`Error::Input`] for a text with characters
    /// outside `vocab` or too short for one batch.
    pub fn new(model: CharLm, vocab: Vocab, settings: TrainSettings, text: &str) -> Result<Self> {
        settings.validate()?;
        let tokens = vocab.encode(text, &settings.text)?;
        let (train, val) = split(&tokens, settings.val_frac);
        let (b, t) = (settings.batch_size, settings.seq_len);
        let c = model.config();
        crate::check_activations(
            b,
            t,
            (4 * c.hidden_size).saturating_mul(c.num_layers) + c.vocab_size,
            &format!(
                "`batch_size` {b} × `seq_len` {t} (hidden {}, {} layers, vocabulary {})",
                c.hidden_size, c.num_layers, c.vocab_size
            ),
        )?;
        let batcher = Batcher::new(train.len(), b, t).map_err(|_| {
            Error::Input(format!(
                "{}: {} characters, {} of them for training (after `val_frac` {}): too short for one batch of {b} streams × {t} steps, which needs {} (lower `batch_size` or `seq_len`)",
                settings.text,
                tokens.len(),
                train.len(),
                settings.val_frac,
                b.saturating_mul(t).saturating_add(1)
            ))
        })?;
        let per_epoch = batcher.steps_per_epoch() as u64;
        let loop_settings = settings.loop_settings();
        loop_settings.total_steps(per_epoch)?;
        let sizes: Vec<usize> = model.buffers().iter().map(|b| b.len()).collect();
        let optimizer = Optimizer::new(settings.optimizer.clone(), &sizes)?;
        let state = LoopState::new(
            per_epoch,
            Rng::new(settings.seed),
            Rng::new(settings.seed ^ DROPOUT_SEED),
        );
        let lm = Lm {
            carry: model.zero_carry(settings.batch_size),
            grads: model.zero_grads(),
            work: StepWork::default(),
            train: train.to_vec(),
            val: val.to_vec(),
            model,
            vocab,
            batcher,
            inputs: Vec::new(),
            targets: Vec::new(),
            samples: String::new(),
            last_report: None,
            last_val_loss: None,
            text_hash: fingerprint(text),
            saved: false,
            improved: false,
            settings,
        };
        Ok(Trainer {
            loop_settings,
            lm,
            state,
            optimizer,
        })
    }

    /// Continues the run saved in `dir` on `text`; `stop` replaces the saved stopping rule.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Format`] naming the file and the field or tensor that is
    /// missing or does not fit; [`Error::Input`] for another text than the run's.
    pub fn resume(dir: &Path, text: &str, stop: Option<Stop>) -> Result<Self> {
        let loaded = super::checkpoint::load(dir)?;
        let config_path = dir.join("config.json");
        let mut settings = loaded.config.training.clone().ok_or_else(|| {
            Error::format(
                &config_path,
                "holds no training settings: not a training checkpoint",
            )
        })?;
        if let Some(stop) = stop {
            settings.stop = stop;
        }
        let state_path = dir.join("state.json");
        let state_text =
            std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
        let saved: TrainState = serde_json::from_str(&state_text)
            .map_err(|e| Error::format(&state_path, format!("not a recur training state ({e})")))?;
        saved.check_values(&state_path)?;
        if saved.text_hash != fingerprint(text) {
            return Err(Error::Input(format!(
                "the text differs from the one this run was trained on ({}); resume needs the same text",
                settings.text
            )));
        }
        let mut trainer = Trainer::new(loaded.model, loaded.vocab, settings, text)?;
        let per_epoch = trainer.steps_per_epoch();
        saved.check_position(&state_path, per_epoch)?;
        trainer.restore_tensors(dir, saved.step)?;
        let lm = &mut trainer.lm;
        if let Ok(samples) = std::fs::read_to_string(dir.join("samples.txt")) {
            lm.samples = samples;
        }
        let metrics = read_metrics(&dir.join("metrics.jsonl"))?;
        lm.last_val_loss = saved.last_val_loss;
        lm.saved = true;
        let shuffle_rng = trainer.state.shuffle_rng.clone();
        trainer.state = saved.to_loop(per_epoch, metrics, shuffle_rng);
        Ok(trainer)
    }

    /// Restores the carried state and the optimiser's moments after `step` steps from
    /// `dir/optim.safetensors`.
    fn restore_tensors(&mut self, dir: &Path, step: u64) -> Result<()> {
        let mut optim = TensorFile::read(dir.join("optim.safetensors"))?;
        let lm = &mut self.lm;
        let c = lm.model.config();
        let shape = [c.num_layers, lm.settings.batch_size, c.hidden_size];
        let lstm = lm.carry.c.is_some();
        lm.carry.h = Tensor::new("carry.h", &shape, optim.take("carry.h", &shape)?)?;
        if lstm {
            let c = optim.take("carry.c", &shape)?;
            lm.carry.c = Some(Tensor::new("carry.c", &shape, c)?);
        }
        self.optimizer
            .load_state(step, |name, len| optim.take(name, &[len]))?;
        optim.finish()
    }

    /// Changes the model's dropout (a training setting: [`CharLm::set_dropout`]); the next
    /// checkpoint records it.
    ///
    /// # Errors
    /// [`Error::Config`] for a dropout outside `[0, 1)`.
    pub fn set_dropout(&mut self, p: f64) -> Result<()> {
        self.lm.model.set_dropout(p)
    }

    /// The model being trained.
    pub fn model(&self) -> &CharLm {
        &self.lm.model
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.lm.vocab
    }

    /// The settings.
    pub fn settings(&self) -> &TrainSettings {
        &self.lm.settings
    }

    /// Where the run stands, as `state.json` holds it.
    pub fn state(&self) -> TrainState {
        TrainState::of_loop(
            &self.state,
            self.steps_per_epoch(),
            self.lm.last_val_loss,
            &self.lm.text_hash,
        )
    }

    /// Rows of `metrics.jsonl` so far.
    pub fn metrics(&self) -> &[MetricsRow] {
        &self.state.metrics
    }

    /// Characters of training and validation text.
    pub fn split_sizes(&self) -> (usize, usize) {
        (self.lm.train.len(), self.lm.val.len())
    }

    /// Steps in one pass over the training text.
    pub fn steps_per_epoch(&self) -> u64 {
        self.lm.steps_per_epoch()
    }

    /// Total steps of the run, when the stopping rule fixes them.
    pub fn total_steps(&self) -> Option<u64> {
        // Checked when the trainer was made.
        let total = self.loop_settings.total_steps(self.steps_per_epoch());
        total.ok().flatten()
    }

    /// One optimiser step on the next batch, as the loop takes it ([`training::step`]).
    ///
    /// # Errors
    /// [`Error::Diverged`] for a non-finite loss or gradient, or the model's errors.
    pub fn step(&mut self, threads: &Threads) -> Result<Stepped> {
        let mut run = Run {
            lm: &mut self.lm,
            out: None,
        };
        training::step(
            &mut run,
            &self.loop_settings,
            threads,
            &mut self.state,
            &mut self.optimizer,
        )
    }

    /// Exact validation loss on the held-out tail, if there is one.
    ///
    /// # Errors
    /// As [`evaluate`].
    pub fn validate(
        &self,
        threads: &Threads,
        progress: impl FnMut(usize, usize),
    ) -> Result<Option<EvalReport>> {
        if self.lm.val.len() < 2 {
            return Ok(None);
        }
        evaluate(&self.lm.model, threads, &self.lm.val, progress).map(Some)
    }

    /// The validation text, as tokens.
    pub fn validation_tokens(&self) -> &[u32] {
        &self.lm.val
    }

    /// Writes the checkpoint of the current step into `dir` (replacing it atomically), and into
    /// `dir/best` as well when `best` (otherwise the existing `best/` stays).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file that could not be written; `dir` is then unchanged.
    pub fn save(&mut self, dir: &mut RunDir, best: bool) -> Result<()> {
        self.lm.save(dir, best, (&self.state, &self.optimizer))
    }

    /// Whether the validation loss rose at each of the last [`OVERFIT_RISES`] validations while
    /// the training loss fell over the same span (from `metrics.jsonl`'s rows).
    pub fn overfitting(&self) -> Option<Overfitting> {
        training::overfitting(&self.state.metrics)
    }

    /// Trains on the shared loop ([`training::continue_run`]) until the stopping rule is met or
    /// `stop` is raised (Ctrl-C); validates and checkpoints into `out` along the way and at the
    /// end, and saves a checkpoint to resume from when interrupted. `observer` sees every step,
    /// validation, sample and sign of overfitting.
    ///
    /// # Errors
    /// [`Error::Diverged`] for a non-finite loss or gradient (saying whether a checkpoint was
    /// kept), [`Error::Io`] for a checkpoint that could not be written, or the model's errors.
    pub fn run(
        &mut self,
        threads: &Threads,
        out: &mut RunDir,
        observer: &mut dyn Observer,
        stop: &AtomicBool,
    ) -> Result<Summary> {
        self.lm.last_report = None;
        let mut run = Run {
            lm: &mut self.lm,
            out: Some(&mut *out),
        };
        let ended = training::continue_run(
            &mut run,
            &self.loop_settings,
            threads,
            observer,
            stop,
            &mut self.state,
            &mut self.optimizer,
        );
        let ended = ended.map_err(|e| match e {
            Error::Diverged(m) if self.lm.saved => {
                Error::Diverged(format!("{m}; the last checkpoint was kept"))
            }
            Error::Diverged(m) => Error::Diverged(format!(
                "{m}; nothing was saved (it diverged before any checkpoint)"
            )),
            e => e,
        })?;
        if ended.interrupted {
            self.save(out, false)?;
        }
        Ok(Summary {
            steps: ended.steps,
            interrupted: ended.interrupted,
            final_val: self.lm.last_report.filter(|_| !ended.interrupted),
            train_seconds: ended.seconds,
            overfitting: ended.overfitting,
            stopped_early: ended.stopped_early,
        })
    }
}

/// The rows of a run's `metrics.jsonl` (none when the file is missing).
fn read_metrics(path: &Path) -> Result<Vec<MetricsRow>> {
    let Ok(lines) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    lines
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| Error::format(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}
