//! Gradient flow through time: how much of a loss at the last step reaches each earlier step.
//!
//! **What is measured.** A stacked recurrent layer is a dynamical system whose state after step
//! `t` is `s_t = (h_t⁽¹⁾, …, h_t⁽ᴸ⁾)` (and the cells `c_t⁽ˡ⁾` of an LSTM). For one input
//! sequence `x_0 … x_{T-1}` and the loss `L = v · h_{T-1}⁽ᴸ⁾` (the top layer's last output times
//! a fixed unit vector `v`), [`state_gradients`] computes `∂L/∂s_t` for every step: the
//! gradient with respect to each component of the state after step `t`, the others held fixed.
//! It is exactly the `δh_t` that backprop through time carries from step `t + 1` back to step
//! `t` (for one layer, and for the top layer of a stack, it is the whole of `∂L/∂h_t`), the
//! product `vᵀ · ∂s_{T-1}/∂s_{T-2} ⋯ ∂s_{t+1}/∂s_t` of the step Jacobians whose norm vanishes
//! or explodes (Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013, "On the
//! difficulty of training recurrent neural networks").
//!
//! **How.** Step `t`'s state gradient is `dL/dh0` (and `dL/dc0`) of the same network run from
//! `h0 = s_t` over the rest of the input `x_{t+1} … x_{T-1}` with the gradient `v` injected at
//! its final state: [`Recurrent::forward`] and [`Recurrent::backward`] as they are, the suffixes
//! of all steps run side by side as one batch of variable lengths (PyTorch's packed sequences,
//! so each suffix ends at its own last step). The states `s_t` come from [`Recurrent::step`].
//! The cost is that of `T²/2` steps, in batches; checked against central differences in
//! `tests/gradient_flow.rs`.

use crate::config::{CellType, RecurrentConfig};
use crate::error::{Error, Result};
use crate::recurrent::{ForwardArgs, Recurrent};
use crate::rng::Rng;
use crate::tensor::{swap_leading_axes, Tensor};
use recur_kernels::{Scalar, Threads};
use serde::{Deserialize, Serialize};

/// Suffixes run together in one batch by [`state_gradients`].
const ROWS_PER_PASS: usize = 32;

/// `∂L/∂s_t` for every step of one sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct StateGradients<T> {
    /// Steps `T`.
    pub steps: usize,
    /// Layers `L`.
    pub layers: usize,
    /// Hidden units `H`.
    pub hidden: usize,
    /// `[T, L, H]`: `∂L/∂h_t⁽ˡ⁾` at `[t, l, ·]`.
    pub h: Vec<T>,
    /// `[T, L, H]`, LSTM only: `∂L/∂c_t⁽ˡ⁾`.
    pub c: Option<Vec<T>>,
}

impl<T: Scalar> StateGradients<T> {
    /// `‖∂L/∂h_t⁽ˡ⁾‖₂` for every step `t` (index `t`, not the distance).
    pub fn h_norms(&self, layer: usize) -> Vec<f64> {
        self.norms(&self.h, layer)
    }

    /// `‖∂L/∂c_t⁽ˡ⁾‖₂` for every step (LSTM only).
    pub fn c_norms(&self, layer: usize) -> Option<Vec<f64>> {
        self.c.as_ref().map(|c| self.norms(c, layer))
    }

    fn norms(&self, g: &[T], layer: usize) -> Vec<f64> {
        let (l, h) = (self.layers, self.hidden);
        (0..self.steps)
            .map(|t| {
                let row = &g[(t * l + layer) * h..(t * l + layer + 1) * h];
                row.iter()
                    .map(|v| v.to_f64().unwrap_or(f64::NAN).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect()
    }
}

/// The gradient of `L = v · h_{T-1}⁽ᴸ⁾` with respect to the state after every step of the
/// sequence `x [T, input_size]` (see the module's notes for exactly what is measured).
///
/// `rnn` must be unidirectional (a bidirectional layer has no state that runs forward in time
/// only); dropout is off (evaluation mode). `v` is `[H]`.
///
/// # Errors
/// [`Error::Input`] for a bidirectional layer, an empty sequence, or `x` and `v` of other
/// shapes; the layer's own errors.
pub fn state_gradients<T: Scalar>(
    rnn: &Recurrent<T>,
    threads: &Threads,
    x: &[T],
    v: &[T],
) -> Result<StateGradients<T>> {
    let c = rnn.config();
    let (inputs, hidden, layers) = (c.input_size, c.hidden_size, c.num_layers);
    if c.bidirectional {
        return Err(Error::Input(
            "gradient flow: a bidirectional layer has no state that runs forward in time only"
                .into(),
        ));
    }
    if x.is_empty() || !x.len().is_multiple_of(inputs) {
        return Err(Error::Input(format!(
            "gradient flow: x holds {} values, expected [T >= 1, {inputs}]",
            x.len()
        )));
    }
    if v.len() != hidden {
        return Err(Error::Input(format!(
            "gradient flow: v holds {} values, expected [{hidden}]",
            v.len()
        )));
    }
    let steps = x.len() / inputs;
    let lstm = c.cell == CellType::Lstm;
    // The state after every step, [T, L, H].
    let mut state = rnn.step_state(1, None, None)?;
    let (mut hs, mut cs) = (Vec::with_capacity(steps * layers * hidden), Vec::new());
    for t in 0..steps {
        rnn.step(threads, &x[t * inputs..(t + 1) * inputs], &mut state)?;
        hs.extend_from_slice(state.h());
        cs.extend_from_slice(state.c().unwrap_or(&[]));
    }
    let mut out = StateGradients {
        steps,
        layers,
        hidden,
        h: vec![T::zero(); steps * layers * hidden],
        c: lstm.then(|| vec![T::zero(); steps * layers * hidden]),
    };
    // The last step: L reads the top layer's state directly.
    let top = ((steps - 1) * layers + layers - 1) * hidden;
    out.h[top..top + hidden].copy_from_slice(v);
    let mut first = 0;
    while first + 1 < steps {
        let rows = ROWS_PER_PASS.min(steps - 1 - first);
        suffix_pass(rnn, threads, (x, v), (&hs, &cs), (first, rows), &mut out)?;
        first += rows;
    }
    Ok(out)
}

/// One batch of suffixes: row `j` starts from the state after step `t = first + j` and reads
/// `x_{t+1} … x_{T-1}`; writes `∂L/∂s_t` into `out`.
fn suffix_pass<T: Scalar>(
    rnn: &Recurrent<T>,
    threads: &Threads,
    (x, v): (&[T], &[T]),
    (hs, cs): (&[T], &[T]),
    (first, rows): (usize, usize),
    out: &mut StateGradients<T>,
) -> Result<()> {
    let c = rnn.config();
    let (inputs, hidden, layers, steps) = (c.input_size, c.hidden_size, c.num_layers, out.steps);
    let span = steps - 1 - first; // the longest suffix, row 0's
    let lengths: Vec<usize> = (0..rows).map(|j| steps - 1 - (first + j)).collect();
    let mut input = vec![T::zero(); span * rows * inputs];
    for (j, &len) in lengths.iter().enumerate() {
        let from = first + j + 1;
        for s in 0..len {
            let dst = (s * rows + j) * inputs;
            input[dst..dst + inputs].copy_from_slice(&x[(from + s) * inputs..][..inputs]);
        }
    }
    let input = if c.batch_first {
        let data = swap_leading_axes(&input, span, rows, inputs);
        Tensor::new("x", &[rows, span, inputs], data)?
    } else {
        Tensor::new("x", &[span, rows, inputs], input)?
    };
    // h0 [L, rows, H] from the saved states [T, L, H].
    let gather = |saved: &[T]| {
        let mut s = vec![T::zero(); layers * rows * hidden];
        for l in 0..layers {
            for j in 0..rows {
                let src = ((first + j) * layers + l) * hidden;
                let dst = (l * rows + j) * hidden;
                s[dst..dst + hidden].copy_from_slice(&saved[src..src + hidden]);
            }
        }
        Tensor::new("state", &[layers, rows, hidden], s)
    };
    let h0 = gather(hs)?;
    let c0 = if cs.is_empty() {
        None
    } else {
        Some(gather(cs)?)
    };
    let mut pass = rnn.forward(
        threads,
        &input,
        ForwardArgs {
            lengths: Some(&lengths),
            h0: Some(&h0),
            c0: c0.as_ref(),
            dropout_rng: None,
        },
    )?;
    let mut d_h_n = Tensor::zeros(&[layers, rows, hidden]);
    for j in 0..rows {
        let dst = ((layers - 1) * rows + j) * hidden;
        d_h_n.data_mut()[dst..dst + hidden].copy_from_slice(v);
    }
    let d_output = Tensor::zeros(pass.output.shape());
    let mut scratch = vec![T::zero(); rnn.params().len()];
    let g = rnn.backward(
        threads,
        &mut pass.cache,
        &mut scratch,
        &d_output,
        Some(&d_h_n),
        None,
    )?;
    let scatter = |from: &Tensor<T>, to: &mut [T]| {
        for l in 0..layers {
            for j in 0..rows {
                let src = (l * rows + j) * hidden;
                let dst = ((first + j) * layers + l) * hidden;
                to[dst..dst + hidden].copy_from_slice(&from.data()[src..src + hidden]);
            }
        }
    };
    scatter(&g.h0, &mut out.h);
    if let (Some(from), Some(to)) = (&g.c0, out.c.as_mut()) {
        scatter(from, to);
    }
    Ok(())
}

/// The largest singular value of a row-major `[rows, cols]` matrix, by power iteration on
/// `WᵀW` (to a relative change below `1e-10`, at most 1000 iterations). For the tanh RNN,
/// `σ_max(W_hh) < 1` is Pascanu et al.'s (2013) sufficient condition for vanishing gradients
/// (`|tanh'| ≤ 1`); for an LSTM or a GRU it bounds the recurrent product only, not the gates.
pub fn largest_singular_value(w: &[f64], rows: usize, cols: usize) -> f64 {
    assert_eq!(w.len(), rows * cols, "w must be [rows, cols]");
    if w.is_empty() {
        return 0.0;
    }
    let mut v = vec![1.0 / (cols as f64).sqrt(); cols];
    let mut sigma = 0.0;
    for _ in 0..1000 {
        let wv: Vec<f64> = w
            .chunks_exact(cols)
            .map(|r| r.iter().zip(&v).map(|(a, b)| a * b).sum())
            .collect();
        let mut next = vec![0.0; cols];
        for (r, &y) in w.chunks_exact(cols).zip(&wv) {
            for (n, &a) in next.iter_mut().zip(r) {
                *n += a * y;
            }
        }
        let norm = next.iter().map(|a| a * a).sum::<f64>().sqrt();
        let new_sigma = norm.sqrt(); // ‖WᵀW v‖ → σ² for a unit v
        if norm == 0.0 {
            return 0.0;
        }
        v = next.into_iter().map(|a| a / norm).collect();
        let done = (new_sigma - sigma).abs() <= 1e-10 * new_sigma;
        sigma = new_sigma;
        if done {
            break;
        }
    }
    sigma
}

/// Norms below this are left out of [`decay_per_step`]: `f32` holds them as subnormal numbers
/// (below `1.2e-38`) with few significant bits, or as zero, which would bend the fitted line.
pub const FIT_FLOOR: f64 = 1e-30;

/// The per-step factor by which a norm shrinks (< 1) or grows (> 1) with the distance `d` from
/// the loss: `exp(b)` of the least-squares line `ln norm_d ≈ a + b·d` over the finite norms
/// above [`FIT_FLOOR`] (`norms[d]`, `d = 0` the loss step). NaN with fewer than two such points.
pub fn decay_per_step(norms: &[f64]) -> f64 {
    let pts: Vec<(f64, f64)> = norms
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > FIT_FLOOR && n.is_finite())
        .map(|(d, &n)| (d as f64, n.ln()))
        .collect();
    if pts.len() < 2 {
        return f64::NAN;
    }
    let k = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / k,
        pts.iter().map(|p| p.1).sum::<f64>() / k,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    (sxy / sxx).exp()
}

/// The gradient flow of one model on one sequence, by distance from the loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowReport {
    /// Recurrent cell.
    pub cell: CellType,
    /// Hidden units.
    pub hidden_size: usize,
    /// Layers.
    pub num_layers: usize,
    /// Steps `T` of the sequence.
    pub length: usize,
    /// `[L][T]`: `‖∂L/∂h⁽ˡ⁾‖₂` at distance `d` from the loss step (step `T - 1 - d`).
    pub h_norms: Vec<Vec<f64>>,
    /// `[L][T]`, LSTM only: `‖∂L/∂c⁽ˡ⁾‖₂` at distance `d`.
    pub c_norms: Option<Vec<Vec<f64>>>,
    /// [`decay_per_step`] of the top layer's `h_norms`.
    pub decay_per_step: f64,
    /// The top layer's norm at the first step over its norm at the loss step (1 by the choice
    /// of `v`): how much of the loss reaches the start of the sequence.
    pub first_over_last: f64,
    /// The relative threshold of [`Self::vanished_share`].
    pub threshold: f64,
    /// Share of the `T` steps whose top-layer norm is below `threshold` × the norm at the loss
    /// step.
    pub vanished_share: f64,
    /// Per layer, the largest singular value of `weight_hh_l{k}` (`[G·H, H]`, all gates).
    pub sigma_max_w_hh: Vec<f64>,
}

/// [`state_gradients`] of `rnn` on `x [T, input_size]` with the loss vector `v [H]`, summarised
/// by distance from the loss; `threshold` sets [`FlowReport::vanished_share`] (e.g. `1e-6`).
///
/// # Errors
/// As [`state_gradients`].
pub fn measure<T: Scalar>(
    rnn: &Recurrent<T>,
    threads: &Threads,
    x: &[T],
    v: &[T],
    threshold: f64,
) -> Result<FlowReport> {
    let g = state_gradients(rnn, threads, x, v)?;
    let c = rnn.config();
    let by_distance = |mut n: Vec<f64>| {
        n.reverse();
        n
    };
    let h_norms: Vec<Vec<f64>> = (0..g.layers).map(|l| by_distance(g.h_norms(l))).collect();
    let c_norms = g.c.as_ref().map(|_| {
        (0..g.layers)
            .map(|l| by_distance(g.c_norms(l).unwrap_or_default()))
            .collect()
    });
    let top = &h_norms[g.layers - 1];
    let at_loss = top[0];
    let vanished = top
        .iter()
        .filter(|&&n| n < threshold * at_loss || n.is_nan())
        .count();
    let sigma_max_w_hh = (0..c.num_layers)
        .map(|l| {
            let w = rnn.param(&format!("weight_hh_l{l}")).unwrap_or(&[]);
            let w: Vec<f64> = w.iter().map(|a| a.to_f64().unwrap_or(f64::NAN)).collect();
            largest_singular_value(&w, w.len() / c.hidden_size, c.hidden_size)
        })
        .collect();
    Ok(FlowReport {
        cell: c.cell,
        hidden_size: c.hidden_size,
        num_layers: c.num_layers,
        length: g.steps,
        decay_per_step: decay_per_step(top),
        first_over_last: top[g.steps - 1] / at_loss,
        threshold,
        vanished_share: vanished as f64 / g.steps as f64,
        sigma_max_w_hh,
        h_norms,
        c_norms,
    })
}

/// What [`untrained`] measures: a model at PyTorch's initialisation on one sequence of the
/// adding problem.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowSettings {
    /// Recurrent cell (the RNN is tanh).
    pub cell: CellType,
    /// Hidden units.
    pub hidden: usize,
    /// Layers.
    pub layers: usize,
    /// Steps of the sequence.
    pub length: usize,
    /// Seed of the initialisation (the sequence and `v` have seeds of their own, so that every
    /// cell reads the same ones).
    pub seed: u64,
    /// Relative threshold of [`FlowReport::vanished_share`].
    pub threshold: f64,
    /// LSTM only: the forget gate's bias at initialisation (`bias_ih` of the forget block set to
    /// this, `bias_hh`'s to 0), as Gers et al. 2000 and Jozefowicz et al. 2015 recommend (1.0;
    /// Keras's `unit_forget_bias`); `None` keeps PyTorch's initialisation.
    pub forget_bias: Option<f64>,
}

/// Sets every LSTM layer's forget-gate bias (gate order `i f g o`): `bias_ih` of the forget
/// block to `value`, `bias_hh`'s to 0, so that the gate starts at `σ(value)`.
pub fn set_forget_bias(rnn: &mut Recurrent<f32>, value: f64) {
    let h = rnn.config().hidden_size;
    let layout: Vec<(String, usize)> = rnn
        .layout()
        .iter()
        .map(|p| (p.name.clone(), p.offset))
        .collect();
    let params = rnn.params_mut();
    for (name, offset) in layout {
        let v = if name.starts_with("bias_ih") {
            value as f32
        } else if name.starts_with("bias_hh") {
            0.0
        } else {
            continue;
        };
        params[offset + h..offset + 2 * h].fill(v);
    }
}

/// The input of [`untrained`]: one adding-problem sequence `[T, 2]` and a unit vector `v [H]`
/// with Gaussian direction, both from `seed` alone ([`probe_for`] of the adding problem).
///
/// # Errors
/// [`Error::Config`] for a length below 2.
pub fn probe(length: usize, hidden: usize, seed: u64) -> Result<(Vec<f32>, Vec<f32>)> {
    probe_for(super::problems::Problem::Adding, length, hidden, seed)
}

/// One sequence `[T', inputs]` of `problem` at `length` (`T' = T + 20` for copy) and a unit
/// vector `v [H]` with Gaussian direction, both from `seed` alone.
///
/// # Errors
/// [`Error::Config`] for a length below the problem's minimum.
pub fn probe_for(
    problem: super::problems::Problem,
    length: usize,
    hidden: usize,
    seed: u64,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let batch = problem.generate(length, 1, &mut Rng::new(seed ^ 0xf10e))?;
    let mut rng = Rng::new(seed ^ 0x7ec7);
    let v: Vec<f64> = (0..hidden).map(|_| rng.normal()).collect();
    let norm = v
        .iter()
        .map(|a| a * a)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    Ok((
        batch.x.into_data(),
        v.iter().map(|a| (a / norm) as f32).collect(),
    ))
}

/// The gradient flow of a trained [`super::model::SequenceModel`]'s recurrent layers on a
/// [`probe_for`] sequence of its own problem.
///
/// # Errors
/// [`Error::Config`] for a length below the problem's minimum.
pub fn of_model(
    model: &super::model::SequenceModel,
    threads: &Threads,
    length: usize,
    seed: u64,
    threshold: f64,
) -> Result<FlowReport> {
    let c = model.config();
    let (x, v) = probe_for(c.problem, length, c.hidden_size, seed)?;
    measure(&model.rnn, threads, &x, &v, threshold)
}

/// The gradient flow of a model at PyTorch's initialisation (`U(-1/√H, 1/√H)`, drawn from
/// `settings.seed`) on the [`probe`] sequence.
///
/// # Errors
/// [`Error::Config`] for sizes out of range or a length below 2.
pub fn untrained(settings: &FlowSettings, threads: &Threads) -> Result<FlowReport> {
    if settings.length < 2 {
        return Err(Error::Config(format!(
            "`length` must be at least 2, got {}",
            settings.length
        )));
    }
    let config = RecurrentConfig::new(settings.cell, 2, settings.hidden).layers(settings.layers);
    let mut rnn = Recurrent::<f32>::new(config, &mut Rng::new(settings.seed))?;
    if let (CellType::Lstm, Some(b)) = (settings.cell, settings.forget_bias) {
        set_forget_bias(&mut rnn, b);
    }
    let (x, v) = probe(settings.length, settings.hidden, settings.seed)?;
    measure(&rnn, threads, &x, &v, settings.threshold)
}
