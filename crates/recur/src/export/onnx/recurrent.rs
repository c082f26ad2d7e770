//! A [`Recurrent`] stack as ONNX `RNN`, `LSTM` or `GRU` nodes, one node per layer (both
//! directions of a bidirectional layer in one node), with PyTorch's weights converted to ONNX's
//! gate order and bias layout.
//!
//! PyTorch stacks the gates of `weight_ih_l{k}` as LSTM `i f g o`, GRU `r z n`; ONNX stacks `W`
//! as LSTM `i o f c`, GRU `z r h`. ONNX's `B` is `[Wb, Rb]`: PyTorch's `bias_ih` then `bias_hh`,
//! each reordered the same way. PyTorch's GRU applies the reset gate after the recurrent
//! product and its bias, which is ONNX's `linear_before_reset = 1`.

use super::graph::{int, ints, string, strings, Graph};
use crate::config::{CellType, Nonlinearity};
use crate::recurrent::Recurrent;

/// PyTorch's gate block that goes to each place of ONNX's order.
fn onnx_gate_order(cell: CellType) -> &'static [usize] {
    match cell {
        // ONNX i o f c from PyTorch i f g o.
        CellType::Lstm => &[0, 3, 1, 2],
        // ONNX z r h from PyTorch r z n.
        CellType::Gru => &[1, 0, 2],
        CellType::Rnn => &[0],
    }
}

/// `rows` (gate blocks of `block` elements each, PyTorch's order) in ONNX's order.
fn reorder(rows: &[f32], cell: CellType, block: usize) -> Vec<f32> {
    onnx_gate_order(cell)
        .iter()
        .flat_map(|&g| &rows[g * block..(g + 1) * block])
        .copied()
        .collect()
}

/// What the stack reads: value names in the graph.
pub(crate) struct StackInputs<'a> {
    /// `[T, N, input_size]`, f32.
    pub x: String,
    /// `[N]`, int32 (ONNX's `sequence_lens`); `None` runs every sequence all `T` steps.
    pub lengths: Option<&'a str>,
    /// `[layers · directions, N, H]`; `None` starts from zeros.
    pub h0: Option<&'a str>,
    /// `[layers · directions, N, H]`, LSTM only.
    pub c0: Option<&'a str>,
}

/// What the stack produces.
pub(crate) struct StackOutputs {
    /// The last layer's outputs `[T, N, D·H]` in PyTorch's layout (forward | reverse per step),
    /// zero past each sequence's end.
    pub y: String,
    /// The last layer's final states `[D, N, H]` (ONNX's `Y_h`).
    pub last_h: String,
}

/// Wires the stack of `rnn` into `g`, writing its final states into the values named `h_n`
/// (and `c_n` for an LSTM), `[layers · directions, N, H]` as PyTorch's `h_n`.
pub(crate) fn stack(
    g: &mut Graph,
    rnn: &Recurrent<f32>,
    io: StackInputs<'_>,
    h_n: &str,
    c_n: Option<&str>,
) -> StackOutputs {
    let c = rnn.config();
    let d = c.directions();
    let layers = c.num_layers;
    let mut x = io.x;
    let (mut hs, mut cs) = (Vec::new(), Vec::new());
    let mut last_h = String::new();
    for layer in 0..layers {
        let weights = LayerWeights::of(g, rnn, layer);
        let state = |g: &mut Graph, all: &str| {
            if layers == 1 || all.is_empty() {
                return all.to_string();
            }
            let starts = g.ints("start", &[1], &[(layer * d) as i64]);
            let ends = g.ints("end", &[1], &[((layer + 1) * d) as i64]);
            let axes = g.ints("axes", &[1], &[0]);
            g.op("Slice", &[all, &starts, &ends, &axes], vec![])
        };
        let h0 = state(g, io.h0.unwrap_or(""));
        let c0 = io.c0.map(|c0| state(g, c0));
        let name = |base: Option<&str>, what: &str, g: &mut Graph| match base {
            Some(b) if layers == 1 => b.to_string(),
            _ => g.fresh(what),
        };
        let y = g.fresh("y");
        let yh = name(Some(h_n), "y_h", g);
        let yc = (c.cell == CellType::Lstm).then(|| name(c_n, "y_c", g));
        let mut inputs = vec![
            x.as_str(),
            &weights.w,
            &weights.r,
            &weights.b,
            io.lengths.unwrap_or(""),
            &h0,
        ];
        inputs.extend(c0.as_deref());
        let mut outputs = vec![y.as_str(), &yh];
        outputs.extend(yc.as_deref());
        g.op_into(op_name(c.cell), &inputs, &outputs, attributes(rnn));
        x = layout_outputs(g, &y, d);
        last_h.clone_from(&yh);
        hs.push(yh);
        cs.extend(yc);
    }
    if layers > 1 {
        let refs: Vec<&str> = hs.iter().map(String::as_str).collect();
        g.op_into("Concat", &refs, &[h_n], vec![int("axis", 0)]);
        if let Some(c_n) = c_n {
            let refs: Vec<&str> = cs.iter().map(String::as_str).collect();
            g.op_into("Concat", &refs, &[c_n], vec![int("axis", 0)]);
        }
    }
    StackOutputs { y: x, last_h }
}

fn op_name(cell: CellType) -> &'static str {
    match cell {
        CellType::Rnn => "RNN",
        CellType::Lstm => "LSTM",
        CellType::Gru => "GRU",
    }
}

fn attributes(rnn: &Recurrent<f32>) -> Vec<super::proto::AttributeProto> {
    let c = rnn.config();
    let mut attrs = vec![int("hidden_size", c.hidden_size as i64)];
    if c.bidirectional {
        attrs.push(string("direction", "bidirectional"));
    }
    match (c.cell, c.nonlinearity) {
        (CellType::Gru, _) => attrs.push(int("linear_before_reset", 1)),
        (CellType::Rnn, Nonlinearity::Relu) => {
            attrs.push(strings("activations", &vec!["Relu"; c.directions()]));
        }
        _ => {}
    }
    attrs
}

/// ONNX's `Y [T, D, N, H]` as PyTorch's `[T, N, D·H]`.
fn layout_outputs(g: &mut Graph, y: &str, directions: usize) -> String {
    if directions == 1 {
        let axes = g.ints("axes", &[1], &[1]);
        return g.op("Squeeze", &[y, &axes], vec![]);
    }
    let t = g.op("Transpose", &[y], vec![ints("perm", &[0, 2, 1, 3])]);
    let shape = g.ints("shape", &[3], &[0, 0, -1]);
    g.op("Reshape", &[&t, &shape], vec![])
}

/// One layer's `W [D, G·H, in]`, `R [D, G·H, H]` and `B [D, 2·G·H]` as graph weights.
struct LayerWeights {
    w: String,
    r: String,
    b: String,
}

impl LayerWeights {
    fn of(g: &mut Graph, rnn: &Recurrent<f32>, layer: usize) -> LayerWeights {
        let c = rnn.config();
        let (d, h) = (c.directions(), c.hidden_size);
        let gates = onnx_gate_order(c.cell).len();
        let input = c.layer_input_size(layer);
        let (mut w, mut r, mut b) = (Vec::new(), Vec::new(), Vec::new());
        for dir in 0..d {
            let suffix = if dir == 1 { "_reverse" } else { "" };
            let param = |kind: &str| rnn.param(&format!("{kind}_l{layer}{suffix}"));
            // Every layer and direction has both weights: `param_layout` lists them.
            let (w_ih, w_hh) = (param("weight_ih"), param("weight_hh"));
            w.extend(reorder(w_ih.unwrap_or_default(), c.cell, h * input));
            r.extend(reorder(w_hh.unwrap_or_default(), c.cell, h * h));
            for kind in ["bias_ih", "bias_hh"] {
                match param(kind) {
                    Some(bias) => b.extend(reorder(bias, c.cell, h)),
                    None => b.extend(vec![0.0; gates * h]),
                }
            }
        }
        LayerWeights {
            w: g.weight(&format!("W_l{layer}"), &[d, gates * h, input], &w),
            r: g.weight(&format!("R_l{layer}"), &[d, gates * h, h], &r),
            b: g.weight(&format!("B_l{layer}"), &[d, 2 * gates * h], &b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_blocks_move_to_onnx_order() {
        // Blocks of 2 elements: PyTorch LSTM i f g o = 0 1 2 3.
        let rows = [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0];
        assert_eq!(
            reorder(&rows, CellType::Lstm, 2),
            [0.0, 0.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0]
        );
        // GRU r z n = 0 1 2 becomes z r h.
        assert_eq!(
            reorder(&rows[..6], CellType::Gru, 2),
            [1.0, 1.0, 0.0, 0.0, 2.0, 2.0]
        );
        assert_eq!(reorder(&rows[..2], CellType::Rnn, 2), [0.0, 0.0]);
    }
}
