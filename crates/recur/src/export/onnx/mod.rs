//! ONNX export of recur's models: the character model, the classifier (and regressor), the
//! forecaster and the acoustic model, each as one graph, and the translation model as two (its
//! encoder and one decoder step), of ONNX's native `RNN`, `LSTM` and `GRU` operators (opset
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
//! | acoustic model | `features [T, N, F]` f32 (raw: scaling and frame stacking in the graph), `lengths [N]` (frames), `h0`, `c0` | `log_probs [T', N, C]` (log-softmax, blank = 0), `out_lengths [N]`, `h_n`, `c_n` |
//! | translation encoder | `tokens [S, N]` int64, `lengths [N]` | `encoder_outputs [S, N, H]`, `h0`, `c0` `[layers, N, H]` |
//! | translation decoder step | `prev_token [N]` int64, `h0`, `c0`, `encoder_outputs`, `src_lengths [N]` | `log_probs [N, V]`, `h_n`, `c_n`, `attention [N, S]` |
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
//! The acoustic model takes raw feature frames (`F` = its `input_size`) and each utterance's
//! frame count; inside, frames are scaled by the training mean and deviation, frames past an
//! utterance's end are zeroed, and `frame_stack` consecutive frames are put side by side into
//! one step (the last step padded with zero frames), so `T' = ⌈T / frame_stack⌉` and
//! `out_lengths = ⌈lengths / frame_stack⌉`; a streaming caller feeds chunks of a multiple of
//! `frame_stack` frames. Its metadata: `recur.labels` (class id → symbol, `<blank>` first),
//! `recur.blank`, `recur.unit`, `recur.frame_stack`, `recur.scaling`, and from a checkpoint the
//! feature settings `recur.audio` that turn a recording into frames.
//!
//! The translation model is exported as two graphs because deployment runs the encoder once per
//! batch of sentences and the decoder once per output token (as Marian's ONNX exports are split):
//! the encoder gives the encoder outputs and the decoder's initial state (each layer's final
//! forward and reverse states side by side, recur's bridge); each decoder step reads the
//! previous token (`<s>` first) and the state, attends over the encoder outputs (Luong
//! attention without input feeding, the model's score), and gives the log-softmax of the
//! generator over `tanh(combine([context; h]))` with padding and `<s>` at `-inf` (recur's
//! search never outputs them), the new state and the attention weights. Greedy decoding is the
//! argmax of `log_probs` step after step until `</s>` or
//! `⌈max_len_ratio · source tokens⌉ + max_len_extra` tokens (`recur.decoding`). The metadata
//! hold the special token ids (`recur.special_tokens`: `<pad>` 0, `<s>` 1, `</s>` 2, `<unk>`
//! 3) and the tokenizers (`recur.source_tokenizer` in the encoder, `recur.target_tokenizer` in
//! the decoder), each the Hugging Face `tokenizers` JSON recur learned: a caller encodes the
//! source without special tokens and decodes the output leaving out `<pad>`, `<s>` and `</s>`.
//!
//! Not exported: the long-range task models.
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

mod acoustic;
mod graph;
mod models;
pub mod proto;
mod recurrent;
mod translation;

use crate::charlm::model::CharLm;
use crate::checkpoint::Checkpoint;
use crate::classify::model::Classifier;
use crate::error::{Error, Result};
use crate::forecast::model::Forecaster;
use crate::seq2seq::{DecodeOptions, Seq2Seq};
use crate::speech::model::{AcousticModel, TASK as TRANSCRIBE};
use crate::speech::BLANK;
use crate::translate::subword::{BOS, EOS, PAD, UNK};
use crate::translate::vocabularies::Vocabularies;
use prost::Message;
use proto::{ModelProto, OperatorSetIdProto, StringStringEntryProto};
use std::path::{Path, PathBuf};

/// The ONNX operator set the graphs use.
pub const OPSET: i64 = 17;
/// The ONNX IR version of the files (the one that goes with opset 17).
pub const IR_VERSION: i64 = 8;

/// Choices of an export.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// The graph takes `lengths [N]`, each sequence's valid steps (ONNX's `sequence_lens`).
    /// Without it every sequence runs all `T` steps. Default: on. The forecaster ignores it; a
    /// translation model's decoder step always takes `src_lengths` (its attention's mask).
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

/// The two files of a translation model: the encoder, run once per batch of sentences, and
/// the decoder step, run once per output token.
#[derive(Clone, Debug)]
pub struct TranslationFiles {
    /// `tokens [S, N]`, `lengths [N]` → `encoder_outputs [S, N, H]`, `h0` (`c0`).
    pub encoder: Vec<u8>,
    /// `prev_token [N]`, `h0` (`c0`), `encoder_outputs`, `src_lengths` → `log_probs [N, V]`,
    /// `h_n` (`c_n`), `attention [N, S]`.
    pub decoder: Vec<u8>,
}

/// The ONNX files of a translation model (see the module docs) and its vocabularies, whose
/// tokenizers go into the metadata: the source's into the encoder, the target's into the
/// decoder. `options.lengths` applies to the encoder; the decoder always takes `src_lengths`.
///
/// # Errors
/// [`Error::Input`] when a vocabulary's size differs from the model's.
pub fn translation(
    model: &Seq2Seq<f32>,
    vocab: &Vocabularies,
    options: &ExportOptions,
) -> Result<TranslationFiles> {
    let c = model.config();
    for (side, v, size) in [
        ("source", vocab.source(), c.src_vocab),
        ("target", vocab.target(), c.tgt_vocab),
    ] {
        if v.size() != size {
            return Err(Error::Input(format!(
                "{side} vocabulary: {} tokens for a model of {size}",
                v.size()
            )));
        }
    }
    let opts = DecodeOptions::new(1, BOS, EOS);
    let special = serde_json::json!({"pad": PAD, "bos": BOS, "eos": EOS, "unk": UNK});
    let decoding = serde_json::json!({
        "bos": BOS,
        "eos": EOS,
        "max_len_ratio": opts.max_len_ratio,
        "max_len_extra": opts.max_len_extra,
        "greedy": "h0/c0 from the encoder; prev_token = bos; each step the argmax of log_probs (ties: the lower id) until eos or ceil(max_len_ratio * source tokens) + max_len_extra tokens",
    });
    let tokenization = "recur.source_tokenizer and recur.target_tokenizer are Hugging Face \
        tokenizers JSON: tokens = Tokenizer.from_str(json).encode(text, add_special_tokens=False).ids \
        (no <s>/</s> on the source); text = decode of the output ids without pad, bos and eos";
    let common = |part: &str| {
        vec![
            ("recur.task", "translate".to_string()),
            ("recur.part", part.to_string()),
            ("recur.model", to_json(c)),
            ("recur.special_tokens", special.to_string()),
            ("recur.decoding", decoding.to_string()),
            ("recur.shared_vocab", vocab.is_shared().to_string()),
            ("recur.tokenization", tokenization.to_string()),
        ]
    };
    let mut meta = common("encoder");
    meta.push((
        "recur.source_tokenizer",
        vocab.source().to_json().to_string(),
    ));
    let doc = "recur translation encoder: source tokens [S, N] -> encoder outputs and the decoder's initial state";
    let encoder = finish(translation::encoder(model, options), doc, meta, options);
    let mut meta = common("decoder");
    meta.push((
        "recur.target_tokenizer",
        vocab.target().to_json().to_string(),
    ));
    let doc = "recur translation decoder step: previous token [N] and state -> next-token log-probabilities [N, V], new state, attention";
    let decoder = finish(
        translation::decoder_step(model, BOS, EOS),
        doc,
        meta,
        options,
    );
    Ok(TranslationFiles { encoder, decoder })
}

/// The ONNX file of an acoustic model (speech recognition with CTC): raw feature frames in,
/// scaled and stacked `frame_stack` to a step inside the graph, per-step log-probabilities out.
///
/// # Errors
/// None at present; the signature leaves room for models the export does not cover.
pub fn acoustic(model: &AcousticModel, options: &ExportOptions) -> Result<Vec<u8>> {
    let c = model.config();
    let mut labels = vec!["<blank>".to_string()];
    labels.extend(c.alphabet.symbols.iter().cloned());
    let scaling = serde_json::json!({"mean": c.mean, "std": c.std, "applied": "in the graph"});
    let meta = vec![
        ("recur.task", TRANSCRIBE.to_string()),
        ("recur.model", to_json(c)),
        ("recur.labels", to_json(&labels)),
        ("recur.blank", BLANK.to_string()),
        (
            "recur.unit",
            to_json(&c.alphabet.unit).trim_matches('"').to_string(),
        ),
        ("recur.frame_stack", c.frame_stack.to_string()),
        ("recur.scaling", scaling.to_string()),
    ];
    let doc = "recur acoustic model: feature frames [T, N, F] -> per-step log-probabilities [ceil(T / frame_stack), N, C] for CTC";
    Ok(finish(
        acoustic::acoustic(model, options),
        doc,
        meta,
        options,
    ))
}

/// What a checkpoint exports to.
#[derive(Clone, Debug)]
pub enum Exported {
    /// One graph: a character model, classifier, regressor, forecaster or acoustic model.
    File(Vec<u8>),
    /// A translation model's encoder and decoder step.
    Translation(TranslationFiles),
}

/// The ONNX file(s) of the model in checkpoint directory `dir`, whatever its task, with the
/// checkpoint's `config.json` (less its training settings, and for a translation model its
/// vocabularies, which have their own entries) as metadata `recur.config`, and an acoustic
/// model's feature settings (`audio`) as `recur.audio`. Also returns what the model is, in
/// words.
///
/// # Errors
/// As [`crate::checkpoint::open`] for a directory that is not a loadable checkpoint, which includes the long-range task models: they are not
/// exported.
pub fn checkpoint(dir: &Path, options: &ExportOptions) -> Result<(&'static str, Exported)> {
    let mut options = options.clone();
    let checkpoint = crate::checkpoint::open(dir)?;
    let (strip, extra): (&[&str], _) = match checkpoint {
        Checkpoint::Translator(_) => (&["training", "vocab"], "scaling"),
        Checkpoint::Acoustic(_) => (&["training"], "audio"),
        _ => (&["training"], "scaling"),
    };
    let (config, extra) = config_metadata(dir, strip, extra)?;
    options.metadata.insert(0, ("recur.config".into(), config));
    let file = |bytes: Result<Vec<u8>>| bytes.map(Exported::File);
    Ok(match checkpoint {
        Checkpoint::CharLm(lm) => (
            "character model",
            file(char_lm(&lm.model, &lm.config.vocab, &options))?,
        ),
        Checkpoint::Classifier(c) => ("classifier", file(classifier(&c, &options))?),
        Checkpoint::Regressor(c) => ("regressor", file(classifier(&c, &options))?),
        Checkpoint::Forecaster(f) => {
            let scaling = extra.or(config_metadata(dir, &[], "series")?.1);
            if let Some(scaling) = scaling {
                options
                    .metadata
                    .insert(1, ("recur.scaling".into(), scaling));
            }
            ("forecaster", file(forecaster(&f.model, &options))?)
        }
        Checkpoint::Translator(t) => (
            "translation model",
            Exported::Translation(translation(&t.model, &t.vocab, &options)?),
        ),
        Checkpoint::Acoustic(model) => {
            if let Some(audio) = extra {
                options.metadata.insert(1, ("recur.audio".into(), audio));
            }
            ("acoustic model", file(acoustic(&model, &options))?)
        }
    })
}

/// The files a translation model's export to `out` writes: `out` without its `.onnx`
/// extension, then `.encoder.onnx` and `.decoder.onnx` (`model.onnx` → `model.encoder.onnx`
/// and `model.decoder.onnx`).
pub fn translation_paths(out: &Path) -> (PathBuf, PathBuf) {
    let stem = match out.extension() {
        Some(e) if e.eq_ignore_ascii_case("onnx") => out.with_extension(""),
        _ => out.to_path_buf(),
    };
    let with = |part: &str| {
        let mut name = stem.as_os_str().to_os_string();
        name.push(format!(".{part}.onnx"));
        PathBuf::from(name)
    };
    (with("encoder"), with("decoder"))
}

/// [`checkpoint`] written to `out` (a translation model: to the two files of
/// [`translation_paths`]), atomically: every file goes to a temporary file beside it first, and
/// either all are renamed into place or none is left. Returns what the model is, in words, and
/// the files written.
///
/// # Errors
/// As [`checkpoint`]; [`Error::Io`] naming the file that cannot be written.
pub fn write_checkpoint(
    dir: &Path,
    out: &Path,
    options: &ExportOptions,
) -> Result<(&'static str, Vec<PathBuf>)> {
    let (model, exported) = checkpoint(dir, options)?;
    let files = match exported {
        Exported::File(bytes) => vec![(out.to_path_buf(), bytes)],
        Exported::Translation(t) => {
            let (encoder, decoder) = translation_paths(out);
            vec![(encoder, t.encoder), (decoder, t.decoder)]
        }
    };
    if let [(path, bytes)] = &files[..] {
        crate::io::write_atomically(path, bytes)?;
    } else {
        write_all_or_none(&files)?;
    }
    Ok((model, files.into_iter().map(|(p, _)| p).collect()))
}

/// Writes every file to a temporary file beside it, then renames them all into place; on any
/// failure removes what it wrote (files renamed already included) and names the file that failed.
fn write_all_or_none(files: &[(PathBuf, Vec<u8>)]) -> Result<()> {
    use std::io::Write;
    let temp = |path: &Path| {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
    };
    let temps: Vec<PathBuf> = files.iter().map(|(p, _)| temp(p)).collect();
    let remove = |paths: &[PathBuf]| {
        for p in paths {
            let _ = std::fs::remove_file(p);
        }
    };
    for (i, ((path, bytes), tmp)) in files.iter().zip(&temps).enumerate() {
        if path.is_dir() {
            remove(&temps[..i]);
            return Err(Error::format(path, "is a directory, expected a file name"));
        }
        let written = std::fs::File::create(tmp).and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
        if let Err(e) = written {
            remove(&temps[..=i]);
            return Err(Error::io(path, e));
        }
    }
    for (i, ((path, _), tmp)) in files.iter().zip(&temps).enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            let done: Vec<PathBuf> = files[..i].iter().map(|(p, _)| p.clone()).collect();
            remove(&done);
            remove(&temps[i..]);
            return Err(Error::io(path, e));
        }
    }
    Ok(())
}

/// `config.json` of `dir` without the fields `strip`, and its field `extra`, as JSON text.
fn config_metadata(dir: &Path, strip: &[&str], extra: &str) -> Result<(String, Option<String>)> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut v: serde_json::Value = serde_json::from_str(crate::input::strip_bom(&text))
        .map_err(|e| Error::format(&path, format!("not JSON ({e})")))?;
    let extra = v.get(extra).map(|s| s.to_string());
    if let Some(map) = v.as_object_mut() {
        for field in strip {
            map.remove(*field);
        }
    }
    Ok((v.to_string(), extra))
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
