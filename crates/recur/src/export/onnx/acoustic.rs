//! The acoustic model's graph: raw feature frames, scaled and stacked inside, through the
//! recurrent layers and the head to per-step log-probabilities.

use super::graph::{int, ints, Dim, Graph};
use super::models::{lengths_input, linear, recurrent_core, valid_steps, N, T, ZEROS};
use super::proto::DataType;
use super::ExportOptions;
use crate::speech::model::AcousticModel;

/// `features [T, N, F]` (raw) → `log_probs [T', N, C]`, `T' = ⌈T / frame_stack⌉`, and with
/// lengths `out_lengths [N]`, each utterance's steps.
pub(crate) fn acoustic(model: &AcousticModel, options: &ExportOptions) -> Graph {
    let mut g = Graph::default();
    let c = model.config();
    let (f, k) = (c.input_size, c.frame_stack);
    g.input(
        "features",
        DataType::Float,
        &[T, N, Dim::Fixed(f)],
        "raw feature frames, time-major (the scaling and the frame stacking are in the graph)",
    );
    let lengths = options.lengths.then(|| {
        lengths_input(
            &mut g,
            "feature frames of each utterance, 1..=T; frames past the end are ignored",
        )
    });
    let mean = g.weight("mean", &[f], &c.mean);
    let std = g.weight("std", &[f], &c.std);
    let centred = g.op("Sub", &["features", &mean], vec![]);
    let mut x = g.op("Div", &[&centred, &std], vec![]);
    if let Some(lengths) = &lengths {
        // Frames past an utterance's end are zero after scaling, as recur pads them.
        let valid = valid_steps(&mut g, &x, lengths);
        let zero = g.weight("zero", &[1], &[0.0]);
        x = g.op("Where", &[&valid, &x, &zero], vec![]);
    }
    let steps = if k > 1 {
        x = stack_frames(&mut g, &x, f, k);
        lengths.map(|l| {
            let up = g.ints("stack_minus_one", &[], &[k as i64 - 1]);
            let by = g.ints("stack", &[], &[k as i64]);
            let sum = g.op("Add", &[&l, &up], vec![]);
            g.op("Div", &[&sum, &by], vec![])
        })
    } else {
        lengths
    };
    let out = recurrent_core(&mut g, model.rnn(), x, steps.as_deref(), ZEROS);
    let logits = linear(&mut g, "head", model.head(), &out.y);
    g.op_into(
        "LogSoftmax",
        &[&logits],
        &["log_probs"],
        vec![int("axis", -1)],
    );
    g.output(
        "log_probs",
        DataType::Float,
        &[
            Dim::Named("steps"),
            N,
            Dim::Fixed(c.alphabet.classes()),
        ],
        "per-step log-probabilities over the blank (class 0) and the symbols; one step per frame_stack frames",
    );
    if let Some(steps) = steps {
        g.op_into("Identity", &[&steps], &["out_lengths"], vec![]);
        g.output(
            "out_lengths",
            DataType::Int64,
            &[N],
            "valid steps of each utterance: ceil(lengths / frame_stack)",
        );
    }
    g
}

/// `x [T, N, F]` as `[⌈T/k⌉, N, k·F]`: `k` consecutive frames side by side, the last step padded
/// with zero frames.
fn stack_frames(g: &mut Graph, x: &str, f: usize, k: usize) -> String {
    let k = k as i64;
    let shape = g.op("Shape", &[x], vec![]);
    let zero = g.ints("zero", &[], &[0]);
    let steps = g.op("Gather", &[&shape, &zero], vec![int("axis", 0)]);
    let kk = g.ints("stack", &[], &[k]);
    let rem = g.op("Mod", &[&steps, &kk], vec![]);
    let short = g.op("Sub", &[&kk, &rem], vec![]);
    let pad = g.op("Mod", &[&short, &kk], vec![]);
    let axis0 = g.ints("axes", &[1], &[0]);
    let pad = g.op("Unsqueeze", &[&pad, &axis0], vec![]);
    let before = g.ints("pads_before", &[3], &[0, 0, 0]);
    let after = g.ints("pads_after", &[2], &[0, 0]);
    let pads = g.op("Concat", &[&before, &pad, &after], vec![int("axis", 0)]);
    let padded = g.op("Pad", &[x, &pads], vec![]);
    let nt = g.op("Transpose", &[&padded], vec![ints("perm", &[1, 0, 2])]);
    let shape = g.ints("shape", &[3], &[0, -1, k * f as i64]);
    let stacked = g.op("Reshape", &[&nt, &shape], vec![]);
    g.op("Transpose", &[&stacked], vec![ints("perm", &[1, 0, 2])])
}
