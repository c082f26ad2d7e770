//! Audio in: WAV files ([`Wav`]), speech features ([`FeatureConfig`], [`Features`]: log-mel
//! spectrograms and MFCCs as librosa computes them), augmentation for training
//! ([`augment`]) and lists of labelled recordings ([`corpus`]).
//!
//! ```
//! use recur::audio::{FeatureConfig, Features};
//! # fn main() -> recur::Result<()> {
//! let features = Features::new(FeatureConfig::default())?; // 13 MFCCs + deltas at 8 kHz
//! // Half a second of a 440 Hz tone.
//! let tone: Vec<f32> = (0..4000).map(|n| (n as f32 * 440.0 / 8000.0 * std::f32::consts::TAU).sin() * 0.5).collect();
//! let m = features.compute(&tone);
//! assert_eq!((m.frames, m.dims), (51, 39)); // 1 + 4000 / 80 frames of 3 × 13 features
//! # Ok(())
//! # }
//! ```

pub mod augment;
pub mod corpus;
pub mod features;
pub mod mel;
pub mod spectrogram;
pub mod wav;

pub use augment::SpecAugment;
pub use features::{FeatureConfig, FeatureKind, FeatureMatrix, Features, WindowKind};
pub use wav::Wav;
