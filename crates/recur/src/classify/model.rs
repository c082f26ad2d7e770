//! The sequence classifier: (embedding for text) → stacked, optionally bidirectional RNN/LSTM/GRU
//! over each sequence's valid steps → pooling (final state, mean or max over valid steps) →
//! linear head → softmax.

use super::data::{Dataset, Item};
use crate::config::{CellType, RecurrentConfig};
use crate::error::{Error, Result};
use crate::io::NamedTensor;
use crate::nn::loss::CrossEntropyLoss;
use crate::nn::{
    Dropout, Embedding, EmbeddingConfig, Linear, LinearConfig, LinearGrads, PoolShape,
};
use crate::recurrent::{ForwardArgs, Recurrent};
use crate::rng::Rng;
use crate::tensor::Tensor;
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub use crate::nn::Pooling;

/// Everything that defines a classifier besides its weights (stored as `config.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// Recurrent cell.
    pub cell: CellType,
    /// Hidden units per direction.
    pub hidden_size: usize,
    /// Stacked layers.
    pub num_layers: usize,
    /// Two directions.
    pub bidirectional: bool,
    /// Dropout between layers.
    pub dropout: f64,
    /// Pooling.
    pub pooling: Pooling,
    /// Numeric features per step (0 for text).
    pub dims: usize,
    /// Text: embedding width.
    pub embed_dim: usize,
    /// Text: the characters with an embedding (others share the last row).
    pub vocab: Vec<char>,
    /// Class names; the index is the class id.
    pub classes: Vec<String>,
    /// Numeric: per-feature mean of the training split.
    pub mean: Vec<f32>,
    /// Numeric: per-feature standard deviation of the training split.
    pub std: Vec<f32>,
    /// Numeric: raw steps read as one step of the recurrent layers (their features side by
    /// side; the last frame of a sequence repeats its last step), so that the recurrence spans
    /// `frame_size` times as many samples. 1 reads every step on its own.
    #[serde(default = "one")]
    pub frame_size: usize,
    /// Regression: the mean and standard deviation of the training split's targets. The model
    /// then has one output, the standardised target, and `classes` is empty. `None` (absent
    /// from `config.json`) for a classifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<super::regress::TargetScaling>,
    /// Text read as words: their vocabulary and lower-casing ([`super::text::WordUnits`]);
    /// `vocab` is then empty. `None` (absent from `config.json`) reads characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<super::text::WordUnits>,
    /// Text: dropout on the embedding vectors before the recurrent layers (training only;
    /// PyTorch: `nn.Dropout(p)` after `nn.Embedding`). 0 (the value when absent) for none.
    #[serde(default)]
    pub embed_dropout: f64,
    /// Dropout on the pooled features, the head's input (training only; PyTorch:
    /// `nn.Dropout(p)` before `head`). 0 (the value when absent) for none.
    #[serde(default)]
    pub head_dropout: f64,
    /// Audio: the feature settings that turn a recording into the model's input frames
    /// (`dims` is their [`crate::audio::FeatureConfig::dims`]); absent for other data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<crate::audio::FeatureConfig>,
}

fn one() -> usize {
    1
}

/// Task name of classifier checkpoints.
pub const TASK: &str = "classify";

/// `config.json` of a classifier checkpoint: `format`, `version`, `task`, `model`, and the
/// training settings (informational; checked against `model` when present).
#[derive(Clone, Debug, Deserialize)]
struct CheckpointFile {
    format: String,
    version: u32,
    model: ClassifierConfig,
    #[serde(default)]
    training: Option<super::train::ClassifySettings>,
}

/// Loads every member of the classifier checkpoint `dir`: the model of `dir` itself, and for an
/// ensemble (`"ensemble": N` in `config.json`, `recur classify train --ensemble N`) the models of
/// `dir/members/1` … `dir/members/N-1`, whose class lists must be `dir`'s.
///
/// # Errors
/// As [`load`], for every member; [`Error::Format`] for an `ensemble` count that is not a
/// positive number, or a member whose classes or input differ.
pub fn load_members(dir: &std::path::Path) -> Result<Vec<Classifier>> {
    let first = load(dir)?;
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::format(&path, format!("not JSON ({e})")))?;
    let n = match v.get("ensemble") {
        None => 1,
        Some(n) => match n.as_u64() {
            Some(n @ 1..=64) => n as usize,
            _ => {
                return Err(Error::format(
                    &path,
                    format!("ensemble is {n}, expected a count from 1 to 64"),
                ))
            }
        },
    };
    let mut members = vec![first];
    for i in 1..n {
        let member = load(&dir.join("members").join(i.to_string()))?;
        let (a, b) = (member.config(), members[0].config());
        if a.classes != b.classes || a.dims != b.dims {
            return Err(Error::format(
                dir.join("members").join(i.to_string()).join("config.json"),
                "classes or input features differ from the ensemble's first model",
            ));
        }
        members.push(member);
    }
    Ok(members)
}

/// Loads the classifier of checkpoint `dir` (`config.json` and `model.safetensors`). Every field
/// is checked, the scaling vectors against the feature count, the sizes against
/// [`crate::MAX_PARAMETERS`] and the tensors' shapes against the configuration (before the
/// model is allocated); errors name the file and the field or tensor.
pub fn load(dir: &std::path::Path) -> Result<Classifier> {
    let path = dir.join("config.json");
    crate::checkpoint::check_dir(dir)?;
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::format(&path, format!("not JSON ({e})")))?;
    let task = v.get("task").and_then(|t| t.as_str());
    if task != Some(TASK) && task != Some(super::regress::TASK) {
        return Err(Error::format(
            &path,
            "not a classifier checkpoint (task is not \"classify\" or \"regress\")",
        ));
    }
    if (task == Some(super::regress::TASK)) != v["model"]["target"].is_object() {
        return Err(Error::format(
            &path,
            "task \"regress\" goes with a model.target (the target scaling), and only it",
        ));
    }
    let file: CheckpointFile = serde_json::from_value(v)
        .map_err(|e| Error::format(&path, format!("not a recur classifier config ({e})")))?;
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
        .map_err(|e| Error::format(&path, format!("model: {}", config_message(&e))))?;
    if let Some(t) = &file.training {
        let checks = [
            ("hidden", t.hidden, "hidden_size", config.hidden_size),
            ("layers", t.layers, "num_layers", config.num_layers),
        ];
        for (field, a, model_field, b) in checks {
            if a != b {
                return Err(Error::format(
                    &path,
                    format!("training.{field} is {a} but model.{model_field} is {b}"),
                ));
            }
        }
        if t.cell != config.cell
            || t.bidirectional != config.bidirectional
            || t.pooling != config.pooling
            || t.dropout != config.dropout
            || (config.dims == 0 && t.embed != config.embed_dim)
            || (config.dims == 0
                && (t.text.units == super::text::Units::Word) != config.words.is_some())
        {
            return Err(Error::format(
                &path,
                "training.cell, bidirectional, pooling, dropout, embed or text.units do not match the model section",
            ));
        }
        if !(t.lr.is_finite() && t.lr > 0.0)
            || t.batch_size == 0
            || !(0.0..1.0).contains(&t.val_frac)
        {
            return Err(Error::format(
                &path,
                format!(
                    "training: lr {} (expected > 0), batch_size {} (expected >= 1) or val_frac {} (expected in [0, 1)) out of range",
                    t.lr, t.batch_size, t.val_frac
                ),
            ));
        }
    }
    let tensors = crate::io::TensorFile::read(dir.join("model.safetensors"))?;
    tensors.check_shapes(
        &config.tensor_shapes(),
        &format!(
            "{}'s hidden_size {}, num_layers {}, embed_dim {} and dims {}",
            path.display(),
            config.hidden_size,
            config.num_layers,
            config.embed_dim,
            config.dims
        ),
    )?;
    let mut model =
        Classifier::zeros(config).map_err(|e| Error::format(&path, config_message(&e)))?;
    model.load_tensors(tensors)?;
    Ok(model)
}

fn config_message(e: &Error) -> String {
    match e {
        Error::Config(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A classifier: `embedding` (text only) → `rnn` → pooling → `head`, the blocks of
/// [`crate::nn`] and [`Recurrent`].
#[derive(Clone, Debug)]
pub struct Classifier {
    config: ClassifierConfig,
    /// `[V + 1, E]` for text (the last row for characters outside the vocabulary).
    embedding: Option<Embedding<f32>>,
    rnn: Recurrent<f32>,
    /// `[C, D·H]` and `[C]`.
    head: Linear<f32>,
    char_ids: HashMap<char, usize>,
    /// Text read as words: word → token id.
    word_ids: HashMap<String, u32>,
}

/// Gradients of a [`Classifier`], shaped as its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierGrads {
    /// `[V + 1, E]` for text.
    pub embedding: Option<Vec<f32>>,
    /// The recurrent layers' parameters, in [`Recurrent::params`] order.
    pub rnn: Vec<f32>,
    /// The head.
    pub head: LinearGrads<f32>,
}

impl crate::nn::Gradients for ClassifierGrads {
    /// The buffers in the order of [`Classifier::buffers_mut`].
    fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut v: Vec<&mut [f32]> = Vec::new();
        v.extend(self.embedding.as_deref_mut());
        v.push(&mut self.rnn);
        v.extend(self.head.buffers_mut());
        v
    }
}

/// Loss and correct predictions of a batch.
#[derive(Clone, Copy, Debug, Default)]
pub struct BatchResult {
    /// Summed cross-entropy.
    pub loss_sum: f64,
    /// Correct arg-max predictions.
    pub correct: usize,
}

impl ClassifierConfig {
    /// Features per input step of the recurrent layers: `dims` for numeric data, `embed_dim`
    /// for text.
    pub fn input_size(&self) -> usize {
        if self.dims > 0 {
            self.dims * self.frame_size.max(1)
        } else {
            self.embed_dim
        }
    }

    /// Text: tokens with an embedding row of their own (words or characters); the embedding
    /// has one more row, for the unknown token.
    pub fn token_count(&self) -> usize {
        self.words
            .as_ref()
            .map_or(self.vocab.len(), |w| w.words.len())
    }

    /// Outputs of the head: 1 for a regressor, else the number of classes.
    pub fn outputs(&self) -> usize {
        if self.target.is_some() {
            1
        } else {
            self.classes.len()
        }
    }

    /// The recurrent part.
    pub fn rnn(&self) -> RecurrentConfig {
        RecurrentConfig::new(self.cell, self.input_size(), self.hidden_size)
            .layers(self.num_layers)
            .bidirectional(self.bidirectional)
            .dropout(self.dropout)
    }

    /// Parameters of the whole classifier, counted without overflow (`None` on overflow).
    pub fn param_count(&self) -> Option<usize> {
        let c = self.outputs();
        let width = self
            .hidden_size
            .checked_mul(if self.bidirectional { 2 } else { 1 })?;
        let embedding = if self.dims == 0 {
            self.token_count()
                .checked_add(1)?
                .checked_mul(self.embed_dim)?
        } else {
            0
        };
        embedding
            .checked_add(self.rnn().param_count()?)?
            .checked_add(c.checked_mul(width)?)?
            .checked_add(c)
    }

    /// The tensors of a classifier of this configuration: (name, shape), as
    /// [`Classifier::named_tensors`] names them.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let c = self.outputs();
        let rnn = self.rnn();
        let mut out = Vec::new();
        if self.dims == 0 {
            out.push((
                "embedding.weight".to_string(),
                vec![self.token_count() + 1, self.embed_dim],
            ));
        }
        out.extend(
            crate::param_layout(&rnn)
                .into_iter()
                .map(|p| (format!("rnn.{}", p.name), p.shape)),
        );
        out.push(("head.weight".to_string(), vec![c, rnn.output_size()]));
        out.push(("head.bias".to_string(), vec![c]));
        out
    }

    /// Checks every field and that they agree: numeric data (`dims > 0`) has no embedding and
    /// one finite `mean` and one finite, positive `std` per feature; text (`dims == 0`) has an
    /// `embed_dim` and no scaling; at least 2 distinct classes; distinct vocabulary characters;
    /// sizes within [`crate::MAX_LAYERS`] and [`crate::MAX_PARAMETERS`]. Messages name the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.hidden_size == 0 {
            return bad("hidden_size must be at least 1".into());
        }
        if let Some(audio) = &self.audio {
            audio.validate()?;
            if audio.dims() != self.dims {
                return bad(format!(
                    "dims is {}, but the audio features give {} per frame",
                    self.dims,
                    audio.dims()
                ));
            }
        }
        if self.frame_size == 0
            || self.frame_size > 4096
            || (self.dims == 0 && self.frame_size != 1)
        {
            return bad(format!(
                "frame_size must be in 1..=4096 (1 for text), got {}",
                self.frame_size
            ));
        }
        if self.num_layers == 0 || self.num_layers > crate::MAX_LAYERS {
            return bad(format!(
                "num_layers must be in 1..={}, got {}",
                crate::MAX_LAYERS,
                self.num_layers
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if !(0.0..1.0).contains(&self.head_dropout) {
            return bad(format!(
                "head_dropout must be in [0, 1), got {}",
                self.head_dropout
            ));
        }
        if !(0.0..1.0).contains(&self.embed_dropout) || (self.dims > 0 && self.embed_dropout != 0.0)
        {
            return bad(format!(
                "embed_dropout must be in [0, 1) for text and 0 for numeric data, got {}",
                self.embed_dropout
            ));
        }
        if let Some(t) = &self.target {
            if !self.classes.is_empty() {
                return bad(format!(
                    "a regressor (with a target) has no classes, but classes lists {}",
                    self.classes.len()
                ));
            }
            if !(t.mean.is_finite() && t.std.is_finite() && t.std > 0.0) {
                return bad(format!(
                    "target mean {} and std {}: expected finite numbers, std > 0",
                    t.mean, t.std
                ));
            }
        } else if self.classes.len() < 2 {
            return bad(format!(
                "classes lists {} class(es); a classifier needs at least 2",
                self.classes.len()
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(c) = self.classes.iter().find(|c| !seen.insert(c.as_str())) {
            return bad(format!("classes lists '{c}' twice"));
        }
        if self.dims > 0 {
            if self.embed_dim != 0 || !self.vocab.is_empty() || self.words.is_some() {
                return bad(format!(
                    "embed_dim {} and a vocab of {} characters, but a model of numeric features (dims {}) has neither",
                    self.embed_dim,
                    self.vocab.len(),
                    self.dims
                ));
            }
            for (name, v) in [("mean", &self.mean), ("std", &self.std)] {
                if v.len() != self.dims {
                    return bad(format!(
                        "{name} has {} values but dims is {}: one per feature is needed",
                        v.len(),
                        self.dims
                    ));
                }
            }
            if let Some((j, m)) = self.mean.iter().enumerate().find(|(_, m)| !m.is_finite()) {
                return bad(format!("mean[{j}] is {m}, expected a finite number"));
            }
            if let Some((j, s)) = self
                .std
                .iter()
                .enumerate()
                .find(|(_, s)| !(s.is_finite() && **s > 0.0))
            {
                return bad(format!("std[{j}] is {s}, expected a finite number > 0"));
            }
        } else {
            if self.embed_dim == 0 {
                return bad(
                    "embed_dim must be at least 1 for text (dims 0); numeric data needs dims >= 1"
                        .into(),
                );
            }
            if !self.mean.is_empty() || !self.std.is_empty() {
                return bad(format!(
                    "mean and std hold {} and {} values, but a text model (dims 0) has no feature scaling",
                    self.mean.len(),
                    self.std.len()
                ));
            }
            let mut seen = std::collections::HashSet::new();
            if let Some(c) = self.vocab.iter().find(|c| !seen.insert(**c)) {
                return bad(format!("vocab lists {c:?} twice"));
            }
            if let Some(w) = &self.words {
                if !self.vocab.is_empty() {
                    return bad(format!(
                        "a model of words has no character vocab, but vocab lists {}",
                        self.vocab.len()
                    ));
                }
                w.validate()?;
            }
        }
        crate::check_param_count(
            self.param_count(),
            &if self.dims > 0 {
                format!(
                    "hidden_size {}, num_layers {}, {} features per step and {} classes",
                    self.hidden_size,
                    self.num_layers,
                    self.dims,
                    self.classes.len()
                )
            } else {
                format!(
                    "hidden_size {}, num_layers {}, embed_dim {}, {} vocabulary tokens and {} classes",
                    self.hidden_size,
                    self.num_layers,
                    self.embed_dim,
                    self.token_count(),
                    self.classes.len()
                )
            },
        )?;
        self.rnn().validate()
    }
}

impl crate::training::Checkpointed for Classifier {
    fn named_tensors(&self) -> Vec<NamedTensor<'_>> {
        Classifier::named_tensors(self)
    }
    fn buffers(&self) -> Vec<&[f32]> {
        Classifier::buffers(self)
    }
}

impl Classifier {
    /// A freshly initialised classifier with PyTorch's schemes: the recurrent layers, then the
    /// head (`nn.Linear`), then the embedding (`N(0, 1)`), drawn in that order from `rng`.
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is invalid ([`ClassifierConfig::validate`]).
    pub fn new(config: ClassifierConfig, rng: &mut Rng) -> Result<Self> {
        let mut model = Self::zeros(config)?;
        model.rnn = Recurrent::new(model.config.rnn(), rng)?;
        model.head = model.head_config().init(rng);
        if model.embedding.is_some() {
            model.embedding = Some(model.embedding_config().init(rng)?);
        }
        Ok(model)
    }

    fn head_config(&self) -> LinearConfig {
        LinearConfig::new(self.config.rnn().output_size(), self.config.outputs())
    }

    fn embedding_config(&self) -> EmbeddingConfig {
        EmbeddingConfig::new(self.config.token_count() + 1, self.config.embed_dim)
    }

    /// A classifier with every parameter zero (to be loaded); the configuration is validated
    /// first ([`ClassifierConfig::validate`]).
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is invalid or its buffers cannot be allocated.
    pub fn zeros(config: ClassifierConfig) -> Result<Self> {
        config.validate()?;
        let rnn = Recurrent::zeros(config.rnn())?;
        let width = rnn.config().output_size();
        let c = config.outputs();
        let embedding = if config.dims == 0 {
            // Sizes are within the parameter limit: `validate` checked them.
            let e = EmbeddingConfig::new(config.token_count() + 1, config.embed_dim);
            Some(e.zeros()?)
        } else {
            None
        };
        let char_ids = config
            .vocab
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i))
            .collect();
        let word_ids = config.words.as_ref().map(|w| w.index()).unwrap_or_default();
        Ok(Classifier {
            head: LinearConfig::new(width, c).zeros(),
            config,
            embedding,
            rnn,
            char_ids,
            word_ids,
        })
    }

    /// Zero gradients shaped as this model's parameters.
    pub fn zero_grads(&self) -> ClassifierGrads {
        ClassifierGrads {
            embedding: self.embedding.as_ref().map(|e| vec![0.0; e.weight.len()]),
            rnn: vec![0.0; self.rnn.params().len()],
            head: LinearGrads::zeros_like(&self.head),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClassifierConfig {
        &self.config
    }

    /// The recurrent layers.
    pub fn rnn(&self) -> &Recurrent<f32> {
        &self.rnn
    }

    /// Parameter buffers: embedding (text only), recurrent, head weight, head bias.
    pub fn buffers(&self) -> Vec<&[f32]> {
        let mut v: Vec<&[f32]> = Vec::new();
        if let Some(e) = &self.embedding {
            v.push(&e.weight);
        }
        v.push(self.rnn.params());
        v.extend(self.head.buffers());
        v
    }

    /// Parameter buffers: embedding (text only), recurrent, head weight, head bias.
    pub fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut v: Vec<&mut [f32]> = Vec::new();
        if let Some(e) = &mut self.embedding {
            v.push(&mut e.weight);
        }
        v.push(self.rnn.params_mut());
        v.extend(self.head.buffers_mut());
        v
    }

    /// Sizes of the parameter buffers.
    pub fn buffer_sizes(&self) -> Vec<usize> {
        let mut v = Vec::new();
        v.extend(self.embedding.as_ref().map(|e| e.weight.len()));
        v.push(self.rnn.params().len());
        v.push(self.head.weight.len());
        v.extend(self.head.bias.as_ref().map(Vec::len));
        v
    }

    /// The parameters under PyTorch-style names.
    pub fn named_tensors(&self) -> Vec<NamedTensor<'_>> {
        let mut out = Vec::new();
        if let Some(e) = &self.embedding {
            let c = e.config();
            out.push((
                "embedding.weight".into(),
                vec![c.num_embeddings, c.embedding_dim],
                &e.weight[..],
            ));
        }
        out.extend(self.rnn.named_tensors("rnn."));
        out.extend(self.head.named_tensors("head."));
        out
    }

    /// Loads every parameter from a file written from [`Self::named_tensors`].
    ///
    /// # Errors
    /// [`Error::Format`] naming the tensor that is missing, misshapen or left over.
    pub fn load_tensors(&mut self, mut file: crate::io::TensorFile) -> Result<()> {
        if let Some(e) = &mut self.embedding {
            let c = *e.config();
            e.weight = file.take("embedding.weight", &[c.num_embeddings, c.embedding_dim])?;
        }
        self.rnn.load_tensors(&mut file, "rnn.")?;
        self.head.load_tensors(&mut file, "head.")?;
        file.finish()
    }

    /// Checks that sequences `idx` of `data` are of the kind and width this model reads, and not
    /// empty.
    pub fn check_data(&self, data: &Dataset, idx: &[usize]) -> Result<()> {
        let dims = self.config.dims;
        if data.dims != dims {
            return Err(Error::Input(format!(
                "the sequences have {} features per step, the model expects {dims}{}",
                data.dims,
                if dims == 0 { " (text)" } else { "" }
            )));
        }
        for &i in idx {
            let item = data.items.get(i).ok_or_else(|| {
                Error::Input(format!(
                    "sequence index {i} is out of range ({} sequences)",
                    data.items.len()
                ))
            })?;
            let fits = match item {
                Item::Numeric(v) => dims > 0 && !v.is_empty() && v.len() % dims == 0,
                Item::Text(c) => dims == 0 && !c.is_empty(),
            };
            if !fits {
                return Err(Error::Input(format!(
                    "sequence {}: empty, or not of the model's kind ({})",
                    i + 1,
                    if dims == 0 {
                        "text".to_string()
                    } else {
                        format!("{dims} numeric features per step")
                    }
                )));
            }
        }
        Ok(())
    }

    /// Token id of a character: its vocabulary index, or the shared row of unknown characters.
    fn char_id(&self, c: char) -> u32 {
        self.char_ids
            .get(&c)
            .copied()
            .unwrap_or(self.config.vocab.len()) as u32
    }

    /// Token ids of a text: one per character, or one per word for a model of words.
    pub fn text_tokens(&self, text: &[char]) -> Vec<u32> {
        match &self.config.words {
            Some(w) => w.encode(&self.word_ids, text),
            None => text.iter().map(|&c| self.char_id(c)).collect(),
        }
    }

    /// Time-major padded input `[T_max, B, I]` of sequences `idx` (zero past each end), their
    /// lengths, and for text the `(position, token)` of every valid step.
    fn inputs(&self, data: &Dataset, idx: &[usize]) -> Result<Inputs> {
        self.check_data(data, idx)?;
        let frame = if self.config.dims > 0 {
            self.config.frame_size.max(1)
        } else {
            1
        };
        let text_ids: Vec<Vec<u32>> = idx
            .iter()
            .map(|&i| match &data.items[i] {
                Item::Text(c) => self.text_tokens(c),
                Item::Numeric(_) => Vec::new(),
            })
            .collect();
        let raw: Vec<usize> = idx
            .iter()
            .zip(&text_ids)
            .map(|(&i, ids)| match &data.items[i] {
                Item::Text(_) => ids.len(),
                Item::Numeric(_) => data.len_of(i),
            })
            .collect();
        let lengths: Vec<usize> = raw.iter().map(|l| l.div_ceil(frame)).collect();
        let steps = *lengths.iter().max().unwrap_or(&1);
        let b = idx.len();
        let width = self.rnn.config().input_size;
        let d = self.config.dims.max(1);
        let mut x = vec![0.0f32; steps * b * width];
        let mut tokens = Vec::new();
        for (k, &i) in idx.iter().enumerate() {
            // `t` places the row, picks the raw steps of a frame, or the token of a text.
            #[allow(clippy::needless_range_loop)]
            for t in 0..lengths[k] {
                let at = t * b + k;
                let row = &mut x[at * width..(at + 1) * width];
                match (&data.items[i], &self.embedding) {
                    (Item::Numeric(v), _) => {
                        for (f, chunk) in row.chunks_exact_mut(d).enumerate() {
                            // Raw step of this frame position (the last one repeated past the end).
                            let s = (t * frame + f).min(raw[k] - 1);
                            for (j, r) in chunk.iter_mut().enumerate() {
                                *r = (v[s * d + j] - self.config.mean[j]) / self.config.std[j];
                            }
                        }
                    }
                    (Item::Text(_), Some(e)) => {
                        let id = text_ids[k][t];
                        e.forward(&[id], row)?;
                        tokens.push((at, id));
                    }
                    (Item::Text(_), None) => unreachable!("check_data refuses text for numeric"),
                }
            }
        }
        Ok(Inputs {
            x: Tensor::new("input", &[steps, b, width], x)?,
            lengths,
            tokens,
            embed_mask: None,
        })
    }

    pub(super) fn check_run_args(
        &self,
        idx: &[usize],
        targets: Option<&[u32]>,
        grads: Option<&ClassifierGrads>,
    ) -> Result<()> {
        let c = self.config.classes.len();
        if let Some(t) = targets {
            if t.len() != idx.len() {
                return Err(Error::Input(format!(
                    "targets: {} for {} sequences",
                    t.len(),
                    idx.len()
                )));
            }
            if let Some(&bad) = t.iter().find(|&&t| t as usize >= c) {
                return Err(Error::Input(format!(
                    "targets: class id {bad} is not below the {c} classes"
                )));
            }
        }
        if let Some(g) = grads {
            let fits = g.embedding.as_ref().map(Vec::len)
                == self.embedding.as_ref().map(|e| e.weight.len())
                && g.rnn.len() == self.rnn.params().len()
                && g.head.weight.len() == self.head.weight.len();
            if !fits {
                return Err(Error::Input(
                    "grads: shaped for another model (use Classifier::zero_grads)".into(),
                ));
            }
        }
        Ok(())
    }

    /// Class probabilities `[B, C]` of sequences `idx` of `data`. With `targets`, also the mean
    /// cross-entropy (`nn.CrossEntropyLoss`) and correct predictions; with `grads` as well
    /// (training mode, dropout from `rng`), adds that loss's gradient into `grads`.
    ///
    /// # Errors
    /// [`Error::Input`] for indices, targets or gradients that do not fit, sequences of
    /// another kind than the model reads, or a regressor (see [`super::regress`]).
    pub fn run(
        &self,
        threads: &Threads,
        data: &Dataset,
        idx: &[usize],
        targets: Option<&[u32]>,
        grads: Option<&mut ClassifierGrads>,
        rng: Option<&mut Rng>,
    ) -> Result<(Vec<f32>, BatchResult)> {
        if self.config.target.is_some() {
            return Err(Error::Input(
                "this model is a regressor: it predicts values, not classes".into(),
            ));
        }
        if idx.is_empty() {
            return Ok((Vec::new(), BatchResult::default()));
        }
        self.check_run_args(idx, targets, grads.as_deref())?;
        let (mut enc, logits) = self.encode(threads, data, idx, rng)?;
        let (b, c) = (idx.len(), self.config.classes.len());
        let probs = softmax_rows(&logits, c);
        let Some(targets) = targets else {
            return Ok((probs, BatchResult::default()));
        };
        let mut d_logits = grads.as_ref().map(|_| vec![0.0f32; b * c]);
        let ce =
            CrossEntropyLoss::default().forward(&logits, c, targets, d_logits.as_deref_mut())?;
        let result = BatchResult {
            loss_sum: ce.loss * b as f64,
            correct: ce.correct,
        };
        if let (Some(grads), Some(d_logits)) = (grads, d_logits) {
            self.backward(threads, &mut enc, &d_logits, grads)?;
        }
        Ok((probs, result))
    }

    /// The forward pass of sequences `idx` up to the head: the head's outputs `[B, outputs]`
    /// and what [`Self::backward`] needs. Dropout (training mode) when `rng` is given.
    pub(super) fn encode(
        &self,
        threads: &Threads,
        data: &Dataset,
        idx: &[usize],
        rng: Option<&mut Rng>,
    ) -> Result<(Encoded, Vec<f32>)> {
        let mut inputs = self.inputs(data, idx)?;
        let mut rng = rng;
        if let (Some(r), true) = (rng.as_deref_mut(), self.config.embed_dropout > 0.0) {
            let mut mask = Vec::new();
            Dropout::new(self.config.embed_dropout)?.forward(r, inputs.x.data_mut(), &mut mask);
            inputs.embed_mask = Some(mask);
        }
        let args = ForwardArgs {
            lengths: Some(&inputs.lengths),
            h0: None,
            c0: None,
            dropout_rng: rng.as_deref_mut(),
        };
        let out = self.rnn.forward(threads, &inputs.x, args)?;
        let steps = inputs.x.shape()[0];
        let pooled = self
            .config
            .pooling
            .forward(out.output.data(), &self.pool_shape(&inputs, steps))?;
        let mut features = pooled.features.clone();
        let mut head_mask = None;
        if let (Some(r), true) = (rng, self.config.head_dropout > 0.0) {
            let mut mask = Vec::new();
            Dropout::new(self.config.head_dropout)?.forward(r, &mut features, &mut mask);
            head_mask = Some(mask);
        }
        let mut logits = vec![0.0f32; idx.len() * self.config.outputs()];
        self.head.forward(threads, &features, &mut logits)?;
        Ok((
            Encoded {
                inputs,
                out,
                pooled,
                features,
                head_mask,
                steps,
            },
            logits,
        ))
    }

    fn pool_shape<'a>(&self, inputs: &'a Inputs, steps: usize) -> PoolShape<'a> {
        let rc = self.rnn.config();
        PoolShape {
            steps,
            batch: inputs.lengths.len(),
            width: rc.output_size(),
            directions: rc.directions(),
            lengths: &inputs.lengths,
        }
    }

    /// Adds into `grads` the gradient of a loss whose gradient with respect to the head's
    /// outputs `[B, outputs]` is `d_outputs`, back through head, pooling, recurrent layers and
    /// embedding.
    pub(super) fn backward(
        &self,
        threads: &Threads,
        enc: &mut Encoded,
        d_outputs: &[f32],
        grads: &mut ClassifierGrads,
    ) -> Result<()> {
        let mut d_features =
            self.head
                .backward(threads, &enc.features, d_outputs, &mut grads.head)?;
        if let Some(mask) = &enc.head_mask {
            Dropout::new(self.config.head_dropout)?.backward(mask, &mut d_features)?;
        }
        let shape = self.pool_shape(&enc.inputs, enc.steps);
        let d_out = self
            .config
            .pooling
            .backward(&enc.pooled, &d_features, &shape)?;
        let d_out = Tensor::new("output gradient", enc.out.output.shape(), d_out)?;
        let d_in = self.rnn.backward(
            threads,
            &mut enc.out.cache,
            &mut grads.rnn,
            &d_out,
            None,
            None,
        )?;
        let mut d_in = d_in.input.into_data();
        if let Some(mask) = &enc.inputs.embed_mask {
            Dropout::new(self.config.embed_dropout)?.backward(mask, &mut d_in)?;
        }
        if let (Some(e), Some(g)) = (&self.embedding, &mut grads.embedding) {
            let width = e.config().embedding_dim;
            let (at, ids): (Vec<usize>, Vec<u32>) = enc.inputs.tokens.iter().copied().unzip();
            let rows: Vec<f32> = at
                .iter()
                .flat_map(|&a| &d_in[a * width..(a + 1) * width])
                .copied()
                .collect();
            e.backward(&ids, &rows, g)?;
        }
        Ok(())
    }
}

/// A batch's forward pass up to the head, kept for [`Classifier::backward`].
pub(super) struct Encoded {
    inputs: Inputs,
    out: crate::recurrent::RecurrentOutput<f32>,
    pooled: crate::nn::Pooled<f32>,
    /// The head's input: the pooled features, after dropout in training.
    features: Vec<f32>,
    /// The head dropout's scales `[B, W]`, in training.
    head_mask: Option<Vec<f32>>,
    steps: usize,
}

/// What [`Classifier::run`] feeds the recurrent layers.
struct Inputs {
    /// `[T_max, B, I]`.
    x: Tensor<f32>,
    /// `[B]`.
    lengths: Vec<usize>,
    /// Text: `(t·B + k, token)` of every valid step.
    tokens: Vec<(usize, u32)>,
    /// Text in training: the embedding dropout's scales `[T_max, B, E]`.
    embed_mask: Option<Vec<f32>>,
}

/// Row-wise softmax of `[N, C]` logits.
fn softmax_rows(logits: &[f32], c: usize) -> Vec<f32> {
    let mut probs = logits.to_vec();
    for row in probs.chunks_exact_mut(c) {
        let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut s = 0.0;
        for v in row.iter_mut() {
            *v = (*v - m).exp();
            s += *v;
        }
        row.iter_mut().for_each(|v| *v /= s);
    }
    probs
}
