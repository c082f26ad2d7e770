//! recur's blocks and losses against PyTorch: fixtures written by `scripts/make_nn_fixtures.py`
//! (torch 2.15.0) hold inputs, parameters, outputs and autograd's gradients.

mod common;
use common::max_rel_err;
use recur::io::TensorFile;
use recur::nn::loss::{mse_loss, CrossEntropyLoss, GaussianNllGrads, GaussianNllLoss};
use recur::nn::{EmbeddingConfig, LinearConfig, LinearGrads, PoolShape, Pooling};
use recur::Threads;
use std::path::Path;

const TOL: f64 = 1e-5;

struct Fixture(TensorFile);

impl Fixture {
    fn open(name: &str) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/nn")
            .join(format!("{name}.safetensors"));
        Fixture(TensorFile::read(path).unwrap())
    }
    fn get(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let (s, d) = self
            .0
            .get(name)
            .unwrap_or_else(|| panic!("no tensor {name}"));
        (s.to_vec(), d.to_vec())
    }
    fn data(&self, name: &str) -> Vec<f32> {
        self.get(name).1
    }
    fn ids(&self, name: &str) -> Vec<u32> {
        self.data(name).iter().map(|&v| v as u32).collect()
    }
    fn scalar(&self, name: &str) -> f64 {
        self.data(name)[0] as f64
    }
}

fn close(name: &str, got: &[f32], want: &[f32]) {
    let e = max_rel_err(got, want);
    assert!(e < TOL, "{name}: relative error {e:e}");
}

#[test]
fn linear_matches_pytorch() {
    let t = Threads::new(2).unwrap();
    for (case, bias) in [("linear", true), ("linear_nobias", false)] {
        let f = Fixture::open(case);
        let (shape, weight) = f.get("weight");
        let mut layer = LinearConfig::new(shape[1], shape[0])
            .bias(bias)
            .zeros::<f32>();
        layer.weight = weight;
        if bias {
            layer.bias = Some(f.data("bias"));
        }
        let x = f.data("x");
        let mut y = vec![0.0; f.data("y").len()];
        layer.forward(&t, &x, &mut y).unwrap();
        close(case, &y, &f.data("y"));
        let mut grads = LinearGrads::zeros_like(&layer);
        let dx = layer.backward(&t, &x, &f.data("w"), &mut grads).unwrap();
        close(case, &dx, &f.data("dx"));
        close(case, &grads.weight, &f.data("dweight"));
        if bias {
            close(case, grads.bias.as_ref().unwrap(), &f.data("dbias"));
        }
    }
}

#[test]
fn embedding_with_padding_idx_matches_pytorch() {
    let f = Fixture::open("embedding_padding");
    let (shape, weight) = f.get("weight");
    let mut e = EmbeddingConfig::new(shape[0], shape[1])
        .padding_idx(2)
        .zeros::<f32>()
        .unwrap();
    e.weight = weight;
    let ids = f.ids("ids");
    let mut y = vec![0.0; ids.len() * shape[1]];
    e.forward(&ids, &mut y).unwrap();
    close("embedding", &y, &f.data("y"));
    let mut grad = vec![0.0; e.weight.len()];
    e.backward(&ids, &f.data("w"), &mut grad).unwrap();
    close("embedding gradient", &grad, &f.data("dweight"));
}

#[test]
fn cross_entropy_matches_pytorch() {
    for (case, ignore_index, label_smoothing) in [
        ("cross_entropy", None, 0.0),
        ("cross_entropy_ignore", Some(5), 0.0),
        ("cross_entropy_smoothing", None, 0.1),
        ("cross_entropy_ignore_smoothing", Some(2), 0.2),
    ] {
        let f = Fixture::open(case);
        let (shape, logits) = f.get("logits");
        let ce = CrossEntropyLoss {
            ignore_index,
            label_smoothing,
        };
        let mut d = vec![0.0; logits.len()];
        let r = ce
            .forward(&logits, shape[1], &f.ids("targets"), Some(&mut d))
            .unwrap();
        let want = f.scalar("loss");
        assert!(
            (r.loss - want).abs() < TOL * want.abs(),
            "{case}: {} vs {want}",
            r.loss
        );
        close(case, &d, &f.data("dlogits"));
    }
}

#[test]
fn mse_and_gaussian_nll_match_pytorch() {
    let f = Fixture::open("mse");
    let mut d = vec![0.0; f.data("x").len()];
    let loss = mse_loss(&f.data("x"), &f.data("target"), Some(&mut d)).unwrap();
    assert!((loss - f.scalar("loss")).abs() < TOL * loss);
    close("mse", &d, &f.data("dx"));
    for (case, full) in [("gaussian_nll", false), ("gaussian_nll_full", true)] {
        let f = Fixture::open(case);
        let n = f.data("x").len();
        let (mut dx, mut dv) = (vec![0.0; n], vec![0.0; n]);
        let nll = GaussianNllLoss { full, eps: 1e-6 };
        let grads = GaussianNllGrads {
            d_input: &mut dx,
            d_var: &mut dv,
        };
        let loss = nll
            .forward(&f.data("x"), &f.data("target"), &f.data("var"), Some(grads))
            .unwrap();
        let want = f.scalar("loss");
        assert!(
            (loss - want).abs() < TOL * want.abs(),
            "{case}: {loss} vs {want}"
        );
        close(case, &dx, &f.data("dx"));
        close(case, &dv, &f.data("dvar"));
    }
}

#[test]
fn pooling_matches_pytorch() {
    for kind in ["last", "mean", "max"] {
        for directions in [1usize, 2] {
            let case = format!("pooling_{kind}_d{directions}");
            let f = Fixture::open(&case);
            let (shape, out) = f.get("out");
            let lengths: Vec<usize> = f.ids("lengths").iter().map(|&l| l as usize).collect();
            let ps = PoolShape {
                steps: shape[0],
                batch: shape[1],
                width: shape[2],
                directions,
                lengths: &lengths,
            };
            let pooling: Pooling = kind.parse().unwrap();
            let pooled = pooling.forward(&out, &ps).unwrap();
            close(&case, &pooled.features, &f.data("features"));
            let d_out = pooling.backward(&pooled, &f.data("w"), &ps).unwrap();
            close(&case, &d_out, &f.data("dout"));
        }
    }
}

#[test]
fn attention_matches_pytorch() {
    use recur::nn::{AttentionConfig, AttentionGrads, AttentionShape, Score};
    let t = Threads::new(2).unwrap();
    for (case, score, layers) in [
        ("attention_dot", Score::Dot, &[][..]),
        ("attention_general", Score::General, &["linear_in"][..]),
        (
            "attention_additive",
            Score::Additive,
            &["Wa", "Ua", "Va"][..],
        ),
    ] {
        let f = Fixture::open(case);
        let (qs, query) = f.get("query");
        let (ks, keys) = f.get("keys");
        let config = AttentionConfig {
            score,
            query_size: qs[2],
            key_size: ks[2],
            attention_size: 8,
        };
        let mut block = config.zeros::<f32>().unwrap();
        for (layer, name) in block.layers.iter_mut().zip(layers) {
            layer.weight = f.data(&format!("{name}.weight"));
            if layer.bias.is_some() {
                layer.bias = Some(f.data(&format!("{name}.bias")));
            }
        }
        let lengths: Vec<usize> = f.ids("lengths").iter().map(|&l| l as usize).collect();
        let shape = AttentionShape {
            queries: qs[0],
            keys: ks[0],
            batch: qs[1],
            lengths: &lengths,
        };
        let out = block.forward(&t, &query, &keys, &shape).unwrap();
        close(case, &out.context, &f.data("context"));
        close(case, &out.weights, &f.data("weights"));
        let mut grads = AttentionGrads::zeros_like(&block);
        let (dq, dk) = block
            .backward(&t, (&query, &keys), &out, &f.data("w"), &shape, &mut grads)
            .unwrap();
        close(case, &dq, &f.data("dquery"));
        close(case, &dk, &f.data("dkeys"));
        for (g, name) in grads.layers.iter().zip(layers) {
            close(case, &g.weight, &f.data(&format!("d{name}.weight")));
            if let Some(b) = &g.bias {
                // Va's bias moves every score alike: its gradient is zero up to rounding.
                let want = f.data(&format!("d{name}.bias"));
                if *name == "Va" {
                    assert!(b[0].abs() < 1e-5 && want[0].abs() < 1e-5, "{case}: {b:?}");
                } else {
                    close(case, b, &want);
                }
            }
        }
    }
}
