//! Central-difference gradient checks in f64 for every cell × layers {1, 2} × {uni, bi} ×
//! {equal, ragged lengths} × bias {on, off}, plus one with dropout (mask fixed by the seed).

mod common;
use common::{dot, random};
use recur::{
    CellType, ForwardArgs, Nonlinearity, Recurrent, RecurrentConfig, Rng, Tensor, Threads,
};

const STEPS: usize = 4;
const BATCH: usize = 3;
const INPUT: usize = 3;
const HIDDEN: usize = 4;

struct Problem {
    layer: Recurrent<f64>,
    x: Tensor<f64>,
    h0: Tensor<f64>,
    c0: Option<Tensor<f64>>,
    lengths: Option<Vec<usize>>,
    w_out: Tensor<f64>,
    w_h: Tensor<f64>,
    w_c: Option<Tensor<f64>>,
    dropout_seed: Option<u64>,
}

impl Problem {
    /// The scalar loss `Σ W_out·output + Σ W_h·h_n (+ Σ W_c·c_n)`.
    fn loss(&self) -> f64 {
        let mut rng = self.dropout_seed.map(Rng::new);
        let out = self
            .layer
            .forward(
                &Threads::single(),
                &self.x,
                ForwardArgs {
                    lengths: self.lengths.as_deref(),
                    h0: Some(&self.h0),
                    c0: self.c0.as_ref(),
                    dropout_rng: rng.as_mut(),
                },
            )
            .unwrap();
        let mut l =
            dot(out.output.data(), self.w_out.data()) + dot(out.h_n.data(), self.w_h.data());
        if let (Some(c), Some(w)) = (&out.c_n, &self.w_c) {
            l += dot(c.data(), w.data());
        }
        l
    }
}

/// Compares the analytic gradient of every parameter, input and initial state with central
/// differences; returns the worst relative error.
fn check(config: RecurrentConfig, ragged: bool, dropout_seed: Option<u64>, seed: u64) -> f64 {
    let mut rng = Rng::new(seed);
    let layer = Recurrent::<f64>::new(config.clone(), &mut rng).unwrap();
    let dirs = config.directions();
    let state = [config.num_layers * dirs, BATCH, HIDDEN];
    let lstm = config.cell == CellType::Lstm;
    let x_shape = if config.batch_first {
        [BATCH, STEPS, INPUT]
    } else {
        [STEPS, BATCH, INPUT]
    };
    let out_shape = if config.batch_first {
        [BATCH, STEPS, HIDDEN * dirs]
    } else {
        [STEPS, BATCH, HIDDEN * dirs]
    };
    let mut p = Problem {
        layer,
        x: random(&mut rng, &x_shape, 1.0),
        h0: random(&mut rng, &state, 0.5),
        c0: lstm.then(|| random(&mut rng, &state, 0.5)),
        lengths: ragged.then(|| vec![STEPS, 2, 3]),
        w_out: random(&mut rng, &out_shape, 1.0),
        w_h: random(&mut rng, &state, 1.0),
        w_c: lstm.then(|| random(&mut rng, &state, 1.0)),
        dropout_seed,
    };

    let threads = Threads::single();
    let mut dropout = dropout_seed.map(Rng::new);
    let mut fwd = p
        .layer
        .forward(
            &threads,
            &p.x,
            ForwardArgs {
                lengths: p.lengths.as_deref(),
                h0: Some(&p.h0),
                c0: p.c0.as_ref(),
                dropout_rng: dropout.as_mut(),
            },
        )
        .unwrap();
    let mut grads = vec![0.0; p.layer.params().len()];
    let g = p
        .layer
        .backward(
            &threads,
            &mut fwd.cache,
            &mut grads,
            &p.w_out,
            Some(&p.w_h),
            p.w_c.as_ref(),
        )
        .unwrap();

    let eps = 1e-5;
    let mut worst = 0.0f64;
    let mut compare = |analytic: f64, numeric: f64, what: &str| {
        let err = (analytic - numeric).abs() / (analytic.abs() + numeric.abs()).max(1e-3);
        assert!(
            err < 1e-6,
            "{config:?} ragged={ragged}: {what}: analytic {analytic} vs numeric {numeric}"
        );
        worst = worst.max(err);
    };
    // Parameters.
    for (i, &analytic) in grads.iter().enumerate() {
        let orig = p.layer.params()[i];
        p.layer.params_mut()[i] = orig + eps;
        let up = p.loss();
        p.layer.params_mut()[i] = orig - eps;
        let down = p.loss();
        p.layer.params_mut()[i] = orig;
        let name = &p
            .layer
            .layout()
            .iter()
            .find(|e| e.range().contains(&i))
            .unwrap()
            .name;
        compare(analytic, (up - down) / (2.0 * eps), name);
    }
    // Input and initial states.
    macro_rules! perturb {
        ($field:expr, $analytic:expr, $what:expr) => {
            for i in 0..$analytic.len() {
                let orig = $field.data()[i];
                $field.data_mut()[i] = orig + eps;
                let up = p.loss();
                $field.data_mut()[i] = orig - eps;
                let down = p.loss();
                $field.data_mut()[i] = orig;
                compare($analytic[i], (up - down) / (2.0 * eps), $what);
            }
        };
    }
    perturb!(p.x, g.input.data(), "input");
    perturb!(p.h0, g.h0.data(), "h0");
    if lstm {
        let dc0 = g.c0.as_ref().unwrap().data().to_vec();
        perturb!(p.c0.as_mut().unwrap(), dc0, "c0");
    }
    worst
}

fn configs() -> Vec<RecurrentConfig> {
    let cells = [
        (CellType::Rnn, Nonlinearity::Tanh),
        (CellType::Rnn, Nonlinearity::Relu),
        (CellType::Lstm, Nonlinearity::Tanh),
        (CellType::Gru, Nonlinearity::Tanh),
    ];
    let mut out = Vec::new();
    for (cell, f) in cells {
        for layers in [1, 2] {
            for bi in [false, true] {
                for bias in [true, false] {
                    out.push(
                        RecurrentConfig::new(cell, INPUT, HIDDEN)
                            .nonlinearity(f)
                            .layers(layers)
                            .bidirectional(bi)
                            .bias(bias)
                            // Alternate layouts so both API boundaries are covered.
                            .batch_first(bias ^ bi),
                    );
                }
            }
        }
    }
    out
}

fn run_matrix(cell: CellType, nonlinearity: Nonlinearity) {
    let mut worst = 0.0f64;
    let mut cases = 0;
    for (i, config) in configs().into_iter().enumerate() {
        if config.cell != cell || (cell == CellType::Rnn && config.nonlinearity != nonlinearity) {
            continue;
        }
        for ragged in [false, true] {
            worst = worst.max(check(config.clone(), ragged, None, 100 + i as u64));
            cases += 1;
        }
    }
    assert_eq!(cases, 16);
    eprintln!("{cell:?}/{nonlinearity:?}: 16 cases, worst relative error {worst:e}");
}

#[test]
fn gradcheck_rnn_tanh() {
    run_matrix(CellType::Rnn, Nonlinearity::Tanh);
}

#[test]
fn gradcheck_rnn_relu() {
    run_matrix(CellType::Rnn, Nonlinearity::Relu);
}

#[test]
fn gradcheck_lstm() {
    run_matrix(CellType::Lstm, Nonlinearity::Tanh);
}

#[test]
fn gradcheck_gru() {
    run_matrix(CellType::Gru, Nonlinearity::Tanh);
}

#[test]
fn gradcheck_with_dropout_between_layers() {
    for cell in [CellType::Rnn, CellType::Lstm, CellType::Gru] {
        let config = RecurrentConfig::new(cell, INPUT, HIDDEN)
            .layers(3)
            .dropout(0.4)
            .bidirectional(true);
        check(config, true, Some(9), 7);
    }
}
