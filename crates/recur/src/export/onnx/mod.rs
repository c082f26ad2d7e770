//! ONNX export of recur's models: the character model, the classifier (and regressor) and the
//! forecaster, each as one graph of ONNX's native `RNN`, `LSTM` and `GRU` operators (opset
//! [`OPSET`], IR version [`IR_VERSION`]) that onnxruntime, tract and other ONNX runtimes load.
//!
//! Every graph is time-major, as ONNX's recurrent operators are (`T` steps, `N` sequences, both
//! free per call), and carries its state in and out, so that a streaming caller can feed one
//! chunk after another:
//!
//! | model | inputs | outputs |
//! |---|---|---|
//! | character model | `tokens [T, N]` int64, `lengths [N]` int64, `h0`, `c0` (LSTM) | `logits`, `probs [T, N, V]`, `h_n`, `c_n` |
//! | classifier | `features [T, N, dims·frame_size]` f32 (raw: the scaling is in the graph) or `tokens [T, N]` int64, `lengths`, `h0`, `c0` | `logits`, `probs [N, C]` (a regressor: `prediction [N]`), `h_n`, `c_n` |
//! | forecaster | `window [T, N, inputs]` f32 (scaled as in training), `h0`, `c0` | `forecast [N, horizon]` (scaled), `h_n`, `c_n` |
//!
//! States are PyTorch's `[layers · directions, N, H]`; pass zeros to start. `lengths` (each in
//! `1..=T`) becomes every recurrent node's `sequence_lens`: outputs past a sequence's end are
//! zero, `h_n` holds its last valid step, the reverse direction starts there, and mean and max
//! pooling count only valid steps, as recur computes. With [`ExportOptions::lengths`] off the
//! graph has no `lengths` input and every sequence runs all `T` steps (for runtimes without
//! `sequence_lens`, such as tract). The forecaster never has one: its windows are of equal length.
//!
//! `metadata_props` hold what a caller needs around the graph: `recur.version`, `recur.task`,
//! `recur.model` (the model's configuration as JSON), the vocabulary (`recur.vocab`, and
//! `recur.words` for a classifier of words), the class labels (`recur.classes`), the scaling
//! (`recur.scaling`: a numeric classifier's, applied inside the graph; a regressor's target
//! scaling, also applied; a forecaster's, which the caller applies to the window and undoes on
//! the forecast along with the series' transform), and from a checkpoint directory its whole
//! `config.json` but the training settings (`recur.config`).
//!
//! Not exported yet: the translation model (encoder and attention decoder) and the long-range
//! task models; speech models are not covered either.
//!
//! ```
//! use recur::charlm::model::{CharLm, CharLmConfig};
//! use recur::export::onnx::{char_lm, ExportOptions};
//! use recur::{CellType, Rng};
//! let config = CharLmConfig {
//!     cell: CellType::Lstm, nonlinearity: None, vocab_size: 3, embed_dim: 4,
//!     hidden_size: 5, num_layers: 2, dropout: 0.0, bias: true,
//! };
//! let model = CharLm::new(config, &mut Rng::new(0))?;
//! let vocab = ["a", "b", "c"].map(String::from);
//! let bytes = char_lm(&model, &vocab, &ExportOptions::default())?;
//! assert!(!bytes.is_empty());
//! # Ok::<(), recur::Error>(())
//! ```

mod graph;
mod models;
pub mod proto;
mod recurrent;

use crate::charlm::model::CharLm;
use crate::checkpoint::{Checkpoint, Task};
use crate::classify::model::Classifier;
use crate::error::{Error, Result};
use crate::forecast::model::Forecaster;
use prost::Message;
use proto::{ModelProto, OperatorSetIdProto, StringStringEntryProto};
use std::path::Path;

/// The ONNX operator set the graphs use.
pub const OPSET: i64 = 17;
/// The ONNX IR version of the files (the one that goes with opset 17).
pub const IR_VERSION: i64 = 8;

/// Choices of an export.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// The graph takes `lengths [N]`, each sequence's valid steps (ONNX's `sequence_lens`).
    /// Without it every sequence runs all `T` steps. Default: on. The forecaster ignores it.
    pub lengths: bool,
    /// More `metadata_props` entries, written after recur's own.
    pub metadata: Vec<(String, String)>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            lengths: true,
            metadata: Vec::new(),
        }
    }
}

/// The ONNX file of a character model and its vocabulary (one string per token id).
///
/// # Errors
/// [`Error::Input`] when `vocab` does not hold one entry per token of the model.
pub fn char_lm(model: &CharLm, vocab: &[String], options: &ExportOptions) -> Result<Vec<u8>> {
    let c = model.config();
    if vocab.len() != c.vocab_size {
        return Err(Error::Input(format!(
            "vocab: {} entries for a model of {} tokens",
            vocab.len(),
            c.vocab_size
        )));
    }
    let meta = vec![
        ("recur.task", "char-lm".to_string()),
        ("recur.model", to_json(c)),
        ("recur.vocab", to_json(&vocab)),
    ];
    let doc = "recur character model: tokens [T, N] -> next-character logits and probs [T, N, V]";
    Ok(finish(models::char_lm(model, options), doc, meta, options))
}

/// The ONNX file of a classifier or regressor, its feature scaling inside the graph.
///
/// # Errors
/// None at present; the signature leaves room for models the export does not cover.
pub fn classifier(model: &Classifier, options: &ExportOptions) -> Result<Vec<u8>> {
    let c = model.config();
    let task = if c.target.is_some() {
        "regress"
    } else {
        "classify"
    };
    let mut meta = vec![
        ("recur.task", task.to_string()),
        ("recur.model", to_json(c)),
    ];
    if c.dims > 0 {
        let scaling = serde_json::json!({"mean": c.mean, "std": c.std, "applied": "in the graph"});
        meta.push(("recur.scaling", scaling.to_string()));
    } else {
        match &c.words {
            Some(w) => meta.push(("recur.words", to_json(w))),
            None => {
                let vocab: Vec<String> = c.vocab.iter().map(|ch| ch.to_string()).collect();
                meta.push(("recur.vocab", to_json(&vocab)));
            }
        }
        meta.push(("recur.unknown_token", c.token_count().to_string()));
    }
    match &c.target {
        Some(t) => meta.push((
            "recur.target_scaling",
            serde_json::json!({"mean": t.mean, "std": t.std, "applied": "in the graph"})
                .to_string(),
        )),
        None => meta.push(("recur.classes", to_json(&c.classes))),
    }
    let doc = "recur sequence classifier: one prediction per sequence";
    Ok(finish(
        models::classifier(model, options),
        doc,
        meta,
        options,
    ))
}

/// The ONNX file of a forecaster. Its window and forecast are in the model's scaled units: put
/// the checkpoint's scaling and transform into `options.metadata` ([`checkpoint`] does).
///
/// # Errors
/// None at present; the signature leaves room for models the export does not cover.
pub fn forecaster(model: &Forecaster, options: &ExportOptions) -> Result<Vec<u8>> {
    let meta = vec![
        ("recur.task", "forecast".to_string()),
        ("recur.model", to_json(model.config())),
    ];
    let doc = "recur forecaster: a scaled window [T, N, inputs] -> the next horizon values";
    Ok(finish(models::forecaster(model), doc, meta, options))
}

/// The ONNX file of the model in checkpoint directory `dir`, whatever its task, with the
/// checkpoint's `config.json` (less its training settings) as metadata `recur.config`.
///
/// # Errors
/// As [`crate::checkpoint::open`] for a directory that is not a loadable checkpoint;
/// [`Error::Input`] for a translation model, which is not exported yet.
pub fn checkpoint(dir: &Path, options: &ExportOptions) -> Result<Vec<u8>> {
    let not_yet = || {
        Error::Input(format!(
            "{}: translation models are not exported to ONNX yet (character models, classifiers, regressors and forecasters are)",
            dir.display()
        ))
    };
    if crate::checkpoint::task(dir)? == Task::Translate {
        return Err(not_yet());
    }
    let mut options = options.clone();
    let (config, scaling) = config_metadata(dir)?;
    options.metadata.insert(0, ("recur.config".into(), config));
    match crate::checkpoint::open(dir)? {
        Checkpoint::CharLm(lm) => char_lm(&lm.model, &lm.config.vocab, &options),
        Checkpoint::Classifier(c) | Checkpoint::Regressor(c) => classifier(&c, &options),
        Checkpoint::Forecaster(f) => {
            if let Some(scaling) = scaling {
                options
                    .metadata
                    .insert(1, ("recur.scaling".into(), scaling));
            }
            forecaster(&f.model, &options)
        }
        Checkpoint::Translator(_) => Err(not_yet()),
    }
}

/// [`checkpoint`] written to `out` atomically (a temporary file beside it, then a rename).
///
/// # Errors
/// As [`checkpoint`]; [`Error::Io`] naming `out` when it cannot be written.
pub fn write_checkpoint(dir: &Path, out: &Path, options: &ExportOptions) -> Result<()> {
    let bytes = checkpoint(dir, options)?;
    crate::io::write_atomically(out, &bytes)
}

/// `config.json` of `dir` without `training`, and a forecaster's scaling (`scaling`, or
/// `series` for one trained on many), as JSON text.
fn config_metadata(dir: &Path) -> Result<(String, Option<String>)> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut v: serde_json::Value = serde_json::from_str(crate::input::strip_bom(&text))
        .map_err(|e| Error::format(&path, format!("not JSON ({e})")))?;
    let scaling = v
        .get("scaling")
        .or_else(|| v.get("series"))
        .map(|s| s.to_string());
    if let Some(map) = v.as_object_mut() {
        map.remove("training");
    }
    Ok((v.to_string(), scaling))
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The file: the graph with recur's metadata and the caller's.
fn finish(
    graph: graph::Graph,
    doc: &str,
    meta: Vec<(&str, String)>,
    options: &ExportOptions,
) -> Vec<u8> {
    let mut props = vec![StringStringEntryProto {
        key: "recur.version".into(),
        value: env!("CARGO_PKG_VERSION").into(),
    }];
    props.extend(meta.into_iter().map(|(k, v)| StringStringEntryProto {
        key: k.into(),
        value: v,
    }));
    props.extend(
        options
            .metadata
            .iter()
            .map(|(k, v)| StringStringEntryProto {
                key: k.clone(),
                value: v.clone(),
            }),
    );
    let model = ModelProto {
        ir_version: IR_VERSION,
        producer_name: "recur".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        domain: String::new(),
        model_version: 1,
        doc_string: doc.into(),
        graph: Some(graph.finish("recur", doc)),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        metadata_props: props,
    };
    model.encode_to_vec()
}
