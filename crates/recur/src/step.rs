//! Single-step API for streaming and generation: one time step of every layer, with exactly the
//! arithmetic of the sequence path (it runs the same kernel over a sequence of length one).

use crate::error::{Error, Result};
use crate::recurrent::Recurrent;
use crate::tensor::Tensor;
use recur_kernels::{
    forward_seq, project_table, OutView, PackedWeights, Scalar, SeqCache, SeqInput, SeqOut,
    SeqPass, SeqShape, Threads,
};

/// The running state of a unidirectional [`Recurrent`] stepped one input at a time.
///
/// It holds the layer's weights packed for the step products, taken when it was made: after
/// changing the parameters, make a new state (or call [`Recurrent::repack_step_state`]).
#[derive(Clone, Debug)]
pub struct StepState<T> {
    batch: usize,
    /// `[layers, B, H]`, as `h_n`.
    h: Vec<T>,
    /// `[layers, B, H]`, LSTM only.
    c: Option<Vec<T>>,
    caches: Vec<SeqCache<T>>,
    packed: Vec<PackedWeights<T>>,
    /// Each layer's output of the last step, `[B, H]`.
    outputs: Vec<Vec<T>>,
    /// The first layer's input projection of every row of a token table, for
    /// [`Recurrent::step_tokens`] (`[V, G*H]`, from [`Recurrent::set_step_table`]).
    projected: Option<Vec<T>>,
}

impl<T: Scalar> StepState<T> {
    /// Sequences stepped together.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Hidden state `[layers, B, H]`.
    pub fn h(&self) -> &[T] {
        &self.h
    }

    /// Cell state `[layers, B, H]` (LSTM only).
    pub fn c(&self) -> Option<&[T]> {
        self.c.as_deref()
    }

    /// Reorders the sequences: sequence `i` continues from what sequence `rows[i]` was (beam
    /// search keeps the best continuations this way). `rows` has one entry per sequence.
    ///
    /// # Errors
    /// [`Error::Shape`] when `rows` is not `[B]`; [`Error::Input`] for a row outside `0..B`.
    pub fn select(&mut self, rows: &[usize]) -> Result<()> {
        let b = self.batch;
        if rows.len() != b {
            return Err(Error::Shape {
                name: "select rows".into(),
                expected: vec![b],
                found: vec![rows.len()],
            });
        }
        if let Some(&r) = rows.iter().find(|&&r| r >= b) {
            return Err(Error::Input(format!(
                "select: row {r} outside the {b} sequences"
            )));
        }
        let h = self.h.len() / b.max(1) / self.outputs.len().max(1);
        let gather = |v: &mut Vec<T>| {
            let old = v.clone();
            for (layer, dst) in v.chunks_exact_mut(b * h).enumerate() {
                let src = &old[layer * b * h..(layer + 1) * b * h];
                for (i, &r) in rows.iter().enumerate() {
                    dst[i * h..(i + 1) * h].copy_from_slice(&src[r * h..(r + 1) * h]);
                }
            }
        };
        gather(&mut self.h);
        if let Some(c) = &mut self.c {
            gather(c);
        }
        for o in &mut self.outputs {
            gather(o);
        }
        Ok(())
    }

    /// Back to the zero state.
    pub fn reset(&mut self) {
        self.h.fill(T::zero());
        if let Some(c) = &mut self.c {
            c.fill(T::zero());
        }
    }
}

impl<T: Scalar> Recurrent<T> {
    /// A state for [`Self::step`] over `batch` sequences, from `h0`/`c0` (`[layers, B, H]`,
    /// e.g. the `h_n`/`c_n` of a sequence pass) or zeros.
    pub fn step_state(
        &self,
        batch: usize,
        h0: Option<&Tensor<T>>,
        c0: Option<&Tensor<T>>,
    ) -> Result<StepState<T>> {
        let c = self.config();
        if c.bidirectional {
            return Err(Error::Input(
                "step: a bidirectional layer needs the whole sequence; use forward".into(),
            ));
        }
        let shape = [c.num_layers, batch, c.hidden_size];
        let state = |name: &str, t: Option<&Tensor<T>>| -> Result<Vec<T>> {
            match t {
                Some(t) => {
                    t.expect_shape(name, &shape)?;
                    Ok(t.data().to_vec())
                }
                None => Ok(vec![T::zero(); shape.iter().product()]),
            }
        };
        let lstm = c.kernel_cell().has_cell_state();
        if !lstm && c0.is_some() {
            return Err(Error::Input("c0: only an LSTM has a cell state".into()));
        }
        Ok(StepState {
            batch,
            h: state("h0", h0)?,
            c: if lstm { Some(state("c0", c0)?) } else { None },
            caches: (0..c.num_layers).map(|_| SeqCache::new()).collect(),
            packed: (0..c.num_layers)
                .map(|l| {
                    let w = self.dir_weights(self.params(), l, 0);
                    PackedWeights::new(c.kernel_cell(), c.layer_input_size(l), c.hidden_size, w)
                })
                .collect(),
            outputs: vec![vec![T::zero(); batch * c.hidden_size]; c.num_layers],
            projected: None,
        })
    }

    /// Gives `state` a token table `[V, input_size]` (an embedding, or the identity for one-hot
    /// inputs) for [`Self::step_tokens`]: the first layer's input projection of every table row
    /// is computed once here, so that a step copies a row instead of multiplying one.
    pub fn set_step_table(&self, state: &mut StepState<T>, table: &[T]) -> Result<()> {
        let c = self.config();
        let input = c.input_size;
        if input == 0 || table.is_empty() || !table.len().is_multiple_of(input) {
            return Err(Error::Input(format!(
                "step table: expected [V, {input}] with V >= 1, got {} values",
                table.len()
            )));
        }
        let mut projected = Vec::new();
        project_table(
            &Threads::single(),
            c.kernel_cell(),
            table,
            input,
            self.dir_weights(self.params(), 0, 0),
            &state.packed[0],
            &mut projected,
        );
        state.projected = Some(projected);
        Ok(())
    }

    /// Packs the current parameters into `state` (after an optimiser step, say), keeping its
    /// hidden state. A token table set by [`Self::set_step_table`] is dropped (it was projected
    /// with the old weights): set it again before [`Self::step_tokens`].
    pub fn repack_step_state(&self, state: &mut StepState<T>) {
        state.projected = None;
        let c = self.config();
        for (l, p) in state.packed.iter_mut().enumerate() {
            let w = self.dir_weights(self.params(), l, 0);
            p.repack(c.kernel_cell(), c.layer_input_size(l), c.hidden_size, w);
        }
    }

    /// Advances every layer by one step on `x [B, input_size]` and returns the top layer's new
    /// hidden state `[B, H]`. Evaluation mode: no dropout.
    pub fn step<'s>(
        &self,
        threads: &Threads,
        x: &[T],
        state: &'s mut StepState<T>,
    ) -> Result<&'s [T]> {
        self.step_with(threads, StepInput::Rows(x), state)
    }

    /// [`Self::step`] on one token per sequence (`tokens [B]`), whose input rows are rows of
    /// the table given to [`Self::set_step_table`]: the same outputs, bit for bit, as `step` on
    /// the gathered rows, without the first layer's input product.
    pub fn step_tokens<'s>(
        &self,
        threads: &Threads,
        tokens: &[u32],
        state: &'s mut StepState<T>,
    ) -> Result<&'s [T]> {
        self.step_with(threads, StepInput::Tokens(tokens), state)
    }

    fn step_with<'s>(
        &self,
        threads: &Threads,
        x: StepInput<'_, T>,
        state: &'s mut StepState<T>,
    ) -> Result<&'s [T]> {
        // A step of a small model is a few microseconds: handing it to the pool would cost more.
        let c = self.config();
        let first_input = match x {
            StepInput::Rows(_) => c.input_size,
            StepInput::Tokens(_) => 0,
        };
        let inputs = first_input + c.hidden_size * (c.num_layers - 1);
        let macs = state.batch
            * c.kernel_cell().gates()
            * c.hidden_size
            * (inputs + c.hidden_size * c.num_layers);
        if threads.worth_parallel(macs) {
            threads.install(|| self.step_inner(threads, x, &mut *state))?;
        } else {
            self.step_inner(threads, x, state)?;
        }
        Ok(&state.outputs[c.num_layers - 1])
    }

    fn step_inner(
        &self,
        threads: &Threads,
        x: StepInput<'_, T>,
        state: &mut StepState<T>,
    ) -> Result<()> {
        let c = self.config();
        let batch = state.batch;
        match x {
            StepInput::Rows(x) if x.len() != batch * c.input_size => {
                return Err(Error::Shape {
                    name: "step input".into(),
                    expected: vec![batch, c.input_size],
                    found: vec![x.len()],
                });
            }
            StepInput::Rows(_) => {}
            StepInput::Tokens(tokens) => {
                let Some(projected) = &state.projected else {
                    return Err(Error::Input(
                        "step_tokens: no token table; call set_step_table first".into(),
                    ));
                };
                if tokens.len() != batch {
                    return Err(Error::Shape {
                        name: "step tokens".into(),
                        expected: vec![batch],
                        found: vec![tokens.len()],
                    });
                }
                let vocab = projected.len() / (c.kernel_cell().gates() * c.hidden_size);
                if let Some(&t) = tokens.iter().find(|&&t| t as usize >= vocab) {
                    return Err(Error::Input(format!(
                        "step tokens: token {t} outside the table of {vocab} rows"
                    )));
                }
            }
        }
        let cell = c.kernel_cell();
        let (hidden, bh) = (c.hidden_size, batch * c.hidden_size);
        for layer in 0..c.num_layers {
            let (below, rest) = state.outputs.split_at_mut(layer);
            let input = match (layer, x) {
                (0, StepInput::Rows(x)) => SeqInput::Rows(x),
                (0, StepInput::Tokens(tokens)) => SeqInput::Tokens {
                    tokens,
                    projected: state.projected.as_deref().unwrap_or_default(),
                },
                _ => SeqInput::Rows(&below[layer - 1][..]),
            };
            let shape = SeqShape {
                steps: 1,
                batch,
                input: c.layer_input_size(layer),
                hidden,
            };
            let slot = layer * bh..(layer + 1) * bh;
            let pass = SeqPass {
                cell,
                shape,
                reverse: false,
                lengths: None,
            };
            let out = SeqOut {
                h: &mut state.h[slot.clone()],
                c: state.c.as_mut().map(|c| &mut c[slot]),
                out: OutView {
                    data: &mut rest[0],
                    ld: hidden,
                    col: 0,
                },
            };
            let w = self.dir_weights(self.params(), layer, 0);
            let (packed, cache) = (&state.packed[layer], &mut state.caches[layer]);
            forward_seq(threads, pass, input, w, packed, out, cache);
        }
        Ok(())
    }
}

/// The first layer's input of one step.
#[derive(Clone, Copy)]
enum StepInput<'a, T> {
    Rows(&'a [T]),
    Tokens(&'a [u32]),
}
