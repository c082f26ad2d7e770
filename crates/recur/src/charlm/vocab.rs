//! The character vocabulary: every distinct character of the training text, sorted, token id =
//! index.

use crate::error::{Error, Result};
use std::collections::HashMap;

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

    /// The id of a character that writes the same thing as `c` differently (straight and curly
    /// quotes, hyphens and dashes), when `c` itself is not in the vocabulary.
    fn folded(&self, c: char) -> Option<u32> {
        const SAME: [&[char]; 3] = [
            &['\'', '\u{2019}', '\u{2018}', '`', '\u{2032}'],
            &['"', '\u{201c}', '\u{201d}', '\u{2033}'],
            &['-', '\u{2014}', '\u{2013}', '\u{2010}', '\u{2212}'],
        ];
        let group = SAME.iter().find(|g| g.contains(&c))?;
        group.iter().find_map(|&alt| self.id(alt))
    }

    /// Encodes `text` as [`Self::encode`] does, but leaves out the characters that stay outside
    /// the vocabulary after folding; returns the tokens and the characters left out (each once,
    /// in order of appearance) with their count.
    pub fn encode_skipping(&self, text: &str) -> (Vec<u32>, Vec<char>, usize) {
        let (mut out, mut unknown, mut skipped) = (Vec::with_capacity(text.len()), Vec::new(), 0);
        for c in text.chars() {
            match self.id(c).or_else(|| self.folded(c)) {
                Some(id) => out.push(id),
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

    /// Encodes `text`; a character outside the vocabulary is first replaced by one that writes
    /// the same thing differently (straight or curly quotes, hyphen or dash), and the error lists
    /// the characters that remain unknown and where the first occurs (`what` names the text,
    /// e.g. a file).
    pub fn encode(&self, text: &str, what: &str) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len());
        let mut unknown: Vec<(char, usize, usize)> = Vec::new();
        let (mut line, mut col) = (1, 1);
        for c in text.chars() {
            match self.id(c).or_else(|| self.folded(c)) {
                Some(id) => out.push(id),
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
