//! Connectionist temporal classification (Graves et al. 2006) with `torch.nn.CTCLoss`'s
//! semantics: the negative log-likelihood of a label sequence summed over every alignment of it
//! (with blanks and repeats) to a sequence of per-frame log-probabilities.
//!
//! Forward runs the `α` recursion in log space over the extended label sequence `l'` (a blank
//! before, between and after the labels, `2S + 1` states); backward runs the `β` recursion and
//! turns `α·β` into the per-frame label posteriors `γ[t, c]`. The derivation is in
//! `docs/CTC.md`.

use crate::error::{Error, Result};
use recur_kernels::{Scalar, Threads};
use std::sync::Mutex;

/// How the per-sequence losses are combined, as `torch.nn.CTCLoss(reduction=…)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CtcReduction {
    /// No combination: [`CtcReport::loss`] is their sum, the gradient that of the sum.
    None,
    /// The sum over the batch.
    Sum,
    /// PyTorch's default: each loss divided by its target length (at least 1), then the mean
    /// over the batch.
    #[default]
    Mean,
}

/// Which gradient [`CtcLoss::forward`] writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CtcGradient {
    /// With respect to the logits `z` that the log-probabilities were computed from by
    /// `log_probs = log_softmax(z)` over classes: `softmax(z)[t, c] - γ[t, c]`. These are the
    /// very numbers PyTorch's `ctc_loss` backward hands to `log_probs` (it folds the
    /// log-softmax step into the CTC gradient), so a model puts them straight onto its logits.
    /// Only meaningful when every frame of `log_probs` is normalised.
    #[default]
    Logits,
    /// The exact partial derivative with respect to `log_probs` itself: `-γ[t, c]`.
    LogProbs,
}

/// The label sequences of a batch.
#[derive(Clone, Copy, Debug)]
pub enum CtcTargets<'a> {
    /// `[N, S]`: row `b` holds sequence `b` in its first `target_lengths[b]` entries, the rest
    /// is padding and ignored.
    Padded {
        /// The ids, row-major.
        ids: &'a [u32],
        /// `S`, the row length.
        max_len: usize,
    },
    /// The sequences one after another, `Σ target_lengths` ids.
    Concatenated(&'a [u32]),
}

/// The shape of a CTC batch: `log_probs` is `[T, N, C]`, time-major as in PyTorch.
#[derive(Clone, Copy, Debug)]
pub struct CtcBatch<'a, T> {
    /// `[T, N, C]` log-probabilities (log-softmax outputs) per frame, sequence and class.
    pub log_probs: &'a [T],
    /// `C`, the number of classes including the blank.
    pub classes: usize,
    /// `[N]` valid frames of each sequence, each in `1..=T`.
    pub input_lengths: &'a [usize],
    /// The label sequences.
    pub targets: CtcTargets<'a>,
    /// `[N]` labels in each sequence.
    pub target_lengths: &'a [usize],
}

/// `torch.nn.CTCLoss(blank, reduction, zero_infinity)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtcLoss {
    /// The class id of the blank (PyTorch's default 0).
    pub blank: u32,
    /// How per-sequence losses are combined.
    pub reduction: CtcReduction,
    /// Replace infinite losses (label sequences no alignment fits into the frames) and their
    /// gradients by zero. Without it such a loss is `inf` and, as in PyTorch, its gradient NaN.
    pub zero_infinity: bool,
    /// Which gradient [`Self::forward`] writes.
    pub gradient: CtcGradient,
}

/// What a CTC pass reports.
#[derive(Clone, Debug, PartialEq)]
pub struct CtcReport {
    /// The reduced loss (the sum of [`Self::losses`] for [`CtcReduction::None`]).
    pub loss: f64,
    /// `[N]` the negative log-likelihood of each sequence (after `zero_infinity`), unreduced.
    pub losses: Vec<f64>,
    /// Sequences whose infinite loss `zero_infinity` replaced by zero.
    pub zeroed: usize,
}

/// One sequence of a batch: its index, valid frames and labels.
struct Sequence<'a> {
    b: usize,
    frames: usize,
    labels: &'a [u32],
}

impl CtcLoss {
    /// The CTC loss of `batch` and, with `grad`, its gradient `[T, N, C]` (the one chosen by
    /// [`Self::gradient`], scaled by the reduction; zero past each sequence's input length).
    /// Sequences are spread over `threads`, each computed whole by one thread in `f64`, so the
    /// results are the same bits for every thread count.
    ///
    /// # Errors
    /// [`Error::Input`] for buffers that do not fit `[T, N, C]`, lengths outside `1..=T` (input)
    /// or beyond `S` (padded targets), a label outside `0..C` or equal to the blank, or a blank
    /// outside `0..C`.
    pub fn forward<T: Scalar>(
        &self,
        threads: &Threads,
        batch: &CtcBatch<'_, T>,
        grad: Option<&mut [T]>,
    ) -> Result<CtcReport> {
        let sequences = self.check(batch, grad.as_deref().map(<[T]>::len))?;
        let (n, c) = (batch.input_lengths.len(), batch.classes);
        let want_grad = grad.is_some();
        let results: Vec<Mutex<Option<SequenceResult>>> =
            (0..n).map(|_| Mutex::new(None)).collect();
        let work: usize = sequences
            .iter()
            .map(|s| s.frames * (2 * s.labels.len() + 1 + c))
            .sum();
        threads.for_each_sized(n, work * 8, |b| {
            let mut out = sequence_loss(batch, &sequences[b], self.blank as usize, want_grad);
            if self.zero_infinity && out.nll.is_infinite() {
                out = SequenceResult {
                    nll: 0.0,
                    posteriors: Vec::new(),
                    zeroed: true,
                };
            }
            *results[b].lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
        });
        let results: Vec<SequenceResult> = results
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
            .map(|r| r.expect("every sequence is computed"))
            .collect();
        let scales: Vec<f64> = (0..n)
            .map(|b| match self.reduction {
                CtcReduction::None | CtcReduction::Sum => 1.0,
                CtcReduction::Mean => 1.0 / (batch.target_lengths[b].max(1) * n) as f64,
            })
            .collect();
        if let Some(grad) = grad {
            grad.fill(T::zero());
            for (s, r) in sequences.iter().zip(&results) {
                if !r.zeroed {
                    self.scatter_gradient(batch, s, &r.posteriors, scales[s.b], grad);
                }
            }
        }
        let losses: Vec<f64> = results.iter().map(|r| r.nll).collect();
        let loss = losses.iter().zip(&scales).map(|(l, k)| l * k).sum();
        Ok(CtcReport {
            loss,
            losses,
            zeroed: results.iter().filter(|r| r.zeroed).count(),
        })
    }

    /// Writes sequence `s`'s gradient, `scale ·` the chosen one, into its rows of `grad`.
    fn scatter_gradient<T: Scalar>(
        &self,
        batch: &CtcBatch<'_, T>,
        s: &Sequence<'_>,
        posteriors: &[f64],
        scale: f64,
        grad: &mut [T],
    ) {
        let (n, c) = (batch.input_lengths.len(), batch.classes);
        for t in 0..s.frames {
            let at = (t * n + s.b) * c;
            for j in 0..c {
                let g = posteriors[t * c + j];
                let g = match self.gradient {
                    CtcGradient::LogProbs => -g,
                    CtcGradient::Logits => {
                        batch.log_probs[at + j].to_f64().unwrap_or(f64::NAN).exp() - g
                    }
                };
                grad[at + j] = T::of(g * scale);
            }
        }
    }

    /// Checks the batch and returns each sequence's frames and labels.
    fn check<'a, T: Scalar>(
        &self,
        batch: &CtcBatch<'a, T>,
        grad: Option<usize>,
    ) -> Result<Vec<Sequence<'a>>> {
        let (n, c) = (batch.input_lengths.len(), batch.classes);
        if n == 0 || c == 0 {
            return Err(Error::Input(format!(
                "CTC: a batch of {n} sequences over {c} classes"
            )));
        }
        if self.blank as usize >= c {
            return Err(Error::Input(format!(
                "CTC: blank {} outside 0..{c}",
                self.blank
            )));
        }
        if !batch.log_probs.len().is_multiple_of(n * c) {
            return Err(Error::Input(format!(
                "CTC log_probs: {} values do not fit [T, {n}, {c}]",
                batch.log_probs.len()
            )));
        }
        let frames = batch.log_probs.len() / (n * c);
        if let Some(g) = grad {
            super::check_len("CTC gradient", g, batch.log_probs.len())?;
        }
        super::check_len("CTC target_lengths", batch.target_lengths.len(), n)?;
        let labels = split_targets(batch.targets, batch.target_lengths)?;
        let mut out = Vec::with_capacity(n);
        for (b, (&len, labels)) in batch.input_lengths.iter().zip(labels).enumerate() {
            if len == 0 || len > frames {
                return Err(Error::Input(format!(
                    "CTC: input length {len} of sequence {b} is outside 1..={frames}"
                )));
            }
            if let Some(&bad) = labels.iter().find(|&&l| l as usize >= c || l == self.blank) {
                return Err(Error::Input(format!(
                    "CTC: sequence {b} has label {bad}, expected one of 0..{c} other than the blank {}",
                    self.blank
                )));
            }
            out.push(Sequence {
                b,
                frames: len,
                labels,
            });
        }
        Ok(out)
    }
}

/// Each sequence's labels out of padded or concatenated targets.
fn split_targets<'a>(targets: CtcTargets<'a>, lengths: &[usize]) -> Result<Vec<&'a [u32]>> {
    match targets {
        CtcTargets::Padded { ids, max_len } => {
            super::check_len("CTC padded targets", ids.len(), lengths.len() * max_len)?;
            lengths
                .iter()
                .enumerate()
                .map(|(b, &len)| {
                    if len > max_len {
                        return Err(Error::Input(format!(
                            "CTC: target length {len} of sequence {b} exceeds the padded length {max_len}"
                        )));
                    }
                    Ok(&ids[b * max_len..b * max_len + len])
                })
                .collect()
        }
        CtcTargets::Concatenated(ids) => {
            let total: usize = lengths.iter().sum();
            super::check_len("CTC concatenated targets", ids.len(), total)?;
            let mut start = 0;
            Ok(lengths
                .iter()
                .map(|&len| {
                    start += len;
                    &ids[start - len..start]
                })
                .collect())
        }
    }
}

/// `ln(e^a + e^b)`, exact for infinite arguments.
fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        hi
    } else {
        hi + (lo - hi).exp().ln_1p()
    }
}

/// What one sequence's pass gives.
struct SequenceResult {
    /// Its negative log-likelihood.
    nll: f64,
    /// `γ [frames, C]` when asked: each frame's posteriors sum to one (NaN for an impossible
    /// sequence, as in PyTorch).
    posteriors: Vec<f64>,
    /// An infinite loss replaced by zero (`zero_infinity`): no gradient.
    zeroed: bool,
}

/// One sequence's negative log-likelihood and, when asked, its posteriors.
fn sequence_loss<T: Scalar>(
    batch: &CtcBatch<'_, T>,
    s: &Sequence<'_>,
    blank: usize,
    want_posteriors: bool,
) -> SequenceResult {
    let (n, c) = (batch.input_lengths.len(), batch.classes);
    let lp = |t: usize, j: usize| {
        batch.log_probs[(t * n + s.b) * c + j]
            .to_f64()
            .unwrap_or(f64::NAN)
    };
    let ext = extended(s.labels, blank);
    let alpha = alphas(&ext, s.frames, lp);
    let states = ext.len();
    let last = &alpha[(s.frames - 1) * states..];
    let tail = if states > 1 {
        last[states - 2]
    } else {
        f64::NEG_INFINITY
    };
    let nll = -log_add(last[states - 1], tail);
    let mut out = SequenceResult {
        nll,
        posteriors: Vec::new(),
        zeroed: false,
    };
    if !want_posteriors {
        return out;
    }
    let beta = betas(&ext, s.frames, lp);
    let mut gamma = vec![f64::NEG_INFINITY; s.frames * c];
    for t in 0..s.frames {
        let row = &mut gamma[t * c..(t + 1) * c];
        for (k, &label) in ext.iter().enumerate() {
            let ab = alpha[t * states + k] + beta[t * states + k];
            row[label] = log_add(row[label], ab);
        }
        for (j, g) in row.iter_mut().enumerate() {
            // β includes frame t's own probability, as α does: divide it out once.
            *g = (*g + nll - lp(t, j)).exp();
        }
    }
    out.posteriors = gamma;
    out
}

/// `l'`: a blank before, between and after the labels.
fn extended(labels: &[u32], blank: usize) -> Vec<usize> {
    let mut ext = Vec::with_capacity(2 * labels.len() + 1);
    ext.push(blank);
    for &l in labels {
        ext.push(l as usize);
        ext.push(blank);
    }
    ext
}

/// Whether state `k` of `l'` may be entered from state `k - 2` (skipping a blank between two
/// different labels).
fn can_skip(ext: &[usize], k: usize) -> bool {
    k >= 2 && ext[k] != ext[k - 2]
}

/// `ln α [frames, 2S + 1]`: the log-probability of the prefixes of `l'` ending in state `k`
/// at frame `t`.
fn alphas(ext: &[usize], frames: usize, lp: impl Fn(usize, usize) -> f64) -> Vec<f64> {
    let states = ext.len();
    let mut alpha = vec![f64::NEG_INFINITY; frames * states];
    alpha[0] = lp(0, ext[0]);
    if states > 1 {
        alpha[1] = lp(0, ext[1]);
    }
    for t in 1..frames {
        let (prev, cur) = alpha.split_at_mut(t * states);
        let prev = &prev[(t - 1) * states..];
        for k in 0..states {
            let mut a = prev[k];
            if k >= 1 {
                a = log_add(a, prev[k - 1]);
            }
            if can_skip(ext, k) {
                a = log_add(a, prev[k - 2]);
            }
            cur[k] = a + lp(t, ext[k]);
        }
    }
    alpha
}

/// `ln β [frames, 2S + 1]`: the log-probability of the suffixes of `l'` from state `k` at frame
/// `t` on (frame `t` included).
fn betas(ext: &[usize], frames: usize, lp: impl Fn(usize, usize) -> f64) -> Vec<f64> {
    let states = ext.len();
    let mut beta = vec![f64::NEG_INFINITY; frames * states];
    let last = (frames - 1) * states;
    beta[last + states - 1] = lp(frames - 1, ext[states - 1]);
    if states > 1 {
        beta[last + states - 2] = lp(frames - 1, ext[states - 2]);
    }
    for t in (0..frames - 1).rev() {
        let (cur, next) = beta.split_at_mut((t + 1) * states);
        let cur = &mut cur[t * states..];
        for k in 0..states {
            let mut b = next[k];
            if k + 1 < states {
                b = log_add(b, next[k + 1]);
            }
            if k + 2 < states && can_skip(ext, k + 2) {
                b = log_add(b, next[k + 2]);
            }
            cur[k] = b + lp(t, ext[k]);
        }
    }
    beta
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every alignment of `labels` to `frames` frames, by brute force: the paths over `C`
    /// classes that collapse (merge repeats, drop blanks) to `labels`.
    fn brute_force_nll(lp: &[f64], frames: usize, c: usize, labels: &[u32], blank: u32) -> f64 {
        let mut total = 0.0;
        let mut path = vec![0usize; frames];
        loop {
            let mut collapsed = Vec::new();
            let mut prev = None;
            for &p in &path {
                if Some(p) != prev && p != blank as usize {
                    collapsed.push(p as u32);
                }
                prev = Some(p);
            }
            if collapsed == labels {
                total += (0..frames).map(|t| lp[t * c + path[t]]).sum::<f64>().exp();
            }
            let mut i = 0;
            loop {
                if i == frames {
                    return -total.ln();
                }
                path[i] += 1;
                if path[i] < c {
                    break;
                }
                path[i] = 0;
                i += 1;
            }
        }
    }

    fn log_softmax_rows(z: &[f64], c: usize) -> Vec<f64> {
        z.chunks(c)
            .flat_map(|row| {
                let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                row.iter().map(move |v| v - lse).collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn the_loss_is_the_sum_over_every_alignment() {
        let mut rng = crate::Rng::new(3);
        let (frames, c) = (5, 3);
        for (labels, blank) in [
            (vec![1u32, 2], 0u32),
            (vec![1, 1], 0),
            (vec![], 0),
            (vec![0, 0, 2], 1),
        ] {
            let z: Vec<f64> = (0..frames * c).map(|_| rng.normal()).collect();
            let lp = log_softmax_rows(&z, c);
            let loss = CtcLoss {
                blank,
                reduction: CtcReduction::Sum,
                ..Default::default()
            };
            let batch = CtcBatch {
                log_probs: &lp,
                classes: c,
                input_lengths: &[frames],
                targets: CtcTargets::Concatenated(&labels),
                target_lengths: &[labels.len()],
            };
            let got = loss.forward(&Threads::single(), &batch, None).unwrap().loss;
            let want = brute_force_nll(&lp, frames, c, &labels, blank);
            assert!(
                (got - want).abs() < 1e-12 * want.abs().max(1.0),
                "{labels:?}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn posteriors_sum_to_one_per_frame() {
        let mut rng = crate::Rng::new(4);
        let (frames, c) = (7, 4);
        let z: Vec<f64> = (0..frames * c).map(|_| rng.normal()).collect();
        let lp = log_softmax_rows(&z, c);
        let labels = [1u32, 3, 3];
        let batch = CtcBatch {
            log_probs: &lp,
            classes: c,
            input_lengths: &[frames],
            targets: CtcTargets::Concatenated(&labels),
            target_lengths: &[3],
        };
        let s = Sequence {
            b: 0,
            frames,
            labels: &labels,
        };
        let gamma = sequence_loss(&batch, &s, 0, true).posteriors;
        for row in gamma.chunks(c) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }
}
