//! Optimisers with PyTorch's update rules (`torch.optim.SGD`, `Adam`, `AdamW`, `RMSprop`),
//! gradient clipping and learning-rate schedules.
//!
//! Parameters are a list of flat f32 buffers; every optimiser keeps its state in buffers of the
//! same sizes, so a step is one loop per buffer and the state saves as named tensors.

mod clip;
mod schedule;

pub use clip::{clip_grad_norm, clip_grad_norm_in, clip_grad_value};
pub use schedule::{Schedule, ScheduleKind};

use crate::error::{Error, Result};
use recur_kernels::Threads;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// Elements per parallel piece of an optimiser step or a gradient norm. The pieces depend on
/// the buffer sizes only, never on the thread count, and every update is element-wise, so the
/// result is the same for any number of threads.
pub(crate) const PIECE: usize = 16 * 1024;

/// Calls `f(i, piece)` for the `i`-th piece of [`PIECE`] elements of `bufs` (the buffers cut
/// in order), the pieces spread over `threads`.
pub(crate) fn for_each_piece<'a>(
    threads: &Threads,
    bufs: impl Iterator<Item = &'a mut [f32]>,
    f: impl Fn(usize, &mut [f32]) + Sync,
) {
    let pieces: Vec<Mutex<&mut [f32]>> = bufs
        .flat_map(|b| b.chunks_mut(PIECE))
        .map(Mutex::new)
        .collect();
    let total = pieces.len() * PIECE;
    threads.for_each_sized(pieces.len(), total, |i| {
        f(i, &mut pieces[i].lock().unwrap_or_else(|e| e.into_inner()));
    });
}

/// Which update rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Stochastic gradient descent with optional momentum and L2 weight decay.
    Sgd,
    /// Adam with L2 weight decay added to the gradient.
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
    /// RMSprop (not centred) with optional momentum.
    Rmsprop,
}

impl std::str::FromStr for OptimizerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sgd" => Ok(Self::Sgd),
            "adam" => Ok(Self::Adam),
            "adamw" => Ok(Self::Adamw),
            "rmsprop" => Ok(Self::Rmsprop),
            _ => Err(Error::Config(format!(
                "optimizer '{s}' is not one of adam, adamw, sgd, rmsprop"
            ))),
        }
    }
}

/// Hyperparameters of an optimiser (PyTorch's defaults where it has them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// Update rule.
    pub kind: OptimizerKind,
    /// Momentum (SGD, RMSprop).
    pub momentum: f64,
    /// Weight decay: L2 added to the gradient (SGD, Adam, RMSprop) or decoupled (AdamW).
    pub weight_decay: f64,
    /// Adam's `β1`.
    pub beta1: f64,
    /// Adam's `β2`.
    pub beta2: f64,
    /// Denominator term (Adam, RMSprop).
    pub eps: f64,
    /// RMSprop's smoothing constant.
    pub alpha: f64,
}

impl OptimizerConfig {
    /// PyTorch's defaults for `kind` (AdamW's weight decay 0.01, the others 0).
    pub fn new(kind: OptimizerKind) -> Self {
        OptimizerConfig {
            kind,
            momentum: 0.0,
            weight_decay: if kind == OptimizerKind::Adamw {
                0.01
            } else {
                0.0
            },
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            alpha: 0.99,
        }
    }

    /// Checks ranges; the message names the setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(format!("momentum must be in [0, 1), got {}", self.momentum));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(format!(
                "weight decay must be >= 0, got {}",
                self.weight_decay
            ));
        }
        if !(0.0..1.0).contains(&self.beta1) || !(0.0..1.0).contains(&self.beta2) {
            return bad("Adam betas must be in [0, 1)".into());
        }
        Ok(())
    }
}

/// An optimiser over a fixed list of parameter buffers.
#[derive(Clone, Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    sizes: Vec<usize>,
    /// Steps taken (Adam's bias correction counts from 1).
    steps: u64,
    /// First state buffer per parameter: momentum / Adam's `m` / RMSprop's square average.
    first: Vec<Vec<f32>>,
    /// Second state buffer per parameter: Adam's `v` / RMSprop's momentum.
    second: Vec<Vec<f32>>,
}

impl Optimizer {
    /// A fresh optimiser for buffers of `sizes`.
    pub fn new(config: OptimizerConfig, sizes: &[usize]) -> Result<Self> {
        config.validate()?;
        let zeros = |on: bool| -> Vec<Vec<f32>> {
            sizes
                .iter()
                .map(|&n| if on { vec![0.0; n] } else { Vec::new() })
                .collect()
        };
        let (first, second) = match config.kind {
            OptimizerKind::Sgd => (zeros(config.momentum > 0.0), zeros(false)),
            OptimizerKind::Adam | OptimizerKind::Adamw => (zeros(true), zeros(true)),
            OptimizerKind::Rmsprop => (zeros(true), zeros(config.momentum > 0.0)),
        };
        Ok(Optimizer {
            config,
            sizes: sizes.to_vec(),
            steps: 0,
            first,
            second,
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One update of every buffer with learning rate `lr`.
    pub fn step(&mut self, params: &mut [&mut [f32]], grads: &[&[f32]], lr: f64) {
        self.step_in(&Threads::single(), params, grads, lr)
    }

    /// [`Self::step`] with the buffers cut into fixed pieces spread over `threads` (the same
    /// result for any thread count: every update is element-wise).
    pub fn step_in(
        &mut self,
        threads: &Threads,
        params: &mut [&mut [f32]],
        grads: &[&[f32]],
        lr: f64,
    ) {
        assert_eq!(params.len(), self.sizes.len(), "parameter list changed");
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            assert_eq!(p.len(), self.sizes[i]);
            assert_eq!(g.len(), self.sizes[i]);
        }
        self.steps += 1;
        let c = self.config.clone();
        let t = self.steps as i32;
        // Every piece's slices, taken apart once so that each piece can borrow its own.
        type Piece<'a> = (&'a mut [f32], &'a [f32], &'a mut [f32], &'a mut [f32]);
        let mut work: Vec<Mutex<Piece<'_>>> = Vec::new();
        for (((p, g), first), second) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut self.first)
            .zip(&mut self.second)
        {
            let (mut p, mut g) = (&mut p[..], &g[..]);
            let (mut first, mut second) = (&mut first[..], &mut second[..]);
            while !p.is_empty() {
                let n = PIECE.min(p.len());
                let (ph, pt) = std::mem::take(&mut p).split_at_mut(n);
                let (gh, gt) = g.split_at(n);
                // State buffers are empty when the rule does not use them.
                let (nf, ns) = (n.min(first.len()), n.min(second.len()));
                let (fh, ft) = std::mem::take(&mut first).split_at_mut(nf);
                let (sh, st) = std::mem::take(&mut second).split_at_mut(ns);
                work.push(Mutex::new((ph, gh, fh, sh)));
                (p, g, first, second) = (pt, gt, ft, st);
            }
        }
        let total: usize = self.sizes.iter().sum();
        threads.for_each_sized(work.len(), total * 4, |i| {
            let mut guard = work[i].lock().unwrap_or_else(|e| e.into_inner());
            let (p, g, first, second) = &mut *guard;
            match c.kind {
                OptimizerKind::Sgd => sgd(p, g, first, &c, lr as f32, t == 1),
                OptimizerKind::Adam | OptimizerKind::Adamw => adam(p, g, first, second, &c, lr, t),
                OptimizerKind::Rmsprop => rmsprop(p, g, first, second, &c, lr as f32),
            }
        });
    }

    /// Clips `grads` to a global norm of `clip` (0: no clipping), then steps; returns the norm
    /// before clipping. The common tail of a training step over flat gradient views (each
    /// model's typed gradients give them in its parameters' order).
    pub fn clip_and_step(
        &mut self,
        params: &mut [&mut [f32]],
        grads: &mut [&mut [f32]],
        clip: f64,
        lr: f64,
    ) -> f64 {
        self.clip_and_step_in(&Threads::single(), params, grads, clip, lr)
    }

    /// [`Self::clip_and_step`] spread over `threads`.
    pub fn clip_and_step_in(
        &mut self,
        threads: &Threads,
        params: &mut [&mut [f32]],
        grads: &mut [&mut [f32]],
        clip: f64,
        lr: f64,
    ) -> f64 {
        let norm = clip_grad_norm_in(threads, grads, clip);
        let g: Vec<&[f32]> = grads.iter().map(|g| &**g).collect();
        self.step_in(threads, params, &g, lr);
        norm
    }

    /// The state as named buffers (`first.{i}`, `second.{i}`) for a checkpoint, plus the step count.
    pub fn state(&self) -> (u64, Vec<(String, &[f32])>) {
        let mut out = Vec::new();
        for (i, b) in self.first.iter().enumerate().filter(|(_, b)| !b.is_empty()) {
            out.push((format!("first.{i}"), &b[..]));
        }
        for (i, b) in self
            .second
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.is_empty())
        {
            out.push((format!("second.{i}"), &b[..]));
        }
        (self.steps, out)
    }

    /// Restores what [`Self::state`] returned; `take(name, len)` fetches a stored buffer.
    pub fn load_state(
        &mut self,
        steps: u64,
        mut take: impl FnMut(&str, usize) -> Result<Vec<f32>>,
    ) -> Result<()> {
        for (prefix, bufs) in [("first", &mut self.first), ("second", &mut self.second)] {
            for (i, b) in bufs.iter_mut().enumerate().filter(|(_, b)| !b.is_empty()) {
                *b = take(&format!("{prefix}.{i}"), self.sizes[i])?;
            }
        }
        self.steps = steps;
        Ok(())
    }
}

fn sgd(p: &mut [f32], g: &[f32], buf: &mut [f32], c: &OptimizerConfig, lr: f32, first: bool) {
    let wd = c.weight_decay as f32;
    let momentum = c.momentum as f32;
    for j in 0..p.len() {
        let mut d = g[j];
        if wd != 0.0 {
            d += wd * p[j];
        }
        if momentum != 0.0 {
            buf[j] = if first { d } else { momentum * buf[j] + d };
            d = buf[j];
        }
        p[j] += -lr * d;
    }
}

fn adam(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    c: &OptimizerConfig,
    lr: f64,
    t: i32,
) {
    let (b1, b2) = (c.beta1 as f32, c.beta2 as f32);
    let bias1 = 1.0 - c.beta1.powi(t);
    let bias2_sqrt = (1.0 - c.beta2.powi(t)).sqrt() as f32;
    let step_size = (lr / bias1) as f32;
    let eps = c.eps as f32;
    let wd = c.weight_decay as f32;
    let decoupled = c.kind == OptimizerKind::Adamw;
    let shrink = (1.0 - lr * c.weight_decay) as f32;
    for j in 0..p.len() {
        let mut grad = g[j];
        if wd != 0.0 {
            if decoupled {
                p[j] *= shrink;
            } else {
                grad += wd * p[j];
            }
        }
        m[j] += (1.0 - b1) * (grad - m[j]);
        v[j] = v[j] * b2 + (1.0 - b2) * grad * grad;
        let denom = v[j].sqrt() / bias2_sqrt + eps;
        p[j] += -step_size * (m[j] / denom);
    }
}

fn rmsprop(
    p: &mut [f32],
    g: &[f32],
    square: &mut [f32],
    buf: &mut [f32],
    c: &OptimizerConfig,
    lr: f32,
) {
    let alpha = c.alpha as f32;
    let eps = c.eps as f32;
    let wd = c.weight_decay as f32;
    let momentum = c.momentum as f32;
    for j in 0..p.len() {
        let mut grad = g[j];
        if wd != 0.0 {
            grad += wd * p[j];
        }
        square[j] = square[j] * alpha + (1.0 - alpha) * grad * grad;
        let avg = square[j].sqrt() + eps;
        if momentum > 0.0 {
            buf[j] = buf[j] * momentum + grad / avg;
            p[j] += -lr * buf[j];
        } else {
            p[j] += -lr * (grad / avg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: OptimizerKind, momentum: f64, wd: f64, steps: usize) -> Vec<f32> {
        let mut c = OptimizerConfig::new(kind);
        c.momentum = momentum;
        c.weight_decay = wd;
        let mut opt = Optimizer::new(c, &[3]).unwrap();
        let mut p = vec![1.0f32, -2.0, 0.5];
        for s in 0..steps {
            // Gradient of 0.5 * |p|^2 plus a drift, so each step differs.
            let g: Vec<f32> = p.iter().map(|&x| x + 0.1 * s as f32).collect();
            opt.step(&mut [&mut p[..]], &[&g[..]], 0.1);
        }
        p
    }

    #[test]
    fn sgd_follows_the_textbook_rule() {
        // p1 = p0 - lr * (p0 + wd p0) with wd = 0.5: 1 - 0.1 * 1.5 = 0.85.
        assert_eq!(run(OptimizerKind::Sgd, 0.0, 0.5, 1)[0], 0.85);
        // Momentum: buf1 = g1, buf2 = 0.9 buf1 + g2.
        let p = run(OptimizerKind::Sgd, 0.9, 0.0, 2);
        let p1 = 1.0f32 - 0.1 * 1.0;
        let buf2 = 0.9 * 1.0 + (p1 + 0.1);
        assert!((p[0] - (p1 - 0.1 * buf2)).abs() < 1e-6);
    }

    #[test]
    fn adam_first_step_moves_every_weight_by_lr() {
        // With bias correction, Adam's first step is lr * g / (|g| + eps') = ±lr.
        let p = run(OptimizerKind::Adam, 0.0, 0.0, 1);
        assert!(
            (p[0] - 0.9).abs() < 1e-6 && (p[1] + 1.9).abs() < 1e-6,
            "{p:?}"
        );
        // AdamW shrinks the weight first: (1 - 0.1 * 0.01) * 1 - 0.1.
        let p = run(OptimizerKind::Adamw, 0.0, 0.01, 1);
        assert!((p[0] - (0.999 - 0.1)).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn rmsprop_first_step() {
        // square = (1 - 0.99) g^2, step = lr * g / (sqrt(0.01) |g| + eps) = 10 * lr * sign(g).
        let p = run(OptimizerKind::Rmsprop, 0.0, 0.0, 1);
        assert!((p[0] - 0.0).abs() < 1e-5, "{p:?}");
    }

    #[test]
    fn state_round_trips() {
        let mut opt = Optimizer::new(OptimizerConfig::new(OptimizerKind::Adam), &[2, 1]).unwrap();
        let mut a = [1.0f32, 2.0];
        let mut b = [3.0f32];
        opt.step(&mut [&mut a[..], &mut b[..]], &[&[0.5, 0.5], &[1.0]], 0.01);
        let (steps, state) = opt.state();
        let saved: Vec<(String, Vec<f32>)> =
            state.iter().map(|(n, v)| (n.clone(), v.to_vec())).collect();
        let mut fresh = Optimizer::new(OptimizerConfig::new(OptimizerKind::Adam), &[2, 1]).unwrap();
        fresh
            .load_state(steps, |name, _| {
                Ok(saved.iter().find(|(n, _)| n == name).unwrap().1.clone())
            })
            .unwrap();
        assert_eq!(fresh.first, opt.first);
        assert_eq!(fresh.second, opt.second);
        assert_eq!(fresh.steps, 1);
    }

    #[test]
    fn threaded_steps_and_norms_do_not_depend_on_the_thread_count() {
        // Buffers over several pieces, one under a piece, one empty.
        let sizes = [3 * PIECE + 17, 100, 0, PIECE];
        let grad = |s: usize| -> Vec<Vec<f32>> {
            sizes
                .iter()
                .enumerate()
                .map(|(b, &n)| {
                    (0..n)
                        .map(|j| (((j * 31 + b * 7 + s * 13) % 201) as f32 - 100.0) * 0.01)
                        .collect()
                })
                .collect()
        };
        for kind in [
            OptimizerKind::Sgd,
            OptimizerKind::Adam,
            OptimizerKind::Adamw,
            OptimizerKind::Rmsprop,
        ] {
            let mut c = OptimizerConfig::new(kind);
            c.momentum = 0.9;
            c.weight_decay = 0.01;
            let mut results = Vec::new();
            for count in [1, 2, 3] {
                let threads = Threads::new(count).unwrap();
                let mut opt = Optimizer::new(c.clone(), &sizes).unwrap();
                let mut params: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.5; n]).collect();
                let mut norms = Vec::new();
                for step in 0..3 {
                    let mut g = grad(step);
                    let mut g: Vec<&mut [f32]> = g.iter_mut().map(|g| &mut g[..]).collect();
                    let mut p: Vec<&mut [f32]> = params.iter_mut().map(|p| &mut p[..]).collect();
                    norms.push(opt.clip_and_step_in(&threads, &mut p, &mut g, 1.0, 0.01));
                }
                if count == 1 {
                    // The single-threaded entry points agree with the threaded ones.
                    let mut serial = Optimizer::new(c.clone(), &sizes).unwrap();
                    let mut ps: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.5; n]).collect();
                    for (step, &norm) in norms.iter().enumerate() {
                        let mut g = grad(step);
                        let mut g: Vec<&mut [f32]> = g.iter_mut().map(|g| &mut g[..]).collect();
                        let mut p: Vec<&mut [f32]> = ps.iter_mut().map(|p| &mut p[..]).collect();
                        assert_eq!(serial.clip_and_step(&mut p, &mut g, 1.0, 0.01), norm);
                    }
                    assert_eq!(ps, params);
                }
                assert!(params.iter().flatten().all(|v| v.is_finite()));
                assert!(params[0].iter().any(|&v| v != 0.5));
                results.push((params, norms, opt.first, opt.second));
            }
            assert!(results.iter().all(|r| *r == results[0]), "{kind:?}");
        }
    }
}
