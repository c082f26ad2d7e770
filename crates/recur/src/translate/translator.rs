//! A translation model as saved and loaded: the encoder-decoder ([`crate::seq2seq::Seq2Seq`])
//! with its vocabularies, and text in, text out.
//!
//! The checkpoint (`task: "translate"`) is a directory: `config.json` holds `model`
//! ([`Seq2SeqConfig`]), `vocab` ([`Vocabularies`]'s JSON), `training` (the settings) and `card`
//! (data, sizes, scores); `model.safetensors` the parameters under their PyTorch names (see
//! [`Seq2Seq`]).

use super::subword::{BOS, EOS};
use super::vocabularies::Vocabularies;
use crate::error::{Error, Result};
use crate::io::TensorFile;
use crate::seq2seq::{DecodeOptions, Seq2Seq, Seq2SeqConfig};
use recur_kernels::Threads;
use std::path::Path;

/// The `task` of a translation checkpoint.
pub const TASK: &str = "translate";

/// A trained translation model.
#[derive(Clone)]
pub struct Translator {
    /// The encoder-decoder.
    pub model: Seq2Seq<f32>,
    /// Text to token ids and back, per side.
    pub vocab: Vocabularies,
    /// The model card: data, sizes and scores, as saved.
    pub card: serde_json::Value,
}

/// One translated sentence.
#[derive(Clone, Debug, PartialEq)]
pub struct Translation {
    /// The translation, detokenised.
    pub text: String,
    /// The source sentence's tokens as text pieces (a leading space shown as `▁`).
    pub source_tokens: Vec<String>,
    /// The translation's tokens as text pieces, then `</s>` when the search reached it.
    pub target_tokens: Vec<String>,
    /// The log-probability of the translation under the model.
    pub log_prob: f64,
    /// The score the search compared (after the length penalty).
    pub score: f64,
    /// With [`DecodeOptions::keep_attention`]: one row per target token, one weight per source
    /// token.
    pub attention: Vec<Vec<f32>>,
}

impl std::fmt::Debug for Translator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translator")
            .field("model", self.model.config())
            .field("source_vocab", &self.vocab.source().size())
            .field("target_vocab", &self.vocab.target().size())
            .finish()
    }
}

impl Translator {
    /// Loads the checkpoint in `dir`.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Format`] naming the file, field or tensor that is missing, of
    /// another task, or does not fit.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let config: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::format(&path, format!("not JSON ({e})")))?;
        let task = config.get("task").and_then(|t| t.as_str());
        if task != Some(TASK) {
            return Err(Error::format(
                &path,
                format!(
                    "holds a {} checkpoint, not a translation model",
                    task.unwrap_or("non-recur")
                ),
            ));
        }
        let model: Seq2SeqConfig = serde_json::from_value(config["model"].clone())
            .map_err(|e| Error::format(&path, format!("model: {e}")))?;
        let vocab = Vocabularies::from_json(&config["vocab"], &path, "vocab")?;
        if vocab.source().size() != model.src_vocab || vocab.target().size() != model.tgt_vocab {
            return Err(Error::format(
                &path,
                format!(
                    "the vocabularies ({} and {} entries) do not fit the model's src_vocab {} and tgt_vocab {}",
                    vocab.source().size(),
                    vocab.target().size(),
                    model.src_vocab,
                    model.tgt_vocab
                ),
            ));
        }
        let mut m = Seq2Seq::zeros(model).map_err(|e| match e {
            Error::Config(m) => Error::format(&path, format!("model: {m}")),
            e => e,
        })?;
        m.load_tensors(TensorFile::read(dir.join("model.safetensors"))?)?;
        Ok(Translator {
            model: m,
            vocab,
            card: config
                .get("card")
                .cloned()
                .unwrap_or(serde_json::Value::Null),
        })
    }

    /// Decoding settings for this model: beam `beam`, its `<s>` and `</s>`.
    pub fn decode_options(&self, beam: usize) -> DecodeOptions {
        DecodeOptions::new(beam, BOS, EOS)
    }

    /// Translates `sentences` together (beam search by `opts`).
    ///
    /// # Errors
    /// [`Error::Input`] naming the sentence (1-based) that is empty or encodes to nothing;
    /// [`Error::Config`] for a beam of 0.
    pub fn translate(
        &self,
        threads: &Threads,
        sentences: &[&str],
        opts: &DecodeOptions,
    ) -> Result<Vec<Translation>> {
        let src = self.vocab.source();
        let ids = sentences
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let ids = src.encode(s)?;
                if ids.is_empty() {
                    return Err(Error::Input(format!(
                        "sentence {}: empty, nothing to translate",
                        i + 1
                    )));
                }
                Ok(ids)
            })
            .collect::<Result<Vec<_>>>()?;
        let views: Vec<&[u32]> = ids.iter().map(|v| &v[..]).collect();
        let hyps = self.model.translate(threads, &views, opts)?;
        let tgt = self.vocab.target();
        let spell = |v: &super::subword::Vocab, ids: &[u32]| -> Vec<String> {
            ids.iter().map(|&t| piece(v, t)).collect()
        };
        hyps.into_iter()
            .zip(&ids)
            .map(|(h, s)| {
                let mut target_tokens = spell(tgt, &h.tokens);
                if h.finished {
                    target_tokens.push("</s>".into());
                }
                Ok(Translation {
                    text: tgt.decode(&h.tokens)?,
                    source_tokens: spell(src, s),
                    target_tokens,
                    log_prob: h.log_prob,
                    score: h.score,
                    attention: h.attention,
                })
            })
            .collect()
    }
}

/// Token `id` as the text it stands for, a leading space shown as `▁` (SentencePiece's mark);
/// a byte that is part of a longer character shows as `�`.
pub fn piece(vocab: &super::subword::Vocab, id: u32) -> String {
    let text = vocab
        .decode(&[id])
        .unwrap_or_else(|_| vocab.token(id).unwrap_or_default());
    match text.strip_prefix(' ') {
        Some(rest) => format!("▁{rest}"),
        None => text,
    }
}
