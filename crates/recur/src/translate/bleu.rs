//! BLEU (Papineni et al., 2002) exactly as sacreBLEU 2.x computes it.
//!
//! Each sentence is optionally lower-cased, stripped of trailing whitespace and tokenised
//! ([`Tokenize`]: `13a` by default); its n-grams of orders 1 to 4 are clipped by their largest
//! count in any one reference, and the reference length is that of the reference closest in
//! length (the shorter on a tie). Corpus BLEU sums these statistics over all sentences before
//! computing `BP · exp(mean log p_n)` with sacreBLEU's default 'exp' smoothing (NIST's: the k-th
//! order without a match counts as `1 / (2^k · total)`) and 0 when no unigram matches; sentence
//! BLEU is one sentence's statistics with sacreBLEU's `sentence_bleu` defaults ('exp' smoothing
//! and effective order: orders the hypothesis is too short for are left out of the mean).
//! Scores and precisions are percentages, as sacreBLEU reports them.

use super::tokenize_13a::{is_python_space, python_split, Tokenize};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The highest n-gram order counted.
pub const MAX_NGRAM_ORDER: usize = 4;

/// How sentences are read before their n-grams are counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BleuSettings {
    /// Lower-case hypotheses and references first (sacreBLEU's `--lowercase`).
    pub lowercase: bool,
    /// The tokeniser (sacreBLEU's `--tokenize`): `13a` by default.
    pub tokenize: Tokenize,
}

impl BleuSettings {
    /// sacreBLEU's signature of these settings, without its version:
    /// `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp`.
    pub fn signature(&self, references: usize, effective_order: bool) -> String {
        format!(
            "nrefs:{references}|case:{}|eff:{}|tok:{}|smooth:exp",
            if self.lowercase { "lc" } else { "mixed" },
            if effective_order { "yes" } else { "no" },
            self.tokenize.name()
        )
    }

    /// `sentence` as n-grams are counted from it: lower-cased if asked, trailing whitespace
    /// removed, tokenised.
    pub fn preprocess(&self, sentence: &str) -> String {
        let lowered;
        let text = if self.lowercase {
            lowered = sentence.to_lowercase();
            &lowered
        } else {
            sentence
        };
        self.tokenize.apply(text.trim_end_matches(is_python_space))
    }
}

/// The sufficient statistics of BLEU: lengths and n-gram counts, summed over sentences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BleuStats {
    /// Words in the hypotheses.
    pub hyp_len: u64,
    /// Words in the closest references.
    pub ref_len: u64,
    /// Clipped matching n-grams of each order (index 0 for unigrams).
    pub correct: [u64; MAX_NGRAM_ORDER],
    /// Hypothesis n-grams of each order.
    pub total: [u64; MAX_NGRAM_ORDER],
}

impl std::ops::AddAssign for BleuStats {
    fn add_assign(&mut self, other: Self) {
        self.hyp_len += other.hyp_len;
        self.ref_len += other.ref_len;
        for n in 0..MAX_NGRAM_ORDER {
            self.correct[n] += other.correct[n];
            self.total[n] += other.total[n];
        }
    }
}

/// A BLEU score with the figures sacreBLEU reports beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BleuScore {
    /// BLEU, 0 to 100.
    pub score: f64,
    /// The n-gram precisions in percent, smoothed as the score used them.
    pub precisions: [f64; MAX_NGRAM_ORDER],
    /// The brevity penalty.
    pub bp: f64,
    /// Hypothesis length over reference length (0 without reference words).
    pub ratio: f64,
    /// Words in the hypotheses.
    pub hyp_len: u64,
    /// Words in the closest references.
    pub ref_len: u64,
    /// Clipped matching n-grams of each order.
    pub counts: [u64; MAX_NGRAM_ORDER],
    /// Hypothesis n-grams of each order.
    pub totals: [u64; MAX_NGRAM_ORDER],
}

impl BleuScore {
    /// BLEU from summed statistics, with 'exp' smoothing; `effective_order` leaves out the
    /// orders from the first one with no hypothesis n-grams on (sentence BLEU's default).
    pub fn from_stats(stats: &BleuStats, effective_order: bool) -> Self {
        let (hyp_len, ref_len) = (stats.hyp_len, stats.ref_len);
        let bp = if hyp_len >= ref_len {
            1.0
        } else if hyp_len > 0 {
            (1.0 - ref_len as f64 / hyp_len as f64).exp()
        } else {
            0.0
        };
        let mut score = BleuScore {
            score: 0.0,
            precisions: [0.0; MAX_NGRAM_ORDER],
            bp,
            ratio: if ref_len > 0 {
                hyp_len as f64 / ref_len as f64
            } else {
                0.0
            },
            hyp_len,
            ref_len,
            counts: stats.correct,
            totals: stats.total,
        };
        if stats.correct.iter().all(|&c| c == 0) {
            return score;
        }
        let mut smooth = 1.0;
        let mut orders = MAX_NGRAM_ORDER;
        for n in 0..MAX_NGRAM_ORDER {
            let (correct, total) = (stats.correct[n], stats.total[n]);
            if total == 0 {
                break;
            }
            if effective_order {
                orders = n + 1;
            }
            score.precisions[n] = if correct == 0 {
                smooth *= 2.0;
                100.0 / (smooth * total as f64)
            } else {
                100.0 * correct as f64 / total as f64
            };
        }
        // sacreBLEU floors log(0) at -9999999999 so that exp gives 0.
        let log_sum = score.precisions[..orders].iter().fold(0.0, |sum, &p| {
            sum + if p == 0.0 { -9_999_999_999.0 } else { p.ln() }
        });
        score.score = bp * (log_sum / orders as f64).exp();
        score
    }

    /// The figures after the score as sacreBLEU prints them:
    /// `65.1/40.2/27.0/18.9 (BP = 1.000 ratio = 1.001 hyp_len = 12345 ref_len = 12330)`.
    pub fn verbose(&self) -> String {
        let precisions: Vec<String> = self.precisions.iter().map(|p| format!("{p:.1}")).collect();
        format!(
            "{} (BP = {:.3} ratio = {:.3} hyp_len = {} ref_len = {})",
            precisions.join("/"),
            self.bp,
            self.ratio,
            self.hyp_len,
            self.ref_len
        )
    }
}

/// The n-grams of orders 1 to 4 of `words`, counted.
fn ngram_counts<'a>(words: &'a [&'a str]) -> HashMap<&'a [&'a str], u64> {
    let mut counts = HashMap::new();
    for n in 1..=MAX_NGRAM_ORDER.min(words.len()) {
        for gram in words.windows(n) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

/// The statistics of one hypothesis against its references (each at least one).
pub fn sentence_stats<R: AsRef<str>>(
    hypothesis: &str,
    references: &[R],
    settings: &BleuSettings,
) -> BleuStats {
    let refs: Vec<String> = references
        .iter()
        .map(|r| settings.preprocess(r.as_ref()))
        .collect();
    let ref_words: Vec<Vec<&str>> = refs.iter().map(|r| python_split(r).collect()).collect();
    let mut max_ref_counts: HashMap<&[&str], u64> = HashMap::new();
    for words in &ref_words {
        for (gram, count) in ngram_counts(words) {
            let best = max_ref_counts.entry(gram).or_insert(0);
            *best = (*best).max(count);
        }
    }
    let hyp = settings.preprocess(hypothesis);
    let hyp_words: Vec<&str> = python_split(&hyp).collect();
    let mut stats = BleuStats {
        hyp_len: hyp_words.len() as u64,
        ref_len: closest_ref_len(hyp_words.len(), ref_words.iter().map(Vec::len)) as u64,
        ..BleuStats::default()
    };
    for (gram, count) in ngram_counts(&hyp_words) {
        stats.total[gram.len() - 1] += count;
        if let Some(&in_ref) = max_ref_counts.get(gram) {
            stats.correct[gram.len() - 1] += count.min(in_ref);
        }
    }
    stats
}

/// The reference length closest to `hyp_len`, the shorter on a tie (0 without references).
fn closest_ref_len(hyp_len: usize, ref_lens: impl Iterator<Item = usize>) -> usize {
    let mut best: Option<(usize, usize)> = None;
    for len in ref_lens {
        let diff = hyp_len.abs_diff(len);
        best = match best {
            Some((d, l)) if d < diff || (d == diff && l <= len) => Some((d, l)),
            _ => Some((diff, len)),
        };
    }
    best.map_or(0, |(_, len)| len)
}

/// Checks that there is at least one reference stream and that every stream has a sentence for
/// each hypothesis.
///
/// # Errors
/// [`Error::Input`] naming the stream and both counts.
pub fn check_streams<R: AsRef<[S]>, S>(hypotheses: usize, references: &[R]) -> Result<()> {
    if references.is_empty() {
        return Err(Error::Input("no reference sentences given".into()));
    }
    for (k, stream) in references.iter().enumerate() {
        let n = stream.as_ref().len();
        if n != hypotheses {
            return Err(Error::Input(format!(
                "reference stream {} has {n} sentences but there are {hypotheses} hypotheses",
                k + 1
            )));
        }
    }
    Ok(())
}

/// Corpus BLEU of `hypotheses` against reference streams (`references[k][i]` is the k-th
/// reference of hypothesis `i`), as sacreBLEU's `corpus_bleu`.
///
/// # Errors
/// [`Error::Input`] when there is no reference stream or a stream's length differs from the
/// number of hypotheses.
pub fn corpus_bleu<H, R, S>(
    hypotheses: &[H],
    references: &[R],
    settings: &BleuSettings,
) -> Result<BleuScore>
where
    H: AsRef<str>,
    R: AsRef<[S]>,
    S: AsRef<str>,
{
    check_streams(hypotheses.len(), references)?;
    let mut total = BleuStats::default();
    for (i, hyp) in hypotheses.iter().enumerate() {
        let refs: Vec<&str> = references.iter().map(|r| r.as_ref()[i].as_ref()).collect();
        total += sentence_stats(hyp.as_ref(), &refs, settings);
    }
    Ok(BleuScore::from_stats(&total, false))
}

/// Sentence BLEU of one hypothesis against its references, as sacreBLEU's `sentence_bleu` with
/// its defaults ('exp' smoothing, effective order).
pub fn sentence_bleu<R: AsRef<str>>(
    hypothesis: &str,
    references: &[R],
    settings: &BleuSettings,
) -> BleuScore {
    BleuScore::from_stats(&sentence_stats(hypothesis, references, settings), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_reference_prefers_the_shorter_on_a_tie() {
        assert_eq!(closest_ref_len(5, [7, 3, 6].into_iter()), 6);
        assert_eq!(closest_ref_len(5, [6, 4].into_iter()), 4);
        assert_eq!(closest_ref_len(5, [4, 6].into_iter()), 4);
        assert_eq!(closest_ref_len(0, std::iter::empty()), 0);
    }

    #[test]
    fn stream_lengths_must_match_the_hypotheses() {
        let e = corpus_bleu(&["a", "b"], &[vec!["a"]], &BleuSettings::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "reference stream 1 has 1 sentences but there are 2 hypotheses"
        );
        let none: [Vec<&str>; 0] = [];
        assert!(corpus_bleu(&["a"], &none, &BleuSettings::default()).is_err());
    }

    #[test]
    fn a_missing_four_gram_is_smoothed_not_zero() {
        let s = corpus_bleu(
            &["the cat sat down"],
            &[vec!["the cat sat on it"]],
            &BleuSettings::default(),
        )
        .unwrap();
        assert_eq!(s.counts, [3, 2, 1, 0]);
        assert_eq!(s.totals, [4, 3, 2, 1]);
        assert_eq!(s.precisions[3], 50.0);
        assert!(s.score > 0.0);
    }
}
