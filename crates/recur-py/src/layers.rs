//! `RecurrentLayer`: one `recur::Recurrent` in float32 or float64 behind PyTorch's calling
//! convention. The Python classes `recur.RNN`, `recur.LSTM` and `recur.GRU` wrap it.

use crate::shape_text;
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{Element, IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use recur::{CellType, ForwardArgs, Nonlinearity, Recurrent, RecurrentConfig, Rng, Scalar, Tensor};

/// The constructor's arguments, read from a dict with PyTorch's names.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct Options {
    mode: String,
    input_size: usize,
    hidden_size: usize,
    num_layers: usize,
    bias: bool,
    batch_first: bool,
    dropout: f64,
    bidirectional: bool,
    nonlinearity: String,
    dtype: String,
    seed: u64,
}

/// The layer in the precision it computes in.
enum Layer {
    F32(Recurrent<f32>),
    F64(Recurrent<f64>),
}

/// A stacked, optionally bidirectional RNN, LSTM or GRU (see `recur.LSTM`).
#[pyclass(module = "recur._recur")]
pub(crate) struct RecurrentLayer {
    layer: Layer,
}

fn config_of(o: &Options) -> PyResult<RecurrentConfig> {
    let cell = match o.mode.as_str() {
        "RNN" => CellType::Rnn,
        "LSTM" => CellType::Lstm,
        "GRU" => CellType::Gru,
        m => return Err(PyValueError::new_err(format!("mode: unknown cell {m:?}"))),
    };
    let nonlinearity = match o.nonlinearity.as_str() {
        "tanh" => Nonlinearity::Tanh,
        "relu" => Nonlinearity::Relu,
        f => {
            return Err(PyValueError::new_err(format!(
                "nonlinearity: expected 'tanh' or 'relu', got {f:?}"
            )))
        }
    };
    if o.input_size == 0 || o.hidden_size == 0 || o.num_layers == 0 {
        return Err(PyValueError::new_err(format!(
            "input_size, hidden_size and num_layers must be at least 1, got {}, {} and {}",
            o.input_size, o.hidden_size, o.num_layers
        )));
    }
    if !(0.0..1.0).contains(&o.dropout) {
        return Err(PyValueError::new_err(format!(
            "dropout: expected a probability in [0, 1), got {}",
            o.dropout
        )));
    }
    let mut config = RecurrentConfig::new(cell, o.input_size, o.hidden_size)
        .layers(o.num_layers)
        .bias(o.bias)
        .dropout(o.dropout)
        .bidirectional(o.bidirectional)
        .batch_first(o.batch_first);
    if cell == CellType::Rnn {
        config = config.nonlinearity(nonlinearity);
    }
    Ok(config)
}

/// A NumPy array of `shape` holding `data`.
fn to_numpy<'py, T: Element>(
    py: Python<'py>,
    shape: &[usize],
    data: Vec<T>,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let array = ArrayD::from_shape_vec(IxDyn(shape), data)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(array.into_pyarray(py))
}

/// A tensor as a NumPy array of its shape.
fn tensor_to_numpy<T: Scalar + Element>(
    py: Python<'_>,
    t: Tensor<T>,
) -> PyResult<Bound<'_, PyArrayDyn<T>>> {
    let shape = t.shape().to_vec();
    to_numpy(py, &shape, t.into_data())
}

/// The array's elements in C order as a tensor named `name`.
fn to_tensor<T: Scalar + Element>(
    name: &str,
    a: &PyReadonlyArrayDyn<'_, T>,
) -> PyResult<Tensor<T>> {
    let data: Vec<T> = a.as_array().iter().copied().collect();
    Tensor::new(name, a.shape(), data).map_err(crate::to_py)
}

/// Fails unless `found` is `expected`, naming the argument and both shapes.
fn check_shape(name: &str, expected: &[usize], found: &[usize], what: &str) -> PyResult<()> {
    if expected == found {
        return Ok(());
    }
    Err(PyValueError::new_err(format!(
        "{name}: expected shape {}{what}, got {}",
        shape_text(expected),
        shape_text(found)
    )))
}

/// The arrays of one call, checked against the layer.
struct Call<'py, T: Element> {
    x: PyReadonlyArrayDyn<'py, T>,
    h0: Option<PyReadonlyArrayDyn<'py, T>>,
    c0: Option<PyReadonlyArrayDyn<'py, T>>,
    lengths: Option<Vec<i64>>,
}

/// `(steps, batch)` of `x`, checking it and every other argument of the call.
fn check_call<T: Scalar + Element>(
    rnn: &Recurrent<T>,
    call: &Call<'_, T>,
) -> PyResult<(usize, usize, Option<Vec<usize>>)> {
    let c = rnn.config();
    let s = call.x.shape();
    if s.len() != 3 || s[2] != c.input_size {
        let layout = if c.batch_first { "(B, T, " } else { "(T, B, " };
        return Err(PyValueError::new_err(format!(
            "x: expected shape {layout}{}) (input_size {}), got {}",
            c.input_size,
            c.input_size,
            shape_text(s)
        )));
    }
    let (steps, batch) = if c.batch_first {
        (s[1], s[0])
    } else {
        (s[0], s[1])
    };
    let state = [c.num_layers * c.directions(), batch, c.hidden_size];
    let what = " (num_layers * num_directions, batch, hidden_size)";
    if let Some(h0) = &call.h0 {
        check_shape("hx", &state, h0.shape(), what)?;
    }
    if let Some(c0) = &call.c0 {
        check_shape("hx[1] (c_0)", &state, c0.shape(), what)?;
    }
    let lengths = match &call.lengths {
        None => None,
        Some(l) => Some(check_lengths(l, steps, batch)?),
    };
    Ok((steps, batch, lengths))
}

fn check_lengths(lengths: &[i64], steps: usize, batch: usize) -> PyResult<Vec<usize>> {
    if lengths.len() != batch {
        return Err(PyValueError::new_err(format!(
            "lengths: expected shape ({batch},) (one length per sequence of x), got ({},)",
            lengths.len()
        )));
    }
    lengths
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if l < 1 || l as u64 > steps as u64 {
                Err(PyValueError::new_err(format!(
                    "lengths[{i}]: expected a length in [1, {steps}] (the steps of x), got {l}"
                )))
            } else {
                Ok(l as usize)
            }
        })
        .collect()
}

type Outputs<'py, T> = (
    Bound<'py, PyArrayDyn<T>>,
    Bound<'py, PyArrayDyn<T>>,
    Option<Bound<'py, PyArrayDyn<T>>>,
);

fn forward<'py, T: Scalar + Element>(
    py: Python<'py>,
    rnn: &Recurrent<T>,
    call: Call<'py, T>,
) -> PyResult<Outputs<'py, T>> {
    let (_, _, lengths) = check_call(rnn, &call)?;
    let x = to_tensor("x", &call.x)?;
    let h0 = call.h0.as_ref().map(|a| to_tensor("hx", a)).transpose()?;
    let c0 = call.c0.as_ref().map(|a| to_tensor("c_0", a)).transpose()?;
    let out = crate::pool::run(py, |threads| {
        let args = ForwardArgs {
            lengths: lengths.as_deref(),
            h0: h0.as_ref(),
            c0: c0.as_ref(),
            dropout_rng: None,
        };
        let out = rnn.forward(threads, &x, args)?;
        Ok((out.output, out.h_n, out.c_n))
    })?;
    let (output, h_n, c_n) = out;
    let c_n = match c_n {
        Some(c) => Some(tensor_to_numpy(py, c)?),
        None => None,
    };
    Ok((tensor_to_numpy(py, output)?, tensor_to_numpy(py, h_n)?, c_n))
}

fn state_dict<'py, T: Scalar + Element>(
    py: Python<'py>,
    rnn: &Recurrent<T>,
) -> PyResult<Vec<(String, Bound<'py, PyArrayDyn<T>>)>> {
    rnn.layout()
        .iter()
        .map(|p| {
            let data = rnn.params()[p.range()].to_vec();
            Ok((p.name.clone(), to_numpy(py, &p.shape, data)?))
        })
        .collect()
}

fn set_param<T: Scalar + Element>(
    rnn: &mut Recurrent<T>,
    name: &str,
    value: &PyReadonlyArrayDyn<'_, T>,
) -> PyResult<()> {
    let Some(info) = rnn.layout().iter().find(|p| p.name == name).cloned() else {
        return Err(PyKeyError::new_err(format!(
            "state_dict: no parameter named '{name}' in this module"
        )));
    };
    check_shape(
        &format!("state_dict['{name}']"),
        &info.shape,
        value.shape(),
        "",
    )?;
    let target = &mut rnn.params_mut()[info.range()];
    for (t, v) in target.iter_mut().zip(value.as_array().iter()) {
        *t = *v;
    }
    Ok(())
}

#[pymethods]
impl RecurrentLayer {
    /// A layer initialised as PyTorch does (`U(-1/sqrt(H), 1/sqrt(H))`), from a dict of
    /// PyTorch's constructor arguments plus `mode`, `dtype` ("float32" or "float64") and `seed`.
    #[new]
    fn new(options: Options) -> PyResult<Self> {
        let config = config_of(&options)?;
        let mut rng = Rng::new(options.seed);
        let layer = match options.dtype.as_str() {
            "float32" => Layer::F32(Recurrent::new(config, &mut rng).map_err(crate::to_py)?),
            "float64" => Layer::F64(Recurrent::new(config, &mut rng).map_err(crate::to_py)?),
            d => {
                return Err(PyValueError::new_err(format!(
                    "dtype: expected float32 or float64, got {d}"
                )))
            }
        };
        Ok(RecurrentLayer { layer })
    }

    /// `"float32"` or `"float64"`.
    #[getter]
    fn dtype(&self) -> &'static str {
        match self.layer {
            Layer::F32(_) => "float32",
            Layer::F64(_) => "float64",
        }
    }

    /// Runs the layer: `x (T, B, I)` or `(B, T, I)` with `batch_first`, `h0`/`c0`
    /// `(L*D, B, H)`, `lengths` one per sequence; returns `(output, h_n, c_n or None)`.
    /// Arrays must already be of the layer's dtype.
    #[pyo3(signature = (x, h0=None, c0=None, lengths=None))]
    fn forward<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        h0: Option<&Bound<'py, PyAny>>,
        c0: Option<&Bound<'py, PyAny>>,
        lengths: Option<Vec<i64>>,
    ) -> PyResult<Py<PyAny>> {
        macro_rules! run {
            ($rnn:expr) => {{
                let call = Call {
                    x: x.extract()?,
                    h0: h0.map(|a| a.extract()).transpose()?,
                    c0: c0.map(|a| a.extract()).transpose()?,
                    lengths,
                };
                forward(py, $rnn, call)?
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()
            }};
        }
        Ok(match &self.layer {
            Layer::F32(rnn) => run!(rnn),
            Layer::F64(rnn) => run!(rnn),
        })
    }

    /// `[(name, array)]` in PyTorch's `state_dict` order and shapes (copies).
    fn state_dict<'py>(&self, py: Python<'py>) -> PyResult<Py<PyAny>> {
        Ok(match &self.layer {
            Layer::F32(rnn) => state_dict(py, rnn)?.into_pyobject(py)?.into_any().unbind(),
            Layer::F64(rnn) => state_dict(py, rnn)?.into_pyobject(py)?.into_any().unbind(),
        })
    }

    /// The parameter names in `state_dict` order.
    fn names(&self) -> Vec<String> {
        let layout = match &self.layer {
            Layer::F32(rnn) => rnn.layout(),
            Layer::F64(rnn) => rnn.layout(),
        };
        layout.iter().map(|p| p.name.clone()).collect()
    }

    /// Copies `value` (an array of the layer's dtype and the parameter's shape) into the
    /// parameter `name`. Raises `KeyError` for an unknown name, `ValueError` for a wrong shape.
    fn set_param(&mut self, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        match &mut self.layer {
            Layer::F32(rnn) => set_param(rnn, name, &value.extract()?),
            Layer::F64(rnn) => set_param(rnn, name, &value.extract()?),
        }
    }
}
