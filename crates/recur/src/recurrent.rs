//! `Recurrent`: a stacked, optionally bidirectional RNN/LSTM/GRU with PyTorch's semantics.
//!
//! Parameters live in one flat buffer with named views in PyTorch's `state_dict` order
//! (`weight_ih_l{k}[_reverse]`, `weight_hh_l{k}…`, `bias_ih_l{k}…`, `bias_hh_l{k}…`); gradients
//! share that layout, so an optimiser is one flat loop.

use crate::config::RecurrentConfig;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tensor::{swap_leading_axes, Tensor};
use recur_kernels::{
    backward_seq, forward_seq, project_table, DirGrads, DirWeights, GradView, OutView,
    PackedWeights, Scalar, SeqCache, SeqGradInput, SeqGradWork, SeqGrads, SeqInput, SeqOut,
    SeqPass, SeqShape, Threads,
};

/// Name, shape and place of one parameter tensor inside the flat buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    /// PyTorch's name, e.g. `weight_hh_l1_reverse`.
    pub name: String,
    /// PyTorch's shape, e.g. `[4*H, H]`.
    pub shape: Vec<usize>,
    /// First element in the flat buffer.
    pub offset: usize,
}

impl ParamInfo {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element range in the flat buffer.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// A stacked recurrent layer: configuration plus parameters.
#[derive(Clone, Debug)]
pub struct Recurrent<T> {
    config: RecurrentConfig,
    params: Vec<T>,
    layout: Vec<ParamInfo>,
}

/// Optional arguments of [`Recurrent::forward`].
#[derive(Debug, Default)]
pub struct ForwardArgs<'a, T> {
    /// Valid steps of each sequence `[B]`, each at most `T` (PyTorch's packed sequences).
    pub lengths: Option<&'a [usize]>,
    /// Initial hidden state `[layers * directions, B, H]`; zeros when absent.
    pub h0: Option<&'a Tensor<T>>,
    /// Initial cell state (LSTM only), same shape; zeros when absent.
    pub c0: Option<&'a Tensor<T>>,
    /// Training mode: dropout masks are drawn from this generator. `None` is evaluation mode.
    pub dropout_rng: Option<&'a mut Rng>,
}

/// What [`Recurrent::forward`] returns.
#[derive(Debug)]
pub struct RecurrentOutput<T> {
    /// `[B, T, D*H]` (batch-first) or `[T, B, D*H]`: the last layer's outputs, zero past each
    /// sequence's end.
    pub output: Tensor<T>,
    /// `[layers * directions, B, H]`: the state at each sequence's last valid step.
    pub h_n: Tensor<T>,
    /// Final cell state, LSTM only.
    pub c_n: Option<Tensor<T>>,
    /// Everything [`Recurrent::backward`] needs.
    pub cache: RecurrentCache<T>,
}

/// Activations kept by a forward pass for its backward pass.
#[derive(Debug)]
pub struct RecurrentCache<T> {
    steps: usize,
    batch: usize,
    lengths: Option<Vec<usize>>,
    layers: Vec<LayerCache<T>>,
    /// Backward scratch, kept so that a recycled cache brings its memory along.
    work: SeqGradWork<T>,
    /// Buffers free for reuse by the next pass.
    spare: Vec<Vec<T>>,
}

impl<T: Scalar> RecurrentCache<T> {
    /// Takes the cache apart into reusable memory. Sequence caches and packed weights come back
    /// last layer first, so that popping them hands each layer its own again.
    fn recycle(self) -> Recycled<T> {
        let mut spare = self.spare;
        let (mut seq, mut packed) = (Vec::new(), Vec::new());
        for layer in self.layers.into_iter().rev() {
            spare.push(layer.input);
            spare.extend(layer.mask);
            seq.extend(layer.dirs.into_iter().rev());
            packed.extend(layer.packed.into_iter().rev());
        }
        Recycled {
            seq,
            packed,
            work: self.work,
            spare,
        }
    }
}

/// The memory of an earlier pass, ready to be reused.
#[derive(Default)]
struct Recycled<T> {
    seq: Vec<SeqCache<T>>,
    packed: Vec<PackedWeights<T>>,
    work: SeqGradWork<T>,
    spare: Vec<Vec<T>>,
}

/// A zeroed buffer of `len`, reusing one from `spare` when there is one.
fn take_buffer<T: Scalar>(spare: &mut Vec<Vec<T>>, len: usize) -> Vec<T> {
    let mut b = spare.pop().unwrap_or_default();
    b.clear();
    b.resize(len, T::zero());
    b
}

/// What a forward pass reads: input rows, or tokens looked up in a table.
#[derive(Clone, Copy)]
enum Input<'a, T> {
    Dense(&'a Tensor<T>),
    Tokens {
        table: &'a Tensor<T>,
        tokens: &'a [u32],
        batch: usize,
    },
}

#[derive(Debug)]
struct LayerCache<T> {
    /// The layer's input, time-major, after dropout; for token input, the table `[V, I]`.
    input: Vec<T>,
    /// Token of every row, time-major, when the layer read a table.
    tokens: Option<Vec<u32>>,
    /// The dropout mask (already scaled by `1/(1-p)`) that produced `input`, if any.
    mask: Option<Vec<T>>,
    dirs: Vec<SeqCache<T>>,
    /// The weights of each direction as packed for this pass (kept to reuse their memory).
    packed: Vec<PackedWeights<T>>,
}

impl<T> RecurrentCache<T> {
    /// The dropout mask applied to the input of layer `layer` in this pass (values `0` or
    /// `1/(1-p)`, time-major `[T, B, D*H]`); `None` for layer 0, in evaluation mode, or without
    /// dropout. Masks sit between layers only, never after the last one, as in PyTorch.
    pub fn dropout_mask(&self, layer: usize) -> Option<&[T]> {
        self.layers.get(layer)?.mask.as_deref()
    }
}

/// Gradients with respect to the inputs of a forward pass.
#[derive(Debug)]
pub struct InputGrads<T> {
    /// `dL/d input`, shaped as the input; after [`Recurrent::forward_tokens`], the gradient of
    /// the table `[V, input_size]`.
    pub input: Tensor<T>,
    /// `dL/dh0 [layers * directions, B, H]`.
    pub h0: Tensor<T>,
    /// `dL/dc0` (LSTM only).
    pub c0: Option<Tensor<T>>,
}

impl<T: Scalar> Recurrent<T> {
    /// A layer with every parameter drawn from `U(-1/sqrt(H), 1/sqrt(H))`, PyTorch's default,
    /// in `state_dict` order.
    pub fn new(config: RecurrentConfig, rng: &mut Rng) -> Result<Self> {
        let mut layer = Self::zeros(config)?;
        let k = 1.0 / (layer.config.hidden_size as f64).sqrt();
        for p in &mut layer.params {
            *p = T::of(rng.uniform_range(-k, k));
        }
        Ok(layer)
    }

    /// A layer with all parameters zero (to be loaded).
    pub fn zeros(config: RecurrentConfig) -> Result<Self> {
        config.validate()?;
        let layout = param_layout(&config);
        let total = layout.last().map_or(0, |p| p.offset + p.len());
        let params = crate::config::try_zeros::<T>(total, "recurrent parameters")?;
        Ok(Recurrent {
            config,
            params,
            layout,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RecurrentConfig {
        &self.config
    }

    /// Changes the dropout between layers (a training setting, not architecture: PyTorch lets
    /// a loaded module's `dropout` change too).
    ///
    /// # Errors
    /// [`Error::Config`] unless `0 <= p < 1`.
    pub fn set_dropout(&mut self, p: f64) -> Result<()> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::Config(format!("dropout must be in [0, 1), got {p}")));
        }
        self.config.dropout = p;
        Ok(())
    }

    /// All parameters, flat, in [`Self::layout`] order.
    pub fn params(&self) -> &[T] {
        &self.params
    }

    /// All parameters, mutable.
    pub fn params_mut(&mut self) -> &mut [T] {
        &mut self.params
    }

    /// Names, shapes and offsets of the parameter tensors, in PyTorch's `state_dict` order.
    pub fn layout(&self) -> &[ParamInfo] {
        &self.layout
    }

    /// One parameter tensor by its PyTorch name.
    pub fn param(&self, name: &str) -> Option<&[T]> {
        let info = self.layout.iter().find(|p| p.name == name)?;
        Some(&self.params[info.range()])
    }

    /// Index of the first layout entry of (`layer`, `dir`).
    fn entry(&self, layer: usize, dir: usize) -> usize {
        let per = if self.config.bias { 4 } else { 2 };
        (layer * self.config.directions() + dir) * per
    }

    pub(crate) fn dir_weights<'a>(
        &self,
        params: &'a [T],
        layer: usize,
        dir: usize,
    ) -> DirWeights<'a, T> {
        let e = self.entry(layer, dir);
        let view = |i: usize| &params[self.layout[e + i].range()];
        DirWeights {
            w_ih: view(0),
            w_hh: view(1),
            b_ih: self.config.bias.then(|| view(2)),
            b_hh: self.config.bias.then(|| view(3)),
        }
    }

    fn dir_grads<'a>(&self, grads: &'a mut [T], layer: usize, dir: usize) -> DirGrads<'a, T> {
        let e = self.entry(layer, dir);
        let start = self.layout[e].offset;
        let lens: Vec<usize> = (0..if self.config.bias { 4 } else { 2 })
            .map(|i| self.layout[e + i].len())
            .collect();
        let rest = &mut grads[start..];
        let (w_ih, rest) = rest.split_at_mut(lens[0]);
        let (w_hh, rest) = rest.split_at_mut(lens[1]);
        let (b_ih, b_hh) = if self.config.bias {
            let (b_ih, rest) = rest.split_at_mut(lens[2]);
            (Some(b_ih), Some(&mut rest[..lens[3]]))
        } else {
            (None, None)
        };
        DirGrads {
            w_ih,
            w_hh,
            b_ih,
            b_hh,
        }
    }

    /// `(steps, batch)` of an input, checking its shape.
    fn input_dims(&self, input: &Tensor<T>) -> Result<(usize, usize)> {
        let s = input.shape();
        let i = self.config.input_size;
        if s.len() != 3 || s[2] != i {
            let want = if self.config.batch_first {
                "[B, T, input_size]"
            } else {
                "[T, B, input_size]"
            };
            return Err(Error::Input(format!(
                "input: expected shape {want} with input_size {i}, found {s:?}"
            )));
        }
        Ok(if self.config.batch_first {
            (s[1], s[0])
        } else {
            (s[0], s[1])
        })
    }

    fn state_shape(&self, batch: usize) -> [usize; 3] {
        let c = &self.config;
        [c.num_layers * c.directions(), batch, c.hidden_size]
    }

    /// Runs the layer over a batch of sequences (PyTorch's `forward(input, h0)` with packed
    /// lengths when `args.lengths` is set).
    pub fn forward(
        &self,
        threads: &Threads,
        input: &Tensor<T>,
        args: ForwardArgs<'_, T>,
    ) -> Result<RecurrentOutput<T>> {
        threads.install(|| self.forward_inner(threads, Input::Dense(input), args, None))
    }

    /// [`Self::forward`] reusing the memory of an earlier pass's cache (training loops call
    /// this every step, so that large buffers are not allocated again).
    pub fn forward_recycling(
        &self,
        threads: &Threads,
        input: &Tensor<T>,
        args: ForwardArgs<'_, T>,
        recycled: RecurrentCache<T>,
    ) -> Result<RecurrentOutput<T>> {
        threads.install(|| self.forward_inner(threads, Input::Dense(input), args, Some(recycled)))
    }

    /// [`Self::forward`] on inputs that are rows of a table: the input at each step of sequence
    /// `b` is row `tokens[…]` of `table [V, input_size]` (an embedding, or the identity for
    /// one-hot inputs). `tokens` is `[T, B]`, or `[B, T]` for a batch-first layer. The outputs
    /// are bitwise those of [`Self::forward`] on the gathered rows, but the first layer projects
    /// the `V` table rows once instead of `T·B` input rows, and [`Self::backward`] returns the
    /// gradient of the table. `recycled` is an earlier pass's cache whose memory to reuse.
    pub fn forward_tokens(
        &self,
        threads: &Threads,
        table: &Tensor<T>,
        tokens: &[u32],
        batch: usize,
        args: ForwardArgs<'_, T>,
        recycled: Option<RecurrentCache<T>>,
    ) -> Result<RecurrentOutput<T>> {
        let input = Input::Tokens {
            table,
            tokens,
            batch,
        };
        threads.install(|| self.forward_inner(threads, input, args, recycled))
    }

    /// `(steps, batch)` of token input, checking the table and the tokens.
    fn token_dims(
        &self,
        table: &Tensor<T>,
        tokens: &[u32],
        batch: usize,
    ) -> Result<(usize, usize)> {
        let i = self.config.input_size;
        let s = table.shape();
        if s.len() != 2 || s[1] != i || s[0] == 0 {
            return Err(Error::Input(format!(
                "table: expected shape [V, {i}] with V >= 1, found {s:?}"
            )));
        }
        if batch == 0 || !tokens.len().is_multiple_of(batch) {
            return Err(Error::Input(format!(
                "tokens: {} tokens do not split into {batch} sequences",
                tokens.len()
            )));
        }
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= s[0]) {
            return Err(Error::Input(format!(
                "tokens: token {t} is outside the table's {} rows",
                s[0]
            )));
        }
        Ok((tokens.len() / batch, batch))
    }

    fn forward_inner(
        &self,
        threads: &Threads,
        input: Input<'_, T>,
        args: ForwardArgs<'_, T>,
        recycled: Option<RecurrentCache<T>>,
    ) -> Result<RecurrentOutput<T>> {
        let Recycled {
            seq: mut seq_caches,
            packed: mut packs,
            work,
            mut spare,
        } = recycled.map(RecurrentCache::recycle).unwrap_or_default();
        let (steps, batch) = match input {
            Input::Dense(x) => self.input_dims(x)?,
            Input::Tokens {
                table,
                tokens,
                batch,
            } => self.token_dims(table, tokens, batch)?,
        };
        let c = &self.config;
        let cell = c.kernel_cell();
        let (dirs, hidden) = (c.directions(), c.hidden_size);
        if let Some(l) = args.lengths {
            check_lengths(l, batch, steps)?;
        }
        let state_shape = self.state_shape(batch);
        let mut h_n = initial_state("h0", args.h0, &state_shape)?;
        let mut c_n = match (cell.has_cell_state(), args.c0) {
            (true, c0) => Some(initial_state("c0", c0, &state_shape)?),
            (false, None) => None,
            (false, Some(_)) => {
                return Err(Error::Input(format!(
                    "c0: only an LSTM has a cell state, this layer is {:?}",
                    c.cell
                )))
            }
        };
        // Layer 0 reads rows (copied time-major) or looks tokens up in the projected table.
        let mut tokens = None;
        let mut layer_input = match input {
            Input::Dense(x) if c.batch_first => {
                swap_leading_axes(x.data(), batch, steps, c.input_size)
            }
            Input::Dense(x) => {
                let mut b = take_buffer(&mut spare, 0);
                b.extend_from_slice(x.data());
                b
            }
            Input::Tokens {
                table, tokens: t, ..
            } => {
                tokens = Some(if c.batch_first {
                    (0..steps * batch)
                        .map(|r| t[(r % batch) * steps + r / batch])
                        .collect()
                } else {
                    t.to_vec()
                });
                let mut b = take_buffer(&mut spare, 0);
                b.extend_from_slice(table.data());
                b
            }
        };
        let mut projected = take_buffer(&mut spare, 0);
        let mut mask = None;
        let mut dropout_rng = args.dropout_rng;
        let mut layers = Vec::with_capacity(c.num_layers);
        let bh = batch * hidden;
        let mut out = Vec::new();
        for layer in 0..c.num_layers {
            let shape = SeqShape {
                steps,
                batch,
                input: c.layer_input_size(layer),
                hidden,
            };
            out = take_buffer(&mut spare, steps * batch * dirs * hidden);
            let mut caches = Vec::with_capacity(dirs);
            let mut packed_dirs = Vec::with_capacity(dirs);
            for dir in 0..dirs {
                let slot = (layer * dirs + dir) * bh..(layer * dirs + dir + 1) * bh;
                let mut cache = seq_caches.pop().unwrap_or_default();
                let weights = self.dir_weights(&self.params, layer, dir);
                let mut packed = packs.pop().unwrap_or_default();
                packed.repack_in(threads, cell, shape.input, hidden, weights);
                let seq_input = match (&tokens, layer) {
                    (Some(t), 0) => {
                        let (table, input) = (&layer_input[..], shape.input);
                        project_table(
                            threads,
                            cell,
                            table,
                            input,
                            weights,
                            &packed,
                            &mut projected,
                        );
                        SeqInput::Tokens {
                            tokens: t,
                            projected: &projected,
                        }
                    }
                    _ => SeqInput::Rows(&layer_input),
                };
                let pass = SeqPass {
                    cell,
                    shape,
                    reverse: dir == 1,
                    lengths: args.lengths,
                };
                let state = SeqOut {
                    h: &mut h_n.data_mut()[slot.clone()],
                    c: c_n.as_mut().map(|c| &mut c.data_mut()[slot]),
                    out: OutView {
                        data: &mut out,
                        ld: dirs * hidden,
                        col: dir * hidden,
                    },
                };
                forward_seq(
                    threads, pass, seq_input, weights, &packed, state, &mut cache,
                );
                caches.push(cache);
                packed_dirs.push(packed);
            }
            layers.push(LayerCache {
                input: std::mem::take(&mut layer_input),
                tokens: if layer == 0 { tokens.take() } else { None },
                mask: mask.take(),
                dirs: caches,
                packed: packed_dirs,
            });
            if layer + 1 < c.num_layers {
                layer_input = match dropout_rng.as_deref_mut() {
                    Some(rng) if c.dropout > 0.0 => {
                        let mut m = take_buffer(&mut spare, 0);
                        dropout_mask(rng, out.len(), c.dropout, &mut m);
                        for (v, &k) in out.iter_mut().zip(&m) {
                            *v *= k;
                        }
                        mask = Some(m);
                        std::mem::take(&mut out)
                    }
                    _ => std::mem::take(&mut out),
                };
            }
        }
        spare.push(projected);
        let width = dirs * hidden;
        let output = if c.batch_first {
            Tensor::new(
                "output",
                &[batch, steps, width],
                swap_leading_axes(&out, steps, batch, width),
            )?
        } else {
            Tensor::new("output", &[steps, batch, width], out)?
        };
        Ok(RecurrentOutput {
            output,
            h_n,
            c_n,
            cache: RecurrentCache {
                steps,
                batch,
                lengths: args.lengths.map(<[usize]>::to_vec),
                layers,
                work,
                spare,
            },
        })
    }

    /// Backprop through time for a forward pass: *adds* parameter gradients into `grads` (same
    /// layout as [`Self::params`]) and returns the gradients of the input and initial states.
    ///
    /// `d_output` is shaped as the forward output; `d_h_n` and `d_c_n` are zero when absent.
    pub fn backward(
        &self,
        threads: &Threads,
        cache: &mut RecurrentCache<T>,
        grads: &mut [T],
        d_output: &Tensor<T>,
        d_h_n: Option<&Tensor<T>>,
        d_c_n: Option<&Tensor<T>>,
    ) -> Result<InputGrads<T>> {
        threads.install(|| self.backward_inner(threads, cache, grads, d_output, d_h_n, d_c_n))
    }

    fn backward_inner(
        &self,
        threads: &Threads,
        cache: &mut RecurrentCache<T>,
        grads: &mut [T],
        d_output: &Tensor<T>,
        d_h_n: Option<&Tensor<T>>,
        d_c_n: Option<&Tensor<T>>,
    ) -> Result<InputGrads<T>> {
        let c = &self.config;
        if grads.len() != self.params.len() {
            return Err(Error::Shape {
                name: "grads".into(),
                expected: vec![self.params.len()],
                found: vec![grads.len()],
            });
        }
        let (steps, batch) = (cache.steps, cache.batch);
        let cell = c.kernel_cell();
        let (dirs, hidden) = (c.directions(), c.hidden_size);
        let width = dirs * hidden;
        let out_shape = if c.batch_first {
            [batch, steps, width]
        } else {
            [steps, batch, width]
        };
        d_output.expect_shape("d_output", &out_shape)?;
        let state_shape = self.state_shape(batch);
        let mut d_h0 = initial_state("d_h_n", d_h_n, &state_shape)?;
        let mut d_c0 = if cell.has_cell_state() {
            Some(initial_state("d_c_n", d_c_n, &state_shape)?)
        } else {
            None
        };
        let mut d_cur = if c.batch_first {
            swap_leading_axes(d_output.data(), batch, steps, width)
        } else {
            let mut b = take_buffer(&mut cache.spare, 0);
            b.extend_from_slice(d_output.data());
            b
        };
        let lengths = cache.lengths.as_deref();
        let bh = batch * hidden;
        let RecurrentCache {
            layers,
            work,
            spare,
            ..
        } = cache;
        for layer in (0..c.num_layers).rev() {
            let lc = &layers[layer];
            let input = c.layer_input_size(layer);
            let shape = SeqShape {
                steps,
                batch,
                input,
                hidden,
            };
            let mut d_x = take_buffer(spare, lc.input.len());
            for dir in 0..dirs {
                let slot = (layer * dirs + dir) * bh..(layer * dirs + dir + 1) * bh;
                let x = match &lc.tokens {
                    Some(tokens) => SeqGradInput::Tokens {
                        tokens,
                        table: &lc.input,
                        d_table: Some(&mut d_x),
                    },
                    None => SeqGradInput::Rows {
                        x: &lc.input,
                        d_x: &mut d_x,
                    },
                };
                let pass = SeqPass {
                    cell,
                    shape,
                    reverse: dir == 1,
                    lengths,
                };
                let seq_grads = SeqGrads {
                    d_out: GradView {
                        data: &d_cur,
                        ld: width,
                        col: dir * hidden,
                    },
                    d_h: &mut d_h0.data_mut()[slot.clone()],
                    d_c: d_c0.as_mut().map(|d| &mut d.data_mut()[slot]),
                    params: self.dir_grads(grads, layer, dir),
                };
                let w = self.dir_weights(&self.params, layer, dir);
                backward_seq(threads, pass, x, w, &lc.dirs[dir], seq_grads, work);
            }
            if let Some(mask) = &lc.mask {
                for (d, &m) in d_x.iter_mut().zip(mask) {
                    *d *= m;
                }
            }
            spare.push(std::mem::replace(&mut d_cur, d_x));
        }
        let d_input = if layers[0].tokens.is_some() {
            let vocab = d_cur.len() / c.input_size;
            Tensor::new("d_table", &[vocab, c.input_size], d_cur)?
        } else if c.batch_first {
            Tensor::new(
                "d_input",
                &[batch, steps, c.input_size],
                swap_leading_axes(&d_cur, steps, batch, c.input_size),
            )?
        } else {
            Tensor::new("d_input", &[steps, batch, c.input_size], d_cur)?
        };
        Ok(InputGrads {
            input: d_input,
            h0: d_h0,
            c0: d_c0,
        })
    }
}

/// The parameter tensors of `config`, in PyTorch's `state_dict` order.
pub fn param_layout(config: &RecurrentConfig) -> Vec<ParamInfo> {
    let gh = config.kernel_cell().gates() * config.hidden_size;
    let mut layout = Vec::new();
    let mut offset = 0;
    for layer in 0..config.num_layers {
        for dir in 0..config.directions() {
            let suffix = if dir == 1 { "_reverse" } else { "" };
            let mut push = |kind: &str, shape: Vec<usize>| {
                let info = ParamInfo {
                    name: format!("{kind}_l{layer}{suffix}"),
                    shape,
                    offset,
                };
                offset += info.len();
                layout.push(info);
            };
            push("weight_ih", vec![gh, config.layer_input_size(layer)]);
            push("weight_hh", vec![gh, config.hidden_size]);
            if config.bias {
                push("bias_ih", vec![gh]);
                push("bias_hh", vec![gh]);
            }
        }
    }
    layout
}

fn check_lengths(lengths: &[usize], batch: usize, steps: usize) -> Result<()> {
    if lengths.len() != batch {
        return Err(Error::Input(format!(
            "lengths: expected one length per sequence ({batch}), got {}",
            lengths.len()
        )));
    }
    if let Some((b, &l)) = lengths.iter().enumerate().find(|(_, &l)| l > steps) {
        return Err(Error::Input(format!(
            "lengths[{b}] = {l} exceeds the {steps} steps of the input"
        )));
    }
    Ok(())
}

fn initial_state<T: Scalar>(
    name: &str,
    given: Option<&Tensor<T>>,
    shape: &[usize; 3],
) -> Result<Tensor<T>> {
    match given {
        Some(t) => {
            t.expect_shape(name, shape)?;
            Ok(t.clone())
        }
        None => Ok(Tensor::zeros(shape)),
    }
}

/// Inverted dropout: each element kept with probability `1 - p` and scaled by `1 / (1 - p)`.
fn dropout_mask<T: Scalar>(rng: &mut Rng, n: usize, p: f64, mask: &mut Vec<T>) {
    let scale = T::of(1.0 / (1.0 - p));
    mask.clear();
    mask.extend((0..n).map(|_| if rng.bernoulli(p) { T::zero() } else { scale }));
}
