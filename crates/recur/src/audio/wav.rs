//! WAV files in: integer PCM of 8, 16, 24 or 32 bits and 32-bit float, any number of channels
//! (mixed down to mono), as `f32` samples in [-1, 1]; resampling to another rate.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// A mono recording: samples in [-1, 1] at `sample_rate` samples per second.
#[derive(Clone, Debug, PartialEq)]
pub struct Wav {
    /// Samples in [-1, 1] (the channels' mean for a file of several channels).
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
    /// The file it was read from, if any (named in errors).
    pub source: Option<PathBuf>,
}

impl Wav {
    /// Reads a WAV file: integer PCM of 8, 16, 24 or 32 bits (scaled by `2^(bits-1)`, so that
    /// full scale is ±1) or 32-bit float PCM (clamped to [-1, 1]); several channels are mixed
    /// down to their mean.
    ///
    /// # Errors
    /// [`Error::Format`] naming `path` for a file that is not a WAV file, a compressed or other
    /// non-PCM format, a sample rate of 0, no samples, or a data chunk cut short (a truncated
    /// file); [`Error::Io`] when it cannot be opened.
    pub fn read(path: &Path) -> Result<Wav> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let reader = hound::WavReader::new(std::io::BufReader::new(file)).map_err(|e| {
            // hound refuses a rate of 0 as an inconsistent header; say what is wrong with it.
            if declared_rate(path) == Some(0) {
                return Error::format(path, "the WAV header gives a sample rate of 0");
            }
            Error::format(path, why(e))
        })?;
        let spec = reader.spec();
        if spec.sample_rate == 0 {
            return Err(Error::format(
                path,
                "the WAV header gives a sample rate of 0",
            ));
        }
        if let Some(m) = unsupported(spec) {
            return Err(Error::format(path, m));
        }
        let channels = usize::from(spec.channels.max(1));
        let declared = reader.len() as usize;
        let interleaved = samples(reader, spec).map_err(|e| {
            Error::format(
                path,
                format!("{} (the header declares {declared} samples)", why(e)),
            )
        })?;
        if interleaved.len() < channels {
            return Err(Error::format(path, "the WAV file holds no samples"));
        }
        let scale = 1.0 / channels as f32;
        let samples = interleaved
            .chunks_exact(channels)
            .map(|frame| (frame.iter().sum::<f32>() * scale).clamp(-1.0, 1.0))
            .collect();
        Ok(Wav {
            samples,
            sample_rate: spec.sample_rate,
            source: Some(path.to_path_buf()),
        })
    }

    /// [`Wav::read`], then [`Wav::resampled`] to `sample_rate` when the file's rate differs.
    ///
    /// # Errors
    /// As [`Wav::read`] and [`Wav::resampled`].
    pub fn read_at(path: &Path, sample_rate: u32) -> Result<Wav> {
        Wav::read(path)?.resampled(sample_rate)
    }

    /// Seconds of audio.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate.max(1) as f64
    }

    /// The recording at `sample_rate` (itself when the rate is already that): band-limited
    /// resampling by `rubato`'s synchronous FFT resampler, aligned so that the output starts
    /// where the input does, `round(n * to / from)` samples long.
    ///
    /// # Errors
    /// [`Error::Config`] for a target rate of 0; [`Error::Input`] naming the file when the
    /// resampler refuses the pair of rates.
    pub fn resampled(self, sample_rate: u32) -> Result<Wav> {
        if sample_rate == 0 {
            return Err(Error::Config(
                "the target sample rate must be above 0".into(),
            ));
        }
        if sample_rate == self.sample_rate {
            return Ok(self);
        }
        use rubato::audioadapter::Adapter;
        use rubato::Resampler;
        let name = self
            .source
            .as_ref()
            .map_or("audio".to_string(), |p| p.display().to_string());
        let fail = |e: &dyn std::fmt::Display| {
            Error::Input(format!(
                "{name}: cannot resample from {} Hz to {sample_rate} Hz ({e})",
                self.sample_rate
            ))
        };
        let mut resampler = rubato::Fft::<f32>::new(
            self.sample_rate as usize,
            sample_rate as usize,
            1024,
            1,
            rubato::FixedSync::Both,
        )
        .map_err(|e| fail(&e))?;
        let n = self.samples.len();
        let input =
            rubato::audioadapter_buffers::direct::InterleavedSlice::new(&self.samples, 1, n)
                .map_err(|e| fail(&e))?;
        let out = resampler
            .process_all(&input, n, None)
            .map_err(|e| fail(&e))?;
        let want = (n as f64 * sample_rate as f64 / self.sample_rate as f64).round() as usize;
        let mut samples: Vec<f32> = (0..out.frames().min(want))
            .map(|i| out.read_sample(0, i).unwrap_or(0.0).clamp(-1.0, 1.0))
            .collect();
        samples.resize(want.max(1), 0.0);
        Ok(Wav {
            samples,
            sample_rate,
            source: self.source,
        })
    }
}

/// Whether the samples are a kind this reader scales: `None` when they are, otherwise what is
/// wrong with them.
fn unsupported(spec: hound::WavSpec) -> Option<String> {
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) | (hound::SampleFormat::Int, 8 | 16 | 24 | 32) => None,
        (hound::SampleFormat::Float, bits) => {
            Some(format!("{bits}-bit float samples (32-bit float is read)"))
        }
        (hound::SampleFormat::Int, bits) => Some(format!(
            "{bits}-bit integer samples (8, 16, 24 or 32 bits are read)"
        )),
    }
}

/// The interleaved samples of every channel, scaled to [-1, 1] (the format is one that
/// [`unsupported`] accepts).
fn samples<R: std::io::Read>(
    mut reader: hound::WavReader<R>,
    spec: hound::WavSpec,
) -> std::result::Result<Vec<f32>, hound::Error> {
    if spec.sample_format == hound::SampleFormat::Float {
        return reader.samples::<f32>().collect();
    }
    let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f64;
    reader
        .samples::<i32>()
        .map(|s| s.map(|v| (v as f64 * scale) as f32))
        .collect()
}

/// The sample rate in the `fmt ` chunk of the file's first 4 KiB, if there is one.
fn declared_rate(path: &Path) -> Option<u32> {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .ok()?
        .take(4096)
        .read_to_end(&mut head)
        .ok()?;
    let at = head.windows(4).position(|w| w == b"fmt ")?;
    let bytes = head.get(at + 12..at + 16)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// What is wrong with the file, in words.
fn why(e: hound::Error) -> String {
    match e {
        // hound reports a short read as "Failed to read enough bytes."
        hound::Error::IoError(e)
            if e.kind() == std::io::ErrorKind::UnexpectedEof
                || e.to_string().contains("enough bytes") =>
        {
            "the file ends inside its header or data: truncated WAV".into()
        }
        hound::Error::IoError(e) => format!("cannot be read ({e})"),
        hound::Error::FormatError(m) if m.contains("RIFF") || m.contains("WAVE") => {
            format!("not a WAV file ({m})")
        }
        hound::Error::FormatError(m) => format!("not a readable WAV file: {m}"),
        hound::Error::Unsupported => {
            "a WAV format other than PCM (compressed audio, e.g. ADPCM, A-law, MP3 in WAV, is not read; convert it to PCM)"
                .into()
        }
        hound::Error::UnfinishedSample => {
            "the data chunk ends inside a sample: truncated WAV".into()
        }
        hound::Error::TooWide => "samples wider than 32 bits".into(),
        e => e.to_string(),
    }
}
