//! Speech features against librosa (fixtures of `scripts/make_audio_fixtures.py`), WAV reading
//! of every supported sample format, resampling, normalisation, and bad files.

use recur::audio::{FeatureConfig, Features, Wav};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audio")
        .join(name)
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recur-audio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn features_equal_librosa_to_1e4() {
    let wav = Wav::read(&fixture("7_george_1.wav")).unwrap();
    assert_eq!((wav.sample_rate, wav.samples.len()), (8000, 4719));
    for case in ["mfcc_default", "logmel_htk_hamming", "mfcc_wide_deltas5"] {
        let text = std::fs::read_to_string(fixture(&format!("{case}.json"))).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let config: FeatureConfig = serde_json::from_value(doc["config"].clone()).unwrap();
        let want: Vec<f64> = serde_json::from_value(doc["values"].clone()).unwrap();
        let m = Features::new(config).unwrap().compute(&wav.samples);
        assert_eq!(m.frames as u64, doc["frames"].as_u64().unwrap(), "{case}");
        assert_eq!(m.dims as u64, doc["dims"].as_u64().unwrap(), "{case}");
        let mut worst = 0.0f64;
        for (i, (&got, &want)) in m.values.iter().zip(&want).enumerate() {
            // Relative error, with values below 1 in size compared absolutely.
            let err = (got as f64 - want).abs() / want.abs().max(1.0);
            assert!(
                err <= 1e-4,
                "{case}: frame {} feature {}: {got} vs librosa {want}",
                i / m.dims,
                i % m.dims
            );
            worst = worst.max(err);
        }
        assert!(worst > 0.0, "{case}: compared nothing");
    }
}

#[test]
fn cmvn_gives_zero_mean_unit_variance_per_feature() {
    let wav = Wav::read(&fixture("7_george_1.wav")).unwrap();
    let m = Features::new(FeatureConfig::default())
        .unwrap()
        .compute(&wav.samples);
    assert_eq!(m.dims, 39);
    for j in 0..m.dims {
        let col: Vec<f64> = (0..m.frames)
            .map(|t| m.values[t * m.dims + j] as f64)
            .collect();
        let mean = col.iter().sum::<f64>() / m.frames as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m.frames as f64;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3,
            "{j}: {mean} {var}"
        );
    }
}

/// A 440 Hz tone of `n` samples at `rate`, amplitude 0.5.
fn tone(n: usize, rate: u32) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 * (std::f64::consts::TAU * 440.0 * i as f64 / rate as f64).sin())
        .collect()
}

fn write_wav(path: &Path, spec: hound::WavSpec, frames: &[f64]) {
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &x in frames {
        for ch in 0..spec.channels {
            // The second channel is silent: the mix-down halves the tone.
            let v = if ch == 0 { x } else { 0.0 };
            match (spec.sample_format, spec.bits_per_sample) {
                (hound::SampleFormat::Float, _) => w.write_sample(v as f32).unwrap(),
                (_, 8) => w.write_sample((v * 127.0).round() as i8).unwrap(),
                (_, 16) => w.write_sample((v * 32767.0).round() as i16).unwrap(),
                (_, bits) => w
                    .write_sample((v * ((1i64 << (bits - 1)) - 1) as f64).round() as i32)
                    .unwrap(),
            }
        }
    }
    w.finalize().unwrap();
}

#[test]
fn every_pcm_format_reads_to_the_same_signal() {
    let x = tone(800, 8000);
    let int = hound::SampleFormat::Int;
    for (bits, format, channels, tolerance) in [
        (8, int, 1, 1.0 / 120.0),
        (16, int, 1, 1e-4),
        (24, int, 1, 1e-6),
        (32, int, 1, 1e-6),
        (32, hound::SampleFormat::Float, 1, 1e-7),
        (16, int, 2, 1e-4),
    ] {
        let spec = hound::WavSpec {
            channels,
            sample_rate: 8000,
            bits_per_sample: bits,
            sample_format: format,
        };
        let p = temp(&format!("tone-{bits}-{format:?}-{channels}.wav"));
        write_wav(&p, spec, &x);
        let w = Wav::read(&p).unwrap();
        assert_eq!((w.sample_rate, w.samples.len()), (8000, 800));
        let scale = 1.0 / channels as f64;
        for (got, want) in w.samples.iter().zip(&x) {
            assert!(
                (*got as f64 - want * scale).abs() <= tolerance,
                "{bits}-bit {format:?} x{channels}: {got} vs {}",
                want * scale
            );
        }
    }
}

#[test]
fn resampling_keeps_the_tone_and_the_duration() {
    let p = temp("tone16k.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    write_wav(&p, spec, &tone(16000, 16000));
    let w = Wav::read_at(&p, 8000).unwrap();
    assert_eq!((w.sample_rate, w.samples.len()), (8000, 8000));
    // Away from the edges the samples are the 8 kHz tone.
    let want = tone(8000, 8000);
    let worst = (500..7500)
        .map(|i| (w.samples[i] as f64 - want[i]).abs())
        .fold(0.0, f64::max);
    assert!(worst < 5e-3, "{worst}");
    // And up again: 22.05 kHz, a ratio that is not a whole number.
    let up = Wav::read(&p).unwrap().resampled(22050).unwrap();
    assert_eq!(up.samples.len(), 22050);
    // Features of a recording at another rate are computed after resampling.
    let f = Features::new(FeatureConfig::default()).unwrap();
    let direct = f.compute(&w.samples);
    let via = f.of_wav(Wav::read(&p).unwrap()).unwrap();
    assert_eq!(direct, via);
}

#[test]
fn bad_files_are_refused_naming_the_file() {
    let err = |p: &Path| Wav::read(p).unwrap_err().to_string();
    let text = temp("notes.wav");
    std::fs::write(&text, "these are not samples").unwrap();
    let e = err(&text);
    assert!(
        e.contains("notes.wav") && e.contains("not a WAV file"),
        "{e}"
    );
    // A header with no samples.
    let empty = temp("empty.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(&empty, spec)
        .unwrap()
        .finalize()
        .unwrap();
    let e = err(&empty);
    assert!(e.contains("empty.wav") && e.contains("no samples"), "{e}");
    // A file cut inside its data.
    let whole = temp("whole.wav");
    write_wav(&whole, spec, &tone(800, 8000));
    let bytes = std::fs::read(&whole).unwrap();
    let cut = temp("cut.wav");
    std::fs::write(&cut, &bytes[..bytes.len() - 301]).unwrap();
    let e = err(&cut);
    assert!(e.contains("cut.wav") && e.contains("truncated"), "{e}");
    // A sample rate of 0 (bytes 24..28 of the canonical header).
    let mut zero = bytes.clone();
    zero[24..28].copy_from_slice(&0u32.to_le_bytes());
    let p = temp("rate0.wav");
    std::fs::write(&p, &zero).unwrap();
    let e = err(&p);
    assert!(
        e.contains("rate0.wav") && e.contains("sample rate of 0"),
        "{e}"
    );
    // A compressed format: the format tag of IMA ADPCM (0x11) instead of PCM.
    let mut adpcm = bytes;
    adpcm[20..22].copy_from_slice(&0x11u16.to_le_bytes());
    let p = temp("adpcm.wav");
    std::fs::write(&p, &adpcm).unwrap();
    let e = err(&p);
    assert!(
        e.contains("adpcm.wav") && e.contains("other than PCM"),
        "{e}"
    );
}

#[test]
fn settings_out_of_range_name_the_field() {
    for (config, field) in [
        (
            FeatureConfig {
                n_mfcc: 50,
                ..Default::default()
            },
            "`n_mfcc`",
        ),
        (
            FeatureConfig {
                hop_ms: 30.0,
                ..Default::default()
            },
            "`hop_ms`",
        ),
        (
            FeatureConfig {
                fmax: Some(5000.0),
                ..Default::default()
            },
            "`fmin` and `fmax`",
        ),
        (
            FeatureConfig {
                delta_width: 4,
                ..Default::default()
            },
            "`delta_width`",
        ),
        (
            FeatureConfig {
                sample_rate: 0,
                ..Default::default()
            },
            "`sample_rate`",
        ),
    ] {
        let e = Features::new(config).unwrap_err().to_string();
        assert!(e.contains(field), "{e}");
    }
}
