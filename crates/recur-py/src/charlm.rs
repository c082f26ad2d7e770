//! The character model from Python: training with progress reports, sampling, exact
//! evaluation, saving and loading.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use recur::charlm::checkpoint::{load as load_checkpoint, write_model};
use recur::charlm::{
    evaluate, generate, CharLm, CharLmConfig, SampleOptions, Stop, TrainSettings, Trainer, Vocab,
};
use recur::optim::{OptimizerConfig, OptimizerKind, Schedule, ScheduleKind};
use recur::rundir::{OutPolicy, RunDir};
use recur::{CellType, Nonlinearity, Rng};
use std::path::{Path, PathBuf};

/// A character model and its vocabulary (see `recur.CharLM`).
#[pyclass(module = "recur._recur")]
pub(crate) struct CharModel {
    model: CharLm,
    vocab: Vocab,
    training: Option<TrainSettings>,
}

/// `recur.CharLM.train`'s arguments (a dict from the Python side).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub(crate) struct TrainOptions {
    cell: String,
    nonlinearity: String,
    embed_dim: usize,
    hidden_size: usize,
    num_layers: usize,
    dropout: f64,
    batch_size: usize,
    seq_len: usize,
    lr: f64,
    steps: Option<u64>,
    time_budget: Option<f64>,
    val_frac: f64,
    seed: u64,
    report_every: u64,
}

/// `recur.CharLM.sample`'s drawing options (a dict from the Python side).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub(crate) struct DrawOptions {
    temperature: f64,
    top_k: usize,
    top_p: f64,
    argmax: bool,
    seed: u64,
}

fn cell_of(name: &str) -> PyResult<CellType> {
    match name {
        "rnn" => Ok(CellType::Rnn),
        "lstm" => Ok(CellType::Lstm),
        "gru" => Ok(CellType::Gru),
        c => Err(PyValueError::new_err(format!(
            "cell: expected 'rnn', 'lstm' or 'gru', got {c:?}"
        ))),
    }
}

fn nonlinearity_of(name: &str) -> PyResult<Nonlinearity> {
    match name {
        "tanh" => Ok(Nonlinearity::Tanh),
        "relu" => Ok(Nonlinearity::Relu),
        f => Err(PyValueError::new_err(format!(
            "nonlinearity: expected 'tanh' or 'relu', got {f:?}"
        ))),
    }
}

fn stop_of(o: &TrainOptions) -> PyResult<Stop> {
    match (o.steps, o.time_budget) {
        (Some(_), Some(_)) => Err(PyValueError::new_err(
            "steps, time_budget: give one of them, not both",
        )),
        (Some(n), None) => Ok(Stop::Steps(n)),
        (None, Some(s)) => Ok(Stop::TimeBudget(s)),
        (None, None) => Ok(Stop::TimeBudget(60.0)),
    }
}

/// The settings of a run: Adam with a cosine schedule and warm-up, as `recur train`.
fn settings_of(o: &TrainOptions) -> PyResult<TrainSettings> {
    Ok(TrainSettings {
        text: "text".into(),
        batch_size: o.batch_size,
        seq_len: o.seq_len,
        stop: stop_of(o)?,
        optimizer: OptimizerConfig::new(OptimizerKind::Adam),
        schedule: Schedule {
            kind: ScheduleKind::Cosine,
            lr: o.lr,
            warmup_steps: 50,
            min_lr: o.lr * 0.1,
            step_fraction: 0.25,
            gamma: 0.5,
        },
        clip: 1.0,
        clip_value: 0.0,
        val_frac: o.val_frac,
        eval_every: 0,
        early_stop: false,
        seed: o.seed,
    })
}

fn model_of(o: &TrainOptions, vocab: &Vocab) -> PyResult<CharLm> {
    let cell = cell_of(&o.cell)?;
    let config = CharLmConfig {
        cell,
        nonlinearity: (cell == CellType::Rnn)
            .then(|| nonlinearity_of(&o.nonlinearity))
            .transpose()?,
        vocab_size: vocab.len(),
        embed_dim: o.embed_dim,
        hidden_size: o.hidden_size,
        num_layers: o.num_layers,
        dropout: o.dropout,
        bias: true,
    };
    config.validate().map_err(crate::to_py)?;
    CharLm::new(config, &mut Rng::new(o.seed)).map_err(crate::to_py)
}

/// One progress report to the callback: a dict of `step`, `total_steps` (None for a time
/// budget), `loss`, `lr`, `seconds` and `budget_fraction`.
fn report(
    py: Python<'_>,
    callback: &Bound<'_, PyAny>,
    fields: &[(&str, Option<f64>)],
) -> PyResult<()> {
    let d = PyDict::new(py);
    for (k, v) in fields {
        d.set_item(k, v)?;
    }
    callback.call1((d,))?;
    Ok(())
}

/// Trains a fresh character model on `text` (see `recur.CharLM.train`); `progress` is called
/// with a dict every `report_every` steps and once with the validation figures at the end.
#[pyfunction]
#[pyo3(signature = (text, options, progress=None))]
pub(crate) fn train_char_model(
    py: Python<'_>,
    text: &str,
    options: TrainOptions,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<CharModel> {
    if text.chars().count() < 2 {
        return Err(PyValueError::new_err(
            "text: expected at least 2 characters",
        ));
    }
    let vocab = Vocab::from_text(text);
    let model = model_of(&options, &vocab)?;
    let settings = settings_of(&options)?;
    let mut trainer = Trainer::new(model, vocab, settings, text).map_err(crate::to_py)?;
    let total = trainer.total_steps();
    let stop = stop_of(&options)?;
    let (mut step, mut seconds) = (0u64, 0.0f64);
    loop {
        let done = match stop {
            Stop::Steps(n) => step >= n,
            Stop::TimeBudget(s) => seconds >= s,
            Stop::Epochs(e) => step >= e.saturating_mul(trainer.steps_per_epoch()),
        };
        if done {
            break;
        }
        let stepped = crate::pool::run(py, |threads| trainer.step(threads))?;
        step += 1;
        seconds += stepped.seconds;
        // Ctrl-C raises KeyboardInterrupt here, between steps.
        py.check_signals()?;
        if let Some(cb) = &progress {
            if step % options.report_every.max(1) == 0 {
                let budget = match stop {
                    Stop::TimeBudget(s) => seconds / s,
                    _ => step as f64 / total.unwrap_or(step).max(1) as f64,
                };
                report(
                    py,
                    cb,
                    &[
                        ("step", Some(step as f64)),
                        ("total_steps", total.map(|t| t as f64)),
                        ("loss", Some(stepped.loss)),
                        ("lr", Some(stepped.lr)),
                        ("seconds", Some(seconds)),
                        ("budget_fraction", Some(budget.min(1.0))),
                    ],
                )?;
            }
        }
    }
    if let Some(cb) = &progress {
        let val = crate::pool::run(py, |threads| trainer.validate(threads, |_, _| {}))?;
        report(
            py,
            cb,
            &[
                ("step", Some(step as f64)),
                ("seconds", Some(seconds)),
                ("val_loss", val.map(|r| r.loss)),
                ("val_bpc", val.map(|r| r.bpc)),
            ],
        )?;
    }
    Ok(CharModel {
        model: trainer.model().clone(),
        vocab: trainer.vocab().clone(),
        training: Some(trainer.settings().clone()),
    })
}

impl CharModel {
    /// The model of the character-model checkpoint in `dir`.
    pub(crate) fn open(dir: &Path) -> PyResult<Self> {
        let loaded = load_checkpoint(dir).map_err(crate::to_py)?;
        Ok(CharModel {
            model: loaded.model,
            vocab: loaded.vocab,
            training: loaded.config.training,
        })
    }
}

#[pymethods]
impl CharModel {
    /// Loads the character-model checkpoint in directory `path`.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        Self::open(&path)
    }

    /// `length` characters after `prime` (the newline, space or first character when None).
    #[pyo3(signature = (length, prime=None, options=None))]
    fn sample(
        &self,
        py: Python<'_>,
        length: usize,
        prime: Option<String>,
        options: Option<DrawOptions>,
    ) -> PyResult<String> {
        let o = options.map_or_else(SampleOptions::default, |o| SampleOptions {
            temperature: o.temperature,
            top_k: o.top_k,
            top_p: o.top_p,
            argmax: o.argmax,
            seed: o.seed,
        });
        o.validate().map_err(crate::to_py)?;
        let prime = prime.unwrap_or_else(|| recur::charlm::sample::default_prime(&self.vocab));
        if prime.is_empty() {
            return Err(PyValueError::new_err(
                "prime: expected at least one character",
            ));
        }
        let mut out = String::with_capacity(length);
        crate::pool::run(py, |threads| {
            generate(&self.model, &self.vocab, threads, &prime, length, &o, |c| {
                out.push(c);
                Ok(())
            })
        })?;
        Ok(out)
    }

    /// The exact loss of the model on `text` (DESIGN's contract): a dict of `loss` (nats per
    /// character), `bpc`, `perplexity`, `accuracy` and `tokens`.
    fn evaluate<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyDict>> {
        let tokens = self.vocab.encode(text, "text").map_err(crate::to_py)?;
        let r = crate::pool::run(py, |threads| {
            evaluate(&self.model, threads, &tokens, |_, _| {})
        })?;
        let d = PyDict::new(py);
        d.set_item("loss", r.loss)?;
        d.set_item("bpc", r.bpc)?;
        d.set_item("perplexity", r.perplexity)?;
        d.set_item("accuracy", r.accuracy)?;
        d.set_item("tokens", r.tokens)?;
        Ok(d)
    }

    /// Writes the checkpoint (`config.json`, `model.safetensors`) into directory `path`,
    /// atomically; an existing directory with files is replaced only when `overwrite`.
    #[pyo3(signature = (path, overwrite=false))]
    fn save(&self, py: Python<'_>, path: PathBuf, overwrite: bool) -> PyResult<()> {
        let policy = if overwrite {
            OutPolicy::Overwrite
        } else {
            OutPolicy::Fresh
        };
        py.detach(|| {
            let mut dir = RunDir::open(&path, policy)?;
            dir.save(|d| write_model(d, &self.model, &self.vocab, self.training.as_ref()))
        })
        .map_err(crate::to_py)
    }

    /// The vocabulary: one single-character string per token id.
    #[getter]
    fn vocab(&self) -> Vec<String> {
        self.vocab.to_strings()
    }

    /// The `model` section of the checkpoint's `config.json`, as JSON text.
    fn config_json(&self) -> String {
        serde_json::to_string(self.model.config()).expect("a configuration serialises")
    }

    /// Number of parameters.
    #[getter]
    fn num_params(&self) -> usize {
        self.model.num_params()
    }
}
