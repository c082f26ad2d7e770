//! Training-time augmentation of speech: SpecAugment masks on feature frames (Park et al.
//! 2019), and on waveforms a random gain, a random time shift and additive noise at a given
//! signal-to-noise ratio. Every draw comes from the caller's [`Rng`], so a seeded run repeats.

use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// SpecAugment's time and frequency masking (Park et al. 2019, without time warping): each mask
/// sets a random run of frames (time) or of features (frequency) to 0, the mean of features
/// normalised per utterance.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecAugment {
    /// Time masks per utterance.
    pub time_masks: usize,
    /// Widest time mask in frames (`T` in the paper); a mask also covers at most a fifth of the
    /// utterance (`p = 0.2`).
    pub time_width: usize,
    /// Frequency masks per utterance.
    pub freq_masks: usize,
    /// Widest frequency mask in features of the base block (`F` in the paper).
    pub freq_width: usize,
}

impl SpecAugment {
    /// Masks `values` (`frames × dims`, frame by frame) in place. The frame is `blocks` equal
    /// blocks (base features, deltas, delta-deltas): a frequency mask covers the same columns of
    /// every block.
    pub fn apply(&self, values: &mut [f32], dims: usize, blocks: usize, rng: &mut Rng) {
        if dims == 0 || values.is_empty() {
            return;
        }
        let frames = values.len() / dims;
        let blocks = blocks.max(1);
        let base = dims / blocks;
        for _ in 0..self.freq_masks {
            let width = rng.below(self.freq_width.min(base) + 1);
            let from = rng.below(base - width + 1);
            for row in values.chunks_exact_mut(dims) {
                for b in 0..blocks {
                    row[b * base + from..b * base + from + width].fill(0.0);
                }
            }
        }
        let widest = self.time_width.min(frames / 5);
        for _ in 0..self.time_masks {
            let width = rng.below(widest + 1);
            let from = rng.below(frames - width + 1);
            values[from * dims..(from + width) * dims].fill(0.0);
        }
    }
}

/// Every sample scaled by one gain drawn uniformly from `[-max_db, max_db]` dB, then clamped to
/// [-1, 1].
pub fn random_gain(samples: &mut [f32], max_db: f64, rng: &mut Rng) {
    let gain = 10f64.powf(rng.uniform_range(-max_db, max_db) / 20.0) as f32;
    for s in samples {
        *s = (*s * gain).clamp(-1.0, 1.0);
    }
}

/// The recording moved by a shift drawn uniformly from `[-max_shift, max_shift]` samples, its
/// length kept: samples moved out are dropped, the gap is filled with zeros.
pub fn time_shift(samples: &mut [f32], max_shift: usize, rng: &mut Rng) {
    let n = samples.len();
    let shift = rng.below(2 * max_shift + 1) as isize - max_shift as isize;
    let k = shift.unsigned_abs().min(n);
    if shift > 0 {
        samples.copy_within(..n - k, k);
        samples[..k].fill(0.0);
    } else if shift < 0 {
        samples.copy_within(k.., 0);
        samples[n - k..].fill(0.0);
    }
}

/// White Gaussian noise added at `snr_db` dB below the recording's mean power (nothing is added
/// to a silent recording).
pub fn add_noise(samples: &mut [f32], snr_db: f64, rng: &mut Rng) {
    if samples.is_empty() {
        return;
    }
    let power = samples.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / samples.len() as f64;
    let sd = (power / 10f64.powf(snr_db / 10.0)).sqrt();
    for s in samples {
        *s = (*s as f64 + sd * rng.normal()).clamp(-1.0, 1.0) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_augment_masks_whole_runs_and_repeats_with_the_seed() {
        let (frames, dims) = (50, 39);
        let mut a = vec![1.0f32; frames * dims];
        let masks = SpecAugment {
            time_masks: 2,
            time_width: 10,
            freq_masks: 2,
            freq_width: 4,
        };
        masks.apply(&mut a, dims, 3, &mut Rng::new(3));
        let mut b = vec![1.0f32; frames * dims];
        masks.apply(&mut b, dims, 3, &mut Rng::new(3));
        assert_eq!(a, b);
        // A frequency-masked column is masked in all three blocks alike.
        for j in 0..13 {
            let col = |c: usize| (0..frames).filter(|t| a[t * dims + c] == 0.0).count();
            assert_eq!(col(j), col(j + 13));
            assert_eq!(col(j), col(j + 26));
        }
        // At most 2 × 10 frames and 2 × 4 × 3 columns are zeroed.
        let zero_rows = a
            .chunks(dims)
            .filter(|r| r.iter().all(|&v| v == 0.0))
            .count();
        assert!(zero_rows <= 20, "{zero_rows}");
        assert!(a.iter().any(|&v| v == 0.0));
    }

    #[test]
    fn noise_reaches_the_asked_snr() {
        let mut rng = Rng::new(1);
        let clean: Vec<f32> = (0..80_000).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
        let mut noisy = clean.clone();
        add_noise(&mut noisy, 10.0, &mut rng);
        let p = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>();
        let noise: Vec<f32> = noisy.iter().zip(&clean).map(|(a, b)| a - b).collect();
        let snr = 10.0 * (p(&clean) / p(&noise)).log10();
        assert!((snr - 10.0).abs() < 0.1, "{snr}");
    }

    #[test]
    fn shift_and_gain_keep_the_length() {
        let mut rng = Rng::new(2);
        let mut v: Vec<f32> = (1..=10).map(|i| i as f32 / 10.0).collect();
        time_shift(&mut v, 3, &mut rng);
        assert_eq!(v.len(), 10);
        let nonzero: Vec<f32> = v.iter().copied().filter(|&x| x != 0.0).collect();
        // The kept samples are a contiguous run of the original, in order.
        assert!(nonzero.windows(2).all(|w| (w[1] - w[0] - 0.1).abs() < 1e-6));
        let mut g = vec![0.5f32; 4];
        random_gain(&mut g, 6.0, &mut rng);
        assert!(
            g.iter().all(|&x| x == g[0] && (0.25..=1.0).contains(&x)),
            "{g:?}"
        );
    }
}
