//! `recur::nn::CtcLoss` against PyTorch's `ctc_loss` (fixtures written by
//! `scripts/make_ctc_fixtures.py`, torch 2.15.0) and against central differences in f64.

mod common;
use common::max_rel_err;
use recur::io::TensorFile;
use recur::nn::{CtcBatch, CtcGradient, CtcLoss, CtcReduction, CtcTargets};
use recur::{Rng, Threads};
use std::path::Path;

const TOL: f64 = 1e-5;

struct Fixture(TensorFile);

impl Fixture {
    fn open(name: &str) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/ctc")
            .join(format!("{name}.safetensors"));
        Fixture(TensorFile::read(path).unwrap())
    }
    fn get(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let (s, d) = self.0.get(name).unwrap_or_else(|| panic!("no {name}"));
        (s.to_vec(), d.to_vec())
    }
    /// The values, with NaN and infinities restored from `NAME_nonfinite`.
    fn data(&self, name: &str) -> Vec<f32> {
        let mut v = self.get(name).1;
        if let Some((_, codes)) = self.0.get(&format!("{name}_nonfinite")) {
            for (x, &code) in v.iter_mut().zip(codes) {
                match code as u8 {
                    1 => *x = f32::NAN,
                    2 => *x = f32::INFINITY,
                    3 => *x = f32::NEG_INFINITY,
                    _ => {}
                }
            }
        }
        v
    }
    fn counts(&self, name: &str) -> Vec<usize> {
        self.data(name).iter().map(|&v| v as usize).collect()
    }
}

/// Equal within `TOL` relative to the largest finite magnitude, NaN where PyTorch has NaN.
fn close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.is_nan(), w.is_nan(), "{what}[{i}]: {g} vs {w}");
        assert_eq!(g.is_infinite(), w.is_infinite(), "{what}[{i}]: {g} vs {w}");
    }
    let finite = |v: &[f32]| -> Vec<f32> {
        v.iter()
            .map(|x| if x.is_finite() { *x } else { 0.0 })
            .collect()
    };
    let e = max_rel_err(&finite(got), &finite(want));
    assert!(e < TOL, "{what}: relative error {e:e}");
}

const CASES: [(&str, CtcReduction); 7] = [
    ("ragged_mean", CtcReduction::Mean),
    ("repeats_sum", CtcReduction::Sum),
    ("blank_last_none", CtcReduction::None),
    ("blank_middle_mean", CtcReduction::Mean),
    ("impossible", CtcReduction::Sum),
    ("impossible_zero_infinity", CtcReduction::Mean),
    ("single_frame", CtcReduction::Mean),
];

#[test]
fn loss_and_gradients_match_pytorch() {
    let two = Threads::new(2).unwrap();
    for (name, reduction) in CASES {
        let f = Fixture::open(name);
        let (shape, log_probs) = f.get("log_probs");
        let (target_shape, targets) = f.get("targets");
        let targets: Vec<u32> = targets.iter().map(|&v| v as u32).collect();
        let input_lengths = f.counts("input_lengths");
        let target_lengths = f.counts("target_lengths");
        let batch = CtcBatch {
            log_probs: &log_probs,
            classes: shape[2],
            input_lengths: &input_lengths,
            targets: if f.data("padded")[0] == 1.0 {
                CtcTargets::Padded {
                    ids: &targets,
                    max_len: target_shape[1],
                }
            } else {
                CtcTargets::Concatenated(&targets)
            },
            target_lengths: &target_lengths,
        };
        // PyTorch's backward gives `log_probs` the gradient through log_softmax: both of its
        // numbers equal recur's logits gradient.
        for (gradient, want) in [
            (CtcGradient::Logits, "dlogits"),
            (CtcGradient::Logits, "dlog_probs"),
        ] {
            let loss = CtcLoss {
                blank: f.data("blank")[0] as u32,
                reduction,
                zero_infinity: f.data("zero_infinity")[0] == 1.0,
                gradient,
            };
            let mut grad = vec![0.0f32; log_probs.len()];
            let report = loss.forward(&two, &batch, Some(&mut grad)).unwrap();
            let got_loss: Vec<f32> = match reduction {
                CtcReduction::None => report.losses.iter().map(|&v| v as f32).collect(),
                _ => vec![report.loss as f32],
            };
            close(&format!("{name} loss"), &got_loss, &f.data("loss"));
            close(&format!("{name} {want}"), &grad, &f.data(want));
            // The same bits on one thread as on two.
            let mut single = vec![0.0f32; log_probs.len()];
            let again = loss
                .forward(&Threads::single(), &batch, Some(&mut single))
                .unwrap();
            assert_eq!(again.loss.to_bits(), report.loss.to_bits(), "{name}");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&single), bits(&grad), "{name}");
        }
    }
}

const H: f64 = 1e-6;

fn numeric(x: &[f64], mut f: impl FnMut(&[f64]) -> f64) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let v = x[i];
            x[i] = v + H;
            let up = f(&x);
            x[i] = v - H;
            let down = f(&x);
            x[i] = v;
            (up - down) / (2.0 * H)
        })
        .collect()
}

fn log_softmax(z: &[f64], classes: usize) -> Vec<f64> {
    z.chunks(classes)
        .flat_map(|row| {
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            row.iter().map(move |v| v - lse).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn gradients_match_central_differences_in_f64() {
    let t = Threads::single();
    let mut rng = Rng::new(7);
    let (frames, n, c) = (7, 3, 5);
    let input_lengths = [7, 5, 6];
    let target_lengths = [3, 2, 3];
    // Repeats (1 1, 2 2 / 3 3), a blank of 0 and a blank in the middle of the classes.
    for (blank, targets) in [
        (0u32, [1u32, 1, 3, 4, 1, 2, 2, 3]),
        (2, [1, 1, 3, 4, 0, 3, 3, 0]),
    ] {
        for reduction in [CtcReduction::Mean, CtcReduction::Sum, CtcReduction::None] {
            let z: Vec<f64> = (0..frames * n * c).map(|_| 2.0 * rng.normal()).collect();
            let batch = |lp: &[f64]| -> f64 {
                let b = CtcBatch {
                    log_probs: lp,
                    classes: c,
                    input_lengths: &input_lengths,
                    targets: CtcTargets::Concatenated(&targets),
                    target_lengths: &target_lengths,
                };
                let loss = CtcLoss {
                    blank,
                    reduction,
                    ..Default::default()
                };
                loss.forward(&t, &b, None).unwrap().loss
            };
            let analytic = |lp: &[f64], gradient| {
                let b = CtcBatch {
                    log_probs: lp,
                    classes: c,
                    input_lengths: &input_lengths,
                    targets: CtcTargets::Concatenated(&targets),
                    target_lengths: &target_lengths,
                };
                let loss = CtcLoss {
                    blank,
                    reduction,
                    gradient,
                    ..Default::default()
                };
                let mut g = vec![0.0; lp.len()];
                loss.forward(&t, &b, Some(&mut g)).unwrap();
                g
            };
            // Through log_softmax: the gradient with respect to the logits.
            let lp = log_softmax(&z, c);
            let want = numeric(&z, |z| batch(&log_softmax(z, c)));
            let got = analytic(&lp, CtcGradient::Logits);
            let e = max_rel_err(&got, &want);
            assert!(e < 1e-7, "logits, blank {blank}, {reduction:?}: {e:e}");
            // The exact partial derivative, at log-probabilities that are not normalised.
            let raw: Vec<f64> = z.iter().map(|v| v - 2.0).collect();
            let want = numeric(&raw, batch);
            let got = analytic(&raw, CtcGradient::LogProbs);
            let e = max_rel_err(&got, &want);
            assert!(e < 1e-7, "log_probs, blank {blank}, {reduction:?}: {e:e}");
        }
    }
}

#[test]
fn bad_batches_are_refused_with_a_message() {
    let t = Threads::single();
    let lp = vec![-1.0f32; 4 * 2 * 3];
    let ok_lengths = [4, 3];
    let base = CtcBatch {
        log_probs: &lp,
        classes: 3,
        input_lengths: &ok_lengths,
        targets: CtcTargets::Concatenated(&[1, 2, 1]),
        target_lengths: &[2, 1],
    };
    let err =
        |b: &CtcBatch<'_, f32>, loss: CtcLoss| loss.forward(&t, b, None).unwrap_err().to_string();
    let loss = CtcLoss::default();
    assert!(err(
        &CtcBatch {
            input_lengths: &[5, 3],
            ..base
        },
        loss
    )
    .contains("input length 5"));
    assert!(err(
        &CtcBatch {
            input_lengths: &[0, 3],
            ..base
        },
        loss
    )
    .contains("input length 0"));
    assert!(err(
        &CtcBatch {
            targets: CtcTargets::Concatenated(&[1, 0, 1]),
            ..base
        },
        loss
    )
    .contains("label 0"));
    assert!(err(
        &CtcBatch {
            targets: CtcTargets::Concatenated(&[1, 3, 1]),
            ..base
        },
        loss
    )
    .contains("label 3"));
    assert!(err(
        &CtcBatch {
            targets: CtcTargets::Concatenated(&[1]),
            ..base
        },
        loss
    )
    .contains("concatenated targets"));
    assert!(err(&CtcBatch { classes: 5, ..base }, loss).contains("do not fit"));
    let padded = CtcTargets::Padded {
        ids: &[1, 2, 1, 0],
        max_len: 2,
    };
    assert!(err(
        &CtcBatch {
            targets: padded,
            target_lengths: &[3, 1],
            ..base
        },
        loss
    )
    .contains("exceeds the padded length 2"));
    assert!(err(&base, CtcLoss { blank: 3, ..loss }).contains("blank 3"));
    let mut short = vec![0.0f32; 5];
    let e = loss
        .forward(&t, &base, Some(&mut short))
        .unwrap_err()
        .to_string();
    assert!(e.contains("CTC gradient"), "{e}");
}
