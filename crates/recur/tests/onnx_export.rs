//! ONNX export: every exported model, run by tract on equal-length batches, gives recur's own
//! outputs (≤ 1e-5 relative to each output's largest value). With `RECUR_ONNX_CASES=DIR` the
//! test also writes each model with ragged lengths, its inputs and recur's outputs into `DIR`
//! for `scripts/onnx_check.py`, which runs them in onnxruntime.
//!
//! tract runs the recurrent operators without `sequence_lens` only (its importer accepts a
//! constant, trivial one), so its graphs are exported with `lengths: false`; and it reads no
//! `activations` attribute, so the RNN with ReLU runs in onnxruntime only.

use prost::Message;
use recur::charlm::model::{CharLm, CharLmConfig};
use recur::classify::data::{Dataset, Item};
use recur::classify::model::{Classifier, ClassifierConfig, Pooling};
use recur::classify::regress::{predict_values, TargetScaling};
use recur::export::onnx::proto::ModelProto;
use recur::export::onnx::{self, ExportOptions};
use recur::forecast::model::{Forecaster, ForecasterConfig};
use recur::{CellType, ForwardArgs, Nonlinearity, Rng, Tensor, Threads};
use tract_onnx::prelude::*;

/// Values fed to a graph input.
#[derive(Clone)]
enum Values {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// One graph input.
#[derive(Clone)]
struct Input {
    name: &'static str,
    shape: Vec<usize>,
    values: Values,
}

/// One output recur computed.
struct Expected {
    name: &'static str,
    shape: Vec<usize>,
    values: Vec<f32>,
}

/// A model exported, with inputs and recur's outputs on them.
struct Case {
    name: String,
    onnx: Vec<u8>,
    inputs: Vec<Input>,
    expected: Vec<Expected>,
}

fn f32_input(name: &'static str, shape: &[usize], values: Vec<f32>) -> Input {
    Input {
        name,
        shape: shape.to_vec(),
        values: Values::F32(values),
    }
}

fn i64_input(name: &'static str, shape: &[usize], values: Vec<i64>) -> Input {
    Input {
        name,
        shape: shape.to_vec(),
        values: Values::I64(values),
    }
}

fn lengths_input(lengths: &[usize]) -> Input {
    let values = lengths.iter().map(|&l| l as i64).collect();
    i64_input("lengths", &[lengths.len()], values)
}

fn random(rng: &mut Rng, n: usize, scale: f64) -> Vec<f32> {
    (0..n).map(|_| (rng.normal() * scale) as f32).collect()
}

fn softmax_rows(logits: &[f32], width: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks(width) {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
        let s: f64 = e.iter().sum();
        out.extend(e.iter().map(|v| (v / s) as f32));
    }
    out
}

fn options(lengths: bool) -> ExportOptions {
    ExportOptions {
        lengths,
        ..ExportOptions::default()
    }
}

/// A character model with states carried in, over `lengths.len()` sequences of `steps` steps.
fn char_case(name: &str, config: CharLmConfig, steps: usize, lengths: Option<&[usize]>) -> Case {
    let mut rng = Rng::new(11);
    let model = CharLm::new(config.clone(), &mut rng).unwrap();
    let (v, h, l) = (config.vocab_size, config.hidden_size, config.num_layers);
    let batch = lengths.map_or(3, <[usize]>::len);
    let tokens: Vec<u32> = (0..steps * batch)
        .map(|i| ((i * 7 + i / batch * 3 + 1) % v) as u32)
        .collect();
    let h0 = random(&mut rng, l * batch * h, 0.5);
    let c0 = random(&mut rng, l * batch * h, 0.5);
    let lstm = config.cell == CellType::Lstm;
    let x = model.input_rows(&tokens);
    let width = x.len() / (steps * batch);
    let x = Tensor::new("x", &[steps, batch, width], x).unwrap();
    let h0_t = Tensor::new("h0", &[l, batch, h], h0.clone()).unwrap();
    let c0_t = Tensor::new("c0", &[l, batch, h], c0.clone()).unwrap();
    let threads = Threads::single();
    let args = ForwardArgs {
        lengths,
        h0: Some(&h0_t),
        c0: lstm.then_some(&c0_t),
        dropout_rng: None,
    };
    let out = model.rnn().forward(&threads, &x, args).unwrap();
    let mut logits = Vec::new();
    model.head_logits(
        &threads,
        &model.packed_head(),
        out.output.data(),
        &mut logits,
    );
    let vocab: Vec<String> = (0..v)
        .map(|i| char::from(b'a' + i as u8).to_string())
        .collect();
    let onnx = onnx::char_lm(&model, &vocab, &options(lengths.is_some())).unwrap();
    let mut inputs = vec![i64_input(
        "tokens",
        &[steps, batch],
        tokens.iter().map(|&t| t as i64).collect(),
    )];
    inputs.extend(lengths.map(lengths_input));
    inputs.push(f32_input("h0", &[l, batch, h], h0));
    if lstm {
        inputs.push(f32_input("c0", &[l, batch, h], c0));
    }
    let mut expected = vec![
        Expected {
            name: "probs",
            shape: vec![steps, batch, v],
            values: softmax_rows(&logits, v),
        },
        Expected {
            name: "logits",
            shape: vec![steps, batch, v],
            values: logits,
        },
        Expected {
            name: "h_n",
            shape: vec![l, batch, h],
            values: out.h_n.into_data(),
        },
    ];
    if let Some(c_n) = out.c_n {
        expected.push(Expected {
            name: "c_n",
            shape: vec![l, batch, h],
            values: c_n.into_data(),
        });
    }
    Case {
        name: name.into(),
        onnx,
        inputs,
        expected,
    }
}

fn char_config(cell: CellType, embed_dim: usize, layers: usize) -> CharLmConfig {
    CharLmConfig {
        cell,
        nonlinearity: None,
        vocab_size: 7,
        embed_dim,
        hidden_size: 6,
        num_layers: layers,
        dropout: 0.0,
        bias: true,
    }
}

fn char_cases(ragged: bool) -> Vec<(Case, bool)> {
    let lengths: Option<&[usize]> = ragged.then_some(&[5, 2, 4]);
    let mut rnn_no_bias = char_config(CellType::Rnn, 3, 2);
    rnn_no_bias.bias = false;
    let mut relu = char_config(CellType::Rnn, 3, 1);
    relu.nonlinearity = Some(Nonlinearity::Relu);
    vec![
        (
            char_case("char_lstm", char_config(CellType::Lstm, 4, 2), 5, lengths),
            true,
        ),
        (
            char_case(
                "char_gru_onehot",
                char_config(CellType::Gru, 0, 1),
                5,
                lengths,
            ),
            true,
        ),
        (char_case("char_rnn_nobias", rnn_no_bias, 5, lengths), true),
        // tract reads no `activations` attribute: its RNN is always tanh.
        (char_case("char_rnn_relu", relu, 5, lengths), false),
    ]
}

fn classifier_config(cell: CellType, pooling: Pooling, bidirectional: bool) -> ClassifierConfig {
    ClassifierConfig {
        cell,
        hidden_size: 5,
        num_layers: 2,
        bidirectional,
        dropout: 0.0,
        pooling,
        dims: 3,
        embed_dim: 0,
        vocab: Vec::new(),
        classes: vec!["x".into(), "y".into(), "z".into()],
        mean: vec![0.1, -0.2, 0.3],
        std: vec![1.5, 0.5, 2.0],
        frame_size: 1,
        target: None,
        words: None,
        embed_dropout: 0.0,
        head_dropout: 0.0,
        audio: None,
    }
}

/// Raw steps of each sequence (`len × dims`), deterministic.
fn numeric_items(raw_lengths: &[usize], dims: usize) -> Vec<Item> {
    raw_lengths
        .iter()
        .enumerate()
        .map(|(k, &n)| {
            Item::Numeric(
                (0..n * dims)
                    .map(|i| (((i * 13 + k * 5) % 17) as f32 - 8.0) / 4.0)
                    .collect(),
            )
        })
        .collect()
}

/// The graph's `features [T, B, dims · frame]`: each row the raw steps of its frame (the last
/// step repeated past the end, as recur frames them), zero past each sequence's end.
fn framed_features(items: &[Item], dims: usize, frame: usize) -> (Vec<f32>, Vec<usize>, usize) {
    let raw: Vec<&Vec<f32>> = items
        .iter()
        .map(|i| match i {
            Item::Numeric(v) => v,
            Item::Text(_) => unreachable!("numeric items"),
        })
        .collect();
    let lengths: Vec<usize> = raw
        .iter()
        .map(|v| (v.len() / dims).div_ceil(frame))
        .collect();
    let steps = *lengths.iter().max().unwrap();
    let (b, width) = (items.len(), dims * frame);
    let mut x = vec![0.0f32; steps * b * width];
    for (k, v) in raw.iter().enumerate() {
        let n = v.len() / dims;
        for t in 0..lengths[k] {
            for f in 0..frame {
                let s = (t * frame + f).min(n - 1);
                let at = (t * b + k) * width + f * dims;
                x[at..at + dims].copy_from_slice(&v[s * dims..(s + 1) * dims]);
            }
        }
    }
    (x, lengths, steps)
}

fn classifier_case(name: &str, config: ClassifierConfig, data: Dataset, ragged: bool) -> Case {
    let model = Classifier::new(config.clone(), &mut Rng::new(5)).unwrap();
    let threads = Threads::single();
    let b = data.items.len();
    let (mut inputs, lengths) = if config.dims > 0 {
        let (x, lengths, steps) = framed_features(&data.items, config.dims, config.frame_size);
        let shape = [steps, b, config.dims * config.frame_size];
        (vec![f32_input("features", &shape, x)], lengths)
    } else {
        let ids: Vec<Vec<u32>> = data
            .items
            .iter()
            .map(|i| match i {
                Item::Text(c) => model.text_tokens(c),
                Item::Numeric(_) => unreachable!("text items"),
            })
            .collect();
        let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
        let steps = *lengths.iter().max().unwrap();
        let mut tokens = vec![0i64; steps * b];
        for (k, seq) in ids.iter().enumerate() {
            for (t, &id) in seq.iter().enumerate() {
                tokens[t * b + k] = id as i64;
            }
        }
        (vec![i64_input("tokens", &[steps, b], tokens)], lengths)
    };
    assert!(ragged || lengths.iter().all(|&l| l == lengths[0]));
    if ragged {
        inputs.push(lengths_input(&lengths));
    }
    let rc = config.rnn();
    let states = [rc.num_layers * rc.directions(), b, rc.hidden_size];
    let zeros = vec![0.0; states.iter().product()];
    inputs.push(f32_input("h0", &states, zeros.clone()));
    if config.cell == CellType::Lstm {
        inputs.push(f32_input("c0", &states, zeros));
    }
    let expected = if config.target.is_some() {
        let values = predict_values(&model, &threads, &data, b).unwrap();
        vec![Expected {
            name: "prediction",
            shape: vec![b],
            values,
        }]
    } else {
        let idx: Vec<usize> = (0..b).collect();
        let (probs, _) = model.run(&threads, &data, &idx, None, None, None).unwrap();
        let c = config.classes.len();
        vec![Expected {
            name: "probs",
            shape: vec![b, c],
            values: probs,
        }]
    };
    Case {
        name: name.into(),
        onnx: onnx::classifier(&model, &options(ragged)).unwrap(),
        inputs,
        expected,
    }
}

fn numeric(dims: usize, raw_lengths: &[usize]) -> Dataset {
    Dataset {
        dims,
        items: numeric_items(raw_lengths, dims),
        ..Dataset::default()
    }
}

fn classifier_cases(ragged: bool) -> Vec<(Case, bool)> {
    let raw: &[usize] = if ragged { &[6, 2, 4, 5] } else { &[4, 4, 4] };
    let mut framed = classifier_config(CellType::Gru, Pooling::Max, false);
    framed.frame_size = 2;
    let framed_raw: &[usize] = if ragged { &[7, 2, 4] } else { &[6, 5, 6] };
    let mut text = classifier_config(CellType::Gru, Pooling::Last, true);
    text.dims = 0;
    text.embed_dim = 4;
    text.vocab = "abcde".chars().collect();
    (text.mean, text.std) = (Vec::new(), Vec::new());
    let texts: &[&str] = if ragged {
        &["abcxd", "ba", "eeaz"]
    } else {
        &["abcx", "bade", "eeaz"]
    };
    let text_data = Dataset {
        dims: 0,
        items: texts
            .iter()
            .map(|t| Item::Text(t.chars().collect()))
            .collect(),
        ..Dataset::default()
    };
    let mut regressor = classifier_config(CellType::Lstm, Pooling::Last, false);
    regressor.classes = Vec::new();
    regressor.target = Some(TargetScaling {
        mean: 3.0,
        std: 2.0,
    });
    let lstm_mean = classifier_config(CellType::Lstm, Pooling::Mean, true);
    let rnn_max = classifier_config(CellType::Rnn, Pooling::Max, true);
    let gru_last = classifier_config(CellType::Gru, Pooling::Last, false);
    vec![
        (
            classifier_case("classify_lstm_bi_mean", lstm_mean, numeric(3, raw), ragged),
            true,
        ),
        (
            classifier_case("classify_rnn_bi_max", rnn_max, numeric(3, raw), ragged),
            true,
        ),
        (
            classifier_case("classify_gru_last", gru_last, numeric(3, raw), ragged),
            true,
        ),
        (
            classifier_case(
                "classify_gru_frames_max",
                framed,
                numeric(3, framed_raw),
                ragged,
            ),
            true,
        ),
        (
            classifier_case("classify_text_gru_bi_last", text, text_data, ragged),
            true,
        ),
        (
            classifier_case("regress_lstm_last", regressor, numeric(3, raw), ragged),
            true,
        ),
    ]
}

fn forecaster_case(name: &str, config: ForecasterConfig, steps: usize) -> Case {
    let mut rng = Rng::new(9);
    let model = Forecaster::new(config.clone(), &mut rng).unwrap();
    let (b, l, h) = (4, config.num_layers, config.hidden_size);
    let x = random(&mut rng, steps * b * config.inputs, 1.0);
    let window = Tensor::new("x", &[steps, b, config.inputs], x.clone()).unwrap();
    let threads = Threads::single();
    let (forecast, _) = model.run(&threads, &window, None, None).unwrap();
    let out = model
        .rnn()
        .forward(&threads, &window, ForwardArgs::default())
        .unwrap();
    let mut inputs = vec![f32_input("window", &[steps, b, config.inputs], x)];
    inputs.push(f32_input("h0", &[l, b, h], vec![0.0; l * b * h]));
    if config.cell == CellType::Lstm {
        inputs.push(f32_input("c0", &[l, b, h], vec![0.0; l * b * h]));
    }
    Case {
        name: name.into(),
        onnx: onnx::forecaster(&model, &ExportOptions::default()).unwrap(),
        inputs,
        expected: vec![
            Expected {
                name: "forecast",
                shape: vec![b, config.horizon],
                values: forecast,
            },
            Expected {
                name: "h_n",
                shape: vec![l, b, h],
                values: out.h_n.into_data(),
            },
        ],
    }
}

fn forecaster_cases() -> Vec<(Case, bool)> {
    let plain = ForecasterConfig {
        cell: CellType::Gru,
        inputs: 2,
        hidden_size: 6,
        num_layers: 1,
        horizon: 3,
        future_steps: false,
    };
    let ahead = ForecasterConfig {
        cell: CellType::Lstm,
        inputs: 3,
        num_layers: 2,
        horizon: 4,
        future_steps: true,
        ..plain.clone()
    };
    vec![
        (forecaster_case("forecast_gru", plain, 7), true),
        (forecaster_case("forecast_lstm_ahead", ahead, 9), true),
    ]
}

/// The names of the graph's outputs, in order.
fn output_names(onnx: &[u8]) -> Vec<String> {
    let model = ModelProto::decode(onnx).unwrap();
    model
        .graph
        .unwrap()
        .output
        .into_iter()
        .map(|o| o.name)
        .collect()
}

/// The outputs of `case`'s graph in tract, by name.
fn run_tract(case: &Case) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut &case.onnx[..])
        .unwrap();
    for (i, input) in case.inputs.iter().enumerate() {
        let fact = match input.values {
            Values::F32(_) => f32::fact(&input.shape),
            Values::I64(_) => i64::fact(&input.shape),
        };
        model = model.with_input_fact(i, fact.into()).unwrap();
    }
    let runnable = model.into_optimized().unwrap().into_runnable().unwrap();
    let values: TVec<TValue> = case
        .inputs
        .iter()
        .map(|input| {
            let t = match &input.values {
                Values::F32(v) => tract_onnx::prelude::Tensor::from_shape(&input.shape, v),
                Values::I64(v) => tract_onnx::prelude::Tensor::from_shape(&input.shape, v),
            };
            t.unwrap().into()
        })
        .collect();
    let outputs = runnable.run(values).unwrap();
    output_names(&case.onnx)
        .into_iter()
        .zip(outputs.iter())
        .map(|(name, t)| {
            let view = t.to_plain_array_view::<f32>().unwrap();
            (name, view.shape().to_vec(), view.iter().copied().collect())
        })
        .collect()
}

/// The largest difference over the largest expected magnitude.
fn relative_error(got: &[f32], want: &[f32]) -> f64 {
    let scale = want.iter().fold(0.0f64, |m, &v| m.max(v.abs() as f64));
    let diff = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
    diff / scale.max(1e-12)
}

fn check_in_tract(case: &Case) {
    let got = run_tract(case);
    for want in &case.expected {
        let (_, shape, values) = got
            .iter()
            .find(|(n, _, _)| n == want.name)
            .unwrap_or_else(|| panic!("{}: no output {}", case.name, want.name));
        assert_eq!(shape, &want.shape, "{}: shape of {}", case.name, want.name);
        let err = relative_error(values, &want.values);
        assert!(
            err <= 1e-5,
            "{}: {} differs from recur by {err:e} (relative)",
            case.name,
            want.name
        );
    }
}

#[test]
fn character_models_run_in_tract_as_in_recur() {
    for (case, tract) in char_cases(false) {
        if tract {
            check_in_tract(&case);
        }
    }
}

#[test]
fn classifiers_and_regressors_run_in_tract_as_in_recur() {
    for (case, tract) in classifier_cases(false) {
        if tract {
            check_in_tract(&case);
        }
    }
}

#[test]
fn forecasters_run_in_tract_as_in_recur() {
    for (case, _) in forecaster_cases() {
        check_in_tract(&case);
    }
}

#[test]
fn graphs_carry_metadata_and_the_opset() {
    let (case, _) = char_cases(true).remove(0);
    let model = ModelProto::decode(&case.onnx[..]).unwrap();
    assert_eq!(model.opset_import[0].version, onnx::OPSET);
    let meta = |k: &str| {
        model
            .metadata_props
            .iter()
            .find(|p| p.key == k)
            .map(|p| p.value.clone())
    };
    assert_eq!(meta("recur.task").as_deref(), Some("char-lm"));
    assert_eq!(
        meta("recur.version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        meta("recur.vocab").as_deref(),
        Some(r#"["a","b","c","d","e","f","g"]"#)
    );
    let graph = model.graph.unwrap();
    let inputs: Vec<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(inputs, ["tokens", "lengths", "h0", "c0"]);
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops.iter().filter(|&&o| o == "LSTM").count(), 2);
}

/// With `RECUR_ONNX_CASES=DIR`: every model with ragged lengths (and the forecasters), its
/// inputs and recur's outputs, for `scripts/onnx_check.py`.
#[test]
fn cases_for_onnxruntime_are_written_when_asked() {
    let Some(dir) = std::env::var_os("RECUR_ONNX_CASES") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cases = char_cases(true)
        .into_iter()
        .chain(classifier_cases(true))
        .chain(forecaster_cases());
    let mut written = 0;
    for (case, _) in cases {
        std::fs::write(dir.join(format!("{}.onnx", case.name)), &case.onnx).unwrap();
        let inputs: Vec<serde_json::Value> = case
            .inputs
            .iter()
            .map(|i| {
                let (dtype, data) = match &i.values {
                    Values::F32(v) => ("float32", serde_json::json!(v)),
                    Values::I64(v) => ("int64", serde_json::json!(v)),
                };
                serde_json::json!({"name": i.name, "dtype": dtype, "shape": i.shape, "data": data})
            })
            .collect();
        let outputs: Vec<serde_json::Value> = case
            .expected
            .iter()
            .map(|e| serde_json::json!({"name": e.name, "shape": e.shape, "data": e.values}))
            .collect();
        let json = serde_json::json!({"model": format!("{}.onnx", case.name), "inputs": inputs, "outputs": outputs});
        std::fs::write(dir.join(format!("{}.json", case.name)), json.to_string()).unwrap();
        written += 1;
    }
    assert_eq!(written, 12);
}

#[test]
fn a_stream_fed_in_two_chunks_gives_the_whole_pass() {
    let (whole, _) = char_cases(false).remove(0);
    let Values::I64(tokens) = &whole.inputs[0].values else {
        panic!("tokens first");
    };
    let (steps, batch) = (whole.inputs[0].shape[0], whole.inputs[0].shape[1]);
    let split = 3;
    let chunk = |range: std::ops::Range<usize>, h0: Input, c0: Input| Case {
        name: "chunk".into(),
        onnx: whole.onnx.clone(),
        inputs: vec![
            i64_input(
                "tokens",
                &[range.len(), batch],
                tokens[range.start * batch..range.end * batch].to_vec(),
            ),
            h0,
            c0,
        ],
        expected: Vec::new(),
    };
    let first = run_tract(&chunk(
        0..split,
        whole.inputs[1].clone(),
        whole.inputs[2].clone(),
    ));
    let state = |name: &'static str| {
        let (_, shape, values) = first.iter().find(|(n, _, _)| n == name).unwrap();
        f32_input(
            if name == "h_n" { "h0" } else { "c0" },
            shape,
            values.clone(),
        )
    };
    let second = run_tract(&chunk(split..steps, state("h_n"), state("c_n")));
    let logits = |outs: &[(String, Vec<usize>, Vec<f32>)]| {
        outs.iter()
            .find(|(n, _, _)| n == "logits")
            .unwrap()
            .2
            .clone()
    };
    let streamed: Vec<f32> = logits(&first).into_iter().chain(logits(&second)).collect();
    let want = &whole
        .expected
        .iter()
        .find(|e| e.name == "logits")
        .unwrap()
        .values;
    assert!(relative_error(&streamed, want) <= 1e-5);
    let h_n = &second.iter().find(|(n, _, _)| n == "h_n").unwrap().2;
    let want = &whole
        .expected
        .iter()
        .find(|e| e.name == "h_n")
        .unwrap()
        .values;
    assert!(relative_error(h_n, want) <= 1e-5);
}
