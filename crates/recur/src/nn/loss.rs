//! Losses with `torch.nn`'s semantics (mean reduction), each returning the loss and, when asked,
//! writing the gradient of that loss with respect to its input.

use super::check_len;
use crate::error::{Error, Result};
use recur_kernels::{Scalar, Threads};

/// `torch.nn.CrossEntropyLoss(ignore_index=…, label_smoothing=ε)` over logits `[N, C]`:
/// `loss = (1 - ε) · mean_i(-log p[i, y_i]) + ε / C · mean_i(Σ_c -log p[i, c])`, the means over
/// the rows whose target is not `ignore_index` (NaN when every row is ignored, as PyTorch).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CrossEntropyLoss {
    /// A target id whose rows add nothing to the loss or the gradient.
    pub ignore_index: Option<u32>,
    /// `ε` in `[0, 1]`: the share of the target mass spread evenly over all classes.
    pub label_smoothing: f64,
}

/// What a cross-entropy pass reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CrossEntropyReport {
    /// The mean loss.
    pub loss: f64,
    /// Rows that counted (not ignored).
    pub count: usize,
    /// Counted rows whose arg-max is the target.
    pub correct: usize,
}

impl CrossEntropyLoss {
    /// Checks the smoothing, the class count and the buffers' lengths (`logits` and, when
    /// given, its gradient `[N, C]` for `n` targets).
    fn check(&self, classes: usize, n: usize, logits: usize, grad: Option<usize>) -> Result<()> {
        let eps = self.label_smoothing;
        if !(0.0..=1.0).contains(&eps) {
            return Err(Error::Input(format!(
                "label_smoothing must be in [0, 1], got {eps}"
            )));
        }
        if classes == 0 {
            return Err(Error::Input("cross-entropy over 0 classes".into()));
        }
        check_len("cross-entropy logits", logits, n * classes)?;
        if let Some(d) = grad {
            check_len("cross-entropy logit gradient", d, logits)?;
        }
        Ok(())
    }

    /// The loss of `logits [N, C]` against `targets [N]`; with `d_logits`, its gradient
    /// `[N, C]` (ignored rows zero).
    ///
    /// # Errors
    /// [`Error::Input`] for a target outside `0..C` (other than `ignore_index`), buffers that do
    /// not fit, or `label_smoothing` outside `[0, 1]`.
    pub fn forward<T: Scalar>(
        &self,
        logits: &[T],
        classes: usize,
        targets: &[u32],
        mut d_logits: Option<&mut [T]>,
    ) -> Result<CrossEntropyReport> {
        let eps = self.label_smoothing;
        self.check(
            classes,
            targets.len(),
            logits.len(),
            d_logits.as_deref().map(<[T]>::len),
        )?;
        let counted = |&y: &u32| Some(y) != self.ignore_index;
        let count = targets.iter().filter(|y| counted(y)).count();
        let (mut nll, mut smooth, mut correct) = (0.0f64, 0.0f64, 0usize);
        let mut p = vec![0.0f64; classes];
        let c = classes as f64;
        for (i, &y) in targets.iter().enumerate() {
            let row = &logits[i * classes..(i + 1) * classes];
            if !counted(&y) {
                if let Some(d) = d_logits.as_deref_mut() {
                    d[i * classes..(i + 1) * classes].fill(T::zero());
                }
                continue;
            }
            let y = y as usize;
            if y >= classes {
                return Err(Error::Input(format!(
                    "cross-entropy: row {i} has target {y}, outside 0..{classes}"
                )));
            }
            let max = row
                .iter()
                .map(|v| v.to_f64().unwrap_or(f64::NAN))
                .fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for (pc, v) in p.iter_mut().zip(row) {
                *pc = (v.to_f64().unwrap_or(f64::NAN) - max).exp();
                sum += *pc;
            }
            let log_sum = sum.ln();
            let log_p = |j: usize| row[j].to_f64().unwrap_or(f64::NAN) - max - log_sum;
            nll -= log_p(y);
            smooth -= (0..classes).map(log_p).sum::<f64>();
            let best = (0..classes).fold(0, |b, j| if row[j] > row[b] { j } else { b });
            correct += usize::from(best == y);
            if let Some(d) = d_logits.as_deref_mut() {
                let scale = 1.0 / count as f64;
                for (j, dj) in d[i * classes..(i + 1) * classes].iter_mut().enumerate() {
                    let target = (1.0 - eps) * f64::from(u8::from(j == y)) + eps / c;
                    *dj = T::of((p[j] / sum - target) * scale);
                }
            }
        }
        let n = count as f64;
        Ok(CrossEntropyReport {
            loss: (1.0 - eps) * nll / n + eps / c * smooth / n,
            count,
            correct,
        })
    }
}

/// Rows per piece of [`CrossEntropyLoss::forward_par`]: fixed, so that results do not depend on
/// the thread count.
const CE_PIECE: usize = 32;

impl CrossEntropyLoss {
    /// [`Self::forward`] for `f32` logits, the rows spread over `threads` in fixed pieces and
    /// each row's exponentials vectorised (the large-vocabulary losses of a translation
    /// model). The same loss and gradient as [`Self::forward`] up to `f32` rounding; the same
    /// bits for every thread count.
    ///
    /// # Errors
    /// As [`Self::forward`].
    pub fn forward_par<T: Scalar>(
        &self,
        threads: &Threads,
        logits: &[T],
        classes: usize,
        targets: &[u32],
        d_logits: Option<&mut [T]>,
    ) -> Result<CrossEntropyReport> {
        let eps = self.label_smoothing;
        self.check(
            classes,
            targets.len(),
            logits.len(),
            d_logits.as_deref().map(<[T]>::len),
        )?;
        let counted = |y: u32| Some(y) != self.ignore_index;
        if let Some((i, &y)) = targets
            .iter()
            .enumerate()
            .find(|(_, &y)| counted(y) && y as usize >= classes)
        {
            return Err(Error::Input(format!(
                "cross-entropy: row {i} has target {y}, outside 0..{classes}"
            )));
        }
        let count = targets.iter().filter(|&&y| counted(y)).count();
        let pieces = targets.len().div_ceil(CE_PIECE);
        // Per piece: (nll, smooth, correct).
        let partial: Vec<std::sync::Mutex<(f64, f64, usize)>> =
            (0..pieces).map(|_| Default::default()).collect();
        // Each piece's rows of the gradient, behind a lock only that piece takes.
        let grads: Option<Vec<std::sync::Mutex<&mut [T]>>> = d_logits.map(|d| {
            d.chunks_mut(CE_PIECE * classes)
                .map(std::sync::Mutex::new)
                .collect()
        });
        let scale = 1.0 / count.max(1) as f64;
        let c = classes as f64;
        threads.for_each_sized(pieces, targets.len() * classes * 8, |piece| {
            let r0 = piece * CE_PIECE;
            let r1 = (r0 + CE_PIECE).min(targets.len());
            let mut e = vec![T::zero(); classes];
            let (mut nll, mut smooth, mut correct) = (0.0f64, 0.0f64, 0usize);
            let mut piece_grad = grads
                .as_ref()
                .map(|g| g[piece].lock().unwrap_or_else(|e| e.into_inner()));
            for (i, &y) in targets.iter().enumerate().take(r1).skip(r0) {
                let row = &logits[i * classes..(i + 1) * classes];
                let g = piece_grad
                    .as_mut()
                    .map(|g| &mut g[(i - r0) * classes..(i - r0 + 1) * classes]);
                if !counted(y) {
                    if let Some(g) = g {
                        g.fill(T::zero());
                    }
                    continue;
                }
                let (a, b, hit) = smoothed_row(row, y as usize, &mut e, g, (scale, eps));
                nll += a;
                smooth += b;
                correct += usize::from(hit);
            }
            *partial[piece].lock().unwrap_or_else(|e| e.into_inner()) = (nll, smooth, correct);
        });
        let (mut nll, mut smooth, mut correct) = (0.0, 0.0, 0);
        for p in partial {
            let (a, b, k) = p.into_inner().unwrap_or_else(|e| e.into_inner());
            nll += a;
            smooth += b;
            correct += k;
        }
        let n = count as f64;
        Ok(CrossEntropyReport {
            loss: (1.0 - eps) * nll / n + eps / c * smooth / n,
            count,
            correct,
        })
    }
}

/// One counted row of [`CrossEntropyLoss::forward_par`]: `(-log p_y, Σ_c -log p_c, whether the
/// first arg-max is y)`, and into `g` the gradient of `scale ·` its smoothed loss. `e` is
/// scratch of the row's length.
fn smoothed_row<T: Scalar>(
    row: &[T],
    y: usize,
    e: &mut [T],
    g: Option<&mut [T]>,
    (scale, eps): (f64, f64),
) -> (f64, f64, bool) {
    let c = row.len() as f64;
    let max = row.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
    for (ej, &v) in e.iter_mut().zip(row) {
        *ej = v - max;
    }
    T::exp_in_place(e);
    let f = |v: T| v.to_f64().unwrap_or(f64::NAN);
    let sum: f64 = e.iter().map(|&v| f(v)).sum();
    let log_sum = sum.ln();
    let shifted_sum: f64 = row.iter().map(|&v| f(v - max)).sum();
    if let Some(g) = g {
        let inv = T::of(scale / sum);
        let (on, off) = (T::of(scale * (1.0 - eps + eps / c)), T::of(scale * eps / c));
        for (gj, &ej) in g.iter_mut().zip(e.iter()) {
            *gj = ej * inv - off;
        }
        g[y] += off - on;
    }
    let first_max = row.iter().position(|&v| v == max).unwrap_or(0);
    (
        log_sum - f(row[y] - max),
        c * log_sum - shifted_sum,
        first_max == y,
    )
}

/// `torch.nn.MSELoss()`: `mean((input - target)²)`; with `d_input`, its gradient
/// `2 (input - target) / N`.
///
/// # Errors
/// [`Error::Input`] when the buffers differ in length or are empty.
pub fn mse_loss<T: Scalar>(input: &[T], target: &[T], d_input: Option<&mut [T]>) -> Result<f64> {
    check_len("MSE target", target.len(), input.len())?;
    if input.is_empty() {
        return Err(Error::Input("MSE of an empty input".into()));
    }
    let n = input.len() as f64;
    let diff = |i: usize| (input[i] - target[i]).to_f64().unwrap_or(f64::NAN);
    let loss = (0..input.len()).map(|i| diff(i).powi(2)).sum::<f64>() / n;
    if let Some(d) = d_input {
        check_len("MSE input gradient", d.len(), input.len())?;
        for (i, di) in d.iter_mut().enumerate() {
            *di = T::of(2.0 * diff(i) / n);
        }
    }
    Ok(loss)
}

/// `torch.nn.GaussianNLLLoss(full, eps)`: the negative log-likelihood of `target` under
/// `N(input, var)`, `mean(0.5 · (log v + (input - target)² / v))` (plus `0.5 · log 2π` when
/// `full`), where `v = max(var, eps)` (PyTorch's default `eps = 1e-6`) and, as in PyTorch, the
/// clamp passes the gradient through unchanged. `var` has the shape of `input`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianNllLoss {
    /// Add the constant `0.5 · log 2π`.
    pub full: bool,
    /// Smallest variance used.
    pub eps: f64,
}

impl Default for GaussianNllLoss {
    fn default() -> Self {
        GaussianNllLoss {
            full: false,
            eps: 1e-6,
        }
    }
}

/// Gradients of [`GaussianNllLoss::forward`].
#[derive(Debug)]
pub struct GaussianNllGrads<'a, T> {
    /// `[N]`, with respect to the mean.
    pub d_input: &'a mut [T],
    /// `[N]`, with respect to the variance.
    pub d_var: &'a mut [T],
}

impl GaussianNllLoss {
    /// The loss and, with `grads`, its gradients with respect to `input` and `var`.
    ///
    /// # Errors
    /// [`Error::Input`] for buffers of different lengths, an empty input, or a negative
    /// variance (PyTorch's error too).
    pub fn forward<T: Scalar>(
        &self,
        input: &[T],
        target: &[T],
        var: &[T],
        grads: Option<GaussianNllGrads<'_, T>>,
    ) -> Result<f64> {
        check_len("Gaussian NLL target", target.len(), input.len())?;
        check_len("Gaussian NLL variance", var.len(), input.len())?;
        if input.is_empty() {
            return Err(Error::Input("Gaussian NLL of an empty input".into()));
        }
        let f = |v: T| v.to_f64().unwrap_or(f64::NAN);
        if let Some(i) = var.iter().position(|&v| f(v) < 0.0) {
            return Err(Error::Input(format!(
                "Gaussian NLL: variance {} at {i} is negative",
                f(var[i])
            )));
        }
        let n = input.len() as f64;
        let mut sum = 0.0;
        let mut grads = grads;
        if let Some(g) = &grads {
            check_len("Gaussian NLL input gradient", g.d_input.len(), input.len())?;
            check_len("Gaussian NLL variance gradient", g.d_var.len(), input.len())?;
        }
        for i in 0..input.len() {
            let v = f(var[i]).max(self.eps);
            let r = f(input[i]) - f(target[i]);
            sum += 0.5 * (v.ln() + r * r / v);
            if let Some(g) = grads.as_mut() {
                g.d_input[i] = T::of(r / v / n);
                g.d_var[i] = T::of(0.5 * (1.0 / v - r * r / (v * v)) / n);
            }
        }
        let constant = if self.full {
            0.5 * (2.0 * std::f64::consts::PI).ln()
        } else {
            0.0
        };
        Ok(sum / n + constant)
    }
}
