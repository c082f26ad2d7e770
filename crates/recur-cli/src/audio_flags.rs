//! The speech-feature flags of `recur classify train`, and reading recordings as classifier
//! data (train, eval and predict alike).

use clap::Args;
use recur::audio::{FeatureConfig, FeatureKind, Features, SpecAugment, WindowKind};
use recur::classify::data::Dataset;
use recur::{Error, Result};
use std::path::Path;

/// Feature settings for audio input (a folder of WAV files or a `path,label` manifest).
#[derive(Args, Clone, Debug)]
pub struct AudioArgs {
    /// Audio: features per frame, mfcc or log-mel
    #[arg(long, default_value = "mfcc", value_parser = ["mfcc", "log-mel"])]
    pub features: String,
    /// Audio: sample rate the features are computed at (recordings at other rates are resampled)
    #[arg(long, default_value_t = 8000)]
    pub sample_rate: u32,
    /// Audio: frame (window) length in milliseconds
    #[arg(long, default_value_t = 25.0)]
    pub frame_ms: f64,
    /// Audio: hop between frames in milliseconds
    #[arg(long, default_value_t = 10.0)]
    pub hop_ms: f64,
    /// Audio: analysis window, hann or hamming
    #[arg(long, default_value = "hann", value_parser = ["hann", "hamming"])]
    pub window: String,
    /// Audio: mel bands
    #[arg(long, default_value_t = 40)]
    pub n_mels: usize,
    /// Audio: cepstral coefficients (--features mfcc)
    #[arg(long, default_value_t = 13)]
    pub n_mfcc: usize,
    /// Audio: lowest mel filter edge in Hz
    #[arg(long, default_value_t = 20.0)]
    pub fmin: f64,
    /// Audio: highest mel filter edge in Hz [default: half the sample rate]
    #[arg(long)]
    pub fmax: Option<f64>,
    /// Audio: the HTK mel formula instead of Slaney's
    #[arg(long)]
    pub htk: bool,
    /// Audio: pre-emphasis coefficient (0 for none)
    #[arg(long, default_value_t = 0.97)]
    pub pre_emphasis: f64,
    /// Audio: dB floor below each recording's loudest mel energy (0 for none)
    #[arg(long, default_value_t = 80.0)]
    pub top_db: f64,
    /// Audio: 0 base features, 1 with deltas, 2 with deltas and delta-deltas
    #[arg(long, default_value_t = 2)]
    pub deltas: usize,
    /// Audio: frames in the delta regression window (odd)
    #[arg(long, default_value_t = 9)]
    pub delta_width: usize,
    /// Audio: per-recording mean and variance normalisation of every feature (`--cmvn false` for none)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub cmvn: bool,
    /// Audio: SpecAugment masks in training, TIME_MASKS,TIME_WIDTH,FREQ_MASKS,FREQ_WIDTH (frames, features), or none
    #[arg(long, default_value = "2,8,2,4")]
    pub spec_augment: String,
}

impl AudioArgs {
    /// The feature settings the flags give.
    pub fn feature_config(&self) -> FeatureConfig {
        FeatureConfig {
            kind: if self.features == "log-mel" {
                FeatureKind::LogMel
            } else {
                FeatureKind::Mfcc
            },
            sample_rate: self.sample_rate,
            frame_ms: self.frame_ms,
            hop_ms: self.hop_ms,
            window: if self.window == "hamming" {
                WindowKind::Hamming
            } else {
                WindowKind::Hann
            },
            n_mels: self.n_mels,
            n_mfcc: self.n_mfcc,
            fmin: self.fmin,
            fmax: self.fmax,
            htk: self.htk,
            pre_emphasis: self.pre_emphasis,
            top_db: (self.top_db != 0.0).then_some(self.top_db),
            deltas: self.deltas,
            delta_width: self.delta_width,
            cmvn: self.cmvn,
        }
    }

    /// The SpecAugment masks of `--spec-augment` (`None` for `none` or all zeros).
    ///
    /// # Errors
    /// [`Error::Config`] naming the flag when it is not four whole numbers.
    pub fn spec_augment(&self) -> Result<Option<SpecAugment>> {
        let text = self.spec_augment.trim();
        if text.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        let parts: Vec<usize> = text
            .split(',')
            .map(|p| p.trim().parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad_masks(text))?;
        let [time_masks, time_width, freq_masks, freq_width] = parts[..] else {
            return Err(bad_masks(text));
        };
        let m = SpecAugment {
            time_masks,
            time_width,
            freq_masks,
            freq_width,
        };
        Ok((time_masks * time_width + freq_masks * freq_width > 0).then_some(m))
    }
}

fn bad_masks(text: &str) -> Error {
    Error::Config(format!(
        "--spec-augment must be TIME_MASKS,TIME_WIDTH,FREQ_MASKS,FREQ_WIDTH (four whole numbers, e.g. 2,8,2,4) or none, got {text:?}"
    ))
}

/// The recordings named by `path` as sequences of `config`'s features; labels are required for
/// training and evaluation (`labels_required`).
///
/// # Errors
/// As [`recur::classify::audio::read_audio`] and [`Features::new`].
pub fn read(path: &Path, config: &FeatureConfig, labels_required: bool) -> Result<Dataset> {
    let features = Features::new(config.clone())?;
    recur::classify::audio::read_audio(path, &features, labels_required)
}
