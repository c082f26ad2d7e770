//! The character vocabulary: every distinct character of the training text, sorted, token id =
//! index; optionally with an unknown symbol ([`UNK`]) that stands for every character outside it.
//!
//! A character outside the vocabulary is first folded onto one that writes the same thing: the
//! other straight or curly quote, hyphen or dash; then its Unicode compatibility form (NFKC,
//! Unicode Standard Annex #15: `ﬁ` → `fi`, a full-width `Ａ` → `A`, `…` → `...`); then the same
//! without accents (NFKD less the combining marks: `é` → `e`). Only what remains unknown is an
//! error (or, with [`UNK`] in the vocabulary, the unknown symbol).

use crate::error::{Error, Result};
use std::collections::HashMap;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// The unknown symbol (U+FFFD REPLACEMENT CHARACTER): in a vocabulary made with
/// [`Vocab::from_text_with_unk`], every character outside it is read as this one.
pub const UNK: char = '\u{FFFD}';

/// Characters and their token ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    chars: Vec<char>,
    ids: HashMap<char, u32>,
}

impl Vocab {
    /// The sorted distinct characters of `text`.
    pub fn from_text(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Self::from_chars(chars)
    }

    /// The sorted characters of `text` that occur at least `min_count` times, and [`UNK`], which
    /// every other character (in this text: the rare ones, so that the model learns the symbol)
    /// is read as.
    pub fn from_text_with_unk(text: &str, min_count: usize) -> Self {
        let mut counts: HashMap<char, usize> = HashMap::new();
        for c in text.chars() {
            *counts.entry(c).or_default() += 1;
        }
        let mut chars: Vec<char> = counts
            .into_iter()
            .filter(|&(c, n)| n >= min_count && c != UNK)
            .map(|(c, _)| c)
            .collect();
        chars.push(UNK);
        chars.sort_unstable();
        Self::from_chars(chars)
    }

    /// Whether the vocabulary has the unknown symbol [`UNK`].
    pub fn has_unk(&self) -> bool {
        self.ids.contains_key(&UNK)
    }

    /// A vocabulary of exactly `chars`, in that order.
    pub fn from_chars(chars: Vec<char>) -> Self {
        let ids = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as u32))
            .collect();
        Vocab { chars, ids }
    }

    /// From the checkpoint form: one single-character string per token.
    pub fn from_strings(strings: &[String]) -> Result<Self> {
        let mut chars = Vec::with_capacity(strings.len());
        for (i, s) in strings.iter().enumerate() {
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => chars.push(c),
                _ => {
                    return Err(Error::Config(format!(
                        "vocab entry {i} is {s:?}, expected exactly one character"
                    )))
                }
            }
        }
        let vocab = Self::from_chars(chars);
        if vocab.ids.len() != vocab.chars.len() {
            return Err(Error::Config("vocab lists a character twice".into()));
        }
        Ok(vocab)
    }

    /// The checkpoint form: one single-character string per token.
    pub fn to_strings(&self) -> Vec<String> {
        self.chars.iter().map(|c| c.to_string()).collect()
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The character of token `id`.
    pub fn char(&self, id: u32) -> char {
        self.chars[id as usize]
    }

    /// The token of `c`, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<u32> {
        self.ids.get(&c).copied()
    }

    /// The tokens of what `c` writes when `c` itself is not in the vocabulary: the other quote
    /// or dash, the NFKC compatibility form, the form without accents (see the module's docs).
    fn folded(&self, c: char) -> Option<Vec<u32>> {
        const SAME: [&[char]; 3] = [
            &['\'', '\u{2019}', '\u{2018}', '`', '\u{2032}'],
            &['"', '\u{201c}', '\u{201d}', '\u{2033}'],
            &['-', '\u{2014}', '\u{2013}', '\u{2010}', '\u{2212}'],
        ];
        if let Some(group) = SAME.iter().find(|g| g.contains(&c)) {
            return group
                .iter()
                .find_map(|&alt| self.id(alt))
                .map(|id| vec![id]);
        }
        let all_known = |s: &str| -> Option<Vec<u32>> {
            let ids: Option<Vec<u32>> = s
                .chars()
                .map(|c| self.id(c).or_else(|| self.quote_or_dash(c)))
                .collect();
            ids.filter(|v| !v.is_empty())
        };
        let compatible: String = std::iter::once(c).nfkc().collect();
        if compatible.chars().ne(std::iter::once(c)) {
            if let Some(ids) = all_known(&compatible) {
                return Some(ids);
            }
        }
        let bare: String = std::iter::once(c)
            .nfkd()
            .filter(|&m| !is_combining_mark(m))
            .collect();
        if bare.chars().ne(std::iter::once(c)) {
            return all_known(&bare);
        }
        None
    }

    /// The other quote or dash of `c`'s group that the vocabulary has.
    fn quote_or_dash(&self, c: char) -> Option<u32> {
        match c {
            '\'' | '"' | '-' => self.folded(c).map(|v| v[0]),
            _ => None,
        }
    }

    /// The tokens of `c`: its own, folded, or the unknown symbol; `None` when it stays unknown.
    fn tokens_of(&self, c: char) -> Option<Vec<u32>> {
        match self.id(c) {
            Some(id) => Some(vec![id]),
            None => self.folded(c).or_else(|| self.id(UNK).map(|u| vec![u])),
        }
    }

    /// Encodes `text` as [`Self::encode`] does, but leaves out the characters that stay outside
    /// the vocabulary after folding; returns the tokens and the characters left out (each once,
    /// in order of appearance) with their count.
    pub fn encode_skipping(&self, text: &str) -> (Vec<u32>, Vec<char>, usize) {
        let (mut out, mut unknown, mut skipped) = (Vec::with_capacity(text.len()), Vec::new(), 0);
        for c in text.chars() {
            match self.tokens_of(c) {
                Some(ids) => out.extend(ids),
                None => {
                    skipped += 1;
                    if !unknown.contains(&c) {
                        unknown.push(c);
                    }
                }
            }
        }
        (out, unknown, skipped)
    }

    /// Encodes `text`; a character outside the vocabulary is first replaced by what writes the
    /// same thing (quotes, dashes, compatibility forms, accents: see the module's docs), then by
    /// [`UNK`] when the vocabulary has it; the error lists the characters that remain unknown
    /// and where the first occurs (`what` names the text, e.g. a file).
    ///
    /// # Errors
    /// [`Error::Input`] naming `what`, the unknown characters and the first one's line and
    /// column.
    pub fn encode(&self, text: &str, what: &str) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len());
        let mut unknown: Vec<(char, usize, usize)> = Vec::new();
        let (mut line, mut col) = (1, 1);
        for c in text.chars() {
            match self.tokens_of(c) {
                Some(ids) => out.extend(ids),
                None if !unknown.iter().any(|u| u.0 == c) => unknown.push((c, line, col)),
                None => {}
            }
            if c == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        if let Some(&(c, line, col)) = unknown.first() {
            let list: Vec<String> = unknown
                .iter()
                .take(10)
                .map(|u| format!("{:?}", u.0))
                .collect();
            return Err(Error::Input(format!(
                "{what}: {} character(s) not in the model's vocabulary: {}{} (first: {c:?} at line {line}, column {col})",
                unknown.len(),
                list.join(" "),
                if unknown.len() > 10 { " …" } else { "" }
            )));
        }
        Ok(out)
    }

    /// Decodes tokens into text.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter().map(|&i| self.char(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_dashes_fold_to_those_the_vocabulary_has() {
        let v = Vocab::from_text("It\u{2019}s \u{201c}here\u{201d} \u{2014} yes");
        let folded = v.encode("It's \"here\" - yes", "prime").unwrap();
        let exact = v
            .encode("It\u{2019}s \u{201c}here\u{201c} \u{2014} yes", "prime")
            .unwrap();
        assert_eq!(folded, exact);
        assert!(
            v.encode("It's a zebra", "prime").is_err(),
            "z is not foldable"
        );
        // Skipping instead: a, z, b are left out (5 characters), the rest encoded.
        let (tokens, unknown, skipped) = v.encode_skipping("It's a zebra z");
        assert_eq!((unknown, skipped), (vec!['a', 'z', 'b'], 5));
        assert_eq!(tokens, v.encode("It's  er ", "prime").unwrap());
    }

    #[test]
    fn compatibility_forms_and_accents_fold_and_unk_takes_the_rest() {
        let v = Vocab::from_text("fine cafe A...");
        // ﬁ ligature → "fi", full-width Ａ → A, … → "...", é → e.
        assert_eq!(
            v.encode("\u{fb01}ne caf\u{e9} \u{ff21}\u{2026}", "t")
                .unwrap(),
            v.encode("fine cafe A...", "t").unwrap()
        );
        assert!(v.encode("z", "t").is_err());
        let u = Vocab::from_text_with_unk("aaab", 2);
        assert!(u.has_unk() && u.id('b').is_none());
        let ids = u.encode("abz", "t").unwrap();
        assert_eq!(
            ids,
            vec![u.id('a').unwrap(), u.id(UNK).unwrap(), u.id(UNK).unwrap()]
        );
        assert_eq!(Vocab::from_strings(&u.to_strings()).unwrap(), u);
    }

    #[test]
    fn sorted_round_trip_and_unknowns() {
        let v = Vocab::from_text("hello world\n");
        assert_eq!(v.decode(&v.encode("hold", "t").unwrap()), "hold");
        assert_eq!(v.char(0), '\n');
        let e = v.encode("he\nxyz", "eval.txt").unwrap_err().to_string();
        assert!(
            e.contains("eval.txt") && e.contains("'x'") && e.contains("line 2, column 1"),
            "{e}"
        );
        assert_eq!(Vocab::from_strings(&v.to_strings()).unwrap(), v);
        assert!(Vocab::from_strings(&["ab".into()]).is_err());
    }
}
