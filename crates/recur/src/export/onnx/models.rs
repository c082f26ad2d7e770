//! The graphs of recur's models: inputs, the recurrent stack, pooling and heads.

use super::graph::{int, ints, Dim, Graph};
use super::proto::DataType;
use super::recurrent::{stack, StackInputs, StackOutputs};
use super::ExportOptions;
use crate::charlm::model::CharLm;
use crate::classify::model::{Classifier, Pooling};
use crate::config::CellType;
use crate::forecast::model::Forecaster;
use crate::io::NamedTensor;
use crate::nn::Linear;
use crate::recurrent::Recurrent;

pub(super) const T: Dim = Dim::Named("T");
pub(super) const N: Dim = Dim::Named("N");

/// The tensor `name` of `tensors`.
fn tensor<'a>(tensors: &'a [NamedTensor<'a>], name: &str) -> (&'a [usize], &'a [f32]) {
    tensors
        .iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, s, d)| (&s[..], *d))
        .unwrap_or((&[], &[]))
}

/// `[rows, cols]` transposed to `[cols, rows]`.
fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for i in 0..rows {
        for j in 0..cols {
            out[j * rows + i] = data[i * cols + j];
        }
    }
    out
}

/// `x [.., in] · head.weightᵀ + head.bias` → `[.., out]`.
fn head(g: &mut Graph, tensors: &[NamedTensor<'_>], x: &str) -> String {
    let (shape, w) = tensor(tensors, "head.weight");
    let b = tensor(tensors, "head.bias").1;
    affine(g, "head", (shape[0], shape[1]), w, Some(b), x)
}

/// `x [.., in] · layer.weightᵀ (+ layer.bias)` → `[.., out]`, PyTorch's `nn.Linear`.
pub(super) fn linear(g: &mut Graph, name: &str, layer: &Linear<f32>, x: &str) -> String {
    let c = layer.config();
    let shape = (c.out_features, c.in_features);
    affine(g, name, shape, &layer.weight, layer.bias.as_deref(), x)
}

/// `x [.., in] · weightᵀ (+ bias)` → `[.., out]` for `weight [out, in]`, row-major.
fn affine(
    g: &mut Graph,
    name: &str,
    (out, inp): (usize, usize),
    weight: &[f32],
    bias: Option<&[f32]>,
    x: &str,
) -> String {
    let wt = g.weight(
        &format!("{name}_weight_t"),
        &[inp, out],
        &transpose(weight, out, inp),
    );
    let y = g.op("MatMul", &[x, &wt], vec![]);
    match bias {
        Some(bias) => {
            let b = g.weight(&format!("{name}_bias"), &[out], bias);
            g.op("Add", &[&y, &b], vec![])
        }
        None => y,
    }
}

/// Declares the graph input `lengths [N]` (int64) and returns its name.
pub(super) fn lengths_input(g: &mut Graph, doc: &str) -> String {
    g.input("lengths", DataType::Int64, &[N], doc);
    "lengths".to_string()
}

/// The state inputs `h0` (and `c0`), what to pass as them first being `start`, and the stack
/// over `x` with `lengths` (an int64 `[N]` value) as its `sequence_lens`; the stack's final
/// states become the outputs `h_n` (and `c_n`).
pub(super) fn recurrent_core(
    g: &mut Graph,
    rnn: &Recurrent<f32>,
    x: String,
    lengths: Option<&str>,
    start: &str,
) -> StackOutputs {
    let c = rnn.config();
    let states = [
        Dim::Fixed(c.num_layers * c.directions()),
        N,
        Dim::Fixed(c.hidden_size),
    ];
    let lstm = c.cell == CellType::Lstm;
    let lengths = lengths.map(|l| g.op("Cast", &[l], vec![int("to", DataType::Int32 as i64)]));
    g.input(
        "h0",
        DataType::Float,
        &states,
        &format!("initial hidden state [layers·directions, N, H] ({start})"),
    );
    if lstm {
        g.input(
            "c0",
            DataType::Float,
            &states,
            &format!("initial cell state [layers·directions, N, H] ({start})"),
        );
    }
    let io = StackInputs {
        x,
        lengths: lengths.as_deref(),
        h0: Some("h0"),
        c0: lstm.then_some("c0"),
    };
    let out = stack(g, rnn, io, "h_n", lstm.then_some("c_n"));
    g.output(
        "h_n",
        DataType::Float,
        &states,
        "final hidden state (each sequence's last valid step)",
    );
    if lstm {
        g.output("c_n", DataType::Float, &states, "final cell state");
    }
    out
}

const LENGTHS_DOC: &str =
    "valid steps of each sequence, 1..=T; outputs past a sequence's end are zero";
pub(super) const ZEROS: &str = "zeros to start";

/// The character model: `tokens [T, N]` (int64 ids) → `logits`, `probs [T, N, V]`.
pub(crate) fn char_lm(model: &CharLm, options: &ExportOptions) -> Graph {
    let mut g = Graph::default();
    let c = model.config();
    let tensors = model.named_tensors();
    g.input(
        "tokens",
        DataType::Int64,
        &[T, N],
        "character ids (index into the vocabulary), time-major",
    );
    let table = model
        .input_table()
        .map(|t| t.into_data())
        .unwrap_or_default();
    let width = if c.embed_dim > 0 {
        c.embed_dim
    } else {
        c.vocab_size
    };
    let table = g.weight("embedding", &[c.vocab_size, width], &table);
    let x = g.op("Gather", &[&table, "tokens"], vec![int("axis", 0)]);
    let lengths = options.lengths.then(|| lengths_input(&mut g, LENGTHS_DOC));
    let out = recurrent_core(&mut g, model.rnn(), x, lengths.as_deref(), ZEROS);
    let logits = head(&mut g, &tensors, &out.y);
    let v = Dim::Fixed(c.vocab_size);
    g.op_into("Identity", &[&logits], &["logits"], vec![]);
    g.op_into("Softmax", &["logits"], &["probs"], vec![int("axis", -1)]);
    g.output(
        "logits",
        DataType::Float,
        &[T, N, v],
        "next-character scores",
    );
    g.output(
        "probs",
        DataType::Float,
        &[T, N, v],
        "next-character probabilities (softmax of logits)",
    );
    g
}

/// The classifier: `features [T, N, dims · frame_size]` (raw, scaled inside) or
/// `tokens [T, N]` → pooling → `logits` and `probs [N, C]`, or a regressor's `prediction [N]`.
pub(crate) fn classifier(model: &Classifier, options: &ExportOptions) -> Graph {
    let mut g = Graph::default();
    let c = model.config();
    let tensors = model.named_tensors();
    let x = if c.dims > 0 {
        let width = c.input_size();
        g.input(
            "features",
            DataType::Float,
            &[T, N, Dim::Fixed(width)],
            "raw features, time-major; frame_size consecutive steps side by side per row",
        );
        let frames = c.frame_size.max(1);
        let mean: Vec<f32> = c
            .mean
            .iter()
            .copied()
            .cycle()
            .take(c.dims * frames)
            .collect();
        let std: Vec<f32> = c
            .std
            .iter()
            .copied()
            .cycle()
            .take(c.dims * frames)
            .collect();
        let mean = g.weight("mean", &[width], &mean);
        let std = g.weight("std", &[width], &std);
        let centred = g.op("Sub", &["features", &mean], vec![]);
        g.op("Div", &[&centred, &std], vec![])
    } else {
        g.input(
            "tokens",
            DataType::Int64,
            &[T, N],
            "token ids (index into the vocabulary; its length = the unknown token), time-major",
        );
        let (shape, e) = tensor(&tensors, "embedding.weight");
        let table = g.weight("embedding", shape, e);
        g.op("Gather", &[&table, "tokens"], vec![int("axis", 0)])
    };
    let lengths = options.lengths.then(|| lengths_input(&mut g, LENGTHS_DOC));
    let out = recurrent_core(&mut g, model.rnn(), x, lengths.as_deref(), ZEROS);
    let pooled = pool(&mut g, c.pooling, &out, lengths.as_deref());
    let z = head(&mut g, &tensors, &pooled);
    match c.target {
        Some(target) => {
            let axes = g.ints("axes", &[1], &[1]);
            let z = g.op("Squeeze", &[&z, &axes], vec![]);
            let std = g.weight("target_std", &[1], &[target.std as f32]);
            let mean = g.weight("target_mean", &[1], &[target.mean as f32]);
            let scaled = g.op("Mul", &[&z, &std], vec![]);
            g.op_into("Add", &[&scaled, &mean], &["prediction"], vec![]);
            g.output(
                "prediction",
                DataType::Float,
                &[N],
                "predicted value in the target's units",
            );
        }
        None => {
            let classes = Dim::Fixed(c.classes.len());
            g.op_into("Identity", &[&z], &["logits"], vec![]);
            g.op_into("Softmax", &["logits"], &["probs"], vec![int("axis", -1)]);
            g.output("logits", DataType::Float, &[N, classes], "class scores");
            g.output(
                "probs",
                DataType::Float,
                &[N, classes],
                "class probabilities",
            );
        }
    }
    g
}

/// The pooled features `[N, D·H]` of the last layer's outputs.
fn pool(g: &mut Graph, pooling: Pooling, out: &StackOutputs, lengths: Option<&str>) -> String {
    match pooling {
        Pooling::Last => {
            // `Y_h` holds each direction's final state: forward at the last valid step,
            // reverse at the first.
            let t = g.op("Transpose", &[&out.last_h], vec![ints("perm", &[1, 0, 2])]);
            let shape = g.ints("shape", &[2], &[0, -1]);
            g.op("Reshape", &[&t, &shape], vec![])
        }
        Pooling::Mean => match lengths {
            None => g.op(
                "ReduceMean",
                &[&out.y],
                vec![ints("axes", &[0]), int("keepdims", 0)],
            ),
            Some(lengths) => {
                let mask = valid_steps(g, &out.y, lengths);
                let mask = g.op("Cast", &[&mask], vec![int("to", DataType::Float as i64)]);
                let masked = g.op("Mul", &[&out.y, &mask], vec![]);
                let axes = g.ints("axes", &[1], &[0]);
                let sum = g.op("ReduceSum", &[&masked, &axes], vec![int("keepdims", 0)]);
                let axes = g.ints("axes", &[1], &[1]);
                let n = g.op("Unsqueeze", &[lengths, &axes], vec![]);
                let n = g.op("Cast", &[&n], vec![int("to", DataType::Float as i64)]);
                g.op("Div", &[&sum, &n], vec![])
            }
        },
        Pooling::Max => {
            let y = match lengths {
                None => out.y.clone(),
                Some(lengths) => {
                    let mask = valid_steps(g, &out.y, lengths);
                    let low = g.weight("neg_inf", &[1], &[f32::NEG_INFINITY]);
                    g.op("Where", &[&mask, &out.y, &low], vec![])
                }
            };
            g.op(
                "ReduceMax",
                &[&y],
                vec![ints("axes", &[0]), int("keepdims", 0)],
            )
        }
    }
}

/// `[T, N, 1]` booleans: step `t` of sequence `n` is before its end (`t < lengths[n]`).
pub(super) fn valid_steps(g: &mut Graph, y: &str, lengths: &str) -> String {
    let shape = g.op("Shape", &[y], vec![]);
    let zero = g.ints("zero", &[], &[0]);
    let one = g.ints("one", &[], &[1]);
    let steps = g.op("Gather", &[&shape, &zero], vec![int("axis", 0)]);
    let range = g.op("Range", &[&zero, &steps, &one], vec![]);
    let axes = g.ints("axes", &[1], &[1]);
    let t = g.op("Unsqueeze", &[&range, &axes], vec![]);
    let axes = g.ints("axes", &[1], &[0]);
    let lengths = g.op("Unsqueeze", &[lengths, &axes], vec![]);
    let valid = g.op("Less", &[&t, &lengths], vec![]);
    let axes = g.ints("axes", &[1], &[2]);
    g.op("Unsqueeze", &[&valid, &axes], vec![])
}

/// The forecaster: `window [T, N, inputs]` (scaled) → `forecast [N, horizon]` (scaled).
pub(crate) fn forecaster(model: &Forecaster) -> Graph {
    let mut g = Graph::default();
    let c = model.config();
    let tensors = model.named_tensors();
    g.input(
        "window",
        DataType::Float,
        &[T, N, Dim::Fixed(c.inputs)],
        "scaled input window, time-major (the lookback, then with future_steps the horizon)",
    );
    let out = recurrent_core(&mut g, model.rnn(), "window".into(), None, ZEROS);
    let hz = c.horizon as i64;
    let start = if c.future_steps { -hz } else { -1 };
    let starts = g.ints("start", &[1], &[start]);
    let ends = g.ints("end", &[1], &[i64::MAX]);
    let axes = g.ints("axes", &[1], &[0]);
    let states = g.op("Slice", &[&out.y, &starts, &ends, &axes], vec![]);
    let forecast = if c.future_steps {
        // Row k of the head on the state of step k ahead: the diagonal of [k, N, j].
        let full = head(&mut g, &tensors, &states);
        let mut eye = vec![0.0f32; c.horizon * c.horizon];
        for k in 0..c.horizon {
            eye[k * c.horizon + k] = 1.0;
        }
        let eye = g.weight("diagonal", &[c.horizon, 1, c.horizon], &eye);
        let picked = g.op("Mul", &[&full, &eye], vec![]);
        let axes = g.ints("axes", &[1], &[0]);
        g.op("ReduceSum", &[&picked, &axes], vec![int("keepdims", 0)])
    } else {
        let axes = g.ints("axes", &[1], &[0]);
        let last = g.op("Squeeze", &[&states, &axes], vec![]);
        head(&mut g, &tensors, &last)
    };
    g.op_into("Identity", &[&forecast], &["forecast"], vec![]);
    g.output(
        "forecast",
        DataType::Float,
        &[N, Dim::Fixed(c.horizon)],
        "the next horizon values, scaled as the window's target column",
    );
    g
}
