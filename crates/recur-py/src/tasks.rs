//! The other tasks' checkpoints from Python: classifiers and regressors, forecasters and
//! translation models, and `load`, which opens a checkpoint of any task.

use crate::charlm::CharModel;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use recur::checkpoint::{task, Task};
use recur::classify::{model as classify_model, regress, train as classify_train, Dataset, Item};
use recur::forecast::prepare::History;
use std::path::PathBuf;

/// A sequence classifier or regressor (see `recur.Classifier`).
#[pyclass(module = "recur._recur")]
pub(crate) struct Classifier {
    /// The ensemble's members (one model unless trained with `--ensemble`).
    members: Vec<classify_model::Classifier>,
}

/// A forecaster (see `recur.Forecaster`).
#[pyclass(module = "recur._recur")]
pub(crate) struct Forecaster {
    inner: recur::forecast::saved::LoadedForecaster,
}

/// A translation model (see `recur.Translator`).
#[pyclass(module = "recur._recur")]
pub(crate) struct Translator {
    inner: recur::translate::translator::Translator,
}

/// Loads the checkpoint in directory `path`, whatever its task: a `CharModel`, `Classifier`,
/// `Forecaster` or `Translator`.
#[pyfunction]
pub(crate) fn load(py: Python<'_>, path: PathBuf) -> PyResult<Py<PyAny>> {
    let kind = task(&path).map_err(crate::to_py)?;
    Ok(match kind {
        Task::CharLm => CharModel::open(&path)?
            .into_pyobject(py)?
            .into_any()
            .unbind(),
        Task::Classify => {
            let members = classify_model::load_members(&path).map_err(crate::to_py)?;
            Classifier { members }
                .into_pyobject(py)?
                .into_any()
                .unbind()
        }
        Task::Regress => {
            let model = classify_model::load(&path).map_err(crate::to_py)?;
            Classifier {
                members: vec![model],
            }
            .into_pyobject(py)?
            .into_any()
            .unbind()
        }
        Task::Forecast => {
            let inner = recur::forecast::model::load(&path).map_err(crate::to_py)?;
            Forecaster { inner }.into_pyobject(py)?.into_any().unbind()
        }
        Task::Translate => {
            let inner =
                recur::translate::translator::Translator::load(&path).map_err(crate::to_py)?;
            Translator { inner }.into_pyobject(py)?.into_any().unbind()
        }
        Task::Transcribe => {
            return Err(crate::to_py(recur::Error::Input(format!(
                "{}: an acoustic model (task \"transcribe\"); recur.load reads character models, classifiers, regressors, forecasters and translation models: transcribe with `recur transcribe run`",
                path.display()
            ))))
        }
    })
}

impl Classifier {
    fn first(&self) -> &classify_model::Classifier {
        &self.members[0]
    }

    /// The sequences as a dataset of the kind the model reads: strings for a text model,
    /// `(T, features)` arrays for a numeric one.
    fn dataset(&self, sequences: &Bound<'_, PyAny>) -> PyResult<Dataset> {
        let dims = self.first().config().dims;
        let mut items = Vec::new();
        for (i, s) in sequences.try_iter()?.enumerate() {
            let s = s?;
            if dims == 0 {
                let text: String = s.extract().map_err(|_| {
                    PyValueError::new_err(format!(
                        "sequences[{i}]: this model reads text, expected a str"
                    ))
                })?;
                items.push(Item::Text(text.chars().collect()));
            } else {
                let a: PyReadonlyArray2<'_, f32> = s.extract().map_err(|_| {
                    PyValueError::new_err(format!(
                        "sequences[{i}]: this model reads numbers, expected a float32 array of shape (T, {dims})"
                    ))
                })?;
                let shape = a.as_array().dim();
                if shape.1 != dims || shape.0 == 0 {
                    return Err(PyValueError::new_err(format!(
                        "sequences[{i}]: expected shape (T, {dims}) with T >= 1, got ({}, {})",
                        shape.0, shape.1
                    )));
                }
                items.push(Item::Numeric(a.as_array().iter().copied().collect()));
            }
        }
        Ok(Dataset {
            dims,
            items,
            ..Dataset::default()
        })
    }
}

#[pymethods]
impl Classifier {
    /// The class labels (empty for a regressor).
    #[getter]
    fn classes(&self) -> Vec<String> {
        self.first().config().classes.clone()
    }

    /// Whether the model predicts a value rather than a class.
    #[getter]
    fn is_regressor(&self) -> bool {
        self.first().config().target.is_some()
    }

    /// Features per step (0 for a model that reads text).
    #[getter]
    fn input_features(&self) -> usize {
        self.first().config().dims
    }

    /// Class probabilities `(N, C)` (float32), or for a regressor the predicted values `(N,)`.
    #[pyo3(signature = (sequences, batch_size=64))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        sequences: &Bound<'py, PyAny>,
        batch_size: usize,
    ) -> PyResult<Py<PyAny>> {
        let data = self.dataset(sequences)?;
        let n = data.items.len();
        if self.is_regressor() {
            let values = crate::pool::run(py, |threads| {
                regress::predict_values(self.first(), threads, &data, batch_size)
            })?;
            return Ok(values.into_pyarray(py).into_any().unbind());
        }
        let probs = crate::pool::run(py, |threads| {
            classify_train::predict_members(&self.members, threads, &data, batch_size)
        })?;
        let classes = self.first().config().classes.len();
        let array = Array2::from_shape_vec((n, classes), probs)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let array: Bound<'py, PyArray2<f32>> = array.into_pyarray(py);
        Ok(array.into_any().unbind())
    }
}

#[pymethods]
impl Forecaster {
    /// Steps forecast at once.
    #[getter]
    fn horizon(&self) -> usize {
        self.inner.model.config().horizon
    }

    /// Ids of the series of a forecaster trained on many (empty for one series).
    #[getter]
    fn series_ids(&self) -> Vec<String> {
        self.inner.series.iter().map(|s| s.id.clone()).collect()
    }

    /// The `horizon` values after `history` (oldest first, in the series' units), given the
    /// covariates over the same span, and the stored prediction intervals:
    /// `(forecast (horizon,), {level: (lower, upper)})`. `series` names the series of a
    /// forecaster trained on many.
    #[pyo3(signature = (history, covariates=None, series=None))]
    fn forecast<'py>(
        &self,
        py: Python<'py>,
        history: PyReadonlyArray1<'py, f64>,
        covariates: Option<Vec<PyReadonlyArray1<'py, f64>>>,
        series: Option<String>,
    ) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyDict>)> {
        let target: Vec<f64> = history.as_array().iter().copied().collect();
        let covariates: Vec<Vec<f64>> = covariates
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let c: Vec<f64> = c.as_array().iter().copied().collect();
                if c.len() == target.len() {
                    Ok(c)
                } else {
                    Err(PyValueError::new_err(format!(
                        "covariates[{k}]: expected shape ({},) (as history), got ({},)",
                        target.len(),
                        c.len()
                    )))
                }
            })
            .collect::<PyResult<_>>()?;
        let views: Vec<&[f64]> = covariates.iter().map(|c| &c[..]).collect();
        let (values, bands) = crate::pool::run(py, |threads| {
            let h = History {
                target: &target,
                covariates: &views,
                future: &[],
                identity: &[],
            };
            self.inner.forecast_series(threads, series.as_deref(), &h)
        })?;
        let intervals = PyDict::new(py);
        for (level, lower, upper) in bands {
            intervals.set_item(level, (lower.into_pyarray(py), upper.into_pyarray(py)))?;
        }
        Ok((values.into_pyarray(py), intervals))
    }
}

#[pymethods]
impl Translator {
    /// Translations of `sentences` (beam search of width `beam`).
    #[pyo3(signature = (sentences, beam=5))]
    fn translate(
        &self,
        py: Python<'_>,
        sentences: Vec<String>,
        beam: usize,
    ) -> PyResult<Vec<String>> {
        if beam == 0 {
            return Err(PyValueError::new_err("beam: expected at least 1, got 0"));
        }
        let views: Vec<&str> = sentences.iter().map(|s| s.as_str()).collect();
        let options = self.inner.decode_options(beam);
        let out = crate::pool::run(py, |threads| {
            self.inner.translate(threads, &views, &options)
        })?;
        Ok(out.into_iter().map(|t| t.text).collect())
    }
}
