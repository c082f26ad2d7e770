//! One entry point for every checkpoint directory: reads its `config.json`, tells its task, and
//! loads the model with every field and tensor checked (`docs/CHECKPOINT.md`).
//!
//! ```no_run
//! use recur::checkpoint::{open, Checkpoint};
//! match open(std::path::Path::new("runs/char-lm/best"))? {
//!     Checkpoint::CharLm(lm) => println!("a character model of {} characters", lm.vocab.len()),
//!     Checkpoint::Classifier(c) => println!("a classifier of {} classes", c.config().classes.len()),
//!     Checkpoint::Regressor(_) => println!("a sequence regressor"),
//!     Checkpoint::Forecaster(f) => println!("a forecaster of horizon {}", f.model.config().horizon),
//!     Checkpoint::Translator(t) => println!("a translation model of {} target tokens", t.vocab.target().size()),
//!     Checkpoint::Acoustic(a) => println!("an acoustic model of hidden size {}", a.config().hidden_size),
//! }
//! # Ok::<(), recur::Error>(())
//! ```

use crate::error::{Error, Result};
use std::path::Path;

/// The task a checkpoint was trained for (`config.json`'s `task`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// `"char-lm"`: a character-level language model ([`crate::charlm`]).
    CharLm,
    /// `"classify"`: a sequence classifier ([`crate::classify`]).
    Classify,
    /// `"regress"`: a sequence regressor ([`crate::classify::regress`]).
    Regress,
    /// `"forecast"`: a forecaster ([`crate::forecast`]).
    Forecast,
    /// `"translate"`: a translation model ([`crate::translate::translator`]).
    Translate,
    /// `"transcribe"`: a CTC acoustic model ([`crate::speech`]).
    Transcribe,
}

/// A loaded checkpoint of any task.
#[derive(Debug)]
pub enum Checkpoint {
    /// A character model with its vocabulary.
    CharLm(Box<crate::charlm::checkpoint::Loaded>),
    /// A classifier, with its classes and feature scaling.
    Classifier(Box<crate::classify::model::Classifier>),
    /// A regressor: the classifier's encoder with one output and its target scaling
    /// ([`crate::classify::model::ClassifierConfig::target`]).
    Regressor(Box<crate::classify::model::Classifier>),
    /// A forecaster and the settings it was trained with.
    Forecaster(Box<crate::forecast::model::LoadedForecaster>),
    /// An encoder-decoder with its vocabularies.
    Translator(Box<crate::translate::translator::Translator>),
    /// A CTC acoustic model with its labels and feature settings.
    Acoustic(Box<crate::speech::model::AcousticModel>),
}

/// Checks that `dir` is a directory, with a message that helps when it is the `config.json`
/// inside one or does not exist.
///
/// # Errors
/// [`Error::Format`] naming `dir`.
pub fn check_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        Ok(())
    } else if dir.is_file() {
        Err(Error::format(
            dir,
            "is a file; a checkpoint is the directory that holds config.json and model.safetensors",
        ))
    } else {
        Err(Error::format(dir, "no such checkpoint directory"))
    }
}

/// The task of the checkpoint in `dir`, from its `config.json`.
///
/// # Errors
/// [`Error::Io`] when `config.json` cannot be read; [`Error::Format`] when it is not JSON, is
/// not a recur checkpoint, or names an unknown task.
pub fn task(dir: &Path) -> Result<Task> {
    let path = dir.join("config.json");
    crate::checkpoint::check_dir(dir)?;
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let text = crate::input::strip_bom(&text);
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::format(&path, format!("not JSON ({e})")))?;
    if v.get("format").and_then(|f| f.as_str()) != Some("recur") {
        return Err(Error::format(
            &path,
            "not a recur checkpoint (format is not \"recur\")",
        ));
    }
    match v.get("task").and_then(|t| t.as_str()) {
        Some("char-lm") => Ok(Task::CharLm),
        Some("classify") => Ok(Task::Classify),
        Some("regress") => Ok(Task::Regress),
        Some("forecast") => Ok(Task::Forecast),
        Some("translate") => Ok(Task::Translate),
        Some(crate::speech::model::TASK) => Ok(Task::Transcribe),
        Some(other) => Err(Error::format(
            &path,
            format!(
                "task {other:?} is not one of \"char-lm\", \"classify\", \"regress\", \"forecast\", \"translate\", \"transcribe\""
            ),
        )),
        None => Err(Error::format(&path, "field 'task' is missing")),
    }
}

/// Loads the checkpoint in `dir`, whatever its task.
///
/// # Errors
/// As [`task`], then as the task's loader: a field or tensor that does not fit names the file
/// and the field or tensor.
pub fn open(dir: &Path) -> Result<Checkpoint> {
    Ok(match task(dir)? {
        Task::CharLm => Checkpoint::CharLm(Box::new(crate::charlm::checkpoint::load(dir)?)),
        Task::Classify => Checkpoint::Classifier(Box::new(crate::classify::model::load(dir)?)),
        Task::Regress => Checkpoint::Regressor(Box::new(crate::classify::model::load(dir)?)),
        Task::Forecast => Checkpoint::Forecaster(Box::new(crate::forecast::model::load(dir)?)),
        Task::Translate => Checkpoint::Translator(Box::new(
            crate::translate::translator::Translator::load(dir)?,
        )),
        Task::Transcribe => Checkpoint::Acoustic(Box::new(crate::speech::checkpoint::load(dir)?)),
    })
}
