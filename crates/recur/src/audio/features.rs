//! Log-mel spectrograms and MFCCs, computed as `librosa` computes them (the fixture test checks
//! this to 1e-4), with deltas and per-utterance mean/variance normalisation.
//!
//! The pipeline, and the `librosa` 0.11 call each stage equals:
//! 1. pre-emphasis `y[0] = x[0]`, `y[n] = x[n] - a x[n-1]` (`librosa.effects.preemphasis(x,
//!    coef=a, zi=[0.0])`; skipped for `a = 0`);
//! 2. power spectrogram `|STFT|²` (`librosa.stft(y, n_fft, hop_length, win_length,
//!    window="hann" | "hamming", center=True, pad_mode="constant")`: periodic window of the
//!    frame length, centred in `n_fft` = the smallest power of two at least the frame length;
//!    `n_fft / 2` zeros before and after the signal; `1 + len / hop` frames);
//! 3. mel power `librosa.feature.melspectrogram(S=power, n_mels, fmin, fmax, htk, norm="slaney")`
//!    (filters from `librosa.filters.mel`, Slaney's mel scale unless `htk`);
//! 4. decibels `librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=top_db)` (`top_db` limits
//!    each utterance to its own maximum minus `top_db`): the log-mel spectrogram;
//! 5. for MFCCs, `librosa.feature.mfcc(S=log_mel, n_mfcc, dct_type=2, norm="ortho", lifter=0)`;
//! 6. deltas `librosa.feature.delta(base, width, order=1, mode="interp")` and delta-deltas
//!    (`order=2`, also from the base features), appended after the base features;
//! 7. optionally, per utterance, every feature moved to mean 0 and scaled to variance 1 over the
//!    utterance's frames (CMVN; not a librosa step).

use super::mel::{mel_filters, MelFilter};
use super::wav::Wav;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Which features a frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureKind {
    /// `n_mels` log-mel energies in dB.
    LogMel,
    /// The first `n_mfcc` cepstral coefficients of the log-mel energies.
    Mfcc,
}

/// The analysis window of a frame (periodic, as `scipy.signal.get_window` makes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowKind {
    /// `0.5 - 0.5 cos(2πn/N)`.
    Hann,
    /// `0.54 - 0.46 cos(2πn/N)`.
    Hamming,
}

/// Feature settings: everything that turns a recording into frames of features. Stored in a
/// classifier checkpoint (`audio` in `config.json`), so that a trained model reads raw audio.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    /// Log-mel energies or MFCCs.
    pub kind: FeatureKind,
    /// Samples per second the features are computed at; recordings at another rate are
    /// resampled first.
    pub sample_rate: u32,
    /// Frame (window) length in milliseconds.
    pub frame_ms: f64,
    /// Hop between frame starts in milliseconds.
    pub hop_ms: f64,
    /// Analysis window.
    pub window: WindowKind,
    /// Mel bands.
    pub n_mels: usize,
    /// Cepstral coefficients kept ([`FeatureKind::Mfcc`]; at most `n_mels`).
    pub n_mfcc: usize,
    /// Lowest filter edge in Hz.
    pub fmin: f64,
    /// Highest filter edge in Hz; `None`: half the sample rate.
    pub fmax: Option<f64>,
    /// The HTK mel formula instead of Slaney's (librosa's default).
    pub htk: bool,
    /// Pre-emphasis coefficient `a` (0: none).
    pub pre_emphasis: f64,
    /// Floor of each utterance's dB values below its maximum; `None`: no floor but `amin`.
    pub top_db: Option<f64>,
    /// 0: base features only; 1: with deltas; 2: with deltas and delta-deltas.
    pub deltas: usize,
    /// Frames in the delta regression window (odd, at least 3).
    pub delta_width: usize,
    /// Per-utterance mean and variance normalisation of every feature.
    pub cmvn: bool,
}

impl Default for FeatureConfig {
    /// Speech defaults: 13 MFCCs from 40 Slaney mel bands over 20 Hz to 4 kHz at 8 kHz,
    /// 25 ms Hann frames every 10 ms, pre-emphasis 0.97, dB floor 80 below the maximum,
    /// deltas and delta-deltas (width 9), per-utterance normalisation: 39 features a frame.
    fn default() -> Self {
        FeatureConfig {
            kind: FeatureKind::Mfcc,
            sample_rate: 8000,
            frame_ms: 25.0,
            hop_ms: 10.0,
            window: WindowKind::Hann,
            n_mels: 40,
            n_mfcc: 13,
            fmin: 20.0,
            fmax: None,
            htk: false,
            pre_emphasis: 0.97,
            top_db: Some(80.0),
            deltas: 2,
            delta_width: 9,
            cmvn: true,
        }
    }
}

impl FeatureConfig {
    /// Samples in a frame.
    pub fn frame_length(&self) -> usize {
        ((self.frame_ms * self.sample_rate as f64 / 1000.0).round() as usize).max(1)
    }

    /// Samples between frame starts.
    pub fn hop_length(&self) -> usize {
        ((self.hop_ms * self.sample_rate as f64 / 1000.0).round() as usize).max(1)
    }

    /// FFT size: the smallest power of two at least the frame length.
    pub fn n_fft(&self) -> usize {
        self.frame_length().next_power_of_two()
    }

    /// Features per base frame (before deltas).
    pub fn base_dims(&self) -> usize {
        match self.kind {
            FeatureKind::LogMel => self.n_mels,
            FeatureKind::Mfcc => self.n_mfcc,
        }
    }

    /// Features per frame, deltas included.
    pub fn dims(&self) -> usize {
        self.base_dims() * (1 + self.deltas)
    }

    /// The highest filter edge in Hz.
    pub fn top_hz(&self) -> f64 {
        self.fmax.unwrap_or(self.sample_rate as f64 / 2.0)
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field and the range it must lie in.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.sample_rate == 0 {
            return bad("`sample_rate` must be above 0".into());
        }
        let nyquist = self.sample_rate as f64 / 2.0;
        if !(self.frame_ms.is_finite() && self.frame_ms > 0.0 && self.frame_length() >= 2) {
            return bad(format!(
                "`frame_ms` must give at least 2 samples, got {}",
                self.frame_ms
            ));
        }
        if !(self.hop_ms.is_finite() && self.hop_ms > 0.0 && self.hop_ms <= self.frame_ms) {
            return bad(format!(
                "`hop_ms` must be above 0 and at most `frame_ms` ({}), got {}",
                self.frame_ms, self.hop_ms
            ));
        }
        if self.n_mels == 0 || self.n_mels > self.n_fft() / 2 {
            return bad(format!(
                "`n_mels` must be from 1 to {} (half the FFT size), got {}",
                self.n_fft() / 2,
                self.n_mels
            ));
        }
        if self.kind == FeatureKind::Mfcc && !(1..=self.n_mels).contains(&self.n_mfcc) {
            return bad(format!(
                "`n_mfcc` must be from 1 to `n_mels` ({}), got {}",
                self.n_mels, self.n_mfcc
            ));
        }
        let top = self.top_hz();
        if !(self.fmin.is_finite()
            && self.fmin >= 0.0
            && top.is_finite()
            && self.fmin < top
            && top <= nyquist)
        {
            return bad(format!(
                "`fmin` and `fmax` must satisfy 0 <= fmin < fmax <= {nyquist} (half the sample rate), got {} and {top}",
                self.fmin
            ));
        }
        if !(0.0..1.0).contains(&self.pre_emphasis) {
            return bad(format!(
                "`pre_emphasis` must be in [0, 1), got {}",
                self.pre_emphasis
            ));
        }
        if self.top_db.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
            return bad(format!("`top_db` must be above 0, got {:?}", self.top_db));
        }
        if self.deltas > 2 {
            return bad(format!("`deltas` must be 0, 1 or 2, got {}", self.deltas));
        }
        if self.delta_width < 3 || self.delta_width % 2 == 0 {
            return bad(format!(
                "`delta_width` must be odd and at least 3, got {}",
                self.delta_width
            ));
        }
        Ok(())
    }
}

/// A feature extractor: the settings with their window, filter bank, DCT and FFT plan made
/// once. `compute` may be called from several threads.
#[derive(Clone)]
pub struct Features {
    config: FeatureConfig,
    window: Vec<f32>,
    filters: Vec<MelFilter>,
    /// `[n_mfcc, n_mels]` orthonormal DCT-II rows (empty for log-mel features).
    dct: Vec<f32>,
    fft: Arc<dyn realfft::RealToComplex<f32>>,
}

impl std::fmt::Debug for Features {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Features")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Features of one recording: `frames × dims` values, frame by frame.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureMatrix {
    /// Frames.
    pub frames: usize,
    /// Features per frame.
    pub dims: usize,
    /// `frames × dims`, row-major.
    pub values: Vec<f32>,
}

impl Features {
    /// The extractor of `config`.
    ///
    /// # Errors
    /// As [`FeatureConfig::validate`].
    pub fn new(config: FeatureConfig) -> Result<Features> {
        config.validate()?;
        let (n_fft, length) = (config.n_fft(), config.frame_length());
        let mut window = vec![0.0f32; n_fft];
        let offset = (n_fft - length) / 2;
        let (a, b) = match config.window {
            WindowKind::Hann => (0.5, 0.5),
            WindowKind::Hamming => (0.54, 0.46),
        };
        for (n, w) in window[offset..offset + length].iter_mut().enumerate() {
            let phase = 2.0 * std::f64::consts::PI * n as f64 / length as f64;
            *w = (a - b * phase.cos()) as f32;
        }
        let filters = mel_filters(
            config.sample_rate as f64,
            n_fft,
            config.n_mels,
            (config.fmin, config.top_hz()),
            config.htk,
        );
        let dct = match config.kind {
            FeatureKind::LogMel => Vec::new(),
            FeatureKind::Mfcc => dct_ortho(config.n_mfcc, config.n_mels),
        };
        let fft = realfft::RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        Ok(Features {
            config,
            window,
            filters,
            dct,
            fft,
        })
    }

    /// The settings.
    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// Features of `wav`, resampled to the configured rate first when its rate differs.
    ///
    /// # Errors
    /// As [`Wav::resampled`].
    pub fn of_wav(&self, wav: Wav) -> Result<FeatureMatrix> {
        let wav = wav.resampled(self.config.sample_rate)?;
        Ok(self.compute(&wav.samples))
    }

    /// Features of `samples` (mono, at the configured rate): `1 + len / hop` frames.
    pub fn compute(&self, samples: &[f32]) -> FeatureMatrix {
        let c = &self.config;
        let signal = pre_emphasis(samples, c.pre_emphasis as f32);
        let mut db = self.log_mel(&signal);
        let frames = db.len() / c.n_mels;
        let base = if self.dct.is_empty() {
            db
        } else {
            let mut out = vec![0.0f32; frames * c.n_mfcc];
            for (row, mel) in out
                .chunks_exact_mut(c.n_mfcc)
                .zip(db.chunks_exact(c.n_mels))
            {
                for (o, basis) in row.iter_mut().zip(self.dct.chunks_exact(c.n_mels)) {
                    *o = basis.iter().zip(mel).map(|(b, m)| b * m).sum();
                }
            }
            db.clear();
            out
        };
        let base_dims = c.base_dims();
        let mut values = base.clone();
        if c.deltas > 0 {
            values = with_deltas(&base, frames, base_dims, c.deltas, c.delta_width);
        }
        let dims = c.dims();
        if c.cmvn {
            normalise(&mut values, dims);
        }
        FeatureMatrix {
            frames,
            dims,
            values,
        }
    }

    /// The log-mel spectrogram in dB, `frames × n_mels`.
    fn log_mel(&self, signal: &[f32]) -> Vec<f32> {
        let c = &self.config;
        let (n_fft, hop) = (c.n_fft(), c.hop_length());
        let half = n_fft / 2;
        let frames = 1 + signal.len() / hop;
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f32; half + 1];
        let mut out = Vec::with_capacity(frames * c.n_mels);
        for t in 0..frames {
            // Frame t covers signal[t*hop - n_fft/2 ..][..n_fft], zeros outside the signal.
            let first = (t * hop) as isize - half as isize;
            for (i, (x, w)) in input.iter_mut().zip(&self.window).enumerate() {
                let at = first + i as isize;
                *x = if at >= 0 && (at as usize) < signal.len() {
                    signal[at as usize] * w
                } else {
                    0.0
                };
            }
            self.fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .expect("buffers come from the plan");
            for (p, z) in power.iter_mut().zip(&spectrum) {
                *p = z.re * z.re + z.im * z.im;
            }
            for f in &self.filters {
                let e: f32 = f
                    .weights
                    .iter()
                    .zip(&power[f.start..])
                    .map(|(w, p)| w * p)
                    .sum();
                out.push(10.0 * e.max(1e-10).log10());
            }
        }
        if let Some(top) = c.top_db {
            let floor = out.iter().copied().fold(f32::NEG_INFINITY, f32::max) - top as f32;
            for v in &mut out {
                *v = v.max(floor);
            }
        }
        out
    }
}

/// `y[0] = x[0]`, `y[n] = x[n] - a x[n-1]`.
fn pre_emphasis(x: &[f32], a: f32) -> Vec<f32> {
    if a == 0.0 {
        return x.to_vec();
    }
    let mut y = Vec::with_capacity(x.len());
    y.extend(x.first());
    y.extend(x.windows(2).map(|w| w[1] - a * w[0]));
    y
}

/// `[rows, n]` rows of the orthonormal DCT-II (`scipy.fft.dct(type=2, norm="ortho")`).
fn dct_ortho(rows: usize, n: usize) -> Vec<f32> {
    let mut m = Vec::with_capacity(rows * n);
    for k in 0..rows {
        let scale = if k == 0 {
            (1.0 / n as f64).sqrt()
        } else {
            (2.0 / n as f64).sqrt()
        };
        for i in 0..n {
            let angle = std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2 * n) as f64;
            m.push((scale * angle.cos()) as f32);
        }
    }
    m
}

/// Savitzky-Golay weights of the `order`-th derivative (1 or 2) over `width` frames, fitting a
/// polynomial of degree `order` (what `librosa.feature.delta` asks `scipy.signal.savgol_filter`
/// for).
fn delta_weights(width: usize, order: usize) -> Vec<f64> {
    let m = (width / 2) as i64;
    let ks: Vec<f64> = (-m..=m).map(|k| k as f64).collect();
    let s2: f64 = ks.iter().map(|k| k * k).sum();
    if order == 1 {
        return ks.iter().map(|k| k / s2).collect();
    }
    let s4: f64 = ks.iter().map(|k| k.powi(4)).sum();
    let w = width as f64;
    ks.iter()
        .map(|k| 2.0 * (k * k - s2 / w) / (s4 - s2 * s2 / w))
        .collect()
}

/// `base` (`frames × dims`) with its deltas (and delta-deltas for `order` 2) appended to every
/// frame. As librosa's `mode="interp"`, the first and last `width / 2` frames take the value of
/// the nearest frame with a full window. An utterance shorter than `width` frames uses the
/// largest odd width it holds; one of fewer than 3 frames gets zero deltas.
fn with_deltas(base: &[f32], frames: usize, dims: usize, order: usize, width: usize) -> Vec<f32> {
    let out_dims = dims * (1 + order);
    let mut out = vec![0.0f32; frames * out_dims];
    for t in 0..frames {
        out[t * out_dims..t * out_dims + dims].copy_from_slice(&base[t * dims..(t + 1) * dims]);
    }
    let width = width.min(if frames % 2 == 1 {
        frames
    } else {
        frames.saturating_sub(1)
    });
    if width < 3 {
        return out;
    }
    let m = width / 2;
    for d in 1..=order {
        let w = delta_weights(width, d);
        for t in 0..frames {
            let centre = t.clamp(m, frames - 1 - m);
            for j in 0..dims {
                let v: f64 = w
                    .iter()
                    .enumerate()
                    .map(|(i, wi)| wi * base[(centre + i - m) * dims + j] as f64)
                    .sum();
                out[t * out_dims + d * dims + j] = v as f32;
            }
        }
    }
    out
}

/// Every column of `values` (`frames × dims`) moved to mean 0 and scaled to variance 1
/// (`(x - mean) / sqrt(var + 1e-10)`, population variance).
fn normalise(values: &mut [f32], dims: usize) {
    let frames = values.len() / dims;
    if frames == 0 {
        return;
    }
    for j in 0..dims {
        let col = || values.iter().skip(j).step_by(dims).map(|&v| v as f64);
        let mean = col().sum::<f64>() / frames as f64;
        let var = col().map(|v| (v - mean).powi(2)).sum::<f64>() / frames as f64;
        let inv = 1.0 / (var + 1e-10).sqrt();
        for v in values.iter_mut().skip(j).step_by(dims) {
            *v = ((*v as f64 - mean) * inv) as f32;
        }
    }
}
