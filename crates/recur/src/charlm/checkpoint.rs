//! Char-LM checkpoints (DESIGN contract): a directory with `config.json`, `model.safetensors`
//! (PyTorch `state_dict` names), and for resuming, `optim.safetensors` and `state.json`.

use super::model::{CharLm, CharLmConfig};
use super::train::TrainSettings;
use super::vocab::Vocab;
use crate::error::{Error, Result};
use crate::io::{write_atomically, write_safetensors, TensorFile};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format name in `config.json`.
pub const FORMAT: &str = "recur";
/// Format version in `config.json`.
pub const VERSION: u32 = 1;
/// Task name of character language models.
pub const TASK: &str = "char-lm";

/// `config.json` of a char-LM checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointConfig {
    /// Always `"recur"`.
    pub format: String,
    /// Format version, 1.
    pub version: u32,
    /// `"char-lm"`.
    pub task: String,
    /// Architecture.
    pub model: CharLmConfig,
    /// One single-character string per token.
    pub vocab: Vec<String>,
    /// How the model was trained (absent for a hand-written config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainSettings>,
}

/// A model and its vocabulary, loaded from a checkpoint directory.
#[derive(Debug)]
pub struct Loaded {
    /// The parsed `config.json`.
    pub config: CheckpointConfig,
    /// The model.
    pub model: CharLm,
    /// The vocabulary.
    pub vocab: Vocab,
}

/// Reads `dir/config.json` and checks that it describes a char-LM checkpoint.
pub fn read_config(dir: &Path) -> Result<CheckpointConfig> {
    let path = dir.join("config.json");
    crate::checkpoint::check_dir(dir)?;
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let config: CheckpointConfig = serde_json::from_str(&text)
        .map_err(|e| Error::format(&path, format!("not a recur char-lm config ({e})")))?;
    if config.format != FORMAT || config.task != TASK {
        return Err(Error::format(
            &path,
            format!(
                "format {:?} task {:?}, expected {FORMAT:?} {TASK:?}",
                config.format, config.task
            ),
        ));
    }
    if config.version != VERSION {
        return Err(Error::format(
            &path,
            format!(
                "version {} is not supported (expected {VERSION})",
                config.version
            ),
        ));
    }
    config
        .model
        .validate()
        .map_err(|e| Error::format(&path, format!("model: {}", config_message(&e))))?;
    if let Some(t) = &config.training {
        t.validate()
            .map_err(|e| Error::format(&path, format!("training: {}", config_message(&e))))?;
    }
    if config.vocab.len() != config.model.vocab_size {
        return Err(Error::format(
            &path,
            format!(
                "vocab lists {} characters but model.vocab_size is {}",
                config.vocab.len(),
                config.model.vocab_size
            ),
        ));
    }
    Ok(config)
}

/// The message of a configuration error without its "invalid configuration" prefix, for errors
/// that already name the file.
pub(crate) fn config_message(e: &Error) -> String {
    match e {
        Error::Config(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Loads the model and vocabulary of checkpoint `dir`. Every field of `config.json` is checked
/// (sizes against [`crate::MAX_PARAMETERS`], the vocabulary against `vocab_size`), and the
/// tensors of `model.safetensors` against the configuration, before the model is allocated.
pub fn load(dir: &Path) -> Result<Loaded> {
    let config = read_config(dir)?;
    let path = dir.join("config.json");
    let vocab =
        Vocab::from_strings(&config.vocab).map_err(|e| Error::format(&path, config_message(&e)))?;
    let file = TensorFile::read(dir.join("model.safetensors"))?;
    let m = &config.model;
    file.check_shapes(
        &m.tensor_shapes(),
        &format!(
            "{}'s hidden_size {}, embed_dim {}, num_layers {} and vocab_size {}",
            path.display(),
            m.hidden_size,
            m.embed_dim,
            m.num_layers,
            m.vocab_size
        ),
    )?;
    let mut model = CharLm::zeros(config.model.clone())
        .map_err(|e| Error::format(&path, config_message(&e)))?;
    model.load_tensors(file)?;
    Ok(Loaded {
        config,
        model,
        vocab,
    })
}

/// Writes `config.json` and `model.safetensors` into `dir` (an existing directory).
pub fn write_model(
    dir: &Path,
    model: &CharLm,
    vocab: &Vocab,
    training: Option<&TrainSettings>,
) -> Result<()> {
    let config = CheckpointConfig {
        format: FORMAT.into(),
        version: VERSION,
        task: TASK.into(),
        model: model.config().clone(),
        vocab: vocab.to_strings(),
        training: training.cloned(),
    };
    write_safetensors(dir.join("model.safetensors"), &model.named_tensors())?;
    let json = serde_json::to_string_pretty(&config).expect("config serialises");
    write_atomically(&dir.join("config.json"), format!("{json}\n").as_bytes())
}
