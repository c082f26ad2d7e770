//! Reading an acoustic-model checkpoint (`recur transcribe train`): `config.json` with
//! `task: "transcribe"`, the model's configuration and the settings it was trained with, and
//! `model.safetensors` under the names of [`super::model`]'s PyTorch module.

use super::model::{AcousticConfig, AcousticModel, TASK};
use super::train::TranscribeSettings;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct CheckpointFile {
    format: String,
    version: u64,
    model: AcousticConfig,
    #[serde(default)]
    training: Option<TranscribeSettings>,
}

/// The parsed `config.json` of the checkpoint in `dir`, checked to be an acoustic model's.
///
/// # Errors
/// [`Error::Format`] naming `config.json` when it is not JSON or not an acoustic model's.
pub fn read_config(dir: &Path) -> Result<serde_json::Value> {
    crate::checkpoint::check_dir(dir)?;
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let text = crate::input::strip_bom(&text);
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::format(&path, format!("not JSON ({e})")))?;
    if v.get("task").and_then(|t| t.as_str()) != Some(TASK) {
        return Err(Error::format(
            &path,
            format!("not an acoustic model (task is not {TASK:?})"),
        ));
    }
    Ok(v)
}

/// Loads the acoustic model of checkpoint `dir`. Every field is checked (the configuration by
/// [`AcousticConfig::validate`], the tensors' shapes against it before the model is
/// allocated); errors name the file and the field or tensor.
///
/// # Errors
/// [`Error::Io`] or [`Error::Format`] naming the file that is missing or does not fit.
pub fn load(dir: &Path) -> Result<AcousticModel> {
    let path = dir.join("config.json");
    let file: CheckpointFile = serde_json::from_value(read_config(dir)?)
        .map_err(|e| Error::format(&path, format!("not a recur acoustic model config ({e})")))?;
    if file.format != "recur" || file.version != 1 {
        return Err(Error::format(
            &path,
            format!(
                "format {:?} version {}, expected \"recur\" 1",
                file.format, file.version
            ),
        ));
    }
    let config = file.model;
    config
        .validate()
        .map_err(|e| Error::format(&path, format!("model: {}", message(&e))))?;
    if let Some(t) = &file.training {
        let fits = t.hidden == config.hidden_size
            && t.layers == config.num_layers
            && t.cell == config.cell
            && t.bidirectional == config.bidirectional
            && t.unit == config.alphabet.unit;
        if !fits {
            return Err(Error::format(
                &path,
                "training.hidden, layers, cell, bidirectional or unit do not match the model section",
            ));
        }
    }
    let tensors = crate::io::TensorFile::read(dir.join("model.safetensors"))?;
    tensors.check_shapes(
        &config.tensor_shapes(),
        &format!(
            "{}'s hidden_size {}, num_layers {}, input_size {} and {} symbols",
            path.display(),
            config.hidden_size,
            config.num_layers,
            config.input_size,
            config.alphabet.symbols.len()
        ),
    )?;
    let mut model = AcousticModel::zeros(config).map_err(|e| Error::format(&path, message(&e)))?;
    model.load_tensors(tensors)?;
    Ok(model)
}

fn message(e: &Error) -> String {
    match e {
        Error::Config(m) => m.clone(),
        other => other.to_string(),
    }
}
