//! The output alphabet of an acoustic model: the symbols a transcript is written in, either its
//! characters or its whitespace-separated words, plus the CTC blank as class 0.
//!
//! For connected digits the word alphabet is the natural one: the ten digit words are ten
//! classes, a transcript `"three one four"` is three labels, and the word error rate is the
//! digit error rate. Characters suit open vocabularies (the model spells).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// What a symbol of the alphabet is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Whitespace-separated words: labels are words, the output is joined by single spaces.
    #[default]
    Word,
    /// Unicode characters, the space included (runs of whitespace read as one space).
    Char,
}

impl std::str::FromStr for Unit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "word" => Ok(Unit::Word),
            "char" => Ok(Unit::Char),
            _ => Err(Error::Config(format!(
                "`unit` must be word or char, got {s:?}"
            ))),
        }
    }
}

/// The symbols of a model's output: class 0 is the CTC blank, class `i + 1` is `symbols[i]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alphabet {
    /// What a symbol is.
    pub unit: Unit,
    /// The symbols, sorted, without duplicates.
    pub symbols: Vec<String>,
}

/// The CTC blank's class id in every [`Alphabet`].
pub const BLANK: u32 = 0;

impl Alphabet {
    /// The symbols of `transcripts` (sorted, each once).
    ///
    /// # Errors
    /// [`Error::Input`] when the transcripts hold no symbol at all.
    pub fn from_transcripts<'a>(
        unit: Unit,
        transcripts: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self> {
        let mut symbols: Vec<String> = transcripts
            .into_iter()
            .flat_map(|t| split(unit, t))
            .collect();
        symbols.sort();
        symbols.dedup();
        if symbols.is_empty() {
            return Err(Error::Input("the transcripts are all empty".into()));
        }
        Ok(Alphabet { unit, symbols })
    }

    /// Classes of the model's output: the symbols and the blank.
    pub fn classes(&self) -> usize {
        self.symbols.len() + 1
    }

    /// Checks that the symbols are sorted, distinct, non-empty and fit the unit (a word holds no
    /// whitespace; a character is one character).
    ///
    /// # Errors
    /// [`Error::Config`] naming the first symbol that does not fit.
    pub fn validate(&self) -> Result<()> {
        if self.symbols.is_empty() {
            return Err(Error::Config("`alphabet.symbols` is empty".into()));
        }
        if self.symbols.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::Config(
                "`alphabet.symbols` must be sorted and distinct".into(),
            ));
        }
        for s in &self.symbols {
            let fits = match self.unit {
                Unit::Word => !s.is_empty() && !s.chars().any(char::is_whitespace),
                Unit::Char => s.chars().count() == 1,
            };
            if !fits {
                return Err(Error::Config(format!(
                    "`alphabet.symbols`: {s:?} is not one {}",
                    if self.unit == Unit::Word {
                        "word"
                    } else {
                        "character"
                    }
                )));
            }
        }
        Ok(())
    }

    /// The labels of `transcript` (class ids, no blanks).
    ///
    /// # Errors
    /// [`Error::Input`] naming the first symbol outside the alphabet.
    pub fn encode(&self, transcript: &str) -> Result<Vec<u32>> {
        split(self.unit, transcript)
            .map(|s| match self.symbols.binary_search(&s) {
                Ok(i) => Ok(i as u32 + 1),
                Err(_) => Err(Error::Input(format!(
                    "transcript {transcript:?}: symbol {s:?} is not in the model's alphabet ({})",
                    self.describe()
                ))),
            })
            .collect()
    }

    /// The transcript of `labels` (the blank and ids outside the alphabet are skipped).
    pub fn decode(&self, labels: &[u32]) -> String {
        let symbols = labels
            .iter()
            .filter_map(|&l| self.symbols.get((l as usize).checked_sub(1)?))
            .map(String::as_str);
        match self.unit {
            Unit::Word => symbols.collect::<Vec<_>>().join(" "),
            Unit::Char => symbols.collect(),
        }
    }

    /// The first few symbols, for messages.
    fn describe(&self) -> String {
        let shown: Vec<String> = self
            .symbols
            .iter()
            .take(12)
            .map(|s| format!("{s:?}"))
            .collect();
        let more = self.symbols.len().saturating_sub(12);
        if more > 0 {
            format!("{} and {more} more", shown.join(" "))
        } else {
            shown.join(" ")
        }
    }
}

/// The symbols of `transcript` in `unit`.
fn split(unit: Unit, transcript: &str) -> Box<dyn Iterator<Item = String> + '_> {
    match unit {
        Unit::Word => Box::new(transcript.split_whitespace().map(str::to_owned)),
        Unit::Char => {
            let words: Vec<&str> = transcript.split_whitespace().collect();
            Box::new(
                words
                    .join(" ")
                    .chars()
                    .map(String::from)
                    .collect::<Vec<_>>()
                    .into_iter(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_characters_round_trip() {
        let a = Alphabet::from_transcripts(Unit::Word, ["three one", "one  four "]).unwrap();
        assert_eq!(a.symbols, ["four", "one", "three"]);
        assert_eq!(a.classes(), 4);
        assert_eq!(a.encode("one four three").unwrap(), [2, 1, 3]);
        assert_eq!(a.decode(&[2, 0, 1, 3, 9]), "one four three");
        let e = a.encode("one five").unwrap_err().to_string();
        assert!(
            e.contains("\"five\"") && e.contains("not in the model's alphabet"),
            "{e}"
        );
        let c = Alphabet::from_transcripts(Unit::Char, ["ab  a", "b"]).unwrap();
        assert_eq!(c.symbols, [" ", "a", "b"]);
        assert_eq!(c.decode(&c.encode(" ab  a ").unwrap()), "ab a");
        assert!(c.validate().is_ok() && a.validate().is_ok());
        let bad = Alphabet {
            unit: Unit::Char,
            symbols: vec!["ab".into()],
        };
        assert!(bad.validate().is_err());
        assert!(Alphabet::from_transcripts(Unit::Word, [" ", ""]).is_err());
    }
}
