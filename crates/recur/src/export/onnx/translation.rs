//! The translation model's two graphs: the encoder, run once per batch of sentences, and one
//! decoder step, run once per output token (as [`crate::seq2seq`]'s search runs them).

use super::graph::{int, ints, Dim, Graph};
use super::models::{lengths_input, linear, recurrent_core, N};
use super::proto::DataType;
use super::recurrent::{stack, StackInputs};
use super::ExportOptions;
use crate::config::CellType;
use crate::nn::Score;
use crate::seq2seq::{Seq2Seq, PAD};

const S: Dim = Dim::Named("S");

/// The encoder: `tokens [S, N]` → `encoder_outputs [S, N, H]` and the decoder's initial state
/// `h0` (and `c0`) `[layers, N, H]`, each layer's two directions side by side (recur's bridge).
pub(crate) fn encoder(model: &Seq2Seq<f32>, options: &ExportOptions) -> Graph {
    let mut g = Graph::default();
    let c = model.config();
    g.input(
        "tokens",
        DataType::Int64,
        &[S, N],
        "source token ids (no <s> or </s>), time-major, padded with 0 past each sentence's end",
    );
    let lengths = options.lengths.then(|| {
        let l = lengths_input(&mut g, "source tokens of each sentence, 1..=S");
        g.op("Cast", &[&l], vec![int("to", DataType::Int32 as i64)])
    });
    let table = g.weight(
        "src_embedding",
        &[c.src_vocab, c.embed_dim],
        &model.src_embedding.weight,
    );
    let x = g.op("Gather", &[&table, "tokens"], vec![int("axis", 0)]);
    let lstm = c.cell == CellType::Lstm;
    let h_n = g.fresh("encoder_h_n");
    let c_n = lstm.then(|| g.fresh("encoder_c_n"));
    let io = StackInputs {
        x,
        lengths: lengths.as_deref(),
        h0: None,
        c0: None,
    };
    let out = stack(&mut g, &model.encoder, io, &h_n, c_n.as_deref());
    let h = c.hidden_size;
    g.op_into("Identity", &[&out.y], &["encoder_outputs"], vec![]);
    g.output(
        "encoder_outputs",
        DataType::Float,
        &[S, N, Dim::Fixed(h)],
        "the encoder's outputs (forward | reverse per step), zero past each sentence's end",
    );
    let states = [Dim::Fixed(c.num_layers), N, Dim::Fixed(h)];
    bridge(&mut g, &h_n, c.num_layers, h, "h0");
    g.output(
        "h0",
        DataType::Float,
        &states,
        "the decoder's initial hidden state: per layer, the encoder's final forward and reverse states side by side",
    );
    if let Some(c_n) = c_n {
        bridge(&mut g, &c_n, c.num_layers, h, "c0");
        g.output(
            "c0",
            DataType::Float,
            &states,
            "the decoder's initial cell state, bridged as h0",
        );
    }
    g
}

/// `[2·layers, N, H/2]` final states as `[layers, N, H]` into `out`: per layer `[2, N, H/2]` →
/// `[N, 2, H/2]` → `[N, H]` (`Seq2Seq`'s bridge).
fn bridge(g: &mut Graph, states: &str, layers: usize, h: usize, out: &str) {
    let (l, half) = (layers as i64, (h / 2) as i64);
    let split = g.ints("shape", &[4], &[l, 2, -1, half]);
    let split = g.op("Reshape", &[states, &split], vec![]);
    let t = g.op("Transpose", &[&split], vec![ints("perm", &[0, 2, 1, 3])]);
    let joined = g.ints("shape", &[3], &[l, -1, 2 * half]);
    g.op_into("Reshape", &[&t, &joined], &[out], vec![]);
}

/// One decoder step: `prev_token [N]`, the state `h0` (`c0`), `encoder_outputs [S, N, H]` and
/// `src_lengths [N]` → `log_probs [N, V]` (padding and, when it differs from `eos`, `bos` at
/// -inf, as recur's search never outputs them), the new state `h_n` (`c_n`) and the attention
/// weights `attention [N, S]`.
pub(crate) fn decoder_step(model: &Seq2Seq<f32>, bos: u32, eos: u32) -> Graph {
    let mut g = Graph::default();
    let c = model.config();
    let (h, v) = (c.hidden_size, c.tgt_vocab);
    g.input(
        "prev_token",
        DataType::Int64,
        &[N],
        "the previous target token of each sentence (<s> at the first step)",
    );
    let table = g.weight(
        "tgt_embedding",
        &[v, c.embed_dim],
        &model.tgt_embedding.weight,
    );
    let e = g.op("Gather", &[&table, "prev_token"], vec![int("axis", 0)]);
    let axis0 = g.ints("axes", &[1], &[0]);
    let x = g.op("Unsqueeze", &[&e, &axis0], vec![]);
    let start = "the encoder's h0/c0 at the first step, then the previous step's h_n/c_n";
    let out = recurrent_core(&mut g, &model.decoder, x, None, start);
    g.input(
        "encoder_outputs",
        DataType::Float,
        &[S, N, Dim::Fixed(h)],
        "the encoder's outputs for these sentences",
    );
    g.input(
        "src_lengths",
        DataType::Int64,
        &[N],
        "source tokens of each sentence, 1..=S: the attention reads only these",
    );
    let top = g.op("Squeeze", &[&out.y, &axis0], vec![]);
    // Batch-major keys [N, S, H].
    let keys = g.op(
        "Transpose",
        &["encoder_outputs"],
        vec![ints("perm", &[1, 0, 2])],
    );
    let scores = scores(&mut g, model, &top, &keys);
    let valid = source_mask(&mut g);
    let low = g.weight("neg_inf", &[1], &[f32::NEG_INFINITY]);
    let masked = g.op("Where", &[&valid, &scores, &low], vec![]);
    g.op_into("Softmax", &[&masked], &["attention"], vec![int("axis", -1)]);
    let axis1 = g.ints("axes", &[1], &[1]);
    let a = g.op("Unsqueeze", &["attention", &axis1], vec![]);
    let context = g.op("MatMul", &[&a, &keys], vec![]);
    let context = g.op("Squeeze", &[&context, &axis1], vec![]);
    let cat = g.op("Concat", &[&context, &top], vec![int("axis", 1)]);
    let combined = linear(&mut g, "combine", &model.combine, &cat);
    let h_tilde = g.op("Tanh", &[&combined], vec![]);
    let logits = linear(&mut g, "generator", &model.generator, &h_tilde);
    let log_probs = g.op("LogSoftmax", &[&logits], vec![int("axis", -1)]);
    let mut never = vec![0.0f32; v];
    never[PAD as usize] = f32::NEG_INFINITY;
    if bos != eos {
        if let Some(x) = never.get_mut(bos as usize) {
            *x = f32::NEG_INFINITY;
        }
    }
    let never = g.weight("never_output", &[v], &never);
    g.op_into("Add", &[&log_probs, &never], &["log_probs"], vec![]);
    g.output(
        "log_probs",
        DataType::Float,
        &[N, Dim::Fixed(v)],
        "log-probabilities of the next token (padding and <s> at -inf: never output)",
    );
    g.output(
        "attention",
        DataType::Float,
        &[N, S],
        "this step's attention weights over the source (zero past each sentence's end)",
    );
    g
}

/// The attention scores `[N, S]` of the queries `top [N, H]` over `keys [N, S, H]`.
fn scores(g: &mut Graph, model: &Seq2Seq<f32>, top: &str, keys: &str) -> String {
    let layers = &model.attention.layers;
    let axis2 = g.ints("axes", &[1], &[2]);
    let dot = |g: &mut Graph, q: &str| {
        let q = g.op("Unsqueeze", &[q, &axis2], vec![]);
        let s = g.op("MatMul", &[keys, &q], vec![]);
        g.op("Squeeze", &[&s, &axis2], vec![])
    };
    match model.config().attention {
        Score::Dot => dot(g, top),
        Score::General => {
            let q = linear(g, "attention_linear_in", &layers[0], top);
            dot(g, &q)
        }
        Score::Additive => {
            let wq = linear(g, "attention_Wa", &layers[0], top);
            let axis1 = g.ints("axes", &[1], &[1]);
            let wq = g.op("Unsqueeze", &[&wq, &axis1], vec![]);
            let uk = linear(g, "attention_Ua", &layers[1], keys);
            let sum = g.op("Add", &[&uk, &wq], vec![]);
            let e = g.op("Tanh", &[&sum], vec![]);
            let s = linear(g, "attention_Va", &layers[2], &e);
            g.op("Squeeze", &[&s, &axis2], vec![])
        }
    }
}

/// `[N, S]` booleans: source position `s` of sentence `n` is a token (`s < src_lengths[n]`).
fn source_mask(g: &mut Graph) -> String {
    let shape = g.op("Shape", &["encoder_outputs"], vec![]);
    let zero = g.ints("zero", &[], &[0]);
    let one = g.ints("one", &[], &[1]);
    let steps = g.op("Gather", &[&shape, &zero], vec![int("axis", 0)]);
    let range = g.op("Range", &[&zero, &steps, &one], vec![]);
    let axis0 = g.ints("axes", &[1], &[0]);
    let s = g.op("Unsqueeze", &[&range, &axis0], vec![]);
    let axis1 = g.ints("axes", &[1], &[1]);
    let lengths = g.op("Unsqueeze", &["src_lengths", &axis1], vec![]);
    g.op("Less", &[&s, &lengths], vec![])
}
