//! chrF (Popović, 2015) exactly as sacreBLEU 2.x computes it: the F-score (β = 2 by default:
//! recall weighs more) of character n-grams of orders 1 to 6, with whitespace removed and
//! optionally of word n-grams too (`word_order` 2 is chrF++).
//!
//! For each order, the hypothesis n-grams, reference n-grams and clipped matches are counted;
//! with several references a sentence keeps the statistics of the reference that gives it the
//! highest score. The corpus score sums the statistics over sentences, averages precision and
//! recall over the orders that have n-grams on both sides (sacreBLEU's default "effective
//! order", not the epsilon smoothing of chrF++.py) and returns `100 · F_β`.

use super::bleu::check_streams;
use super::tokenize_13a::python_split;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::Hash;

/// The chrF settings; the default is sacreBLEU's chrF2 (6 character orders, no word n-grams,
/// β = 2, case-sensitive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChrfSettings {
    /// Highest character n-gram order.
    pub char_order: usize,
    /// Highest word n-gram order (2 for chrF++).
    pub word_order: usize,
    /// Weight of recall against precision.
    pub beta: u32,
    /// Lower-case both sides first.
    pub lowercase: bool,
}

impl Default for ChrfSettings {
    fn default() -> Self {
        ChrfSettings {
            char_order: 6,
            word_order: 0,
            beta: 2,
            lowercase: false,
        }
    }
}

impl ChrfSettings {
    /// The name sacreBLEU prints: `chrF2`, `chrF2++` with two word orders.
    pub fn name(&self) -> String {
        format!("chrF{}{}", self.beta, "+".repeat(self.word_order))
    }

    /// sacreBLEU's signature of these settings, without its version:
    /// `nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no`.
    pub fn signature(&self, references: usize) -> String {
        format!(
            "nrefs:{references}|case:{}|eff:yes|nc:{}|nw:{}|space:no",
            if self.lowercase { "lc" } else { "mixed" },
            self.char_order,
            self.word_order
        )
    }

    /// Fails on settings that give no n-grams or overflow.
    ///
    /// # Errors
    /// [`Error::Config`] naming `char_order`, `word_order` or `beta`.
    pub fn check(&self) -> Result<()> {
        if self.char_order == 0 || self.char_order > 100 || self.word_order > 100 {
            return Err(Error::Config(format!(
                "chrF needs `char_order` from 1 to 100 and `word_order` at most 100, got {} and {}",
                self.char_order, self.word_order
            )));
        }
        if self.beta > 1000 {
            return Err(Error::Config(format!(
                "chrF `beta` must be at most 1000, got {}",
                self.beta
            )));
        }
        Ok(())
    }
}

/// Hypothesis n-grams, reference n-grams and clipped matches, for one order.
pub type OrderStats = [u64; 3];

/// A chrF score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChrfScore {
    /// chrF, 0 to 100.
    pub score: f64,
    /// The summed statistics, character orders first, then word orders.
    pub stats: Vec<OrderStats>,
}

/// The n-grams of order `n` of `items`, counted.
fn ngrams<T: Eq + Hash>(items: &[T], n: usize) -> HashMap<&[T], u64> {
    let mut counts = HashMap::new();
    if n <= items.len() {
        for gram in items.windows(n) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

/// The match statistics of one order: sacreBLEU counts no hypothesis n-grams when the reference
/// has none of that order.
fn match_stats<T: Eq + Hash>(
    hyp: &HashMap<&[T], u64>,
    reference: &HashMap<&[T], u64>,
) -> OrderStats {
    let (mut hyp_count, mut matched) = (0, 0);
    for (gram, &count) in hyp {
        hyp_count += count;
        if let Some(&r) = reference.get(gram) {
            matched += count.min(r);
        }
    }
    let ref_count = reference.values().sum();
    [
        if reference.is_empty() { 0 } else { hyp_count },
        ref_count,
        matched,
    ]
}

/// The words of chrF++: whitespace-separated, with one ASCII punctuation mark split off the end
/// (or else the start) of each word longer than one character.
fn words_apart_from_punctuation(sentence: &str) -> Vec<&str> {
    let mut words = Vec::new();
    for w in python_split(sentence) {
        let mut chars = w.char_indices();
        let first = chars.next();
        let last = w.char_indices().next_back();
        match (first, last) {
            (Some((_, f)), Some((i, l))) if i > 0 => {
                if l.is_ascii_punctuation() {
                    words.extend([&w[..i], &w[i..]]);
                } else if f.is_ascii_punctuation() {
                    let split = f.len_utf8();
                    words.extend([&w[..split], &w[split..]]);
                } else {
                    words.push(w);
                }
            }
            _ => words.push(w),
        }
    }
    words
}

/// The n-gram statistics of a sentence against one reference (both lower-cased if asked).
fn stats_against(hyp: &str, reference: &str, settings: &ChrfSettings) -> Vec<OrderStats> {
    let squeeze = |s: &str| python_split(s).flat_map(str::chars).collect::<Vec<char>>();
    let (hyp_chars, ref_chars) = (squeeze(hyp), squeeze(reference));
    let mut stats = Vec::with_capacity(settings.char_order + settings.word_order);
    for n in 1..=settings.char_order {
        stats.push(match_stats(&ngrams(&hyp_chars, n), &ngrams(&ref_chars, n)));
    }
    if settings.word_order > 0 {
        let hyp_words = words_apart_from_punctuation(hyp);
        let ref_words = words_apart_from_punctuation(reference);
        for n in 1..=settings.word_order {
            stats.push(match_stats(&ngrams(&hyp_words, n), &ngrams(&ref_words, n)));
        }
    }
    stats
}

/// The statistics of one hypothesis against its best reference (each at least one).
pub fn sentence_stats<R: AsRef<str>>(
    hypothesis: &str,
    references: &[R],
    settings: &ChrfSettings,
) -> Vec<OrderStats> {
    let lower = |s: &str| {
        if settings.lowercase {
            s.to_lowercase()
        } else {
            s.to_string()
        }
    };
    let hyp = lower(hypothesis);
    let mut best: Option<(f64, Vec<OrderStats>)> = None;
    for reference in references {
        let stats = stats_against(&hyp, &lower(reference.as_ref()), settings);
        let f = f_score(&stats, settings.beta);
        match &best {
            Some((b, _)) if f <= *b => {}
            _ => best = Some((f, stats)),
        }
    }
    best.map(|(_, s)| s).unwrap_or_default()
}

/// chrF from summed statistics: `100 · F_β` of the precision and recall averaged over the
/// orders with n-grams on both sides.
pub fn f_score(stats: &[OrderStats], beta: u32) -> f64 {
    const EPS: f64 = 1e-16;
    let factor = f64::from(beta) * f64::from(beta);
    let (mut avg_prec, mut avg_rec, mut orders) = (0.0, 0.0, 0u32);
    for &[n_hyp, n_ref, n_match] in stats {
        let prec = if n_hyp > 0 {
            n_match as f64 / n_hyp as f64
        } else {
            EPS
        };
        let rec = if n_ref > 0 {
            n_match as f64 / n_ref as f64
        } else {
            EPS
        };
        if n_hyp > 0 && n_ref > 0 {
            avg_prec += prec;
            avg_rec += rec;
            orders += 1;
        }
    }
    if orders == 0 {
        return 0.0;
    }
    avg_prec /= f64::from(orders);
    avg_rec /= f64::from(orders);
    if avg_prec + avg_rec == 0.0 {
        return 0.0;
    }
    let score = (1.0 + factor) * avg_prec * avg_rec / (factor * avg_prec + avg_rec);
    100.0 * score
}

/// Corpus chrF of `hypotheses` against reference streams (`references[k][i]` is the k-th
/// reference of hypothesis `i`), as sacreBLEU's `corpus_chrf`.
///
/// # Errors
/// [`Error::Input`] when there is no reference stream or a stream's length differs from the
/// number of hypotheses; [`Error::Config`] for settings [`ChrfSettings::check`] refuses.
pub fn corpus_chrf<H, R, S>(
    hypotheses: &[H],
    references: &[R],
    settings: &ChrfSettings,
) -> Result<ChrfScore>
where
    H: AsRef<str>,
    R: AsRef<[S]>,
    S: AsRef<str>,
{
    settings.check()?;
    check_streams(hypotheses.len(), references)?;
    let mut total = vec![[0u64; 3]; settings.char_order + settings.word_order];
    for (i, hyp) in hypotheses.iter().enumerate() {
        let refs: Vec<&str> = references.iter().map(|r| r.as_ref()[i].as_ref()).collect();
        for (sum, order) in total
            .iter_mut()
            .zip(sentence_stats(hyp.as_ref(), &refs, settings))
        {
            for k in 0..3 {
                sum[k] += order[k];
            }
        }
    }
    Ok(ChrfScore {
        score: f_score(&total, settings.beta),
        stats: total,
    })
}

/// chrF of one hypothesis against its references, as sacreBLEU's `sentence_chrf`.
///
/// # Errors
/// [`Error::Input`] without references; [`Error::Config`] as [`corpus_chrf`].
pub fn sentence_chrf<R: AsRef<str>>(
    hypothesis: &str,
    references: &[R],
    settings: &ChrfSettings,
) -> Result<ChrfScore> {
    let streams: Vec<[&str; 1]> = references.iter().map(|r| [r.as_ref()]).collect();
    corpus_chrf(&[hypothesis], &streams, settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_splits_off_one_end_of_a_word() {
        assert_eq!(
            words_apart_from_punctuation("Hi, (there) \"x ! é."),
            ["Hi", ",", "(there", ")", "\"", "x", "!", "é", "."]
        );
    }

    #[test]
    fn identical_text_scores_100_and_disjoint_text_0() {
        let s = ChrfSettings::default();
        let same = sentence_chrf("a cat", &["a cat"], &s).unwrap();
        assert!((same.score - 100.0).abs() < 1e-12);
        assert_eq!(same.stats[0], [4, 4, 4]);
        assert_eq!(sentence_chrf("xyz", &["abc"], &s).unwrap().score, 0.0);
        assert_eq!(sentence_chrf("", &["abc"], &s).unwrap().score, 0.0);
    }
}
