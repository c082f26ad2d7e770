//! ONNX export: every exported model, run by tract on equal-length batches, gives recur's own
//! outputs (≤ 1e-5 relative to each output's largest value); a translation model's encoder and
//! decoder step, decoding greedily in tract, give recur's greedy tokens, step log-probabilities
//! and attention weights. With `RECUR_ONNX_CASES=DIR` the
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
use recur::nn::Score;
use recur::optim::{Optimizer, OptimizerConfig, OptimizerKind};
use recur::seq2seq::{DecodeOptions, PairBatch, Seq2Seq, Seq2SeqConfig};
use recur::speech::model::{AcousticConfig, AcousticModel};
use recur::speech::{Alphabet, Unit};
use recur::translate::pairs::SentencePair;
use recur::translate::subword::{VocabSettings, BOS, EOS};
use recur::translate::vocabularies::Vocabularies;
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
    let plan = tract_plan(&case.onnx, &case.inputs);
    tract_run(&plan, &case.onnx, &case.inputs)
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
        .chain(forecaster_cases())
        .chain(acoustic_cases(true).into_iter().map(|c| (c, true)));
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
    for case in translation_cases(true) {
        let (encoder, decoder) = (
            format!("{}.encoder.onnx", case.name),
            format!("{}.decoder.onnx", case.name),
        );
        std::fs::write(dir.join(&encoder), &case.files.encoder).unwrap();
        std::fs::write(dir.join(&decoder), &case.files.decoder).unwrap();
        // -inf (padding and <s>) is written as null.
        let json = serde_json::json!({
            "kind": "translation",
            "encoder": encoder,
            "decoder": decoder,
            "bos": BOS,
            "eos": EOS,
            "sources": case.sources,
            "max_len": case.max_len,
            "tokens": case.tokens,
            "finished": case.finished,
            "log_probs": case.log_probs,
            "attention": case.attention,
        });
        std::fs::write(dir.join(format!("{}.json", case.name)), json.to_string()).unwrap();
        written += 1;
    }
    assert_eq!(written, 18);
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

/// An acoustic model over `frames` (raw frames per utterance): padded past each utterance's end
/// with a value far from the data, so that the graph's masking shows.
fn acoustic_case(name: &str, config: AcousticConfig, frames: &[usize], ragged: bool) -> Case {
    let mut rng = Rng::new(21);
    let model = AcousticModel::new(config.clone(), &mut rng).unwrap();
    let (f, n) = (config.input_size, frames.len());
    let utterances: Vec<Vec<f32>> = frames
        .iter()
        .map(|&t| random(&mut rng, t * f, 1.5))
        .collect();
    let views: Vec<&[f32]> = utterances.iter().map(|u| &u[..]).collect();
    let threads = Threads::single();
    let fwd = model.forward(&threads, &views, None).unwrap();
    let t = *frames.iter().max().unwrap();
    let mut x = vec![7.0f32; t * n * f];
    for (b, u) in utterances.iter().enumerate() {
        for (i, frame) in u.chunks_exact(f).enumerate() {
            x[(i * n + b) * f..(i * n + b + 1) * f].copy_from_slice(frame);
        }
    }
    let mut inputs = vec![f32_input("features", &[t, n, f], x)];
    if ragged {
        inputs.push(lengths_input(frames));
    }
    let rc = config.rnn();
    let states = [rc.num_layers * rc.directions(), n, rc.hidden_size];
    let zeros = vec![0.0; states.iter().product()];
    inputs.push(f32_input("h0", &states, zeros.clone()));
    if config.cell == CellType::Lstm {
        inputs.push(f32_input("c0", &states, zeros));
    }
    let steps = t.div_ceil(config.frame_stack);
    let mut expected = vec![Expected {
        name: "log_probs",
        shape: vec![steps, n, config.alphabet.classes()],
        values: fwd.log_probs,
    }];
    if ragged {
        expected.push(Expected {
            name: "out_lengths",
            shape: vec![n],
            values: fwd.lengths.iter().map(|&l| l as f32).collect(),
        });
    }
    Case {
        name: name.into(),
        onnx: onnx::acoustic(&model, &options(ragged)).unwrap(),
        inputs,
        expected,
    }
}

fn acoustic_config(
    cell: CellType,
    layers: usize,
    bidirectional: bool,
    stack: usize,
) -> AcousticConfig {
    AcousticConfig {
        cell,
        input_size: 4,
        frame_stack: stack,
        hidden_size: 5,
        num_layers: layers,
        bidirectional,
        dropout: 0.0,
        alphabet: Alphabet {
            unit: Unit::Word,
            symbols: vec!["one".into(), "three".into(), "two".into()],
        },
        mean: vec![0.5, -0.25, 0.0, 1.0],
        std: vec![1.5, 0.75, 1.0, 2.0],
    }
}

fn acoustic_cases(ragged: bool) -> Vec<Case> {
    let frames: &[usize] = if ragged { &[8, 3, 6] } else { &[7, 7] };
    vec![
        acoustic_case(
            "speech_gru_bi",
            acoustic_config(CellType::Gru, 2, true, 1),
            frames,
            ragged,
        ),
        acoustic_case(
            "speech_lstm_stack3",
            acoustic_config(CellType::Lstm, 1, false, 3),
            frames,
            ragged,
        ),
        acoustic_case(
            "speech_rnn_bi_stack2",
            acoustic_config(CellType::Rnn, 1, true, 2),
            frames,
            ragged,
        ),
    ]
}

#[test]
fn acoustic_models_run_in_tract_as_in_recur() {
    for case in acoustic_cases(false) {
        check_in_tract(&case);
    }
}

/// A translation model exported, the sources it translates, and recur's greedy translations:
/// tokens, whether `</s>` ended them, each step's log-probabilities `[V]` (teacher-forced along
/// the translation, padding and `<s>` at -inf as in the search) and attention weights.
struct TranslationCase {
    name: String,
    files: onnx::TranslationFiles,
    lstm: bool,
    vocab: usize,
    sources: Vec<Vec<u32>>,
    tokens: Vec<Vec<u32>>,
    finished: Vec<bool>,
    max_len: Vec<usize>,
    log_probs: Vec<Vec<Vec<f32>>>,
    attention: Vec<Vec<Vec<f32>>>,
}

/// A small translation model with word vocabularies (source ids 4..=12, target ids 4..=10).
fn tiny_translator(
    cell: CellType,
    attention: Score,
    layers: usize,
) -> (Seq2Seq<f32>, Vocabularies) {
    let sentence = |s: &str, t: &str| SentencePair {
        source: s.into(),
        target: t.into(),
        line: 1,
    };
    let pairs = [
        sentence("a b c d e f", "u v w x"),
        sentence("g h i", "y z q"),
    ];
    let vocab = Vocabularies::learn(&pairs, &VocabSettings::words(1, false), false).unwrap();
    let config = Seq2SeqConfig {
        cell,
        src_vocab: vocab.source().size(),
        tgt_vocab: vocab.target().size(),
        embed_dim: 5,
        hidden_size: 6,
        num_layers: layers,
        dropout: 0.0,
        attention,
    };
    let mut rng = Rng::new(31);
    let mut model: Seq2Seq<f32> = config.init(&mut rng).unwrap();
    // A few Adam steps on a copy task (source id s → target id 4 + (s - 4) mod 7), so that the
    // translations end with `</s>` at different lengths and greedy picks no near-tie.
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = (0..12)
        .map(|i| {
            let src: Vec<u32> = (0..2 + i % 4)
                .map(|j| 4 + ((i * 5 + j * 3) % 9) as u32)
                .collect();
            let tgt = src.iter().map(|&s| 4 + (s - 4) % 7).collect();
            (src, tgt)
        })
        .collect();
    let views: Vec<(&[u32], &[u32])> = pairs.iter().map(|(s, t)| (&s[..], &t[..])).collect();
    let batch = PairBatch::new(&views, BOS, EOS).unwrap();
    let mut adam = Optimizer::new(
        OptimizerConfig::new(OptimizerKind::Adam),
        &model.buffer_sizes(),
    )
    .unwrap();
    let threads = Threads::single();
    for _ in 0..60 {
        let mut grads = model.zero_grads();
        model
            .loss(&threads, &batch, 0.0, Some((&mut rng, &mut grads)))
            .unwrap();
        let grads: Vec<&[f32]> = grads.buffers_mut().into_iter().map(|b| &*b).collect();
        adam.step(&mut model.buffers_mut(), &grads, 0.03);
    }
    (model, vocab)
}

fn translation_case(
    name: &str,
    cell: CellType,
    attention: Score,
    layers: usize,
    sources: &[&[u32]],
    ragged: bool,
) -> TranslationCase {
    let (model, vocab) = tiny_translator(cell, attention, layers);
    let config = *model.config();
    let threads = Threads::single();
    let mut opts = DecodeOptions::new(1, BOS, EOS);
    opts.keep_attention = true;
    let hyps = model.translate(&threads, sources, &opts).unwrap();
    let v = config.tgt_vocab;
    let mut log_probs = Vec::new();
    for (src, hyp) in sources.iter().zip(&hyps) {
        let batch = PairBatch::new(&[(*src, &hyp.tokens[..])], BOS, EOS).unwrap();
        let logits = model.forward(&threads, &batch, None).unwrap().logits;
        let steps = hyp.tokens.len() + usize::from(hyp.finished);
        let rows: Vec<Vec<f32>> = logits
            .chunks_exact(v)
            .take(steps)
            .map(|row| {
                let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
                let lse = m + row.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln();
                let mut out: Vec<f32> = row.iter().map(|&x| (x as f64 - lse) as f32).collect();
                out[0] = f32::NEG_INFINITY;
                out[BOS as usize] = f32::NEG_INFINITY;
                out
            })
            .collect();
        log_probs.push(rows);
    }
    TranslationCase {
        name: name.into(),
        files: onnx::translation(&model, &vocab, &options(ragged)).unwrap(),
        lstm: cell == CellType::Lstm,
        vocab: v,
        sources: sources.iter().map(|s| s.to_vec()).collect(),
        max_len: sources.iter().map(|s| 2 * s.len() + 10).collect(),
        tokens: hyps.iter().map(|h| h.tokens.clone()).collect(),
        finished: hyps.iter().map(|h| h.finished).collect(),
        attention: hyps.into_iter().map(|h| h.attention).collect(),
        log_probs,
    }
}

fn translation_cases(ragged: bool) -> Vec<TranslationCase> {
    let sources: &[&[u32]] = if ragged {
        &[&[4, 5, 6, 7, 8], &[9, 4], &[10, 11, 12, 5]]
    } else {
        &[&[4, 5, 6, 7], &[9, 4, 11, 8], &[10, 11, 12, 5]]
    };
    vec![
        translation_case(
            "translate_lstm_additive",
            CellType::Lstm,
            Score::Additive,
            2,
            sources,
            ragged,
        ),
        translation_case(
            "translate_gru_general",
            CellType::Gru,
            Score::General,
            1,
            sources,
            ragged,
        ),
        translation_case(
            "translate_rnn_dot",
            CellType::Rnn,
            Score::Dot,
            2,
            sources,
            ragged,
        ),
    ]
}

/// A graph made runnable by tract for inputs of these types and shapes.
fn tract_plan(onnx: &[u8], inputs: &[Input]) -> Arc<TypedRunnableModel> {
    let mut model = tract_onnx::onnx().model_for_read(&mut &onnx[..]).unwrap();
    for (i, input) in inputs.iter().enumerate() {
        let fact = match input.values {
            Values::F32(_) => f32::fact(&input.shape),
            Values::I64(_) => i64::fact(&input.shape),
        };
        model = model.with_input_fact(i, fact.into()).unwrap();
    }
    model.into_optimized().unwrap().into_runnable().unwrap()
}

/// `inputs` through `plan`: each output as f32 values, by the graph's output names.
fn tract_run(
    plan: &Arc<TypedRunnableModel>,
    onnx: &[u8],
    inputs: &[Input],
) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let values: TVec<TValue> = inputs
        .iter()
        .map(|input| {
            let t = match &input.values {
                Values::F32(v) => tract_onnx::prelude::Tensor::from_shape(&input.shape, v),
                Values::I64(v) => tract_onnx::prelude::Tensor::from_shape(&input.shape, v),
            };
            t.unwrap().into()
        })
        .collect();
    let outputs = plan.run(values).unwrap();
    output_names(onnx)
        .into_iter()
        .zip(outputs.iter())
        .map(|(name, t)| {
            let t = t.cast_to::<f32>().unwrap();
            let view = t.to_plain_array_view::<f32>().unwrap();
            (name, view.shape().to_vec(), view.iter().copied().collect())
        })
        .collect()
}

fn take(outputs: &mut Vec<(String, Vec<usize>, Vec<f32>)>, name: &str) -> (Vec<usize>, Vec<f32>) {
    let at = outputs.iter().position(|(n, _, _)| n == name).unwrap();
    let (_, shape, values) = outputs.remove(at);
    (shape, values)
}

/// The largest difference over the largest finite expected magnitude; infinities must match.
fn relative_error_finite(got: &[f32], want: &[f32]) -> f64 {
    let scale = want
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, &v| m.max(v.abs() as f64));
    let mut diff = 0.0f64;
    for (&a, &b) in got.iter().zip(want) {
        if b.is_finite() {
            diff = diff.max((a as f64 - b as f64).abs());
        } else if a != b {
            return f64::INFINITY;
        }
    }
    diff / scale.max(1e-12)
}

/// Greedy decoding in tract of `case`'s sources (all of one length): the tokens must be recur's,
/// and every step's log-probabilities and attention weights recur's within 1e-5.
fn check_translation_in_tract(case: &TranslationCase) {
    let (n, s) = (case.sources.len(), case.sources[0].len());
    let mut tokens = vec![0i64; s * n];
    for (b, src) in case.sources.iter().enumerate() {
        for (t, &id) in src.iter().enumerate() {
            tokens[t * n + b] = id as i64;
        }
    }
    let inputs = [i64_input("tokens", &[s, n], tokens)];
    let plan = tract_plan(&case.files.encoder, &inputs);
    let mut enc = tract_run(&plan, &case.files.encoder, &inputs);
    let (enc_shape, enc_out) = take(&mut enc, "encoder_outputs");
    let (state_shape, mut h) = take(&mut enc, "h0");
    let mut c = case.lstm.then(|| take(&mut enc, "c0").1);
    let mut prev = vec![BOS as i64; n];
    let mut got: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut done = vec![false; n];
    let step_inputs = |prev: &[i64], h: &[f32], c: &Option<Vec<f32>>| {
        let mut v = vec![
            i64_input("prev_token", &[n], prev.to_vec()),
            f32_input("h0", &state_shape, h.to_vec()),
        ];
        if let Some(c) = c {
            v.push(f32_input("c0", &state_shape, c.clone()));
        }
        v.push(f32_input("encoder_outputs", &enc_shape, enc_out.clone()));
        v.push(i64_input("src_lengths", &[n], vec![s as i64; n]));
        v
    };
    let plan = tract_plan(&case.files.decoder, &step_inputs(&prev, &h, &c));
    let max_len = *case.max_len.iter().max().unwrap();
    for step in 0..max_len {
        if done.iter().all(|&d| d) {
            break;
        }
        let inputs = step_inputs(&prev, &h, &c);
        let mut out = tract_run(&plan, &case.files.decoder, &inputs);
        let (_, log_probs) = take(&mut out, "log_probs");
        let (_, attention) = take(&mut out, "attention");
        h = take(&mut out, "h_n").1;
        if case.lstm {
            c = Some(take(&mut out, "c_n").1);
        }
        for b in 0..n {
            if done[b] {
                continue;
            }
            let row = &log_probs[b * case.vocab..(b + 1) * case.vocab];
            let err = relative_error_finite(row, &case.log_probs[b][step]);
            assert!(
                err <= 1e-5,
                "{}: sentence {b} step {step}: log-probs differ by {err:e}",
                case.name
            );
            let err = relative_error(&attention[b * s..(b + 1) * s], &case.attention[b][step]);
            assert!(
                err <= 1e-5,
                "{}: sentence {b} step {step}: attention differs by {err:e}",
                case.name
            );
            let best = (0..case.vocab).fold(0, |m, j| if row[j] > row[m] { j } else { m }) as u32;
            if best == EOS {
                done[b] = true;
            } else {
                got[b].push(best);
                done[b] = got[b].len() == case.max_len[b];
            }
            prev[b] = i64::from(best);
        }
    }
    assert_eq!(got, case.tokens, "{}: greedy tokens", case.name);
    let finished: Vec<bool> = got
        .iter()
        .zip(&case.max_len)
        .map(|(t, &m)| t.len() < m)
        .collect();
    assert_eq!(finished, case.finished, "{}", case.name);
}

#[test]
fn translation_models_decode_greedily_in_tract_as_in_recur() {
    for case in translation_cases(false) {
        check_translation_in_tract(&case);
    }
}

#[test]
fn translation_files_carry_tokenizers_and_special_tokens() {
    let case = translation_cases(true).remove(0);
    let meta = |bytes: &[u8], k: &str| {
        ModelProto::decode(bytes)
            .unwrap()
            .metadata_props
            .into_iter()
            .find(|p| p.key == k)
            .map(|p| p.value)
    };
    let (enc, dec) = (&case.files.encoder[..], &case.files.decoder[..]);
    assert_eq!(meta(enc, "recur.part").as_deref(), Some("encoder"));
    assert_eq!(meta(dec, "recur.part").as_deref(), Some("decoder"));
    let special: serde_json::Value =
        serde_json::from_str(&meta(dec, "recur.special_tokens").unwrap()).unwrap();
    assert_eq!(
        special,
        serde_json::json!({"pad": 0, "bos": 1, "eos": 2, "unk": 3})
    );
    let source: serde_json::Value =
        serde_json::from_str(&meta(enc, "recur.source_tokenizer").unwrap()).unwrap();
    assert!(source["model"]["vocab"].get("d").is_some(), "{source}");
    assert!(meta(dec, "recur.target_tokenizer")
        .unwrap()
        .contains("\"z\""));
    assert!(meta(enc, "recur.target_tokenizer").is_none());
    let inputs = |bytes: &[u8]| -> Vec<String> {
        ModelProto::decode(bytes)
            .unwrap()
            .graph
            .unwrap()
            .input
            .into_iter()
            .map(|i| i.name)
            .collect()
    };
    assert_eq!(inputs(enc), ["tokens", "lengths"]);
    assert_eq!(
        inputs(dec),
        ["prev_token", "h0", "c0", "encoder_outputs", "src_lengths"]
    );
    assert_eq!(output_names(enc), ["encoder_outputs", "h0", "c0"]);
    assert_eq!(output_names(dec), ["h_n", "c_n", "log_probs", "attention"]);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("recur-onnx-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_translation_checkpoint_exports_to_both_files_or_neither() {
    let dir = temp_dir("translate");
    let (model, vocab) = tiny_translator(CellType::Gru, Score::Dot, 1);
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let config = serde_json::json!({"format": "recur", "version": 1, "task": "translate",
        "model": model.config(), "vocab": vocab.to_json()});
    std::fs::write(run.join("config.json"), config.to_string()).unwrap();
    recur::io::write_safetensors(run.join("model.safetensors"), &model.named_tensors()).unwrap();
    let out = dir.join("m.onnx");
    let (what, files) = onnx::write_checkpoint(&run, &out, &options(true)).unwrap();
    assert_eq!(what, "translation model");
    assert_eq!(
        files,
        [dir.join("m.encoder.onnx"), dir.join("m.decoder.onnx")]
    );
    assert!(!out.exists());
    let want = onnx::translation(&model, &vocab, &options(true)).unwrap();
    let encoder = ModelProto::decode(&std::fs::read(&files[0]).unwrap()[..]).unwrap();
    assert_eq!(
        encoder.graph,
        ModelProto::decode(&want.encoder[..]).unwrap().graph
    );
    let config = encoder
        .metadata_props
        .iter()
        .find(|p| p.key == "recur.config")
        .unwrap();
    assert!(
        !config.value.contains("\"vocab\""),
        "the vocabularies have their own entries"
    );
    // The decoder's name taken by a directory: neither file is left.
    std::fs::create_dir(dir.join("n.decoder.onnx")).unwrap();
    let err = onnx::write_checkpoint(&run, &dir.join("n.onnx"), &options(true)).unwrap_err();
    assert!(err.to_string().contains("n.decoder.onnx"), "{err}");
    assert!(!dir.join("n.encoder.onnx").exists());
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 4, "{left:?}");
    assert_eq!(
        onnx::translation_paths(std::path::Path::new("out/model")),
        (
            "out/model.encoder.onnx".into(),
            "out/model.decoder.onnx".into()
        )
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_acoustic_checkpoint_exports_with_its_labels_and_features() {
    let dir = temp_dir("transcribe");
    let config = acoustic_config(CellType::Gru, 1, false, 2);
    let model = AcousticModel::new(config.clone(), &mut Rng::new(3)).unwrap();
    let audio = serde_json::json!({"sample_rate": 8000, "mfcc": 13});
    let json = serde_json::json!({"format": "recur", "version": 1, "task": "transcribe",
        "model": config, "audio": audio});
    std::fs::write(dir.join("config.json"), json.to_string()).unwrap();
    recur::io::write_safetensors(dir.join("model.safetensors"), &model.named_tensors()).unwrap();
    let out = dir.join("speech.onnx");
    let (what, files) = onnx::write_checkpoint(&dir, &out, &options(false)).unwrap();
    assert_eq!((what, &files[..]), ("acoustic model", &[out.clone()][..]));
    let file = ModelProto::decode(&std::fs::read(&out).unwrap()[..]).unwrap();
    let meta = |k: &str| {
        file.metadata_props
            .iter()
            .find(|p| p.key == k)
            .map(|p| p.value.clone())
            .unwrap_or_default()
    };
    assert_eq!(meta("recur.task"), "transcribe");
    assert_eq!(meta("recur.labels"), r#"["<blank>","one","three","two"]"#);
    assert_eq!(
        (meta("recur.blank"), meta("recur.unit")),
        ("0".into(), "word".into())
    );
    assert_eq!(meta("recur.frame_stack"), "2");
    assert_eq!(meta("recur.audio"), audio.to_string());
    let inputs: Vec<String> = file
        .graph
        .unwrap()
        .input
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(inputs, ["features", "h0"]);
    let _ = std::fs::remove_dir_all(dir);
}
