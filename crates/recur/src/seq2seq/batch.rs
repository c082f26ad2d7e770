//! Sentence pairs as padded, time-major token batches for teacher forcing.

use crate::error::{Error, Result};

/// The padding token id: embeddings give it no gradient, the loss ignores it.
pub const PAD: u32 = 0;

/// A batch of `B` sentence pairs, time-major and padded with [`PAD`]:
/// the source `[S, B]`, the decoder's input `<s> y_1 … y_n` `[T, B]` and its targets
/// `y_1 … y_n </s>` `[T, B]` (teacher forcing: the decoder reads the reference, shifted).
#[derive(Clone, Debug, PartialEq)]
pub struct PairBatch {
    /// `B`.
    pub batch: usize,
    /// Source tokens `[S, B]`.
    pub src: Vec<u32>,
    /// Each source's length, `[B]`, in `1..=S`.
    pub src_lengths: Vec<usize>,
    /// The decoder's input `[T, B]`: `<s>` then the target.
    pub tgt_in: Vec<u32>,
    /// The decoder's targets `[T, B]`: the target then `</s>`.
    pub tgt_out: Vec<u32>,
    /// Each target's length plus one, `[B]`, in `1..=T`.
    pub tgt_lengths: Vec<usize>,
}

impl PairBatch {
    /// Pads `pairs` (source and target token ids, without `<s>`/`</s>`) into a batch.
    ///
    /// # Errors
    /// [`Error::Input`] for an empty batch, an empty source, or a token equal to [`PAD`].
    pub fn new(pairs: &[(&[u32], &[u32])], bos: u32, eos: u32) -> Result<Self> {
        let b = pairs.len();
        if b == 0 {
            return Err(Error::Input("a batch of no sentence pairs".into()));
        }
        if let Some(i) = pairs.iter().position(|(s, _)| s.is_empty()) {
            return Err(Error::Input(format!("pair {i}: the source is empty")));
        }
        if let Some(i) = pairs
            .iter()
            .position(|(s, t)| s.contains(&PAD) || t.contains(&PAD))
        {
            return Err(Error::Input(format!(
                "pair {i}: holds the padding token {PAD}"
            )));
        }
        let src_lengths: Vec<usize> = pairs.iter().map(|(s, _)| s.len()).collect();
        let tgt_lengths: Vec<usize> = pairs.iter().map(|(_, t)| t.len() + 1).collect();
        let s_max = *src_lengths.iter().max().unwrap_or(&1);
        let t_max = *tgt_lengths.iter().max().unwrap_or(&1);
        let mut src = vec![PAD; s_max * b];
        let mut tgt_in = vec![PAD; t_max * b];
        let mut tgt_out = vec![PAD; t_max * b];
        for (k, (s, t)) in pairs.iter().enumerate() {
            for (i, &tok) in s.iter().enumerate() {
                src[i * b + k] = tok;
            }
            tgt_in[k] = bos;
            for (i, &tok) in t.iter().enumerate() {
                tgt_in[(i + 1) * b + k] = tok;
                tgt_out[i * b + k] = tok;
            }
            tgt_out[t.len() * b + k] = eos;
        }
        Ok(PairBatch {
            batch: b,
            src,
            src_lengths,
            tgt_in,
            tgt_out,
            tgt_lengths,
        })
    }

    /// `S`.
    pub fn src_steps(&self) -> usize {
        self.src.len() / self.batch
    }

    /// `T`.
    pub fn tgt_steps(&self) -> usize {
        self.tgt_in.len() / self.batch
    }

    /// Target tokens the loss counts (the targets and their `</s>`).
    pub fn target_tokens(&self) -> usize {
        self.tgt_lengths.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_padded_time_major_with_shifted_targets() {
        let b = PairBatch::new(&[(&[5, 6, 7], &[8]), (&[9], &[10, 11])], 1, 2).unwrap();
        assert_eq!(b.src, vec![5, 9, 6, 0, 7, 0]);
        assert_eq!(b.tgt_in, vec![1, 1, 8, 10, 0, 11]);
        assert_eq!(b.tgt_out, vec![8, 10, 2, 11, 0, 2]);
        assert_eq!((b.src_lengths, b.tgt_lengths), (vec![3, 1], vec![2, 3]));
        assert!(PairBatch::new(&[(&[], &[3])], 1, 2).is_err());
        assert!(PairBatch::new(&[(&[0], &[3])], 1, 2).is_err());
    }
}
