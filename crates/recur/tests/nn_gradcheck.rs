//! Central-difference gradient checks in f64 for every block of `recur::nn` and every loss: the
//! analytic gradient of `L = Σ W·y` (or of the loss itself) against `(L(θ+h) - L(θ-h)) / 2h`.

mod common;
use common::{dot, max_rel_err};
use recur::nn::loss::{mse_loss, CrossEntropyLoss, GaussianNllGrads, GaussianNllLoss};
use recur::nn::{Dropout, EmbeddingConfig, LinearConfig, LinearGrads, PoolShape, Pooling};
use recur::{Rng, Threads};

const H: f64 = 1e-6;
const TOL: f64 = 1e-7;

fn uniform(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect()
}

/// Central differences of `f` with respect to every element of `x`.
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

#[test]
fn linear_gradients_match_central_differences() {
    let t = Threads::single();
    for bias in [true, false] {
        let mut rng = Rng::new(1);
        let (n, i, o) = (5, 4, 3);
        let layer = LinearConfig::new(i, o).bias(bias).init::<f64>(&mut rng);
        let x = uniform(&mut rng, n * i);
        let w = uniform(&mut rng, n * o);
        let loss = |l: &recur::nn::Linear<f64>, x: &[f64]| {
            let mut y = vec![0.0; n * o];
            l.forward(&t, x, &mut y).unwrap();
            dot(&y, &w)
        };
        let mut grads = LinearGrads::zeros_like(&layer);
        let dx = layer.backward(&t, &x, &w, &mut grads).unwrap();
        assert!(max_rel_err(&dx, &numeric(&x, |x| loss(&layer, x))) < TOL);
        let dw = numeric(&layer.weight, |p| {
            let mut l = layer.clone();
            l.weight = p.to_vec();
            loss(&l, &x)
        });
        assert!(max_rel_err(&grads.weight, &dw) < TOL);
        if let Some(b) = &layer.bias {
            let db = numeric(b, |p| {
                let mut l = layer.clone();
                l.bias = Some(p.to_vec());
                loss(&l, &x)
            });
            assert!(max_rel_err(grads.bias.as_ref().unwrap(), &db) < TOL);
        }
        // Backward adds into the parameter gradients.
        let before = grads.weight.clone();
        layer.backward(&t, &x, &w, &mut grads).unwrap();
        let twice: Vec<f64> = before.iter().map(|v| 2.0 * v).collect();
        assert!(max_rel_err(&grads.weight, &twice) < 1e-15);
    }
}

#[test]
fn embedding_gradient_matches_and_skips_the_padding_row() {
    let mut rng = Rng::new(2);
    let e = EmbeddingConfig::new(6, 3)
        .padding_idx(0)
        .init::<f64>(&mut rng)
        .unwrap();
    assert!(
        e.weight[..3].iter().all(|&v| v == 0.0),
        "padding row starts at zero"
    );
    let ids = [2u32, 0, 5, 2, 1];
    let w = uniform(&mut rng, ids.len() * 3);
    let mut grad = vec![0.0; e.weight.len()];
    e.backward(&ids, &w, &mut grad).unwrap();
    let num = numeric(&e.weight, |p| {
        let mut f = e.clone();
        f.weight = p.to_vec();
        let mut y = vec![0.0; ids.len() * 3];
        f.forward(&ids, &mut y).unwrap();
        dot(&y, &w)
    });
    // Row 0 is the padding row: PyTorch gives it no gradient although it was looked up.
    assert!(grad[..3].iter().all(|&g| g == 0.0));
    assert!(max_rel_err(&grad[3..], &num[3..]) < TOL);
    assert!(
        e.forward(&[6], &mut [0.0; 3]).is_err(),
        "id outside the table"
    );
}

#[test]
fn pooling_gradients_match_central_differences() {
    let mut rng = Rng::new(3);
    let (steps, batch, hidden) = (4, 3, 2);
    let lengths = [4usize, 1, 3];
    for directions in [1, 2] {
        let width = directions * hidden;
        let shape = PoolShape {
            steps,
            batch,
            width,
            directions,
            lengths: &lengths,
        };
        for pooling in [Pooling::Last, Pooling::Mean, Pooling::Max] {
            let out = uniform(&mut rng, steps * batch * width);
            let w = uniform(&mut rng, batch * width);
            let pooled = pooling.forward(&out, &shape).unwrap();
            let d_out = pooling.backward(&pooled, &w, &shape).unwrap();
            let num = numeric(&out, |o| {
                dot(&pooling.forward(o, &shape).unwrap().features, &w)
            });
            assert!(
                max_rel_err(&d_out, &num) < TOL,
                "{pooling:?} directions {directions}"
            );
            // Nothing flows past a sequence's end (sequence 1 has one step).
            for t in 1..steps {
                let at = (t * batch + 1) * width;
                assert!(d_out[at..at + width].iter().all(|&g| g == 0.0));
            }
        }
    }
}

#[test]
fn dropout_backward_is_the_forward_mask() {
    let d = Dropout::new(0.5).unwrap();
    let mut rng = Rng::new(4);
    let x = uniform(&mut rng, 200);
    let mut y = x.clone();
    let mut mask = Vec::new();
    d.forward(&mut Rng::new(9), &mut y, &mut mask);
    let dropped = mask.iter().filter(|&&m| m == 0.0).count();
    assert!(
        (70..130).contains(&dropped),
        "{dropped} of 200 dropped at p = 0.5"
    );
    assert!(mask.iter().all(|&m| m == 0.0 || m == 2.0));
    let w = uniform(&mut rng, 200);
    let mut g = w.clone();
    d.backward(&mask, &mut g).unwrap();
    let num = numeric(&x, |x| {
        let mut y = x.to_vec();
        d.forward(&mut Rng::new(9), &mut y, &mut Vec::new());
        dot(&y, &w)
    });
    assert!(max_rel_err(&g, &num) < TOL);
    assert!(Dropout::new(1.0).is_err() && Dropout::new(-0.1).is_err());
}

#[test]
fn cross_entropy_gradient_matches_with_ignore_index_and_label_smoothing() {
    let mut rng = Rng::new(5);
    let (n, c) = (6, 5);
    let logits: Vec<f64> = uniform(&mut rng, n * c).iter().map(|v| 3.0 * v).collect();
    let targets = [1u32, 4, 0, 4, 2, 3];
    for (ignore, eps) in [(None, 0.0), (Some(4), 0.0), (None, 0.1), (Some(4), 0.25)] {
        let ce = CrossEntropyLoss {
            ignore_index: ignore,
            label_smoothing: eps,
        };
        let mut d = vec![0.0; n * c];
        let r = ce.forward(&logits, c, &targets, Some(&mut d)).unwrap();
        assert_eq!(r.count, if ignore.is_some() { 4 } else { 6 });
        let num = numeric(&logits, |l| ce.forward(l, c, &targets, None).unwrap().loss);
        assert!(max_rel_err(&d, &num) < TOL, "{ignore:?} {eps}");
    }
    let ce = CrossEntropyLoss::default();
    assert!(ce.forward(&logits, c, &[1, 5, 0, 0, 0, 0], None).is_err());
    let all_ignored = CrossEntropyLoss {
        ignore_index: Some(0),
        label_smoothing: 0.0,
    };
    assert!(all_ignored
        .forward(&logits, c, &[0; 6], None)
        .unwrap()
        .loss
        .is_nan());
}

#[test]
fn mse_and_gaussian_nll_gradients_match_central_differences() {
    let mut rng = Rng::new(6);
    let n = 7;
    let (x, y) = (uniform(&mut rng, n), uniform(&mut rng, n));
    let mut d = vec![0.0; n];
    mse_loss(&x, &y, Some(&mut d)).unwrap();
    assert!(max_rel_err(&d, &numeric(&x, |x| mse_loss(x, &y, None).unwrap())) < TOL);

    let var: Vec<f64> = uniform(&mut rng, n).iter().map(|v| v.abs() + 0.1).collect();
    for full in [false, true] {
        let nll = GaussianNllLoss { full, eps: 1e-6 };
        let (mut dx, mut dv) = (vec![0.0; n], vec![0.0; n]);
        let grads = GaussianNllGrads {
            d_input: &mut dx,
            d_var: &mut dv,
        };
        nll.forward(&x, &y, &var, Some(grads)).unwrap();
        let num_x = numeric(&x, |x| nll.forward(x, &y, &var, None).unwrap());
        let num_v = numeric(&var, |v| nll.forward(&x, &y, v, None).unwrap());
        assert!(max_rel_err(&dx, &num_x) < TOL);
        assert!(max_rel_err(&dv, &num_v) < TOL);
    }
    assert!(GaussianNllLoss::default()
        .forward(&x, &y, &[-1.0; 7], None)
        .is_err());
}

#[test]
fn attention_gradients_match_central_differences() {
    use recur::nn::{Attention, AttentionConfig, AttentionGrads, AttentionShape, Score};
    let t = Threads::single();
    for score in [Score::Dot, Score::General, Score::Additive] {
        let mut rng = Rng::new(7);
        let query_size = if score == Score::Dot { 3 } else { 4 };
        let config = AttentionConfig {
            score,
            query_size,
            key_size: 3,
            attention_size: 5,
        };
        let block = config.init::<f64>(&mut rng).unwrap();
        let (nt, ns, nb) = (4, 5, 2);
        let lengths = [3, 5];
        let shape = AttentionShape {
            queries: nt,
            keys: ns,
            batch: nb,
            lengths: &lengths,
        };
        let q = uniform(&mut rng, nt * nb * query_size);
        let k = uniform(&mut rng, ns * nb * 3);
        let w = uniform(&mut rng, nt * nb * 3);
        let loss = |a: &Attention<f64>, q: &[f64], k: &[f64]| {
            dot(&a.forward(&t, q, k, &shape).unwrap().context, &w)
        };
        let out = block.forward(&t, &q, &k, &shape).unwrap();
        // Masked keys get no weight; each row sums to one.
        for row in out.weights.chunks(ns).take(nt) {
            assert_eq!(&row[3..], &[0.0, 0.0]);
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        let mut grads = AttentionGrads::zeros_like(&block);
        let (dq, dk) = block
            .backward(&t, (&q, &k), &out, &w, &shape, &mut grads)
            .unwrap();
        let e = max_rel_err(&dq, &numeric(&q, |x| loss(&block, x, &k)));
        assert!(e < TOL, "{score:?} d_query: {e:e}");
        let e = max_rel_err(&dk, &numeric(&k, |x| loss(&block, &q, x)));
        assert!(e < TOL, "{score:?} d_keys: {e:e}");
        // The keys past a sequence's length get no gradient.
        for s in 3..ns {
            assert!(dk[s * nb * 3..s * nb * 3 + 3].iter().all(|&v| v == 0.0));
        }
        for (i, layer) in block.layers.iter().enumerate() {
            let dw = numeric(&layer.weight, |p| {
                let mut b = block.clone();
                b.layers[i].weight = p.to_vec();
                loss(&b, &q, &k)
            });
            let e = max_rel_err(&grads.layers[i].weight, &dw);
            assert!(e < TOL, "{score:?} layer {i} weight: {e:e}");
            if let Some(bias) = &layer.bias {
                let db = numeric(bias, |p| {
                    let mut b = block.clone();
                    b.layers[i].bias = Some(p.to_vec());
                    loss(&b, &q, &k)
                });
                let got = grads.layers[i].bias.as_ref().unwrap();
                let e = max_rel_err(got, &db);
                assert!(
                    e < TOL || got.iter().zip(&db).all(|(a, b)| (a - b).abs() < 1e-8),
                    "{score:?} layer {i} bias: {e:e}"
                );
            }
        }
    }
}

#[test]
fn packed_linear_agrees_with_linear() {
    let t = Threads::new(2).unwrap();
    for (bias, n, i, o) in [(true, 37, 19, 70), (false, 1, 8, 5), (true, 200, 64, 33)] {
        let mut rng = Rng::new(9);
        let layer = LinearConfig::new(i, o).bias(bias).init::<f64>(&mut rng);
        let x = uniform(&mut rng, n * i);
        let dy = uniform(&mut rng, n * o);
        let (mut y, mut yp) = (vec![0.0; n * o], vec![0.0; n * o]);
        layer.forward(&t, &x, &mut y).unwrap();
        let packed = layer.pack(&t);
        layer.forward_packed(&t, &packed, &x, &mut yp).unwrap();
        assert!(max_rel_err(&yp, &y) < 1e-13);
        let (mut g, mut gp) = (
            LinearGrads::zeros_like(&layer),
            LinearGrads::zeros_like(&layer),
        );
        let dx = layer.backward(&t, &x, &dy, &mut g).unwrap();
        let dxp = layer.backward_packed(&t, &x, &dy, &mut gp).unwrap();
        assert!(max_rel_err(&dxp, &dx) < 1e-13);
        assert!(max_rel_err(&gp.weight, &g.weight) < 1e-13);
        assert_eq!(gp.bias, g.bias);
        // Results do not depend on the thread count.
        let mut y1 = vec![0.0; n * o];
        let one = Threads::single();
        layer
            .forward_packed(&one, &layer.pack(&one), &x, &mut y1)
            .unwrap();
        assert_eq!(y1, yp);
    }
}

#[test]
fn attention_of_one_query_agrees_with_the_batched_path() {
    use recur::nn::{AttentionConfig, AttentionShape, Score};
    let t = Threads::single();
    for score in [Score::Dot, Score::General, Score::Additive] {
        let mut rng = Rng::new(4);
        let config = AttentionConfig {
            score,
            query_size: 6,
            key_size: 6,
            attention_size: 5,
        };
        let block = config.init::<f64>(&mut rng).unwrap();
        let (ns, nb) = (7, 3);
        let lengths = [7, 2, 5];
        let q = uniform(&mut rng, nb * 6);
        let k = uniform(&mut rng, ns * nb * 6);
        let shape = |queries| AttentionShape {
            queries,
            keys: ns,
            batch: nb,
            lengths: &lengths,
        };
        let one = block.forward(&t, &q, &k, &shape(1)).unwrap();
        // The same query twice goes through the per-sequence products.
        let q2: Vec<f64> = q.iter().chain(&q).copied().collect();
        let two = block.forward(&t, &q2, &k, &shape(2)).unwrap();
        assert!(max_rel_err(&one.context, &two.context[..nb * 6]) < 1e-12);
        for b in 0..nb {
            let w2 = &two.weights[b * 2 * ns..b * 2 * ns + ns];
            assert!(max_rel_err(&one.weights[b * ns..(b + 1) * ns], w2) < 1e-12);
        }
    }
}

#[test]
fn parallel_cross_entropy_agrees_with_cross_entropy() {
    let mut rng = Rng::new(12);
    let (n, c) = (77, 301);
    let logits: Vec<f32> = (0..n * c)
        .map(|_| (3.0 * rng.uniform_range(-1.0, 1.0)) as f32)
        .collect();
    let targets: Vec<u32> = (0..n).map(|i| (i * 7 % c) as u32).collect();
    for (ignore, eps) in [(None, 0.0), (Some(0), 0.1), (Some(14), 0.3)] {
        let ce = CrossEntropyLoss {
            ignore_index: ignore,
            label_smoothing: eps,
        };
        let mut want = vec![0.0f32; n * c];
        let a = ce.forward(&logits, c, &targets, Some(&mut want)).unwrap();
        let mut runs = Vec::new();
        for threads in [1, 2, 3] {
            let t = Threads::new(threads).unwrap();
            let mut got = vec![0.0f32; n * c];
            let b = ce
                .forward_par(&t, &logits, c, &targets, Some(&mut got))
                .unwrap();
            assert!(
                (a.loss - b.loss).abs() < 1e-6 * a.loss,
                "{} vs {}",
                a.loss,
                b.loss
            );
            assert_eq!((a.count, a.correct), (b.count, b.correct));
            assert!(max_rel_err(&got, &want) < 1e-5);
            runs.push((b.loss, got));
        }
        assert!(
            runs.windows(2).all(|w| w[0] == w[1]),
            "thread counts differ"
        );
    }
}
