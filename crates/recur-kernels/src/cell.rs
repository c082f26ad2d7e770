//! Cell kinds, sequence shapes, and the buffers the sequence kernels read and write.

use crate::gemm::Operand;
use crate::packed::PackedB;
use crate::scalar::Scalar;
use crate::threads::Threads;

/// The recurrent cell a kernel computes, with PyTorch's equations and gate order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Elman RNN, `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`.
    RnnTanh,
    /// Elman RNN with `relu` in place of `tanh`.
    RnnRelu,
    /// LSTM, gates `i, f, g, o`.
    Lstm,
    /// GRU, gates `r, z, n`, `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`.
    Gru,
}

impl Cell {
    /// Gate blocks per hidden unit: rows of `W_ih` are `gates() * hidden`.
    pub fn gates(self) -> usize {
        match self {
            Cell::RnnTanh | Cell::RnnRelu => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }

    /// Whether the cell carries a memory cell `c` beside `h`.
    pub fn has_cell_state(self) -> bool {
        self == Cell::Lstm
    }
}

/// Sizes of one direction of one layer over one batch of sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqShape {
    /// Time steps `T`.
    pub steps: usize,
    /// Sequences in the batch `B`.
    pub batch: usize,
    /// Input features `I`.
    pub input: usize,
    /// Hidden units `H`.
    pub hidden: usize,
}

impl SeqShape {
    /// Rows of all time-major `[T, B, ·]` buffers: `T * B`.
    pub fn rows(&self) -> usize {
        self.steps * self.batch
    }

    /// Whether sequence `b` is still running at time `t` (`t < length[b]`).
    #[inline]
    pub fn valid(lengths: Option<&[usize]>, t: usize, b: usize) -> bool {
        lengths.is_none_or(|l| t < l[b])
    }
}

/// One pass over one direction of one layer: the cell, the sizes, the direction and the valid
/// lengths. A forward pass and its backward take the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqPass<'a> {
    /// The cell.
    pub cell: Cell,
    /// The sizes.
    pub shape: SeqShape,
    /// Run time backwards (the reverse direction of a bidirectional layer).
    pub reverse: bool,
    /// `[B]`, each `<= T`: the valid steps of each sequence (`None`: all `T`).
    pub lengths: Option<&'a [usize]>,
}

/// Parameters of one direction of one layer, PyTorch layout: `w_ih [G*H, I]`, `w_hh [G*H, H]`,
/// biases `[G*H]`.
#[derive(Clone, Copy, Debug)]
pub struct DirWeights<'a, T> {
    /// Input-to-hidden weights `[G*H, I]`.
    pub w_ih: &'a [T],
    /// Hidden-to-hidden weights `[G*H, H]`.
    pub w_hh: &'a [T],
    /// Input-side bias `[G*H]`, if the layer has biases.
    pub b_ih: Option<&'a [T]>,
    /// Hidden-side bias `[G*H]`, if the layer has biases.
    pub b_hh: Option<&'a [T]>,
}

/// Gradients of one direction's parameters, same layout as [`DirWeights`]; kernels add into them.
#[derive(Debug)]
pub struct DirGrads<'a, T> {
    /// `dL/dW_ih`.
    pub w_ih: &'a mut [T],
    /// `dL/dW_hh`.
    pub w_hh: &'a mut [T],
    /// `dL/db_ih`.
    pub b_ih: Option<&'a mut [T]>,
    /// `dL/db_hh`.
    pub b_hh: Option<&'a mut [T]>,
}

/// The weights of one direction packed for forward products (`W_ihᵀ`, `W_hhᵀ`), made once per
/// sequence, or once for many single steps.
#[derive(Clone, Debug, Default)]
pub struct PackedWeights<T> {
    pub(crate) w_ih_t: PackedB<T>,
    pub(crate) w_hh_t: PackedB<T>,
}

impl<T: Scalar> PackedWeights<T> {
    /// Packs `w` for `cell` over `input` features and `hidden` units.
    pub fn new(cell: Cell, input: usize, hidden: usize, w: DirWeights<'_, T>) -> Self {
        let mut p = PackedWeights {
            w_ih_t: PackedB::new(),
            w_hh_t: PackedB::new(),
        };
        p.repack(cell, input, hidden, w);
        p
    }

    /// Packs `w` again into the same memory.
    pub fn repack(&mut self, cell: Cell, input: usize, hidden: usize, w: DirWeights<'_, T>) {
        self.repack_in(&Threads::single(), cell, input, hidden, w)
    }

    /// [`Self::repack`] with the work spread over `threads`.
    pub fn repack_in(
        &mut self,
        threads: &Threads,
        cell: Cell,
        input: usize,
        hidden: usize,
        w: DirWeights<'_, T>,
    ) {
        let gh = cell.gates() * hidden;
        assert_eq!(w.w_ih.len(), gh * input, "w_ih must be [G*H, I]");
        assert_eq!(w.w_hh.len(), gh * hidden, "w_hh must be [G*H, H]");
        self.w_ih_t
            .pack_in(threads, Operand::t(w.w_ih, input), input, gh);
        self.w_hh_t
            .pack_in(threads, Operand::t(w.w_hh, hidden), hidden, gh);
    }
}

/// What a forward pass keeps for its backward pass, sized once per sequence and reused.
#[derive(Clone, Debug, Default)]
pub struct SeqCache<T> {
    pub(crate) shape: Option<(Cell, SeqShape)>,
    /// `[T, B, G*H]`: activated gates (RNN: the new hidden state).
    pub(crate) gates: Vec<T>,
    /// `[T, B, H]`: hidden state entering each step.
    pub(crate) h_prev: Vec<T>,
    /// `[T, B, H]`: LSTM cell state entering each step.
    pub(crate) c_prev: Vec<T>,
    /// `[T, B, H]`: LSTM `tanh(c_t)`.
    pub(crate) tanh_c: Vec<T>,
    /// `[T, B, H]`: GRU `W_hn h + b_hn`.
    pub(crate) gh_n: Vec<T>,
    /// `[B, 3H]`: GRU per-step hidden projection.
    pub(crate) step_gates: Vec<T>,
}

impl<T: Scalar> SeqCache<T> {
    /// An empty cache; the first forward pass sizes it.
    pub fn new() -> Self {
        SeqCache {
            shape: None,
            gates: Vec::new(),
            h_prev: Vec::new(),
            c_prev: Vec::new(),
            tanh_c: Vec::new(),
            gh_n: Vec::new(),
            step_gates: Vec::new(),
        }
    }

    /// Sizes every buffer for `cell` over `shape`, reusing memory where it can.
    pub(crate) fn prepare(&mut self, cell: Cell, shape: SeqShape) {
        if self.shape == Some((cell, shape)) {
            return;
        }
        let rows = shape.rows();
        let h = shape.hidden;
        let zero = T::zero();
        self.gates.resize(rows * cell.gates() * h, zero);
        self.h_prev.resize(rows * h, zero);
        let lstm = if cell == Cell::Lstm { rows * h } else { 0 };
        self.c_prev.resize(lstm, zero);
        self.tanh_c.resize(lstm, zero);
        let gru = cell == Cell::Gru;
        self.gh_n.resize(if gru { rows * h } else { 0 }, zero);
        self.step_gates
            .resize(if gru { shape.batch * 3 * h } else { 0 }, zero);
        self.shape = Some((cell, shape));
    }

    /// The cell and shape of the last forward pass, if any.
    pub fn shape(&self) -> Option<(Cell, SeqShape)> {
        self.shape
    }

    /// Hidden states entering each step, `[T, B, H]`.
    pub fn h_prev(&self) -> &[T] {
        &self.h_prev
    }
}

/// Rows of a step's gate pass (forward and backward) handed out at a time.
pub(crate) const ROWS_PER_PIECE: usize = 4;

/// Multiply-adds a gate-pass element counts as when deciding whether to spread a step's gate
/// pass over the threads (a transcendental function and the row's memory traffic).
pub(crate) const GATE_COST: usize = 8;

/// Scratch space of a backward pass, sized once per sequence and reused.
#[derive(Clone, Debug, Default)]
pub struct SeqGradWork<T> {
    /// `[T, B, G*H]`: gradient at the gate pre-activations, input side.
    pub(crate) d_gates: Vec<T>,
    /// `[T, B, G*H]`: gradient at the hidden-side pre-activations (GRU only; equal otherwise).
    pub(crate) d_gates_hh: Vec<T>,
    /// `W_hh` packed as the right operand of `δA · W_hh`.
    pub(crate) w_hh: PackedB<T>,
    /// `W_ih` packed as the right operand of `δA · W_ih`.
    pub(crate) w_ih: PackedB<T>,
    /// `[G*H, T*B]`: a gate gradient transposed, left operand of the weight gradients.
    pub(crate) d_gates_t: Vec<T>,
    /// The layer input or the previous states, packed as the right operand of a weight gradient.
    pub(crate) rows_packed: PackedB<T>,
    /// `[V, G*H]`: gate gradients summed by token (token inputs only).
    pub(crate) token_sums: Vec<T>,
    /// `[pieces, G*H]`: per piece of rows of the backward gate pass, the sum of its gate
    /// gradients over the steps (the bias gradient once the pieces are added).
    pub(crate) bias_part: Vec<T>,
    /// The same for the hidden-side gate gradient of a GRU.
    pub(crate) bias_part_hh: Vec<T>,
}

impl<T: Scalar> SeqGradWork<T> {
    /// Empty scratch; the first backward pass sizes it.
    pub fn new() -> Self {
        SeqGradWork {
            d_gates: Vec::new(),
            d_gates_hh: Vec::new(),
            w_hh: PackedB::new(),
            w_ih: PackedB::new(),
            d_gates_t: Vec::new(),
            rows_packed: PackedB::new(),
            token_sums: Vec::new(),
            bias_part: Vec::new(),
            bias_part_hh: Vec::new(),
        }
    }

    pub(crate) fn prepare(&mut self, cell: Cell, shape: SeqShape) {
        let n = shape.rows() * cell.gates() * shape.hidden;
        let zero = T::zero();
        self.d_gates.resize(n, zero);
        self.d_gates_hh
            .resize(if cell == Cell::Gru { n } else { 0 }, zero);
        self.d_gates_t.resize(n, zero);
    }
}
