//! Checkpoints of the shared loop, for the tasks that train on a fixed set of examples (the
//! classifier, the forecaster): the model of the lowest validation loss, and what continues the
//! run bit for bit (the current parameters, the optimiser's moments, the order of examples and
//! the loop's state). The layout is the character model's (`docs/CHECKPOINT.md`):
//!
//! | file | what |
//! |---|---|
//! | `config.json` | format, version, task, model and training settings |
//! | `model.safetensors` | the model of the lowest validation loss, under its PyTorch names |
//! | `optim.safetensors` | `param.{i}`: the current parameter buffers; `first.{i}`, `second.{i}`: the optimiser's moments |
//! | `state.json` | `{"loop": LoopState, "order": [...], "optimizer_steps": n, "run": {...}}` |
//!
//! `run` is the task's own record of its inputs (data files and their fingerprints), so that
//! `--resume DIR` needs nothing else.

use super::{LoopSettings, LoopState, Resume, Snapshot};
use crate::error::{Error, Result};
use crate::io::{write_atomically, write_safetensors, NamedTensor, TensorFile};
use crate::optim::Optimizer;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything a resumable checkpoint of the shared loop holds, borrowed from a run.
pub struct LoopCheckpoint<'a> {
    /// `config.json`: format, version, task, model and training settings.
    pub config: serde_json::Value,
    /// The model of the lowest validation loss, under its PyTorch names (`model.safetensors`).
    pub best: Vec<NamedTensor<'a>>,
    /// The current parameter buffers, in the task's order ([`super::Task::params_and_grads`]).
    pub current: Vec<&'a [f32]>,
    /// The task's order of training examples in the current pass.
    pub order: &'a [usize],
    /// The loop's state and the optimiser.
    pub snapshot: Snapshot<'a>,
    /// The task's record of its inputs, stored as `run` in `state.json`.
    pub run: serde_json::Value,
}

/// A model whose parameters go into the loop's checkpoints ([`LoopCheckpoint::of`]).
pub trait Checkpointed {
    /// The parameters under their PyTorch names (`model.safetensors`).
    fn named_tensors(&self) -> Vec<NamedTensor<'_>>;
    /// The parameter buffers in the task's order ([`super::Task::params_and_grads`]).
    fn buffers(&self) -> Vec<&[f32]>;
}

impl<'a> LoopCheckpoint<'a> {
    /// The checkpoint of a run: `best` under its names, and `current`'s buffers, `order` and
    /// `snapshot` to continue from; `records` are `config.json` and the run's record of its
    /// inputs.
    pub fn of<M: Checkpointed>(
        best: &'a M,
        current: &'a M,
        order: &'a [usize],
        snapshot: Snapshot<'a>,
        records: (&serde_json::Value, &serde_json::Value),
    ) -> Self {
        LoopCheckpoint {
            config: records.0.clone(),
            best: best.named_tensors(),
            current: current.buffers(),
            order,
            snapshot,
            run: records.1.clone(),
        }
    }
}

/// Where a task's checkpoints go (nowhere for a run that saves none), with the `config.json`
/// and the record of its inputs they carry.
pub struct Saving<'a> {
    /// Saves a checkpoint offered after a validation ([`super::Control::on_checkpoint`]).
    pub save: Option<&'a mut super::SaveCheckpoint<'a>>,
    /// `config.json`: format, version, task, model and training settings.
    pub config: serde_json::Value,
    /// The run's record of its inputs ([`super::Control::run_record`]).
    pub run: serde_json::Value,
}

impl Saving<'_> {
    /// A run that saves no checkpoints.
    pub fn none() -> Self {
        Saving {
            save: None,
            config: serde_json::Value::Null,
            run: serde_json::Value::Null,
        }
    }

    /// What a task's [`super::Task::checkpoint`] does: offers `save` (when the run saves any)
    /// the checkpoint at `at`, with the model of the lowest validation loss so far (`best`;
    /// `model` before any validation chose one) and `model` with `order` to continue from.
    ///
    /// # Errors
    /// What `save` returns.
    pub fn offer<M: Checkpointed>(
        &mut self,
        (model, best): (&M, Option<&M>),
        order: &[usize],
        at: &Snapshot<'_>,
    ) -> Result<()> {
        match self.save.as_deref_mut() {
            Some(save) => save(&LoopCheckpoint::of(
                best.unwrap_or(model),
                model,
                order,
                *at,
                (&self.config, &self.run),
            )),
            None => Ok(()),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    #[serde(rename = "loop")]
    loop_state: LoopState,
    order: Vec<usize>,
    optimizer_steps: u64,
    run: serde_json::Value,
}

impl LoopCheckpoint<'_> {
    /// Writes `config.json`, `model.safetensors`, `optim.safetensors` and `state.json` into `dir` (a run
    /// directory's temporary copy: [`crate::rundir::RunDir::save`]).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file that could not be written.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let config = format!("{:#}\n", self.config);
        write_atomically(&dir.join("config.json"), config.as_bytes())?;
        write_safetensors(dir.join("model.safetensors"), &self.best)?;
        let (steps, moments) = self.snapshot.optimizer.state();
        let mut tensors: Vec<NamedTensor<'_>> = self
            .current
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("param.{i}"), vec![p.len()], *p))
            .collect();
        tensors.extend(moments.into_iter().map(|(n, b)| (n, vec![b.len()], b)));
        write_safetensors(dir.join("optim.safetensors"), &tensors)?;
        let state = StateFile {
            loop_state: self.snapshot.state.clone(),
            order: self.order.to_vec(),
            optimizer_steps: steps,
            run: self.run.clone(),
        };
        let json = serde_json::to_string_pretty(&state).expect("a loop state serialises");
        write_atomically(&dir.join("state.json"), format!("{json}\n").as_bytes())
    }
}

/// What [`read`] restores: the loop's resume point, the current parameters and the order of
/// examples (the best model is the task's to load from `model.safetensors`).
pub struct Restored {
    /// The loop's state and optimiser, for [`super::run_from`].
    pub resume: Resume,
    /// The current parameter buffers, in the task's order.
    pub current: Vec<Vec<f32>>,
    /// The order of training examples in the current pass.
    pub order: Vec<usize>,
    /// The task's record of its inputs.
    pub run: serde_json::Value,
}

/// Reads `state.json` alone: the task's record of its inputs (`run`), to find its data again
/// before [`read`] restores the rest.
///
/// # Errors
/// [`Error::Io`] or [`Error::Format`] naming `DIR/state.json`.
pub fn read_run(dir: &Path) -> Result<serde_json::Value> {
    Ok(read_state(dir)?.run)
}

fn read_state(dir: &Path) -> Result<StateFile> {
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::format(
                &path,
                "is missing: the directory holds no run to resume (a run saves it at its first validation)",
            )
        } else {
            Error::io(&path, e)
        }
    })?;
    serde_json::from_str(&text)
        .map_err(|e| Error::format(&path, format!("not a recur training state ({e})")))
}

/// Reads the resume point of the run in `dir` for a task whose parameter buffers have `sizes`
/// and whose training examples are `examples` (the order must be a permutation of them), under
/// `settings` (the optimiser's kind).
///
/// # Errors
/// [`Error::Io`] or [`Error::Format`] naming the file and the field or tensor that is missing or
/// does not fit.
pub fn read(
    dir: &Path,
    settings: &LoopSettings,
    sizes: &[usize],
    examples: &[usize],
) -> Result<Restored> {
    let state = read_state(dir)?;
    let state_path = dir.join("state.json");
    let mut sorted = state.order.clone();
    sorted.sort_unstable();
    let mut expected = examples.to_vec();
    expected.sort_unstable();
    if sorted != expected {
        return Err(Error::format(
            &state_path,
            format!(
                "order holds {} examples that are not the {} training examples of the data (was the data changed?)",
                state.order.len(),
                examples.len()
            ),
        ));
    }
    let optim_path = dir.join("optim.safetensors");
    let mut file = TensorFile::read(&optim_path)?;
    let current = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| file.take(&format!("param.{i}"), &[n]))
        .collect::<Result<Vec<_>>>()?;
    let mut optimizer = Optimizer::new(settings.optimizer.clone(), sizes)?;
    optimizer.load_state(state.optimizer_steps, |name, n| file.take(name, &[n]))?;
    file.finish()?;
    state.loop_state.check(u64::MAX).map_err(|e| match e {
        Error::Config(m) => Error::format(&state_path, format!("loop: {m}")),
        e => e,
    })?;
    Ok(Restored {
        resume: Resume {
            state: state.loop_state,
            optimizer,
        },
        current,
        order: state.order,
        run: state.run,
    })
}
