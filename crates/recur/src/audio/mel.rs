//! The mel scale and a triangular mel filter bank, as `librosa.filters.mel` builds them.

/// Hertz to mels: Slaney's scale (linear below 1 kHz, logarithmic above; librosa's default) or
/// the HTK formula `2595 log10(1 + f / 700)`.
pub fn hz_to_mel(hz: f64, htk: bool) -> f64 {
    if htk {
        return 2595.0 * (1.0 + hz / 700.0).log10();
    }
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

/// Mels to hertz, the inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64, htk: bool) -> f64 {
    if htk {
        return 700.0 * (10f64.powf(mel / 2595.0) - 1.0);
    }
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        mel * f_sp
    }
}

/// One triangular filter: its weights over FFT bins `start..start + weights.len()`.
#[derive(Clone, Debug, PartialEq)]
pub struct MelFilter {
    /// First FFT bin with a non-zero weight.
    pub start: usize,
    /// Weights of bins `start..`.
    pub weights: Vec<f32>,
}

/// The filter bank `librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
/// fmax=fmax, htk=htk, norm="slaney")`: `n_mels` triangles with centres evenly spaced in mels,
/// each scaled to unit area (`2 / (f_right - f_left)`); bins where a filter is zero are left
/// out.
pub fn mel_filters(
    sample_rate: f64,
    n_fft: usize,
    n_mels: usize,
    (fmin, fmax): (f64, f64),
    htk: bool,
) -> Vec<MelFilter> {
    let bins = n_fft / 2 + 1;
    let fft_hz: Vec<f64> = (0..bins)
        .map(|k| k as f64 * sample_rate / n_fft as f64)
        .collect();
    let (lo, hi) = (hz_to_mel(fmin, htk), hz_to_mel(fmax, htk));
    let edges: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64, htk))
        .collect();
    (0..n_mels)
        .map(|m| {
            let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
            let area = 2.0 / (right - left);
            let w: Vec<f64> = fft_hz
                .iter()
                .map(|&f| {
                    let rise = (f - left) / (centre - left);
                    let fall = (right - f) / (right - centre);
                    rise.min(fall).max(0.0) * area
                })
                .collect();
            let start = w.iter().position(|&v| v > 0.0).unwrap_or(0);
            let end = w.iter().rposition(|&v| v > 0.0).map_or(start, |e| e + 1);
            MelFilter {
                start,
                weights: w[start..end].iter().map(|&v| v as f32).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_invert_and_match_known_points() {
        for htk in [false, true] {
            for hz in [0.0, 300.0, 1000.0, 3999.0, 8000.0] {
                assert!((mel_to_hz(hz_to_mel(hz, htk), htk) - hz).abs() < 1e-9);
            }
        }
        // Slaney: 15 mels at 1 kHz; HTK: 1000 mels at 1 kHz (within rounding of the formula).
        assert!((hz_to_mel(1000.0, false) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(1000.0, true) - 999.9855).abs() < 1e-3);
    }

    #[test]
    fn filters_have_unit_area_in_hertz() {
        let f = mel_filters(8000.0, 512, 20, (0.0, 4000.0), false);
        assert_eq!(f.len(), 20);
        // Each triangle scaled by 2 / width has area 1 over frequency: sum of weights times the
        // bin spacing is close to 1 when the triangle spans many bins.
        let spacing = 8000.0 / 512.0;
        let last = &f[19];
        let area: f32 = last.weights.iter().sum::<f32>() * spacing;
        assert!((area - 1.0).abs() < 0.05, "{area}");
    }
}
