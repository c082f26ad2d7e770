//! Softmax cross-entropy over rows of logits, fused with its gradient.

use crate::scalar::Scalar;
use crate::threads::{SendPtr, Threads};

/// Loss figures of one batch of predictions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CrossEntropy {
    /// `Σ -ln p(target)` over the rows, in f64.
    pub loss_sum: f64,
    /// Rows whose arg-max equals the target.
    pub correct: usize,
}

/// For each row `r` of `logits [N, V]`: `-ln softmax(logits_r)[targets[r]]`, summed, and the count
/// of rows whose arg-max (first on ties) is the target.
///
/// If `grad` is given (`[N, V]`), it receives `scale · (softmax(logits_r) - onehot(target_r))`,
/// the gradient of `scale · Σ loss`; use `scale = 1/N` for a mean.
pub fn softmax_cross_entropy<T: Scalar>(
    logits: &[T],
    vocab: usize,
    targets: &[u32],
    mut grad: Option<&mut [T]>,
    scale: T,
    scratch: &mut Vec<T>,
) -> CrossEntropy {
    assert_eq!(logits.len(), targets.len() * vocab, "logits must be [N, V]");
    scratch.resize(vocab, T::zero());
    let mut out = CrossEntropy::default();
    for (r, (row, &target)) in logits.chunks_exact(vocab).zip(targets).enumerate() {
        let target = target as usize;
        assert!(
            target < vocab,
            "target {target} outside the vocabulary of {vocab}"
        );
        let max = row_max(row);
        // The target is the arg-max (the first maximum) if it holds the maximum and nothing
        // before it does.
        let hit = row[target] == max && !row[..target].contains(&max);
        let p = &mut scratch[..];
        for (e, &v) in p.iter_mut().zip(row) {
            *e = v - max;
        }
        T::exp_in_place(p);
        let sum = sum_f64(p);
        let shifted = (row[target] - max).to_f64().unwrap_or(f64::NAN);
        out.loss_sum += sum.ln() - shifted;
        out.correct += usize::from(hit);
        if let Some(g) = grad.as_deref_mut() {
            let g = &mut g[r * vocab..(r + 1) * vocab];
            let inv = T::of(1.0 / sum) * scale;
            for (gj, &e) in g.iter_mut().zip(p.iter()) {
                *gj = e * inv;
            }
            g[target] -= scale;
        }
    }
    out
}

/// Lanes of the vectorisable scans below.
const LANES: usize = 8;

/// The largest element, by the comparison `v > max` (NaNs are passed over unless the row
/// starts with one), in independent lanes so that the compiler vectorises the scan.
fn row_max<T: Scalar>(row: &[T]) -> T {
    let mut lanes = [row[0]; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            if v > *m {
                *m = v;
            }
        }
    }
    let mut max = lanes[0];
    for &v in lanes[1..].iter().chain(chunks.remainder()) {
        if v > max {
            max = v;
        }
    }
    max
}

/// `Σ v` in f64, in [`LANES`] partial sums added pairwise at the end (a fixed order).
fn sum_f64<T: Scalar>(v: &[T]) -> f64 {
    let wide = |x: T| x.to_f64().unwrap_or(f64::NAN);
    let mut lanes = [0.0f64; LANES];
    let mut chunks = v.chunks_exact(LANES);
    for c in &mut chunks {
        for (s, &x) in lanes.iter_mut().zip(c) {
            *s += wide(x);
        }
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            lanes[i] += lanes[i + width];
        }
    }
    chunks
        .remainder()
        .iter()
        .fold(lanes[0], |s, &x| s + wide(x))
}

/// [`softmax_cross_entropy`] with the rows spread over `threads` in fixed pieces of
/// [`CE_ROWS_PER_PIECE`]; the piece sums are added in order, so the result does not depend on
/// the thread count.
pub fn softmax_cross_entropy_par<T: Scalar>(
    threads: &Threads,
    logits: &[T],
    vocab: usize,
    targets: &[u32],
    grad: Option<&mut [T]>,
    scale: T,
) -> CrossEntropy {
    let n = targets.len();
    assert_eq!(logits.len(), n * vocab, "logits must be [N, V]");
    let pieces = n.div_ceil(CE_ROWS_PER_PIECE);
    let partial: Vec<std::sync::Mutex<CrossEntropy>> = (0..pieces)
        .map(|_| std::sync::Mutex::new(CrossEntropy::default()))
        .collect();
    let g = grad.map(|g| {
        assert_eq!(g.len(), logits.len(), "grad must be [N, V]");
        SendPtr(g.as_mut_ptr())
    });
    threads.for_each_sized(pieces, n * vocab * 8, |piece| {
        let rows = piece * CE_ROWS_PER_PIECE..((piece + 1) * CE_ROWS_PER_PIECE).min(n);
        let span = rows.start * vocab..rows.end * vocab;
        // SAFETY: pieces cover disjoint rows of the gradient.
        let g = g.map(|p| unsafe {
            std::slice::from_raw_parts_mut(p.get().add(span.start), span.len())
        });
        let r = softmax_cross_entropy(
            &logits[span],
            vocab,
            &targets[rows],
            g,
            scale,
            &mut Vec::new(),
        );
        *partial[piece].lock().unwrap_or_else(|e| e.into_inner()) = r;
    });
    sum_in_order(partial)
}

/// The sum of per-piece results, added in piece order (so it does not depend on which thread
/// computed which piece).
pub(crate) fn sum_in_order(partial: Vec<std::sync::Mutex<CrossEntropy>>) -> CrossEntropy {
    partial.into_iter().fold(CrossEntropy::default(), |acc, p| {
        let p = p.into_inner().unwrap_or_else(|e| e.into_inner());
        CrossEntropy {
            loss_sum: acc.loss_sum + p.loss_sum,
            correct: acc.correct + p.correct,
        }
    })
}

/// Rows per piece of [`softmax_cross_entropy_par`].
pub const CE_ROWS_PER_PIECE: usize = 128;

/// Naive twin of [`softmax_cross_entropy`], in f64 with the library `exp`.
pub fn softmax_cross_entropy_naive(
    logits: &[f64],
    vocab: usize,
    targets: &[u32],
    scale: f64,
) -> (f64, usize, Vec<f64>) {
    let mut loss = 0.0;
    let mut correct = 0;
    let mut grad = vec![0.0; logits.len()];
    for (r, row) in logits.chunks_exact(vocab).enumerate() {
        let t = targets[r] as usize;
        let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = row.iter().map(|v| (v - max).exp()).sum();
        loss += z.ln() + max - row[t];
        let arg = row.iter().position(|&v| v == max).unwrap_or(0);
        correct += usize::from(arg == t);
        for j in 0..vocab {
            grad[r * vocab + j] =
                scale * ((row[j] - max).exp() / z - if j == t { 1.0 } else { 0.0 });
        }
    }
    (loss, correct, grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_naive_twin_in_f32_and_f64() {
        let vocab = 7;
        let logits64: Vec<f64> = (0..5 * vocab)
            .map(|i| ((i * 37 % 23) as f64 - 11.0) * 0.7)
            .collect();
        let targets = [0u32, 6, 3, 3, 1];
        let (loss, correct, grad) = softmax_cross_entropy_naive(&logits64, vocab, &targets, 0.2);
        let mut g64 = vec![0.0; logits64.len()];
        let r = softmax_cross_entropy(
            &logits64,
            vocab,
            &targets,
            Some(&mut g64),
            0.2,
            &mut Vec::new(),
        );
        assert!((r.loss_sum - loss).abs() < 1e-12 && r.correct == correct);
        assert!(g64.iter().zip(&grad).all(|(a, b)| (a - b).abs() < 1e-12));
        let logits32: Vec<f32> = logits64.iter().map(|&v| v as f32).collect();
        let mut g32 = vec![0.0f32; logits32.len()];
        let r = softmax_cross_entropy(
            &logits32,
            vocab,
            &targets,
            Some(&mut g32),
            0.2,
            &mut Vec::new(),
        );
        assert!(
            (r.loss_sum - loss).abs() < 1e-5 * loss.abs(),
            "{} vs {loss}",
            r.loss_sum
        );
        assert_eq!(r.correct, correct);
        assert!(g32
            .iter()
            .zip(&grad)
            .all(|(&a, b)| (a as f64 - b).abs() < 1e-6));
    }

    #[test]
    fn the_parallel_version_agrees_and_ignores_the_thread_count() {
        let vocab = 11;
        let n = 300;
        let logits: Vec<f32> = (0..n * vocab)
            .map(|i| ((i * 7919 % 101) as f32 - 50.0) * 0.05)
            .collect();
        let targets: Vec<u32> = (0..n).map(|i| (i * 7 % vocab) as u32).collect();
        let mut g0 = vec![0.0f32; logits.len()];
        let serial = softmax_cross_entropy(
            &logits,
            vocab,
            &targets,
            Some(&mut g0),
            0.5,
            &mut Vec::new(),
        );
        let mut results = Vec::new();
        for count in [1, 2, 3] {
            let threads = Threads::new(count).unwrap();
            let mut g = vec![0.0f32; logits.len()];
            let r =
                softmax_cross_entropy_par(&threads, &logits, vocab, &targets, Some(&mut g), 0.5);
            assert_eq!(g, g0);
            assert_eq!(r.correct, serial.correct);
            assert!((r.loss_sum - serial.loss_sum).abs() < 1e-9 * serial.loss_sum.abs());
            results.push(r);
        }
        assert!(results.iter().all(|r| *r == results[0]));
    }

    #[test]
    fn large_logits_do_not_overflow() {
        let logits = [1000.0f32, -1000.0, 999.0];
        let r = softmax_cross_entropy(&logits, 3, &[2], None, 1.0, &mut Vec::new());
        let want = (1.0 + (-1.0f64).exp()).ln() + 1.0;
        assert!((r.loss_sum - want).abs() < 1e-5, "{} vs {want}", r.loss_sum);
    }
}
