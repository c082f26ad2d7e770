//! Subword vocabularies learned from training text, through the `tokenizers` crate.
//!
//! The default is byte-level byte-pair encoding (as GPT-2's): text is cut at word and
//! punctuation boundaries (spaces kept at the start of the following word), each piece is seen
//! as its UTF-8 bytes, and the most frequent adjacent pairs are merged until the vocabulary has
//! [`VocabSettings::vocab_size`] entries. All 256 bytes are in every vocabulary, so any text
//! encodes without an unknown token and decodes back to exactly itself. For teaching,
//! [`Units::Word`] keeps whole words instead (split at whitespace and punctuation, optionally
//! lower-cased, rarer than `min_freq` sharing `<unk>`); its decoding puts one space between
//! tokens.
//!
//! Every vocabulary starts with the special tokens `<pad>` = 0, `<s>` = 1, `</s>` = 2 and
//! `<unk>` = 3 ([`PAD`], [`BOS`], [`EOS`], [`UNK`]). Encoding never produces `<pad>`, `<s>` or
//! `</s>`, not even for text that spells them, and decoding leaves them out. Learning is
//! deterministic: the same text and settings give the same vocabulary. A vocabulary serialises
//! to the `tokenizers` crate's own JSON ([`Vocab::to_json`]), which a checkpoint stores.

use crate::error::{Error, Result};
use crate::input::read_utf8;
use crate::io::write_atomically;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tokenizers::models::bpe::{BpeTrainer, BPE};
use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainer};
use tokenizers::models::TrainerWrapper;
use tokenizers::normalizers::Lowercase;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::punctuation::Punctuation;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::{AddedToken, ModelWrapper, SplitDelimiterBehavior, Tokenizer};

/// Padding: the id that fills a batch past a sentence's end.
pub const PAD: u32 = 0;
/// Beginning of a sentence (the decoder's first input).
pub const BOS: u32 = 1;
/// End of a sentence.
pub const EOS: u32 = 2;
/// A token outside the vocabulary (word units only; byte-level BPE never needs it).
pub const UNK: u32 = 3;
/// The special tokens, id = index.
pub const SPECIAL_TOKENS: [&str; 4] = ["<pad>", "<s>", "</s>", "<unk>"];
/// The largest vocabulary learned or loaded.
pub const MAX_VOCAB_SIZE: usize = 1 << 20;
/// The smallest byte-level BPE vocabulary: the special tokens and the 256 bytes.
pub const MIN_BPE_VOCAB_SIZE: usize = SPECIAL_TOKENS.len() + 256;

/// The units of a vocabulary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    /// Byte-level byte-pair encoding: exact round trip of any text.
    #[default]
    Bpe,
    /// Whole words and punctuation marks, for teaching; unseen words become `<unk>`.
    Word,
}

impl std::str::FromStr for Units {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "bpe" => Ok(Units::Bpe),
            "word" => Ok(Units::Word),
            other => Err(Error::Config(format!(
                "`units` must be bpe or word, got {other:?}"
            ))),
        }
    }
}

/// How a vocabulary is learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VocabSettings {
    /// BPE or words.
    pub units: Units,
    /// The most entries, special tokens included (BPE: at least [`MIN_BPE_VOCAB_SIZE`]).
    pub vocab_size: usize,
    /// BPE: the fewest occurrences of a pair for a merge; words: of a word for an entry.
    pub min_freq: usize,
    /// Words only: lower-case the text first (BPE keeps text exact).
    pub lowercase: bool,
}

impl VocabSettings {
    /// Byte-level BPE with `vocab_size` entries, merging pairs seen at least twice.
    pub fn bpe(vocab_size: usize) -> Self {
        VocabSettings {
            units: Units::Bpe,
            vocab_size,
            min_freq: 2,
            lowercase: false,
        }
    }

    /// Words seen at least `min_freq` times, with no limit on their number.
    pub fn words(min_freq: usize, lowercase: bool) -> Self {
        VocabSettings {
            units: Units::Word,
            vocab_size: MAX_VOCAB_SIZE,
            min_freq,
            lowercase,
        }
    }

    /// Fails on settings that cannot give a vocabulary.
    ///
    /// # Errors
    /// [`Error::Config`] naming `vocab_size`, `min_freq` or `lowercase`.
    pub fn check(&self) -> Result<()> {
        let least = match self.units {
            Units::Bpe => MIN_BPE_VOCAB_SIZE,
            Units::Word => SPECIAL_TOKENS.len() + 1,
        };
        if self.vocab_size < least || self.vocab_size > MAX_VOCAB_SIZE {
            return Err(Error::Config(format!(
                "`vocab_size` must be from {least} to {MAX_VOCAB_SIZE} for {} units, got {}",
                self.units.name(),
                self.vocab_size
            )));
        }
        if self.min_freq == 0 {
            return Err(Error::Config("`min_freq` must be at least 1".into()));
        }
        if self.lowercase && self.units == Units::Bpe {
            return Err(Error::Config(
                "`lowercase` applies to word units only: a BPE vocabulary keeps the text exact"
                    .into(),
            ));
        }
        Ok(())
    }
}

impl Units {
    /// `"bpe"` or `"word"`.
    pub fn name(self) -> &'static str {
        match self {
            Units::Bpe => "bpe",
            Units::Word => "word",
        }
    }
}

/// A learned vocabulary: text to token ids and back.
#[derive(Clone)]
pub struct Vocab {
    // Boxed: a `Tokenizer` is large, and vocabularies travel in enums and configs.
    tokenizer: Box<Tokenizer>,
    units: Units,
}

impl std::fmt::Debug for Vocab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vocab")
            .field("units", &self.units)
            .field("size", &self.size())
            .finish()
    }
}

/// A `tokenizers` error as one of ours.
fn tokenizers_error(what: &str, e: tokenizers::Error) -> Error {
    Error::Input(format!("{what}: {e}"))
}

/// An untrained tokenizer for `settings` (model, normaliser, pre-tokeniser, decoder).
fn pipeline(settings: &VocabSettings) -> Result<Tokenizer> {
    let tokenizer = match settings.units {
        Units::Bpe => {
            let mut t = Tokenizer::new(BPE::default());
            let byte_level = ByteLevel::new(false, false, true);
            t.with_pre_tokenizer(Some(byte_level));
            t.with_decoder(Some(byte_level));
            t
        }
        Units::Word => {
            let model = WordLevel::builder()
                .unk_token(SPECIAL_TOKENS[UNK as usize].into())
                .build()
                .map_err(|e| tokenizers_error("word vocabulary", e))?;
            let mut t = Tokenizer::new(model);
            if settings.lowercase {
                t.with_normalizer(Some(Lowercase))
                    .map_err(|e| tokenizers_error("word vocabulary", e))?;
            }
            t.with_pre_tokenizer(Some(Sequence::new(vec![
                WhitespaceSplit.into(),
                Punctuation::new(SplitDelimiterBehavior::Isolated).into(),
            ])));
            t
        }
    };
    Ok(tokenizer)
}

/// The trainer for `settings`.
fn trainer(settings: &VocabSettings) -> TrainerWrapper {
    let specials: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    match settings.units {
        Units::Bpe => BpeTrainer::builder()
            .vocab_size(settings.vocab_size)
            .min_frequency(settings.min_freq as u64)
            .special_tokens(specials)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .show_progress(false)
            .build()
            .into(),
        Units::Word => {
            let mut trainer = WordLevelTrainer::default();
            trainer.vocab_size = settings.vocab_size;
            trainer.min_frequency = settings.min_freq as u64;
            trainer.special_tokens = specials;
            trainer.show_progress = false;
            trainer.into()
        }
    }
}

impl Vocab {
    /// Learns a vocabulary from `texts` (one sentence each).
    ///
    /// # Errors
    /// [`Error::Config`] for settings [`VocabSettings::check`] refuses, [`Error::Input`] when
    /// `texts` is empty or holds only whitespace.
    pub fn learn<'a>(
        texts: impl IntoIterator<Item = &'a str>,
        settings: &VocabSettings,
    ) -> Result<Self> {
        settings.check()?;
        let texts: Vec<&str> = texts.into_iter().collect();
        if texts.iter().all(|t| t.trim().is_empty()) {
            return Err(Error::Input(
                "no training text to learn a vocabulary from".into(),
            ));
        }
        let mut tokenizer = pipeline(settings)?;
        tokenizer
            .train(&mut trainer(settings), texts.into_iter())
            .map_err(|e| tokenizers_error("learning the vocabulary", e))?;
        Self::checked(tokenizer, |m| {
            Error::Input(format!("learned vocabulary: {m}"))
        })
    }

    /// `tokenizer` as a vocabulary, if it has the special tokens at their ids and a model of
    /// ours; `error` makes the error of a message.
    fn checked(mut tokenizer: Tokenizer, error: impl Fn(String) -> Error) -> Result<Self> {
        let units = match tokenizer.get_model() {
            ModelWrapper::BPE(_) => Units::Bpe,
            ModelWrapper::WordLevel(_) => Units::Word,
            _ => return Err(error("the model must be BPE or WordLevel".into())),
        };
        for (id, token) in SPECIAL_TOKENS.iter().enumerate() {
            if tokenizer.token_to_id(token) != Some(id as u32) {
                return Err(error(format!(
                    "the special token {token} must have id {id}, found {:?}",
                    tokenizer.token_to_id(token)
                )));
            }
        }
        let size = tokenizer.get_vocab_size(true);
        if size > MAX_VOCAB_SIZE {
            return Err(error(format!(
                "{size} tokens, more than the limit of {MAX_VOCAB_SIZE}"
            )));
        }
        // Ids index embedding rows: they must be 0..size, each once.
        let mut ids: Vec<u32> = tokenizer.get_vocab(true).into_values().collect();
        ids.sort_unstable();
        if let Some((i, &id)) = ids.iter().enumerate().find(|&(i, &id)| id as usize != i) {
            return Err(error(format!(
                "token ids must run from 0 to {} without gaps or repeats, found id {id} in place {i}",
                size.saturating_sub(1)
            )));
        }
        // Text that spells a special token is text, not the token.
        tokenizer.set_encode_special_tokens(true);
        Ok(Vocab {
            tokenizer: Box::new(tokenizer),
            units,
        })
    }

    /// BPE or words.
    pub fn units(&self) -> Units {
        self.units
    }

    /// The number of token ids, special tokens included.
    pub fn size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The token of `id`, if there is one.
    pub fn token(&self, id: u32) -> Option<String> {
        self.tokenizer.id_to_token(id)
    }

    /// The id of `token`, if it is in the vocabulary.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// The token ids of `text`, without `<s>` or `</s>`.
    ///
    /// # Errors
    /// [`Error::Input`] if the tokenizer fails on the text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| tokenizers_error("encoding", e))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`, leaving out `<pad>`, `<s>` and `</s>`: exactly the encoded text for
    /// BPE, the tokens separated by spaces for words (`<unk>` spelled out).
    ///
    /// # Errors
    /// [`Error::Input`] for an id outside the vocabulary.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let size = self.size();
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= size) {
            return Err(Error::Input(format!(
                "token id {bad} is outside the vocabulary of {size} tokens"
            )));
        }
        let kept: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&id| !matches!(id, PAD | BOS | EOS))
            .collect();
        self.tokenizer
            .decode(&kept, false)
            .map_err(|e| tokenizers_error("decoding", e))
    }

    /// The vocabulary as the `tokenizers` crate's JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.tokenizer).expect("a tokenizer serialises to JSON")
    }

    /// A vocabulary from the JSON of [`Vocab::to_json`], stored in `path` under `field` (empty
    /// for the whole file); errors name both.
    ///
    /// # Errors
    /// [`Error::Format`] when the JSON is not a tokenizer, has another model than BPE or
    /// WordLevel, lacks the special tokens at ids 0 to 3, or is larger than [`MAX_VOCAB_SIZE`].
    pub fn from_json(value: &serde_json::Value, path: &Path, field: &str) -> Result<Self> {
        let error = |m: String| {
            let at = if field.is_empty() {
                String::new()
            } else {
                format!("`{field}`: ")
            };
            Error::format(path, format!("{at}{m}"))
        };
        let tokenizer: Tokenizer = serde_json::from_value(value.clone())
            .map_err(|e| error(format!("not a tokenizers vocabulary: {e}")))?;
        Self::checked(tokenizer, error)
    }

    /// Writes the vocabulary's JSON to `path`, atomically.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.to_json()).expect("JSON values print");
        write_atomically(path, format!("{text}\n").as_bytes())
    }

    /// Reads a vocabulary written by [`Vocab::save`].
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::Format`] as [`Vocab::from_json`]
    /// and for text that is not JSON.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_utf8(path)?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::format(path, format!("not JSON: {e}")))?;
        Self::from_json(&value, path, "")
    }
}
