//! The per-step state gradients of `recur::gradients::flow` against central differences in f64,
//! and against the textbook recursion of the tanh RNN; the fit and the singular value against
//! known answers.

use recur::gradients::flow::{
    decay_per_step, largest_singular_value, measure, state_gradients, untrained, FlowSettings,
};
use recur::{CellType, ForwardArgs, Recurrent, RecurrentConfig, Rng, Tensor, Threads};

const INPUTS: usize = 3;

fn random(n: usize, rng: &mut Rng) -> Vec<f64> {
    (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect()
}

/// The states `[T, L, H]` (and cells) after every step, by the step API.
fn states(rnn: &Recurrent<f64>, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut s = rnn.step_state(1, None, None).unwrap();
    let (mut hs, mut cs) = (vec![], vec![]);
    for xt in x.chunks_exact(INPUTS) {
        rnn.step(&Threads::single(), xt, &mut s).unwrap();
        hs.extend_from_slice(s.h());
        cs.extend_from_slice(s.c().unwrap_or(&[]));
    }
    (hs, cs)
}

/// `L = v · h_{T-1}` of the top layer, running from state `(h, c)` after step `t`.
fn loss_from(rnn: &Recurrent<f64>, x: &[f64], v: &[f64], t: usize, h: &[f64], c: &[f64]) -> f64 {
    let cfg = rnn.config();
    let (l, hid) = (cfg.num_layers, cfg.hidden_size);
    let steps = x.len() / INPUTS;
    let top = if t + 1 == steps {
        h[(l - 1) * hid..].to_vec()
    } else {
        let rest = steps - 1 - t;
        let xs = Tensor::new("x", &[rest, 1, INPUTS], x[(t + 1) * INPUTS..].to_vec()).unwrap();
        let h0 = Tensor::new("h0", &[l, 1, hid], h.to_vec()).unwrap();
        let c0 = (!c.is_empty()).then(|| Tensor::new("c0", &[l, 1, hid], c.to_vec()).unwrap());
        let args = ForwardArgs {
            h0: Some(&h0),
            c0: c0.as_ref(),
            ..Default::default()
        };
        let out = rnn.forward(&Threads::single(), &xs, args).unwrap();
        out.h_n.data()[(l - 1) * hid..].to_vec()
    };
    top.iter().zip(v).map(|(a, b)| a * b).sum()
}

fn check_cell(cell: CellType, layers: usize, hidden: usize, steps: usize) {
    let mut rng = Rng::new(7);
    let config = RecurrentConfig::new(cell, INPUTS, hidden).layers(layers);
    // Weights larger than PyTorch's default, so that the gradients stay well above rounding.
    let mut rnn = Recurrent::<f64>::new(config, &mut rng).unwrap();
    for p in rnn.params_mut() {
        *p *= 2.0;
    }
    let x = random(steps * INPUTS, &mut rng);
    let v = random(hidden, &mut rng);
    let g = state_gradients(&rnn, &Threads::new(2).unwrap(), &x, &v).unwrap();
    let (hs, cs) = states(&rnn, &x);
    let per = layers * hidden;
    let eps = 1e-6;
    let mut worst = 0.0f64;
    for t in 0..steps {
        for k in 0..per {
            let h = &hs[t * per..(t + 1) * per];
            let c = if cs.is_empty() {
                &[][..]
            } else {
                &cs[t * per..(t + 1) * per]
            };
            let fd = |state_is_c: bool| {
                let (mut hp, mut hm, mut cp, mut cm) =
                    (h.to_vec(), h.to_vec(), c.to_vec(), c.to_vec());
                if state_is_c {
                    cp[k] += eps;
                    cm[k] -= eps;
                } else {
                    hp[k] += eps;
                    hm[k] -= eps;
                }
                (loss_from(&rnn, &x, &v, t, &hp, &cp) - loss_from(&rnn, &x, &v, t, &hm, &cm))
                    / (2.0 * eps)
            };
            let want = fd(false);
            let got = g.h[t * per + k];
            worst = worst.max((got - want).abs() / (1e-3 + want.abs()));
            assert!(
                (got - want).abs() <= 1e-7 + 1e-6 * want.abs(),
                "{cell:?} dL/dh step {t} unit {k}: {got} vs finite differences {want}"
            );
            if let Some(gc) = &g.c {
                let want = fd(true);
                assert!(
                    (gc[t * per + k] - want).abs() <= 1e-7 + 1e-6 * want.abs(),
                    "{cell:?} dL/dc step {t} unit {k}: {} vs {want}",
                    gc[t * per + k]
                );
            }
        }
    }
    assert!(worst < 1e-5, "{cell:?}: worst relative error {worst}");
}

#[test]
fn state_gradients_match_central_differences() {
    for cell in [CellType::Rnn, CellType::Lstm, CellType::Gru] {
        check_cell(cell, 1, 5, 9);
        check_cell(cell, 2, 4, 7);
    }
    // More steps than one batch of suffixes (32), to cross a pass boundary.
    check_cell(CellType::Gru, 1, 3, 40);
}

/// For one tanh RNN layer the state gradient is `δh_t = W_hhᵀ (δh_{t+1} ⊙ (1 - h_{t+1}²))`.
#[test]
fn rnn_state_gradients_follow_the_textbook_recursion() {
    let (hidden, steps) = (6, 12);
    let mut rng = Rng::new(3);
    let rnn = Recurrent::<f64>::new(
        RecurrentConfig::new(CellType::Rnn, INPUTS, hidden),
        &mut rng,
    )
    .unwrap();
    let x = random(steps * INPUTS, &mut rng);
    let v = random(hidden, &mut rng);
    let g = state_gradients(&rnn, &Threads::single(), &x, &v).unwrap();
    let (hs, _) = states(&rnn, &x);
    let w = rnn.param("weight_hh_l0").unwrap();
    let mut d = v.clone();
    for t in (0..steps).rev() {
        for (k, want) in d.iter().enumerate() {
            let got = g.h[t * hidden + k];
            assert!(
                (got - want).abs() < 1e-12,
                "step {t} unit {k}: {got} vs {want}"
            );
        }
        if t == 0 {
            break;
        }
        let a: Vec<f64> = (0..hidden)
            .map(|j| d[j] * (1.0 - hs[t * hidden + j].powi(2)))
            .collect();
        d = (0..hidden)
            .map(|k| (0..hidden).map(|j| w[j * hidden + k] * a[j]).sum())
            .collect();
    }
}

#[test]
fn decay_fit_and_singular_value_recover_known_answers() {
    let norms: Vec<f64> = (0..50).map(|d| 3.0 * 0.8f64.powi(d)).collect();
    assert!((decay_per_step(&norms) - 0.8).abs() < 1e-12);
    assert!(decay_per_step(&[1.0]).is_nan());
    // diag(3, 2) rotated: singular values 3 and 2.
    let (c, s) = (0.6, 0.8);
    let w = [3.0 * c, -2.0 * s, 3.0 * s, 2.0 * c];
    assert!((largest_singular_value(&w, 2, 2) - 3.0).abs() < 1e-9);
    let tall = [1.0, 0.0, 0.0, 0.0, 0.0, 5.0];
    assert!((largest_singular_value(&tall, 3, 2) - 5.0).abs() < 1e-9);
}

#[test]
fn at_pytorch_initialisation_both_the_rnn_and_the_lstm_forget() {
    let run = |cell| {
        let s = FlowSettings {
            cell,
            hidden: 64,
            layers: 1,
            length: 100,
            seed: 1,
            threshold: 1e-6,
            forget_bias: None,
        };
        untrained(&s, &Threads::single()).unwrap()
    };
    let (rnn, lstm) = (run(CellType::Rnn), run(CellType::Lstm));
    assert!(
        (rnn.h_norms[0][0] - 1.0).abs() < 1e-6,
        "‖v‖ = 1 at the loss step"
    );
    assert!(rnn.first_over_last < 1e-6, "rnn {}", rnn.first_over_last);
    // Pascanu et al.'s sufficient condition σ_max < 1 does not hold (σ_max ≈ 2/√3 for a square
    // U(-1/√H, 1/√H) matrix), yet the typical gain of a step, ‖W_hhᵀ u‖ ≈ 1/√3 for a unit u
    // times tanh' ≤ 1, makes the norm fall by about half at every step.
    eprintln!(
        "rnn: decay {}, σ_max {}, first/last {}; lstm: decay {}, first/last {}",
        rnn.decay_per_step,
        rnn.sigma_max_w_hh[0],
        rnn.first_over_last,
        lstm.decay_per_step,
        lstm.first_over_last
    );
    assert!(rnn.decay_per_step < 0.7, "rnn decay {}", rnn.decay_per_step);
    assert!((1.0..1.3).contains(&rnn.sigma_max_w_hh[0]));
    // At PyTorch's initialisation the LSTM forgets too: its forget gates sit near σ(0) = 1/2,
    // so the cell path halves the gradient at every step as well (hence the forget-gate bias of
    // 1 of Gers et al. 2000 and Jozefowicz et al. 2015). Only training opens the path.
    assert!(
        lstm.decay_per_step < 0.8,
        "lstm decay {}",
        lstm.decay_per_step
    );
    // The same model measured directly gives the same report.
    let config = RecurrentConfig::new(CellType::Rnn, 2, 64);
    let model = Recurrent::<f32>::new(config, &mut Rng::new(1)).unwrap();
    let (x, v) = recur::gradients::flow::probe(100, 64, 1).unwrap();
    assert_eq!(
        measure(&model, &Threads::single(), &x, &v, 1e-6).unwrap(),
        rnn
    );
}

#[test]
fn a_forget_bias_of_one_lets_the_untrained_lstm_keep_far_more_gradient_than_the_rnn() {
    use recur::gradients::flow::{untrained, FlowSettings};
    let run = |cell, forget_bias| {
        let s = FlowSettings {
            cell,
            hidden: 32,
            layers: 1,
            length: 60,
            seed: 1,
            threshold: 1e-6,
            forget_bias,
        };
        untrained(&s, &recur::Threads::single()).unwrap()
    };
    let rnn = run(recur::CellType::Rnn, None);
    let lstm = run(recur::CellType::Lstm, Some(1.0));
    let plain = run(recur::CellType::Lstm, None);
    let ratio = |r: &recur::gradients::flow::FlowReport| r.first_over_last;
    assert!(
        ratio(&lstm) > 1e6 * ratio(&rnn),
        "{} vs {}",
        ratio(&lstm),
        ratio(&rnn)
    );
    assert!(ratio(&lstm) > 1e3 * ratio(&plain));
}
