//! Reading a text, splitting it, and cutting the training tokens into the stateful batches of
//! char-rnn (see the DESIGN contract): `B` equal contiguous streams, step `k` feeding tokens
//! `[k*T, (k+1)*T)` of every stream with targets shifted by one.

use crate::error::{Error, Result};
use std::path::Path;

/// Reads `path` as UTF-8 text; the error names the file and the first invalid byte. A leading
/// byte-order mark is dropped, so it never becomes a character of the vocabulary.
pub fn read_text(path: &Path) -> Result<String> {
    let text = crate::input::read_utf8(path)?;
    if text.is_empty() {
        return Err(Error::format(path, "the file is empty"));
    }
    Ok(text)
}

/// Splits tokens into (training, validation): the last `val_frac` is validation.
pub fn split(tokens: &[u32], val_frac: f64) -> (&[u32], &[u32]) {
    let val = ((tokens.len() as f64) * val_frac).round() as usize;
    tokens.split_at(tokens.len() - val.min(tokens.len()))
}

/// The stateful batch layout over one token stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batcher {
    /// Streams `B`.
    pub batch: usize,
    /// Steps per batch `T`.
    pub seq_len: usize,
    /// Input tokens per stream (targets are the next token).
    pub stream_len: usize,
}

impl Batcher {
    /// The layout of `tokens` into `batch` streams of `seq_len` steps; fails (naming the sizes)
    /// when the text cannot fill one batch.
    pub fn new(tokens: usize, batch: usize, seq_len: usize) -> Result<Self> {
        let stream_len = tokens.saturating_sub(1) / batch.max(1);
        if batch == 0 || seq_len == 0 || stream_len < seq_len {
            return Err(Error::Input(format!(
                "the training text has {tokens} characters, too short for one batch of {batch} streams × {seq_len} steps (needs at least {})",
                batch.saturating_mul(seq_len).saturating_add(1)
            )));
        }
        Ok(Batcher {
            batch,
            seq_len,
            stream_len,
        })
    }

    /// Steps in one pass over the training text.
    pub fn steps_per_epoch(&self) -> usize {
        self.stream_len / self.seq_len
    }

    /// Inputs and targets of step `k` of an epoch, time-major `[T, B]`.
    pub fn batch(&self, tokens: &[u32], k: usize, inputs: &mut Vec<u32>, targets: &mut Vec<u32>) {
        let (b, t) = (self.batch, self.seq_len);
        inputs.resize(t * b, 0);
        targets.resize(t * b, 0);
        for s in 0..b {
            let start = s * self.stream_len + k * t;
            for i in 0..t {
                inputs[i * b + s] = tokens[start + i];
                targets[i * b + s] = tokens[start + i + 1];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_contiguous_and_shifted() {
        let tokens: Vec<u32> = (0..21).collect();
        let b = Batcher::new(tokens.len(), 2, 3).unwrap();
        assert_eq!(b.stream_len, 10);
        assert_eq!(b.steps_per_epoch(), 3);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        b.batch(&tokens, 1, &mut x, &mut y);
        assert_eq!(x, [3, 13, 4, 14, 5, 15]);
        assert_eq!(y, [4, 14, 5, 15, 6, 16]);
    }

    #[test]
    fn one_stream_of_the_whole_text() {
        // A text of T+1 characters with B = 1 is one step that sees it all.
        let b = Batcher::new(65, 1, 64).unwrap();
        assert_eq!(b.steps_per_epoch(), 1);
        assert!(Batcher::new(64, 1, 64).is_err());
        let e = Batcher::new(10, 4, 8).unwrap_err().to_string();
        assert!(e.contains("10 characters") && e.contains("33"), "{e}");
    }

    #[test]
    fn bom_is_stripped_from_a_text() {
        let p = std::env::temp_dir().join(format!("recur-bom-text-{}.txt", std::process::id()));
        std::fs::write(&p, "\u{feff}abc").unwrap();
        let text = read_text(&p).unwrap();
        assert_eq!(text, "abc");
        assert!(!crate::charlm::Vocab::from_text(&text)
            .to_strings()
            .contains(&"\u{feff}".to_string()));
        std::fs::write(&p, "\u{feff}").unwrap();
        let e = read_text(&p).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn split_keeps_the_tail_for_validation() {
        let t: Vec<u32> = (0..10).collect();
        assert_eq!(split(&t, 0.2), (&t[..8], &t[8..]));
        assert_eq!(split(&t, 0.0).1.len(), 0);
    }
}
