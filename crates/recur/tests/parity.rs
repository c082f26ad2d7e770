//! PyTorch parity: every case written by `scripts/make_parity_fixtures.py` (torch 2.15.0) must
//! agree with recur to ≤ 1e-5 relative error (max |recur - torch| / max |torch|, per tensor) on the
//! outputs, final states and every gradient.

mod common;
use common::max_rel_err;
use recur::io::TensorFile;
use recur::{CellType, ForwardArgs, Nonlinearity, Recurrent, RecurrentConfig, Tensor, Threads};
use serde::Deserialize;
use std::path::PathBuf;

const TOLERANCE: f64 = 1e-5;
const EXPECTED_CASES: usize = 69;

#[derive(Deserialize)]
struct Manifest {
    torch: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    cell: String,
    nonlinearity: String,
    layers: usize,
    bidirectional: bool,
    bias: bool,
    batch_first: bool,
    steps: usize,
    batch: usize,
    input: usize,
    hidden: usize,
    lengths: Option<Vec<usize>>,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/parity")
}

fn tensor(file: &mut TensorFile, name: &str, shape: &[usize]) -> Tensor<f32> {
    let data = file.take(name, shape).unwrap_or_else(|e| panic!("{e}"));
    Tensor::new(name, shape, data).unwrap()
}

/// Runs one case and returns `(tensor name, relative error)` for every compared tensor.
fn run_case(case: &Case, threads: &Threads) -> Vec<(String, f64)> {
    let cell: CellType = case.cell.parse().unwrap();
    let nonlinearity: Nonlinearity = case.nonlinearity.parse().unwrap();
    let config = RecurrentConfig::new(cell, case.input, case.hidden)
        .nonlinearity(nonlinearity)
        .layers(case.layers)
        .bidirectional(case.bidirectional)
        .bias(case.bias)
        .batch_first(case.batch_first);
    let mut file = TensorFile::read(fixtures().join(format!("{}.safetensors", case.name))).unwrap();
    let mut layer = Recurrent::<f32>::zeros(config.clone()).unwrap();
    layer.load_tensors(&mut file, "").unwrap();

    let (t, b, dirs) = (case.steps, case.batch, config.directions());
    let x_shape = if case.batch_first {
        [b, t, case.input]
    } else {
        [t, b, case.input]
    };
    let out_shape = if case.batch_first {
        [b, t, dirs * case.hidden]
    } else {
        [t, b, dirs * case.hidden]
    };
    let state = [case.layers * dirs, b, case.hidden];
    let lstm = cell == CellType::Lstm;
    let x = tensor(&mut file, "input", &x_shape);
    let h0 = tensor(&mut file, "h0", &state);
    let c0 = lstm.then(|| tensor(&mut file, "c0", &state));
    let mut fwd = layer
        .forward(
            threads,
            &x,
            ForwardArgs {
                lengths: case.lengths.as_deref(),
                h0: Some(&h0),
                c0: c0.as_ref(),
                dropout_rng: None,
            },
        )
        .unwrap();

    let mut errs = Vec::new();
    let mut cmp = |file: &mut TensorFile, name: &str, shape: &[usize], got: &[f32]| {
        let want = tensor(file, name, shape);
        errs.push((name.to_string(), max_rel_err(got, want.data())));
    };
    cmp(&mut file, "output", &out_shape, fwd.output.data());
    cmp(&mut file, "h_n", &state, fwd.h_n.data());
    if lstm {
        cmp(&mut file, "c_n", &state, fwd.c_n.as_ref().unwrap().data());
    }

    let w_out = tensor(&mut file, "w_output", &out_shape);
    let w_h = tensor(&mut file, "w_h_n", &state);
    let w_c = lstm.then(|| tensor(&mut file, "w_c_n", &state));
    let mut grads = vec![0.0; layer.params().len()];
    let g = layer
        .backward(
            threads,
            &mut fwd.cache,
            &mut grads,
            &w_out,
            Some(&w_h),
            w_c.as_ref(),
        )
        .unwrap();
    for p in layer.layout() {
        cmp(
            &mut file,
            &format!("grad.{}", p.name),
            &p.shape,
            &grads[p.range()],
        );
    }
    cmp(&mut file, "grad.input", &x_shape, g.input.data());
    cmp(&mut file, "grad.h0", &state, g.h0.data());
    if lstm {
        cmp(&mut file, "grad.c0", &state, g.c0.as_ref().unwrap().data());
    }
    file.finish()
        .expect("every tensor in the fixture is compared");
    errs
}

#[test]
fn recur_matches_pytorch_on_every_fixture() {
    let text = std::fs::read_to_string(fixtures().join("cases.json"))
        .expect("tests/fixtures/parity/cases.json: run scripts/make_parity_fixtures.py");
    let manifest: Manifest = serde_json::from_str(&text).unwrap();
    assert!(
        manifest.torch.starts_with("2.15.0"),
        "fixtures from torch {}",
        manifest.torch
    );
    assert_eq!(
        manifest.cases.len(),
        EXPECTED_CASES,
        "fixture set is incomplete"
    );
    let threads = Threads::new(2).unwrap();
    let mut worst = (String::new(), 0.0f64);
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in &manifest.cases {
        for (tensor, err) in run_case(case, &threads) {
            compared += 1;
            if err > worst.1 {
                worst = (format!("{} / {tensor}", case.name), err);
            }
            if err.is_nan() || err > TOLERANCE {
                failures.push(format!("{} / {tensor}: {err:e}", case.name));
            }
        }
    }
    eprintln!(
        "{} cases, {compared} tensors compared, worst relative error {:e} ({})",
        manifest.cases.len(),
        worst.1,
        worst.0
    );
    assert!(
        failures.is_empty(),
        "{} tensors exceed {TOLERANCE:e}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
