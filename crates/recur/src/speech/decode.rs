//! Decoding CTC outputs into label sequences: best path (greedy) and prefix beam search
//! (Hannun et al. 2014, "First-Pass Large Vocabulary Continuous Speech Recognition using
//! Bi-Directional Recurrent DNNs", without a language model).

use crate::error::{Error, Result};
use std::collections::HashMap;

/// Checks that `log_probs` holds whole frames of `classes` values and that the blank is a class.
fn check(log_probs_len: usize, classes: usize, blank: u32) -> Result<()> {
    if classes == 0 || !log_probs_len.is_multiple_of(classes) {
        return Err(Error::Input(format!(
            "CTC decoding: {log_probs_len} values are not whole frames of {classes} classes"
        )));
    }
    if blank as usize >= classes {
        return Err(Error::Input(format!(
            "CTC decoding: blank {blank} outside 0..{classes}"
        )));
    }
    Ok(())
}

/// The best path: each frame's most probable class (the first on ties), repeats merged, blanks
/// dropped. `log_probs` is `[frames, classes]` (one sequence; any monotone scores will do).
///
/// # Errors
/// [`Error::Input`] when `log_probs` is not whole frames or the blank is not a class.
pub fn greedy_decode(log_probs: &[f32], classes: usize, blank: u32) -> Result<Vec<u32>> {
    check(log_probs.len(), classes, blank)?;
    let mut out = Vec::new();
    let mut previous = None;
    for frame in log_probs.chunks(classes) {
        let best = (0..classes).fold(0, |b, j| if frame[j] > frame[b] { j } else { b }) as u32;
        if Some(best) != previous && best != blank {
            out.push(best);
        }
        previous = Some(best);
    }
    Ok(out)
}

/// One hypothesis of [`PrefixBeamSearch`].
#[derive(Clone, Debug, PartialEq)]
pub struct Hypothesis {
    /// The labels (no blanks, repeats merged).
    pub labels: Vec<u32>,
    /// `ln P(labels | frames)`, summed over the alignments the beam kept.
    pub log_prob: f64,
}

/// CTC prefix beam search: keeps the `width` most probable label prefixes, each with the
/// probability of its alignments ending in a blank and in its last label, so that a repeated
/// label is told apart from one emitted twice with a blank between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixBeamSearch {
    /// Prefixes kept after each frame (at least 1; width 1 is close to, but not the same as,
    /// the best path, since it sums over alignments).
    pub width: usize,
    /// The blank class.
    pub blank: u32,
}

/// `ln(e^a + e^b)`.
fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        hi
    } else {
        hi + (lo - hi).exp().ln_1p()
    }
}

/// A prefix's probabilities: alignments so far ending in a blank, and in its last label.
#[derive(Clone, Copy, Debug)]
struct Ends {
    blank: f64,
    label: f64,
}

impl Ends {
    const NONE: Ends = Ends {
        blank: f64::NEG_INFINITY,
        label: f64::NEG_INFINITY,
    };
    fn total(self) -> f64 {
        log_add(self.blank, self.label)
    }
}

impl PrefixBeamSearch {
    /// The hypotheses left after the last frame, most probable first (ties by label order),
    /// at most `width`. `log_probs` is `[frames, classes]`, one sequence of log-probabilities.
    ///
    /// # Errors
    /// [`Error::Input`] for a width of 0, `log_probs` that is not whole frames, or a blank that
    /// is not a class.
    pub fn decode(&self, log_probs: &[f32], classes: usize) -> Result<Vec<Hypothesis>> {
        check(log_probs.len(), classes, self.blank)?;
        if self.width == 0 {
            return Err(Error::Input("CTC beam search: beam width 0".into()));
        }
        let mut beam: Vec<(Vec<u32>, Ends)> = vec![(
            Vec::new(),
            Ends {
                blank: 0.0,
                label: f64::NEG_INFINITY,
            },
        )];
        for frame in log_probs.chunks(classes) {
            beam = self.extend(&beam, frame);
        }
        Ok(beam
            .into_iter()
            .map(|(labels, ends)| Hypothesis {
                labels,
                log_prob: ends.total(),
            })
            .collect())
    }

    /// One frame: every prefix of `beam` extended by every class, then the best `width`.
    fn extend(&self, beam: &[(Vec<u32>, Ends)], frame: &[f32]) -> Vec<(Vec<u32>, Ends)> {
        let mut next: HashMap<Vec<u32>, Ends> = HashMap::new();
        let blank = self.blank as usize;
        for (prefix, ends) in beam {
            let total = ends.total();
            for (c, &p) in frame.iter().enumerate() {
                let p = f64::from(p);
                if c == blank {
                    let e = next.entry(prefix.clone()).or_insert(Ends::NONE);
                    e.blank = log_add(e.blank, total + p);
                    continue;
                }
                let c = c as u32;
                let mut longer = prefix.clone();
                longer.push(c);
                let e = next.entry(longer).or_insert(Ends::NONE);
                if prefix.last() == Some(&c) {
                    // A repeat needs a blank between: only alignments ending in a blank.
                    e.label = log_add(e.label, ends.blank + p);
                    let same = next.entry(prefix.clone()).or_insert(Ends::NONE);
                    same.label = log_add(same.label, ends.label + p);
                } else {
                    e.label = log_add(e.label, total + p);
                }
            }
        }
        // Prefixes no alignment reaches (a class of probability 0) are dropped.
        let mut scored: Vec<(Vec<u32>, Ends)> = next
            .into_iter()
            .filter(|(_, e)| e.total() > f64::NEG_INFINITY)
            .collect();
        scored.sort_by(|a, b| {
            b.1.total()
                .total_cmp(&a.1.total())
                .then_with(|| a.0.cmp(&b.0))
        });
        scored.truncate(self.width);
        scored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ln(rows: &[[f32; 3]]) -> Vec<f32> {
        rows.iter().flatten().map(|p| p.ln()).collect()
    }

    #[test]
    fn greedy_merges_repeats_and_drops_blanks() {
        // Best path: 1 1 0 1 2 2 0 -> "1 1 2".
        let rows = [
            [0.1, 0.8, 0.1],
            [0.2, 0.7, 0.1],
            [0.6, 0.3, 0.1],
            [0.1, 0.5, 0.4],
            [0.1, 0.1, 0.8],
            [0.3, 0.1, 0.6],
            [0.9, 0.05, 0.05],
        ];
        assert_eq!(greedy_decode(&ln(&rows), 3, 0).unwrap(), vec![1, 1, 2]);
        // With blank 2 the same frames read "1 0 1 0".
        assert_eq!(greedy_decode(&ln(&rows), 3, 2).unwrap(), vec![1, 0, 1, 0]);
        assert!(greedy_decode(&[0.0; 5], 3, 0).is_err());
        assert!(greedy_decode(&[0.0; 6], 3, 3).is_err());
    }

    #[test]
    fn beam_search_sums_alignments_the_best_path_misses() {
        // Two frames over {blank, a}: the best path is blank-blank (0.36, empty), but "a"
        // gathers a-a, a-blank and blank-a: 0.16 + 0.24 + 0.24 = 0.64.
        let rows = [[0.6, 0.4, 0.0], [0.6, 0.4, 0.0]];
        let lp = ln(&rows);
        assert_eq!(greedy_decode(&lp, 3, 0).unwrap(), Vec::<u32>::new());
        let beam = PrefixBeamSearch { width: 4, blank: 0 };
        let hyps = beam.decode(&lp, 3).unwrap();
        assert_eq!(hyps[0].labels, vec![1]);
        assert!((hyps[0].log_prob - 0.64f64.ln()).abs() < 1e-6);
        assert_eq!(hyps[1].labels, Vec::<u32>::new());
        assert!((hyps[1].log_prob - 0.36f64.ln()).abs() < 1e-6);
        // "a a" needs a blank between: impossible in two frames.
        assert!(hyps.iter().all(|h| h.labels != vec![1, 1]));
    }

    #[test]
    fn a_wide_beam_gives_every_labelling_its_exact_probability() {
        // Three frames over {blank, a, b}; brute force over all 27 paths.
        let rows = [[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.4, 0.1, 0.5]];
        let lp = ln(&rows);
        let mut want: HashMap<Vec<u32>, f64> = HashMap::new();
        for path in 0..27usize {
            let p = [path % 3, path / 3 % 3, path / 9];
            let mut labels = Vec::new();
            let mut prev = None;
            for &c in &p {
                if Some(c) != prev && c != 0 {
                    labels.push(c as u32);
                }
                prev = Some(c);
            }
            let prob: f64 = (0..3).map(|t| f64::from(rows[t][p[t]])).product();
            *want.entry(labels).or_default() += prob;
        }
        let hyps = PrefixBeamSearch {
            width: 100,
            blank: 0,
        }
        .decode(&lp, 3)
        .unwrap();
        assert_eq!(hyps.len(), want.len());
        for h in &hyps {
            assert!(
                (h.log_prob.exp() - want[&h.labels]).abs() < 1e-6,
                "{:?}",
                h.labels
            );
        }
        assert!(hyps.windows(2).all(|w| w[0].log_prob >= w[1].log_prob));
        assert!(PrefixBeamSearch { width: 0, blank: 0 }
            .decode(&lp, 3)
            .is_err());
    }
}
