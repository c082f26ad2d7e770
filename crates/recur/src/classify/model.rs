//! The sequence classifier: (embedding for text) → stacked, optionally bidirectional RNN/LSTM/GRU
//! over each sequence's valid steps → pooling (final state, mean or max over valid steps) →
//! linear head → softmax.

use super::data::{Dataset, Item};
use crate::config::{CellType, RecurrentConfig};
use crate::error::{Error, Result};
use crate::io::NamedTensor;
use crate::recurrent::{ForwardArgs, Recurrent};
use crate::rng::Rng;
use crate::tensor::Tensor;
use recur_kernels::{matmul, softmax_cross_entropy, Accum, Operand, Threads};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How a sequence's outputs become one feature vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The final state of each direction (the last valid step forward, the first backward).
    Last,
    /// The mean of the outputs over the valid steps.
    Mean,
    /// The elementwise maximum of the outputs over the valid steps.
    Max,
}

impl std::str::FromStr for Pooling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "last" => Ok(Pooling::Last),
            "mean" => Ok(Pooling::Mean),
            "max" => Ok(Pooling::Max),
            _ => Err(Error::Config(format!(
                "pooling '{s}' is not one of last, mean, max"
            ))),
        }
    }
}

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

/// Loads the classifier of checkpoint `dir` (`config.json` and `model.safetensors`). Every field
/// is checked, the scaling vectors against the feature count, the sizes against
/// [`crate::MAX_PARAMETERS`] and the tensors' shapes against the configuration (before the
/// model is allocated); errors name the file and the field or tensor.
pub fn load(dir: &std::path::Path) -> Result<Classifier> {
    let path = dir.join("config.json");
    if !dir.is_dir() {
        return Err(Error::format(dir, "no such checkpoint directory"));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::format(&path, format!("not JSON ({e})")))?;
    if v.get("task").and_then(|t| t.as_str()) != Some(TASK) {
        return Err(Error::format(
            &path,
            "not a classifier checkpoint (task is not \"classify\")",
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
        {
            return Err(Error::format(
                &path,
                "training.cell, bidirectional, pooling, dropout or embed do not match the model section",
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

/// A classifier.
#[derive(Clone, Debug)]
pub struct Classifier {
    config: ClassifierConfig,
    /// `[V + 1, E]` for text (the last row for unknown characters); empty for numeric input.
    embedding: Vec<f32>,
    rnn: Recurrent<f32>,
    /// `[C, D·H]`.
    head_weight: Vec<f32>,
    /// `[C]`.
    head_bias: Vec<f32>,
    char_ids: HashMap<char, usize>,
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
            self.dims
        } else {
            self.embed_dim
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
        let c = self.classes.len();
        let width = self
            .hidden_size
            .checked_mul(if self.bidirectional { 2 } else { 1 })?;
        let embedding = if self.dims == 0 {
            self.vocab
                .len()
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
        let c = self.classes.len();
        let rnn = self.rnn();
        let mut out = Vec::new();
        if self.dims == 0 {
            out.push((
                "embedding.weight".to_string(),
                vec![self.vocab.len() + 1, self.embed_dim],
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
        if self.classes.len() < 2 {
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
            if self.embed_dim != 0 || !self.vocab.is_empty() {
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
                    "hidden_size {}, num_layers {}, embed_dim {}, {} vocabulary characters and {} classes",
                    self.hidden_size,
                    self.num_layers,
                    self.embed_dim,
                    self.vocab.len(),
                    self.classes.len()
                )
            },
        )?;
        self.rnn().validate()
    }
}

impl Classifier {
    /// A freshly initialised classifier (PyTorch's schemes; embedding `N(0, 1)`).
    pub fn new(config: ClassifierConfig, rng: &mut Rng) -> Result<Self> {
        let mut model = Self::zeros(config)?;
        model.rnn = Recurrent::new(model.config.rnn(), rng)?;
        let k = 1.0 / (model.rnn.config().output_size() as f64).sqrt();
        for v in model.head_weight.iter_mut().chain(&mut model.head_bias) {
            *v = rng.uniform_range(-k, k) as f32;
        }
        for v in &mut model.embedding {
            *v = rng.normal() as f32;
        }
        Ok(model)
    }

    /// A classifier with every parameter zero (to be loaded); the configuration is validated
    /// first ([`ClassifierConfig::validate`]).
    pub fn zeros(config: ClassifierConfig) -> Result<Self> {
        config.validate()?;
        let rnn = Recurrent::zeros(config.rnn())?;
        let width = rnn.config().output_size();
        let c = config.classes.len();
        let embedding = if config.dims == 0 {
            crate::try_zeros(
                (config.vocab.len() + 1) * config.embed_dim,
                "embedding.weight",
            )?
        } else {
            Vec::new()
        };
        let char_ids = config
            .vocab
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i))
            .collect();
        Ok(Classifier {
            head_weight: crate::try_zeros(c * width, "head.weight")?,
            head_bias: crate::try_zeros(c, "head.bias")?,
            config,
            embedding,
            rnn,
            char_ids,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClassifierConfig {
        &self.config
    }

    /// Parameter buffers: embedding (text only), recurrent, head weight, head bias.
    pub fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut v: Vec<&mut [f32]> = Vec::new();
        if !self.embedding.is_empty() {
            v.push(&mut self.embedding);
        }
        v.push(self.rnn.params_mut());
        v.push(&mut self.head_weight);
        v.push(&mut self.head_bias);
        v
    }

    /// Sizes of the parameter buffers.
    pub fn buffer_sizes(&self) -> Vec<usize> {
        let mut v = Vec::new();
        if !self.embedding.is_empty() {
            v.push(self.embedding.len());
        }
        v.extend([
            self.rnn.params().len(),
            self.head_weight.len(),
            self.head_bias.len(),
        ]);
        v
    }

    /// The parameters under PyTorch-style names.
    pub fn named_tensors(&self) -> Vec<NamedTensor<'_>> {
        let c = self.config.classes.len();
        let width = self.rnn.config().output_size();
        let mut out = Vec::new();
        if !self.embedding.is_empty() {
            let rows = self.config.vocab.len() + 1;
            out.push((
                "embedding.weight".into(),
                vec![rows, self.config.embed_dim],
                &self.embedding[..],
            ));
        }
        out.extend(self.rnn.named_tensors("rnn."));
        out.push(("head.weight".into(), vec![c, width], &self.head_weight[..]));
        out.push(("head.bias".into(), vec![c], &self.head_bias[..]));
        out
    }

    /// Loads every parameter from a file written from [`Self::named_tensors`].
    pub fn load_tensors(&mut self, mut file: crate::io::TensorFile) -> Result<()> {
        let c = self.config.classes.len();
        let width = self.rnn.config().output_size();
        if !self.embedding.is_empty() {
            let rows = self.config.vocab.len() + 1;
            self.embedding = file.take("embedding.weight", &[rows, self.config.embed_dim])?;
        }
        self.rnn.load_tensors(&mut file, "rnn.")?;
        self.head_weight = file.take("head.weight", &[c, width])?;
        self.head_bias = file.take("head.bias", &[c])?;
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

    /// Time-major padded input `[T_max, B, I]` and the lengths of sequences `idx` of `data`.
    fn inputs(&self, data: &Dataset, idx: &[usize]) -> Result<(Tensor<f32>, Vec<usize>)> {
        self.check_data(data, idx)?;
        let lengths: Vec<usize> = idx.iter().map(|&i| data.len_of(i)).collect();
        let steps = *lengths.iter().max().unwrap_or(&1);
        let b = idx.len();
        let width = self.rnn.config().input_size;
        let mut x = vec![0.0f32; steps * b * width];
        for (k, &i) in idx.iter().enumerate() {
            for t in 0..lengths[k] {
                let row = &mut x[(t * b + k) * width..(t * b + k + 1) * width];
                match &data.items[i] {
                    Item::Numeric(v) => {
                        for (j, r) in row.iter_mut().enumerate() {
                            *r = (v[t * width + j] - self.config.mean[j]) / self.config.std[j];
                        }
                    }
                    Item::Text(chars) => {
                        let id = self
                            .char_ids
                            .get(&chars[t])
                            .copied()
                            .unwrap_or(self.config.vocab.len());
                        row.copy_from_slice(&self.embedding[id * width..(id + 1) * width]);
                    }
                }
            }
        }
        Ok((Tensor::new("input", &[steps, b, width], x)?, lengths))
    }

    /// Class probabilities `[B, C]` of sequences `idx`; with `targets` and `grads` (training
    /// mode, dropout from `rng`), also adds the gradient of the mean cross-entropy.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        threads: &Threads,
        data: &Dataset,
        idx: &[usize],
        targets: Option<&[u32]>,
        grads: Option<&mut [Vec<f32>]>,
        rng: Option<&mut Rng>,
    ) -> Result<(Vec<f32>, BatchResult)> {
        if idx.is_empty() {
            return Ok((Vec::new(), BatchResult::default()));
        }
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
        if let Some(g) = grads.as_deref() {
            let sizes = self.buffer_sizes();
            if g.len() != sizes.len() || g.iter().zip(&sizes).any(|(g, &n)| g.len() != n) {
                return Err(Error::Input(format!(
                    "grads: {} buffers of sizes {:?}, expected sizes {sizes:?}",
                    g.len(),
                    g.iter().map(Vec::len).collect::<Vec<_>>()
                )));
            }
        }
        let (x, lengths) = self.inputs(data, idx)?;
        let (steps, b) = (x.shape()[0], idx.len());
        let rc = self.rnn.config();
        let (h, dirs, layers) = (rc.hidden_size, rc.directions(), rc.num_layers);
        let width = rc.output_size();
        let mut out = self.rnn.forward(
            threads,
            &x,
            ForwardArgs {
                lengths: Some(&lengths),
                h0: None,
                c0: None,
                dropout_rng: rng,
            },
        )?;
        let o = out.output.data();
        let hn = out.h_n.data();
        let mut feat = vec![0.0f32; b * width];
        let mut argmax = vec![
            0usize;
            if self.config.pooling == Pooling::Max {
                b * width
            } else {
                0
            }
        ];
        for k in 0..b {
            let f = &mut feat[k * width..(k + 1) * width];
            match self.config.pooling {
                Pooling::Last => {
                    for d in 0..dirs {
                        let s = ((layers - 1) * dirs + d) * b + k;
                        f[d * h..(d + 1) * h].copy_from_slice(&hn[s * h..(s + 1) * h]);
                    }
                }
                Pooling::Mean => {
                    for t in 0..lengths[k] {
                        for (fj, &v) in f
                            .iter_mut()
                            .zip(&o[(t * b + k) * width..(t * b + k + 1) * width])
                        {
                            *fj += v;
                        }
                    }
                    f.iter_mut().for_each(|v| *v /= lengths[k] as f32);
                }
                Pooling::Max => {
                    f.fill(f32::NEG_INFINITY);
                    for t in 0..lengths[k] {
                        for j in 0..width {
                            let v = o[(t * b + k) * width + j];
                            if v > f[j] {
                                f[j] = v;
                                argmax[k * width + j] = t;
                            }
                        }
                    }
                }
            }
        }
        let mut logits = Vec::with_capacity(b * c);
        for _ in 0..b {
            logits.extend_from_slice(&self.head_bias);
        }
        let w = Operand::t(&self.head_weight, width);
        matmul(
            threads,
            b,
            c,
            width,
            Operand::new(&feat, width),
            w,
            &mut logits,
            c,
            Accum::Add,
        );
        let mut probs = logits.clone();
        for row in probs.chunks_exact_mut(c) {
            let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let mut s = 0.0;
            for v in row.iter_mut() {
                *v = (*v - m).exp();
                s += *v;
            }
            row.iter_mut().for_each(|v| *v /= s);
        }
        let Some(targets) = targets else {
            return Ok((probs, BatchResult::default()));
        };
        let mut d_logits = grads.as_ref().map(|_| vec![0.0f32; b * c]);
        let ce = softmax_cross_entropy(
            &logits,
            c,
            targets,
            d_logits.as_deref_mut(),
            1.0 / b as f32,
            &mut Vec::new(),
        );
        let result = BatchResult {
            loss_sum: ce.loss_sum,
            correct: ce.correct,
        };
        let (Some(grads), Some(d_logits)) = (grads, d_logits) else {
            return Ok((probs, result));
        };
        let text = !self.embedding.is_empty();
        let (emb_g, rest) = if text {
            let (a, r) = grads.split_at_mut(1);
            (Some(&mut a[0]), r)
        } else {
            (None, &mut grads[..])
        };
        let [rnn_g, w_g, b_g] = rest else {
            unreachable!("three buffers")
        };
        matmul(
            threads,
            c,
            width,
            b,
            Operand::t(&d_logits, c),
            Operand::new(&feat, width),
            w_g,
            width,
            Accum::Add,
        );
        for row in d_logits.chunks_exact(c) {
            for (g, &d) in b_g.iter_mut().zip(row) {
                *g += d;
            }
        }
        let mut d_feat = vec![0.0f32; b * width];
        let w = Operand::new(&self.head_weight, width);
        matmul(
            threads,
            b,
            width,
            c,
            Operand::new(&d_logits, c),
            w,
            &mut d_feat,
            width,
            Accum::Replace,
        );
        let mut d_out = Tensor::zeros(&[steps, b, width]);
        let mut d_hn = Tensor::zeros(&[layers * dirs, b, h]);
        for k in 0..b {
            let df = &d_feat[k * width..(k + 1) * width];
            match self.config.pooling {
                Pooling::Last => {
                    for d in 0..dirs {
                        let s = ((layers - 1) * dirs + d) * b + k;
                        d_hn.data_mut()[s * h..(s + 1) * h]
                            .copy_from_slice(&df[d * h..(d + 1) * h]);
                    }
                }
                Pooling::Mean => {
                    for t in 0..lengths[k] {
                        let row =
                            &mut d_out.data_mut()[(t * b + k) * width..(t * b + k + 1) * width];
                        for (r, &g) in row.iter_mut().zip(df) {
                            *r = g / lengths[k] as f32;
                        }
                    }
                }
                Pooling::Max => {
                    for j in 0..width {
                        let t = argmax[k * width + j];
                        d_out.data_mut()[(t * b + k) * width + j] = df[j];
                    }
                }
            }
        }
        let d_in = self
            .rnn
            .backward(threads, &mut out.cache, rnn_g, &d_out, Some(&d_hn), None)?;
        if let Some(eg) = emb_g {
            let e = self.config.embed_dim;
            for (k, &i) in idx.iter().enumerate() {
                if let Item::Text(chars) = &data.items[i] {
                    for (t, ch) in chars.iter().enumerate() {
                        let id = self
                            .char_ids
                            .get(ch)
                            .copied()
                            .unwrap_or(self.config.vocab.len());
                        let src = &d_in.input.data()[(t * b + k) * e..(t * b + k + 1) * e];
                        for (g, &s) in eg[id * e..(id + 1) * e].iter_mut().zip(src) {
                            *g += s;
                        }
                    }
                }
            }
        }
        Ok((probs, result))
    }
}
