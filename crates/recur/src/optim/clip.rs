//! Gradient clipping as `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`.

/// Scales all gradients so that their global L2 norm is at most `max_norm` (with PyTorch's
/// `1e-6` guard) and returns the norm before clipping. `max_norm <= 0` only measures.
pub fn clip_grad_norm(grads: &mut [&mut [f32]], max_norm: f64) -> f64 {
    let total: f64 = grads
        .iter()
        .map(|g| g.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>())
        .sum::<f64>()
        .sqrt();
    if max_norm > 0.0 {
        let coef = max_norm / (total + 1e-6);
        if coef < 1.0 {
            let coef = coef as f32;
            for g in grads.iter_mut() {
                g.iter_mut().for_each(|v| *v *= coef);
            }
        }
    }
    total
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
