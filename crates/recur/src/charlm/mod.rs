//! The character-level language model: data, model, evaluation, sampling, training.

pub mod checkpoint;
pub mod data;
pub mod eval;
pub mod model;
pub mod sample;
pub mod train;
pub mod vocab;

pub use eval::{evaluate, EvalReport};
pub use model::{BatchStats, Carry, CharLm, CharLmConfig, CharLmGrads, StepWork};
pub use sample::{generate, Generator, SampleOptions};
pub use train::{MetricsRow, Observer, Stop, Summary, TrainSettings, TrainState, Trainer};
pub use vocab::Vocab;
