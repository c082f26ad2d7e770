//! Texts read as words: tokens at the word boundaries of Unicode (UAX #29, through
//! `unicode-segmentation`), punctuation kept as tokens of its own and spaces dropped,
//! optionally lower-cased; a vocabulary of the words seen at least `min_freq` times in the
//! training split, every other word sharing one unknown token. Stored in the checkpoint
//! (`model.words`), so that `eval` and `predict` read raw text.

use super::data::{Dataset, Item};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use unicode_segmentation::UnicodeSegmentation;

/// The units a text is read in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    /// One token per character (the vocabulary in `ClassifierConfig::vocab`).
    Char,
    /// One token per word or punctuation mark ([`WordUnits`]).
    #[default]
    Word,
}

impl std::str::FromStr for Units {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "char" => Ok(Units::Char),
            "word" => Ok(Units::Word),
            "subword" => Err(Error::Config(
                "`units` subword is not available for classification (subword vocabularies are built for translation only, in `recur::translate::subword`); use char or word".into(),
            )),
            other => Err(Error::Config(format!(
                "`units` must be char or word, got {other:?}"
            ))),
        }
    }
}

/// The model settings `recur classify train` uses for texts where the flags leave them open
/// (numeric data keeps the general defaults), chosen on sentence polarity (README): a
/// bidirectional layer, max pooling over the words, 64-wide embeddings, and early stopping after
/// 4 validations without a lower loss (word models overfit within a few epochs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextDefaults {
    /// Two directions.
    pub bidirectional: bool,
    /// Pooling over the steps.
    pub pooling: crate::nn::Pooling,
    /// Embedding width.
    pub embed: usize,
    /// Validations without improvement before stopping.
    pub patience: usize,
}

/// The text defaults (see [`TextDefaults`]).
pub const TEXT_DEFAULTS: TextDefaults = TextDefaults {
    bidirectional: true,
    pooling: crate::nn::Pooling::Max,
    embed: 64,
    patience: 4,
};

/// How texts are cut into tokens (the text settings of `recur classify train`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextSettings {
    /// Characters or words.
    pub units: Units,
    /// Words: the fewest occurrences in the training split for a word of its own.
    pub min_freq: usize,
    /// Words: lower-case the text first.
    pub lowercase: bool,
    /// Dropout on the embedding vectors in training
    /// ([`super::model::ClassifierConfig::embed_dropout`]).
    #[serde(default)]
    pub embed_dropout: f64,
    /// Dropout on the pooled features in training
    /// ([`super::model::ClassifierConfig::head_dropout`]).
    #[serde(default)]
    pub head_dropout: f64,
}

impl Default for TextSettings {
    fn default() -> Self {
        TextSettings {
            units: Units::Word,
            min_freq: 2,
            lowercase: true,
            embed_dropout: 0.5,
            head_dropout: 0.0,
        }
    }
}

/// A word vocabulary: token id = index in `words`; `words.len()` is the unknown token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WordUnits {
    /// The words with a token of their own, sorted.
    pub words: Vec<String>,
    /// Texts are lower-cased before they are cut.
    pub lowercase: bool,
}

/// The words (and punctuation marks) of `text`, spaces dropped, lower-cased if asked.
pub fn split_words(text: &str, lowercase: bool) -> Vec<String> {
    let text = if lowercase {
        text.to_lowercase()
    } else {
        text.to_string()
    };
    text.split_word_bounds()
        .filter(|w| !w.trim().is_empty())
        .map(str::to_string)
        .collect()
}

impl WordUnits {
    /// The vocabulary of the texts `idx` of `data`: every word seen at least `min_freq` times.
    ///
    /// # Errors
    /// [`Error::Config`] for a `min_freq` of 0; [`Error::Input`] when no word is frequent
    /// enough.
    pub fn fit(data: &Dataset, idx: &[usize], min_freq: usize, lowercase: bool) -> Result<Self> {
        if min_freq == 0 {
            return Err(Error::Config("`min_freq` must be at least 1".into()));
        }
        let mut counts: HashMap<String, usize> = HashMap::new();
        for &i in idx {
            if let Item::Text(c) = &data.items[i] {
                let text: String = c.iter().collect();
                for w in split_words(&text, lowercase) {
                    *counts.entry(w).or_default() += 1;
                }
            }
        }
        let mut words: Vec<String> = counts
            .into_iter()
            .filter(|(_, n)| *n >= min_freq)
            .map(|(w, _)| w)
            .collect();
        if words.is_empty() {
            return Err(Error::Input(format!(
                "no word occurs {min_freq} times or more in the training texts (lower `min_freq`)"
            )));
        }
        words.sort_unstable();
        Ok(WordUnits { words, lowercase })
    }

    /// Checks that the words are distinct, non-empty and without spaces; the message names
    /// the field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first bad word.
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for w in &self.words {
            if w.is_empty() || w.chars().any(char::is_whitespace) {
                return Err(Error::Config(format!(
                    "words lists {w:?}, which is empty or holds a space"
                )));
            }
            if !seen.insert(w.as_str()) {
                return Err(Error::Config(format!("words lists {w:?} twice")));
            }
        }
        Ok(())
    }

    /// The index from word to token id.
    pub fn index(&self) -> HashMap<String, u32> {
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect()
    }

    /// Token ids of `text` under `index` ([`Self::index`]); words outside the vocabulary get
    /// the unknown token, and a text without a word reads as one unknown token.
    pub fn encode(&self, index: &HashMap<String, u32>, text: &[char]) -> Vec<u32> {
        let unknown = self.words.len() as u32;
        let text: String = text.iter().collect();
        let ids: Vec<u32> = split_words(&text, self.lowercase)
            .iter()
            .map(|w| index.get(w).copied().unwrap_or(unknown))
            .collect();
        if ids.is_empty() {
            vec![unknown]
        } else {
            ids
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_punctuation_are_tokens() {
        assert_eq!(
            split_words("It's a GREAT film, isn't it?!", true),
            ["it's", "a", "great", "film", ",", "isn't", "it", "?", "!"]
        );
        let data = Dataset {
            items: ["a b a", "b c", "a"]
                .iter()
                .map(|t| Item::Text(t.chars().collect()))
                .collect(),
            labels: vec!["x".into(); 3],
            ..Default::default()
        };
        let w = WordUnits::fit(&data, &[0, 1, 2], 2, true).unwrap();
        assert_eq!(w.words, ["a", "b"]);
        let index = w.index();
        assert_eq!(
            w.encode(&index, &"A c b".chars().collect::<Vec<_>>()),
            [0, 2, 1]
        );
        assert_eq!(w.encode(&index, &[' ']), [2]);
        assert!(WordUnits::fit(&data, &[1], 2, true).is_err());
        assert!("subword".parse::<Units>().is_err());
    }
}
