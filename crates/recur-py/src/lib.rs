//! Python bindings of recur (the `recur._recur` extension module): PyTorch's `nn.RNN`,
//! `nn.LSTM` and `nn.GRU` on NumPy arrays, the character model's training, sampling and
//! evaluation, and loading of every task's checkpoint. The `recur` Python package wraps these
//! classes with PyTorch's signatures (`python/recur/__init__.py`).

#![deny(missing_docs)]

mod charlm;
mod layers;
mod pool;
mod tasks;

use pyo3::exceptions::{PyFileExistsError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// A library error as the Python exception that fits it: files that cannot be read are
/// `OSError`, an output directory that holds another run `FileExistsError`, a run that diverged
/// `RuntimeError`, and everything else (shapes, values, malformed files) `ValueError`.
pub(crate) fn to_py(e: recur::Error) -> PyErr {
    let message = e.to_string();
    match e {
        recur::Error::Io { .. } => PyOSError::new_err(message),
        recur::Error::OutputExists(_) => PyFileExistsError::new_err(message),
        recur::Error::Diverged(_) => PyRuntimeError::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

/// `(2, 3, 4)`: a shape as Python writes it, for messages.
pub(crate) fn shape_text(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// The extension module.
#[pymodule]
fn _recur(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<layers::RecurrentLayer>()?;
    m.add_class::<charlm::CharModel>()?;
    m.add_class::<tasks::Classifier>()?;
    m.add_class::<tasks::Forecaster>()?;
    m.add_class::<tasks::Translator>()?;
    m.add_function(wrap_pyfunction!(pool::set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(pool::get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(charlm::train_char_model, m)?)?;
    m.add_function(wrap_pyfunction!(tasks::load, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
