//! Sequence classification (many-to-one): numeric multivariate sequences and texts, with
//! variable lengths handled by the recurrent layer's length support.
//!
//! Classifying one sequence with a model (from [`model::load`] of a `recur classify train`
//! checkpoint, or trained with [`train::train`]; here a fresh one):
//! ```
//! use recur::classify::model::{Classifier, ClassifierConfig, Pooling};
//! use recur::classify::{train::predict, Dataset, Item};
//! use recur::{CellType, Rng, Threads};
//! # fn main() -> recur::Result<()> {
//! let config = ClassifierConfig {
//!     cell: CellType::Gru, hidden_size: 8, num_layers: 1, bidirectional: true, dropout: 0.0,
//!     pooling: Pooling::Mean, dims: 2, embed_dim: 0, vocab: vec![],
//!     classes: vec!["left".into(), "right".into()], mean: vec![0.0; 2], std: vec![1.0; 2],
//!     frame_size: 1, target: None, words: None, embed_dropout: 0.0,
//!     head_dropout: 0.0, audio: None,
//! };
//! let model = Classifier::new(config, &mut Rng::new(1))?;
//! // One sequence of 3 steps of 2 features, row by row.
//! let one = Dataset {
//!     dims: 2,
//!     items: vec![Item::Numeric(vec![0.1, 0.2, 0.3, 0.1, 0.5, -0.2])],
//!     ..Default::default()
//! };
//! let probs = predict(&model, &Threads::single(), &one, 1)?; // [1, classes]
//! assert_eq!(probs.len(), 2);
//! assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
//! # Ok(())
//! # }
//! ```

pub mod audio;
pub mod data;
pub mod fit;
pub mod folds;
pub mod model;
pub mod regress;
pub mod text;
pub mod train;

pub use data::{read_dataset, Dataset, Item};
