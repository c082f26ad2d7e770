//! Seeded generators of three synthetic long-range problems, each with the score of the best
//! model that remembers nothing (the baseline a trained model must beat).
//!
//! - **adding** (Hochreiter & Schmidhuber 1997, in the form of Arjovsky, Shah & Bengio 2016,
//!   "Unitary evolution recurrent neural networks", §4.2): `T` steps of two channels, a value
//!   drawn from `U(0, 1)` and a marker that is 1 at two steps (one in each half of the sequence)
//!   and 0 elsewhere; the target is the sum of the two marked values. Predicting the mean 1
//!   scores the variance of that sum, MSE `2 · 1/12 = 1/6 ≈ 0.167`.
//! - **copy** (Arjovsky et al. 2016, §4.1): ten symbols drawn from eight, `T - 1` blanks, a
//!   delimiter, ten blanks (`T + 20` steps, one-hot over 10 ids: 0 blank, 1-8 symbols,
//!   9 delimiter); the target is blank for `T + 10` steps, then the ten symbols. Predicting
//!   blanks, then any symbol with probability 1/8, scores `10 ln 8 / (T + 20)` nats per step.
//! - **first**: `T` symbols drawn from eight (one-hot); the class is the first symbol, read at
//!   the last step (`T - 1` steps after it). Guessing scores `ln 8 ≈ 2.079` nats, accuracy 1/8.

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// One of the three long-range problems.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The adding problem: regression of the sum of two marked values.
    Adding,
    /// Copy memory: recall ten symbols after a delay.
    Copy,
    /// Classify a sequence by its first symbol.
    First,
}

impl std::str::FromStr for Problem {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "adding" => Ok(Problem::Adding),
            "copy" => Ok(Problem::Copy),
            "first" => Ok(Problem::First),
            other => Err(Error::Config(format!(
                "unknown task `{other}`: expected adding, copy or first"
            ))),
        }
    }
}

/// Symbols to remember in the copy and first-symbol problems.
pub const SYMBOLS: usize = 8;
/// Symbols the copy problem recalls.
pub const COPY_SYMBOLS: usize = 10;

/// What a batch asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// One value per sequence `[B]` (the adding problem).
    Values(Vec<f32>),
    /// Class ids, time-major `[S, B]` over the `S` steps that are scored: every step for copy,
    /// the last step only (`S = 1`) for first.
    Classes(Vec<u32>),
}

/// A batch of a problem.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Inputs, time-major `[steps, B, inputs]`.
    pub x: Tensor<f32>,
    /// The targets.
    pub targets: Targets,
}

/// The score of the model that remembers nothing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Its loss: MSE (adding) or cross-entropy in nats per scored step.
    pub loss: f64,
    /// Its accuracy (copy: over the ten recalled symbols; first: of the class); `None` for
    /// adding.
    pub accuracy: Option<f64>,
}

impl Problem {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Problem::Adding => "adding",
            Problem::Copy => "copy",
            Problem::First => "first",
        }
    }

    /// Features per input step: 2 (adding), 10 (copy), 8 (first).
    pub fn inputs(self) -> usize {
        match self {
            Problem::Adding => 2,
            Problem::Copy => COPY_SYMBOLS,
            Problem::First => SYMBOLS,
        }
    }

    /// Outputs of the head: 1 value (adding), 10 classes (copy), 8 classes (first).
    pub fn outputs(self) -> usize {
        match self {
            Problem::Adding => 1,
            Problem::Copy => COPY_SYMBOLS,
            Problem::First => SYMBOLS,
        }
    }

    /// Whether every step is scored (copy) or only the last one.
    pub fn every_step(self) -> bool {
        self == Problem::Copy
    }

    /// Steps of a sequence for a problem of `length`: `T` (adding, first), `T + 20` (copy).
    pub fn steps(self, length: usize) -> usize {
        match self {
            Problem::Copy => length + 2 * COPY_SYMBOLS,
            _ => length,
        }
    }

    /// The shortest length that makes sense: 2 for adding (a marker in each half), 1 otherwise.
    pub fn min_length(self) -> usize {
        if self == Problem::Adding {
            2
        } else {
            1
        }
    }

    /// What the model that remembers nothing scores at `length` (see the module's notes).
    pub fn baseline(self, length: usize) -> Baseline {
        let ln8 = (SYMBOLS as f64).ln();
        match self {
            Problem::Adding => Baseline {
                loss: 1.0 / 6.0,
                accuracy: None,
            },
            Problem::Copy => Baseline {
                loss: COPY_SYMBOLS as f64 * ln8 / self.steps(length) as f64,
                accuracy: Some(1.0 / SYMBOLS as f64),
            },
            Problem::First => Baseline {
                loss: ln8,
                accuracy: Some(1.0 / SYMBOLS as f64),
            },
        }
    }

    /// `batch` sequences of `length` drawn from `rng`.
    ///
    /// # Errors
    /// [`Error::Config`] when `length` is below [`Self::min_length`] or `batch` is 0.
    pub fn generate(self, length: usize, batch: usize, rng: &mut Rng) -> Result<Batch> {
        if length < self.min_length() {
            return Err(Error::Config(format!(
                "`length` must be at least {} for the {} task, got {length}",
                self.min_length(),
                self.name()
            )));
        }
        if batch == 0 {
            return Err(Error::Config("a batch needs at least 1 sequence".into()));
        }
        let (steps, inputs) = (self.steps(length), self.inputs());
        let mut x = vec![0.0f32; steps * batch * inputs];
        let at = |t: usize, b: usize, i: usize| (t * batch + b) * inputs + i;
        let targets = match self {
            Problem::Adding => {
                let half = length / 2;
                let mut sums = Vec::with_capacity(batch);
                for b in 0..batch {
                    for t in 0..length {
                        x[at(t, b, 0)] = rng.uniform() as f32;
                    }
                    let first = rng.below(half);
                    let second = half + rng.below(length - half);
                    x[at(first, b, 1)] = 1.0;
                    x[at(second, b, 1)] = 1.0;
                    sums.push(x[at(first, b, 0)] + x[at(second, b, 0)]);
                }
                Targets::Values(sums)
            }
            Problem::Copy => {
                let mut classes = vec![0u32; steps * batch];
                for b in 0..batch {
                    for t in 0..steps {
                        let id = if t < COPY_SYMBOLS {
                            let s = 1 + rng.below(SYMBOLS) as u32;
                            classes[(length + COPY_SYMBOLS + t) * batch + b] = s;
                            s
                        } else if t == length + COPY_SYMBOLS - 1 {
                            9
                        } else {
                            0
                        };
                        x[at(t, b, id as usize)] = 1.0;
                    }
                }
                Targets::Classes(classes)
            }
            Problem::First => {
                let mut classes = Vec::with_capacity(batch);
                for b in 0..batch {
                    for t in 0..length {
                        let s = rng.below(SYMBOLS);
                        if t == 0 {
                            classes.push(s as u32);
                        }
                        x[at(t, b, s)] = 1.0;
                    }
                }
                Targets::Classes(classes)
            }
        };
        Ok(Batch {
            x: Tensor::new("x", &[steps, batch, inputs], x)?,
            targets,
        })
    }
}
