//! What a model learns from its training split before training: per-feature scaling of numeric
//! sequences, the vocabulary of texts, and from these the encoder's configuration.

use super::data::{Dataset, Item};
use super::model::ClassifierConfig;
use super::text::{TextSettings, Units, WordUnits};
use super::train::ClassifySettings;
use crate::error::{Error, Result};
use std::collections::HashMap;

/// Per-feature mean and standard deviation `([dims], [dims])` of the steps of sequences `idx`
/// (population; a standard deviation is at least `1e-6`).
pub fn feature_scaling(data: &Dataset, idx: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let d = data.dims;
    let (mut sum, mut sq, mut n) = (vec![0.0f64; d], vec![0.0f64; d], 0usize);
    for &i in idx {
        if let Item::Numeric(v) = &data.items[i] {
            for row in v.chunks_exact(d) {
                for j in 0..d {
                    sum[j] += row[j] as f64;
                    sq[j] += (row[j] as f64).powi(2);
                }
                n += 1;
            }
        }
    }
    let n = n.max(1) as f64;
    let mean = sum.iter().map(|s| (s / n) as f32).collect();
    let std = (0..d)
        .map(|j| ((sq[j] / n - (sum[j] / n).powi(2)).max(0.0).sqrt().max(1e-6)) as f32)
        .collect();
    (mean, std)
}

/// The `max_vocab` most frequent characters of the texts `idx` (ties by character), sorted.
pub fn char_vocab(data: &Dataset, idx: &[usize], max_vocab: usize) -> Vec<char> {
    let mut counts: HashMap<char, usize> = HashMap::new();
    for &i in idx {
        if let Item::Text(c) = &data.items[i] {
            for &ch in c {
                *counts.entry(ch).or_default() += 1;
            }
        }
    }
    let mut by_count: Vec<(char, usize)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut vocab: Vec<char> = by_count.into_iter().take(max_vocab).map(|p| p.0).collect();
    vocab.sort_unstable();
    vocab
}

/// The configuration of an encoder for `data` under settings `s`, its scaling or vocabulary
/// from the training sequences `train_idx`; no classes and no target (the caller sets them).
///
/// # Errors
/// [`Error::Config`] when text data meets an `embed` or `max_vocab` of 0.
pub fn encoder_config(
    data: &Dataset,
    train_idx: &[usize],
    s: &ClassifySettings,
) -> Result<ClassifierConfig> {
    let (mut mean, mut std, mut vocab) = (Vec::new(), Vec::new(), Vec::new());
    if data.dims > 0 {
        (mean, std) = feature_scaling(data, train_idx);
    } else {
        for (flag, v) in [("`embed`", s.embed), ("`max_vocab`", s.max_vocab)] {
            if v == 0 {
                return Err(Error::Config(format!("{flag} must be at least 1 for text")));
            }
        }
        vocab = char_vocab(data, train_idx, s.max_vocab);
    }
    let words = text_units(data, train_idx, &s.text)?;
    if words.is_some() {
        vocab.clear();
    }
    Ok(ClassifierConfig {
        cell: s.cell,
        hidden_size: s.hidden,
        num_layers: s.layers,
        bidirectional: s.bidirectional,
        dropout: s.dropout,
        pooling: s.pooling,
        dims: data.dims,
        embed_dim: if data.dims == 0 { s.embed } else { 0 },
        vocab,
        classes: Vec::new(),
        mean,
        std,
        frame_size: if data.dims > 0 { s.frame_size } else { 1 },
        target: None,
        words,
        embed_dropout: if data.dims == 0 {
            s.text.embed_dropout
        } else {
            0.0
        },
        head_dropout: if data.dims == 0 {
            s.text.head_dropout
        } else {
            0.0
        },
        audio: s.audio.clone(),
    })
}

/// The word vocabulary of texts read as words (from the training texts `train_idx`); `None`
/// for numeric data or texts read as characters.
///
/// # Errors
/// As [`WordUnits::fit`].
pub fn text_units(
    data: &Dataset,
    train_idx: &[usize],
    text: &TextSettings,
) -> Result<Option<WordUnits>> {
    if data.dims > 0 || text.units == Units::Char {
        return Ok(None);
    }
    WordUnits::fit(data, train_idx, text.min_freq, text.lowercase).map(Some)
}
