//! The vocabularies of a translation model: one shared by both languages, or one per side.
//!
//! A shared vocabulary is learned from the source and target sentences together (one embedding
//! table can then serve both sides, and words spelled alike in both languages get one id);
//! separate vocabularies are learned from each side alone. In JSON a shared pair is
//! `{"shared": V}` and a separate one `{"source": V, "target": V}`, each `V` a
//! [`Vocab::to_json`].

use super::pairs::SentencePair;
use super::subword::{Vocab, VocabSettings};
use crate::error::{Error, Result};
use std::path::Path;

/// The source and target vocabularies.
#[derive(Clone, Debug)]
pub enum Vocabularies {
    /// One vocabulary for both sides.
    Shared(Vocab),
    /// One vocabulary per side.
    Separate {
        /// The source side's.
        source: Vocab,
        /// The target side's.
        target: Vocab,
    },
}

impl Vocabularies {
    /// Learns one shared vocabulary from both sides of `pairs`, or one per side.
    ///
    /// # Errors
    /// As [`Vocab::learn`].
    pub fn learn(pairs: &[SentencePair], settings: &VocabSettings, shared: bool) -> Result<Self> {
        let sources = pairs.iter().map(|p| p.source.as_str());
        let targets = pairs.iter().map(|p| p.target.as_str());
        if shared {
            Ok(Vocabularies::Shared(Vocab::learn(
                sources.chain(targets),
                settings,
            )?))
        } else {
            Ok(Vocabularies::Separate {
                source: Vocab::learn(sources, settings)?,
                target: Vocab::learn(targets, settings)?,
            })
        }
    }

    /// Whether both sides share one vocabulary.
    pub fn is_shared(&self) -> bool {
        matches!(self, Vocabularies::Shared(_))
    }

    /// The source side's vocabulary.
    pub fn source(&self) -> &Vocab {
        match self {
            Vocabularies::Shared(v) => v,
            Vocabularies::Separate { source, .. } => source,
        }
    }

    /// The target side's vocabulary.
    pub fn target(&self) -> &Vocab {
        match self {
            Vocabularies::Shared(v) => v,
            Vocabularies::Separate { target, .. } => target,
        }
    }

    /// `{"shared": V}` or `{"source": V, "target": V}`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Vocabularies::Shared(v) => serde_json::json!({ "shared": v.to_json() }),
            Vocabularies::Separate { source, target } => {
                serde_json::json!({ "source": source.to_json(), "target": target.to_json() })
            }
        }
    }

    /// The vocabularies of [`Vocabularies::to_json`], stored in `path` under `field`; errors name
    /// both.
    ///
    /// # Errors
    /// [`Error::Format`] when the value is neither form, or as [`Vocab::from_json`].
    pub fn from_json(value: &serde_json::Value, path: &Path, field: &str) -> Result<Self> {
        let object = value
            .as_object()
            .ok_or_else(|| Error::format(path, format!("`{field}` must be an object")))?;
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        match keys.as_slice() {
            ["shared"] => Ok(Vocabularies::Shared(Vocab::from_json(
                &object["shared"],
                path,
                &format!("{field}.shared"),
            )?)),
            ["source", "target"] | ["target", "source"] => Ok(Vocabularies::Separate {
                source: Vocab::from_json(&object["source"], path, &format!("{field}.source"))?,
                target: Vocab::from_json(&object["target"], path, &format!("{field}.target"))?,
            }),
            _ => Err(Error::format(
                path,
                format!(
                    "`{field}` must hold either `shared` or both `source` and `target`, found {keys:?}"
                ),
            )),
        }
    }
}
