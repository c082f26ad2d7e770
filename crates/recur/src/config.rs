//! Configuration of a stacked recurrent layer, mirroring the arguments of PyTorch's
//! `nn.RNN`, `nn.LSTM` and `nn.GRU`.

use crate::error::{Error, Result};
use recur_kernels::Cell;
use serde::{Deserialize, Serialize};

/// The most parameters a model may have: 2^28 (268,435,456), 1 GiB of f32 weights (about four
/// times that with gradients and optimiser state while training). Every size field of a
/// configuration, given as a flag or read from a checkpoint, is checked against it before anything
/// is allocated.
pub const MAX_PARAMETERS: usize = 1 << 28;

/// The most stacked recurrent layers a model may have.
pub const MAX_LAYERS: usize = 1024;

/// `a * b + c` and friends without overflow: `None` when the count leaves `usize`.
fn product(factors: &[usize]) -> Option<usize> {
    factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f))
}

/// Parameters of a recurrent stack of `cell` (`gates` blocks per unit), with checked arithmetic:
/// `None` when the count does not fit in `usize`.
pub fn recurrent_param_count(
    gates: usize,
    input_size: usize,
    hidden_size: usize,
    num_layers: usize,
    directions: usize,
    bias: bool,
) -> Option<usize> {
    let gh = gates.checked_mul(hidden_size)?;
    let mut total = 0usize;
    for layer in 0..num_layers.min(2) {
        let input = if layer == 0 {
            input_size
        } else {
            hidden_size.checked_mul(directions)?
        };
        let biases = if bias { 2 } else { 0 };
        let per_dir = product(&[gh, input])?
            .checked_add(product(&[gh, hidden_size])?)?
            .checked_add(product(&[gh, biases])?)?;
        let per_layer = per_dir.checked_mul(directions)?;
        let copies = if layer == 0 { 1 } else { num_layers - 1 };
        total = total.checked_add(per_layer.checked_mul(copies)?)?;
    }
    Some(total)
}

/// Fails unless `count` (the parameters of a model, `None` if it overflowed) is at most
/// Checks that one batch's activations — `batch × steps` rows of `width` values (gates and
/// states of every layer and direction, plus the output layer) — stay within the same limit as
/// the parameters ([`MAX_PARAMETERS`]), counted without overflow, before anything is
/// allocated; `names` names the sizes for the message (e.g. `"--batch-size 32 × --seq-len 64"`).
///
/// # Errors
/// [`Error::Config`] when the activations exceed the limit.
pub fn check_activations(batch: usize, steps: usize, width: usize, names: &str) -> Result<()> {
    let n = batch.checked_mul(steps).and_then(|v| v.checked_mul(width));
    if n.is_none_or(|n| n > MAX_PARAMETERS) {
        return Err(Error::Config(format!(
            "{names} make a batch of more activations than the limit of {MAX_PARAMETERS} (2^28): lower them"
        )));
    }
    Ok(())
}

/// [`MAX_PARAMETERS`]; `sizes` names the fields that decide it, e.g. `"hidden_size 10"`.
pub fn check_param_count(count: Option<usize>, sizes: &str) -> Result<()> {
    match count {
        Some(n) if n <= MAX_PARAMETERS => Ok(()),
        Some(n) => Err(Error::Config(format!(
            "{sizes} make a model of {n} parameters, more than the limit of {MAX_PARAMETERS} (2^28)"
        ))),
        None => Err(Error::Config(format!(
            "{sizes} make a model of more parameters than can be counted, far above the limit of {MAX_PARAMETERS} (2^28)"
        ))),
    }
}

/// A zeroed buffer of `len` values allocated fallibly: an error naming `what` instead of an abort
/// when the memory is not there.
pub fn try_zeros<T: Clone + Default>(len: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        Error::Config(format!(
            "{what}: cannot allocate {len} values ({} bytes); use smaller sizes",
            len.saturating_mul(std::mem::size_of::<T>())
        ))
    })?;
    v.resize(len, T::default());
    Ok(v)
}

/// Which recurrent cell a layer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellType {
    /// Elman RNN (`nn.RNN`).
    Rnn,
    /// Long short-term memory (`nn.LSTM`), gates `i, f, g, o`.
    Lstm,
    /// Gated recurrent unit (`nn.GRU`), gates `r, z, n`.
    Gru,
}

impl std::str::FromStr for CellType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "rnn" => Ok(CellType::Rnn),
            "lstm" => Ok(CellType::Lstm),
            "gru" => Ok(CellType::Gru),
            _ => Err(Error::Config(format!(
                "cell '{s}' is not one of rnn, lstm, gru"
            ))),
        }
    }
}

/// The nonlinearity of an Elman RNN (ignored by LSTM and GRU).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Nonlinearity {
    /// `tanh`, PyTorch's default.
    #[default]
    Tanh,
    /// `relu`.
    Relu,
}

impl std::str::FromStr for Nonlinearity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "tanh" => Ok(Nonlinearity::Tanh),
            "relu" => Ok(Nonlinearity::Relu),
            _ => Err(Error::Config(format!(
                "nonlinearity '{s}' is not one of tanh, relu"
            ))),
        }
    }
}

/// A stacked, optionally bidirectional recurrent layer, as PyTorch's constructor arguments.
///
/// ```
/// use recur::{CellType, RecurrentConfig};
/// let config = RecurrentConfig::new(CellType::Lstm, 10, 20).layers(2).bidirectional(true);
/// assert_eq!(config.output_size(), 40);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecurrentConfig {
    /// Cell type.
    pub cell: CellType,
    /// RNN nonlinearity (LSTM and GRU ignore it).
    #[serde(default)]
    pub nonlinearity: Nonlinearity,
    /// Features per input step `I`.
    pub input_size: usize,
    /// Hidden units per direction `H`.
    pub hidden_size: usize,
    /// Stacked layers; layer `k > 0` reads layer `k-1`'s output.
    pub num_layers: usize,
    /// Whether the layer has `bias_ih` and `bias_hh`.
    pub bias: bool,
    /// Dropout probability on the output of every layer but the last, in training only.
    pub dropout: f64,
    /// Run a second direction backwards in time and concatenate its outputs.
    pub bidirectional: bool,
    /// Inputs and outputs are `[B, T, ·]` rather than `[T, B, ·]`.
    pub batch_first: bool,
}

impl RecurrentConfig {
    /// One layer of `cell` with PyTorch's defaults (bias, no dropout, unidirectional, time-first).
    pub fn new(cell: CellType, input_size: usize, hidden_size: usize) -> Self {
        RecurrentConfig {
            cell,
            nonlinearity: Nonlinearity::Tanh,
            input_size,
            hidden_size,
            num_layers: 1,
            bias: true,
            dropout: 0.0,
            bidirectional: false,
            batch_first: false,
        }
    }

    /// Sets the number of stacked layers.
    pub fn layers(mut self, n: usize) -> Self {
        self.num_layers = n;
        self
    }

    /// Sets the RNN nonlinearity.
    pub fn nonlinearity(mut self, f: Nonlinearity) -> Self {
        self.nonlinearity = f;
        self
    }

    /// Turns the biases on or off.
    pub fn bias(mut self, on: bool) -> Self {
        self.bias = on;
        self
    }

    /// Sets the dropout between layers.
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// Makes the layer bidirectional.
    pub fn bidirectional(mut self, on: bool) -> Self {
        self.bidirectional = on;
        self
    }

    /// Makes inputs and outputs batch-first.
    pub fn batch_first(mut self, on: bool) -> Self {
        self.batch_first = on;
        self
    }

    /// Directions: 1 or 2.
    pub fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// Features per output step: `H` times directions.
    pub fn output_size(&self) -> usize {
        self.hidden_size * self.directions()
    }

    /// Input features of layer `k`.
    pub fn layer_input_size(&self, k: usize) -> usize {
        if k == 0 {
            self.input_size
        } else {
            self.output_size()
        }
    }

    /// The kernel cell this configuration runs.
    pub fn kernel_cell(&self) -> Cell {
        match (self.cell, self.nonlinearity) {
            (CellType::Rnn, Nonlinearity::Tanh) => Cell::RnnTanh,
            (CellType::Rnn, Nonlinearity::Relu) => Cell::RnnRelu,
            (CellType::Lstm, _) => Cell::Lstm,
            (CellType::Gru, _) => Cell::Gru,
        }
    }

    /// Checks every field; the error names the field and the accepted range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.input_size == 0 {
            return bad("input_size must be at least 1".into());
        }
        if self.hidden_size == 0 {
            return bad("hidden_size must be at least 1".into());
        }
        if self.num_layers == 0 || self.num_layers > MAX_LAYERS {
            return bad(format!(
                "num_layers must be in 1..={MAX_LAYERS}, got {}",
                self.num_layers
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        check_param_count(
            self.param_count(),
            &format!(
                "input_size {}, hidden_size {}, num_layers {}",
                self.input_size, self.hidden_size, self.num_layers
            ),
        )
    }

    /// Parameters of this layer, counted without overflow (`None` if the count overflows).
    pub fn param_count(&self) -> Option<usize> {
        recurrent_param_count(
            self.kernel_cell().gates(),
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.directions(),
            self.bias,
        )
    }
}

/// Checks that each setting `(name, value)` is at least 1, in order.
///
/// # Errors
/// [`Error::Config`] "`` `name` must be at least 1 ``" for the first that is 0.
pub fn require_at_least_one(settings: &[(&str, usize)]) -> Result<()> {
    match settings.iter().find(|(_, v)| *v == 0) {
        Some((name, _)) => Err(Error::Config(format!("`{name}` must be at least 1"))),
        None => Ok(()),
    }
}
