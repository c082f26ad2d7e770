//! The character-level language model: data, model, evaluation, sampling, training.
//!
//! Loading a checkpoint and generating text (here a fresh, untrained model is saved first, as
//! `recur train` would save a trained one):
//! ```
//! use recur::charlm::{checkpoint, generate, CharLm, CharLmConfig, SampleOptions, Vocab};
//! use recur::{CellType, Rng, Threads};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let vocab = Vocab::from_text("the cat sat on the mat");
//! let config = CharLmConfig {
//!     cell: CellType::Gru, nonlinearity: None, vocab_size: vocab.len(), embed_dim: 8,
//!     hidden_size: 16, num_layers: 1, dropout: 0.0, bias: true,
//! };
//! let dir = std::env::temp_dir().join(format!("recur-doc-charlm-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! checkpoint::write_model(&dir, &CharLm::new(config, &mut Rng::new(1))?, &vocab, None)?;
//!
//! let loaded = checkpoint::load(&dir)?; // e.g. runs/char-lm/best
//! let mut text = String::new();
//! let options = SampleOptions { temperature: 0.8, seed: 7, ..Default::default() };
//! generate(&loaded.model, &loaded.vocab, &Threads::single(), "the ", 40, &options, |c| {
//!     text.push(c);
//!     Ok(())
//! })?;
//! assert_eq!(text.chars().count(), 40);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

pub mod checkpoint;
pub mod data;
pub mod defaults;
pub mod eval;
pub mod model;
pub mod sample;
mod state;
mod task;
pub mod train;
pub mod vocab;

pub use eval::{evaluate, EvalReport};
pub use model::{BatchStats, Carry, CharLm, CharLmConfig, CharLmGrads, StepWork, TokenBatch};
pub use sample::{generate, Generator, SampleOptions};
pub use train::{MetricsRow, Overfitting, Stop, Summary, TrainSettings, TrainState, Trainer};
pub use vocab::{Vocab, UNK};
