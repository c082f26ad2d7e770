//! The character model as a [`Task`] of the shared training loop: stateful truncated BPTT over
//! the `B` streams of [`Batcher`] (in stream order, the recurrent state carried from one batch
//! to the next and reset at the end of each pass), validation on the held-out tail, a sample
//! after each validation, and the checkpoint layout of `docs/CHECKPOINT.md`.

use super::checkpoint::write_model;
use super::data::Batcher;
use super::eval::{evaluate, evaluate_streams, EvalReport};
use super::model::{Carry, CharLm, CharLmGrads, StepWork, TokenBatch};
use super::state::TrainState;
use super::train::{loss_chart, Stop, TrainSettings, SAMPLE_LENGTH, VAL_STREAMS};
use super::vocab::Vocab;
use crate::error::{Error, Result};
use crate::io::{write_atomically, write_safetensors};
use crate::optim::Optimizer;
use crate::rng::Rng;
use crate::rundir::RunDir;
use crate::training::{metrics_jsonl, LoopState, Snapshot, Task, Validation};
use recur_kernels::Threads;

/// The model, its data and what a run writes besides the loop's state.
pub(super) struct Lm {
    pub model: CharLm,
    pub vocab: Vocab,
    pub settings: TrainSettings,
    pub carry: Carry,
    pub grads: CharLmGrads,
    pub work: StepWork,
    pub train: Vec<u32>,
    pub val: Vec<u32>,
    pub batcher: Batcher,
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
    /// `samples.txt`: a short sample after each validation.
    pub samples: String,
    /// The latest validation, and its loss (kept across a resume).
    pub last_report: Option<EvalReport>,
    pub last_val_loss: Option<f64>,
    /// Fingerprint of the training text.
    pub text_hash: String,
    /// Whether a checkpoint of this run exists (saved, or resumed from).
    pub saved: bool,
    /// Whether the validation just taken is the best so far (so `best/` is written).
    pub improved: bool,
}

/// A run of [`Lm`] for the loop: checkpoints go into `out`, when given.
pub(super) struct Run<'a> {
    pub lm: &'a mut Lm,
    pub out: Option<&'a mut RunDir>,
}

impl Lm {
    /// Steps in one pass over the training text.
    pub fn steps_per_epoch(&self) -> u64 {
        self.batcher.steps_per_epoch() as u64
    }

    /// The validation of the run's cadence: exact ([`evaluate`]) in runs of a fixed length; in
    /// a time-budget run, [`VAL_STREAMS`] parallel streams ([`evaluate_streams`]), cheap
    /// enough to run every few percent of the budget.
    fn validate_for_selection(
        &self,
        threads: &Threads,
        progress: impl FnMut(usize, usize),
    ) -> Result<EvalReport> {
        if matches!(self.settings.stop, Stop::TimeBudget(_)) && self.val.len() >= 2 * VAL_STREAMS {
            return evaluate_streams(&self.model, threads, &self.val, VAL_STREAMS, progress);
        }
        evaluate(&self.model, threads, &self.val, progress)
    }

    /// A [`SAMPLE_LENGTH`]-character sample of the current model (temperature 0.8, seed 0).
    fn short_sample(&self, threads: &Threads) -> Result<String> {
        let prime = super::sample::default_prime(&self.vocab);
        let options = super::sample::SampleOptions {
            temperature: 0.8,
            ..Default::default()
        };
        let mut text = prime.clone();
        super::sample::generate(
            &self.model,
            &self.vocab,
            threads,
            &prime,
            SAMPLE_LENGTH,
            &options,
            |c| {
                text.push(c);
                Ok(())
            },
        )?;
        Ok(text)
    }

    /// Writes the checkpoint of `state` and `optimizer` into `dir` (replacing it atomically),
    /// and into `dir/best` as well when `best` (otherwise the existing `best/` stays).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file that could not be written; `dir` is then unchanged.
    pub fn save(
        &mut self,
        dir: &mut RunDir,
        best: bool,
        (state, optimizer): (&LoopState, &Optimizer),
    ) -> Result<()> {
        dir.save(|tmp| {
            write_model(tmp, &self.model, &self.vocab, Some(&self.settings))?;
            let (steps, moments) = optimizer.state();
            debug_assert_eq!(steps, state.step);
            let c = self.model.config();
            let carry_shape = vec![c.num_layers, self.settings.batch_size, c.hidden_size];
            let mut tensors: Vec<(String, Vec<usize>, &[f32])> = moments
                .into_iter()
                .map(|(name, data)| (name, vec![data.len()], data))
                .collect();
            tensors.push(("carry.h".into(), carry_shape.clone(), self.carry.h.data()));
            if let Some(cc) = &self.carry.c {
                tensors.push(("carry.c".into(), carry_shape, cc.data()));
            }
            write_safetensors(tmp.join("optim.safetensors"), &tensors)?;
            let saved = TrainState::of_loop(
                state,
                self.steps_per_epoch(),
                self.last_val_loss,
                &self.text_hash,
            );
            let json = serde_json::to_string_pretty(&saved).expect("state serialises");
            write_atomically(&tmp.join("state.json"), format!("{json}\n").as_bytes())?;
            let rows = metrics_jsonl(&state.metrics);
            write_atomically(&tmp.join("metrics.jsonl"), rows.as_bytes())?;
            if !self.samples.is_empty() {
                write_atomically(&tmp.join("samples.txt"), self.samples.as_bytes())?;
            }
            let chart = loss_chart(&state.metrics).to_svg()?;
            write_atomically(&tmp.join("loss.svg"), chart.as_bytes())?;
            if best {
                let best_dir = tmp.join("best");
                std::fs::create_dir(&best_dir).map_err(|e| Error::io(&best_dir, e))?;
                write_model(&best_dir, &self.model, &self.vocab, Some(&self.settings))?;
            }
            Ok(())
        })?;
        self.saved = true;
        Ok(())
    }
}

impl Task for Run<'_> {
    fn batches_per_epoch(&self) -> u64 {
        self.lm.steps_per_epoch()
    }

    /// The streams keep their order; the carried state was reset as the last pass ended.
    fn start_epoch(&mut self, _rng: &mut Rng) {}

    fn train_batch(&mut self, threads: &Threads, index: u64, rng: &mut Rng) -> Result<f64> {
        let lm = &mut *self.lm;
        lm.batcher
            .batch(&lm.train, index as usize, &mut lm.inputs, &mut lm.targets);
        lm.grads.zero_in(threads);
        let tokens = TokenBatch {
            inputs: &lm.inputs,
            targets: &lm.targets,
            batch: lm.settings.batch_size,
        };
        let stats = lm.model.train_batch(
            threads,
            tokens,
            &mut lm.carry,
            rng,
            &mut lm.grads,
            &mut lm.work,
        )?;
        if index + 1 == lm.steps_per_epoch() {
            lm.carry = lm.model.zero_carry(lm.settings.batch_size);
        }
        Ok(stats.loss)
    }

    fn param_sizes(&self) -> Vec<usize> {
        self.lm.model.buffers().iter().map(|b| b.len()).collect()
    }

    fn params_and_grads(&mut self) -> (Vec<&mut [f32]>, Vec<&mut [f32]>) {
        (self.lm.model.buffers_mut(), self.lm.grads.slices_mut())
    }

    fn validate(&mut self, threads: &Threads) -> Result<Validation> {
        self.validate_with_progress(threads, &mut |_, _| {})
    }

    fn validate_with_progress(
        &mut self,
        threads: &Threads,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Validation> {
        let report = self.lm.validate_for_selection(threads, progress)?;
        self.lm.last_report = Some(report);
        self.lm.last_val_loss = Some(report.loss);
        Ok(Validation {
            loss: report.loss,
            score: Some(report.accuracy),
        })
    }

    /// Validation needs 2 held-out characters (one prediction).
    fn validates(&self) -> bool {
        self.lm.val.len() >= 2
    }

    fn keep_best(&mut self) {
        self.lm.improved = true;
    }

    fn example(&mut self, threads: &Threads, step: u64) -> Result<Option<String>> {
        let text = self.lm.short_sample(threads)?;
        let entry = format!("--- step {step} ---\n{}\n", text.trim_end());
        self.lm.samples.push_str(&entry);
        Ok(Some(text))
    }

    fn batch_tokens(&self) -> Option<u64> {
        Some((self.lm.settings.batch_size * self.lm.settings.seq_len) as u64)
    }

    fn checkpoint(&mut self, at: &Snapshot<'_>) -> Result<()> {
        let best = std::mem::take(&mut self.lm.improved);
        match self.out.as_deref_mut() {
            Some(out) => self.lm.save(out, best, (at.state, at.optimizer)),
            None => Ok(()),
        }
    }
}
