//! Gradient clipping as `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`.

use super::{for_each_piece, PIECE};
use recur_kernels::Threads;
use std::sync::Mutex;

/// Scales all gradients so that their global L2 norm is at most `max_norm` (with PyTorch's
/// `1e-6` guard) and returns the norm before clipping. `max_norm <= 0` only measures.
pub fn clip_grad_norm(grads: &mut [&mut [f32]], max_norm: f64) -> f64 {
    clip_grad_norm_in(&Threads::single(), grads, max_norm)
}

/// [`clip_grad_norm`] with the buffers cut into fixed pieces spread over `threads`: the squares
/// are summed in f64 per piece and the piece sums added in order, so the norm is the same for
/// any thread count.
pub fn clip_grad_norm_in(threads: &Threads, grads: &mut [&mut [f32]], max_norm: f64) -> f64 {
    let count: usize = grads.iter().map(|g| g.len().div_ceil(PIECE)).sum();
    let sums: Vec<Mutex<f64>> = (0..count).map(|_| Mutex::new(0.0)).collect();
    for_each_piece(threads, grads.iter_mut().map(|g| &mut **g), |i, piece| {
        *sums[i].lock().unwrap_or_else(|e| e.into_inner()) = sum_squares(piece);
    });
    let total = sums
        .into_iter()
        .map(|s| s.into_inner().unwrap_or_else(|e| e.into_inner()))
        .sum::<f64>()
        .sqrt();
    if max_norm > 0.0 {
        let coef = max_norm / (total + 1e-6);
        if coef < 1.0 {
            let coef = coef as f32;
            for_each_piece(threads, grads.iter_mut().map(|g| &mut **g), |_, piece| {
                piece.iter_mut().for_each(|v| *v *= coef);
            });
        }
    }
    total
}

/// `Σ v²` in f64, in eight lanes added pairwise at the end (a fixed order that vectorises).
fn sum_squares(v: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for (s, &x) in lanes.iter_mut().zip(c) {
            *s += (x as f64) * (x as f64);
        }
    }
    let [a, b, c, d, e, f, g, h] = lanes;
    let sum = ((a + e) + (c + g)) + ((b + f) + (d + h));
    chunks
        .remainder()
        .iter()
        .fold(sum, |s, &x| s + (x as f64) * (x as f64))
}

/// Clamps every gradient element to `[-limit, limit]`.
pub fn clip_grad_value(grads: &mut [&mut [f32]], limit: f64) {
    let limit = limit as f32;
    for g in grads.iter_mut() {
        g.iter_mut().for_each(|v| *v = v.clamp(-limit, limit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_the_global_norm_only_when_above() {
        let mut a = [3.0f32];
        let mut b = [4.0f32];
        let n = clip_grad_norm(&mut [&mut a[..], &mut b[..]], 1.0);
        assert_eq!(n, 5.0);
        assert!((a[0] - 0.6).abs() < 1e-6 && (b[0] - 0.8).abs() < 1e-6);
        let mut c = [0.3f32];
        assert!((clip_grad_norm(&mut [&mut c[..]], 1.0) - 0.3).abs() < 1e-7);
        assert_eq!(c[0], 0.3);
        let mut d = [-5.0f32, 0.5, 7.0];
        clip_grad_value(&mut [&mut d[..]], 1.0);
        assert_eq!(d, [-1.0, 0.5, 1.0]);
    }
}
