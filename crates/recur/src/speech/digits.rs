//! A connected-digit corpus from isolated-digit recordings (the Free Spoken Digit Dataset,
//! `{digit}_{speaker}_{index}.wav`, mono 16-bit PCM at 8 kHz): each utterance is one speaker's
//! recordings of 1-7 random digits, joined by random pauses, each digit at a random gain, the
//! whole at a random level. Held-out speakers make the test set only, so the test measures
//! recognition of voices the model never heard. Everything random comes from one seed.
//!
//! The output directory holds `train/NNNNN.wav`, `test/NNNNN.wav`, the manifests `train.csv`
//! and `test.csv` (`path,transcript`, paths relative to the directory, transcripts the digit
//! words `"three one four"`) and `corpus.json` (the settings and, per utterance, its sources).

use crate::error::{Error, Result};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The digit words of the transcripts, by digit.
pub const DIGIT_WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// The sample rate of the recordings and of the corpus.
pub const SAMPLE_RATE: u32 = 8000;

/// How the corpus is drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigitCorpusSettings {
    /// Utterances in the training set.
    pub train: usize,
    /// Utterances in the test set.
    pub test: usize,
    /// Speakers whose recordings make the test set (and only it).
    pub test_speakers: Vec<String>,
    /// Fewest digits in an utterance.
    pub min_digits: usize,
    /// Most digits in an utterance.
    pub max_digits: usize,
    /// Pause between two digits, drawn uniformly from this range of milliseconds.
    pub pause_ms: (f64, f64),
    /// Silence before the first and after the last digit, milliseconds (uniform).
    pub edge_ms: (f64, f64),
    /// Each digit's gain and the utterance's level, each drawn uniformly within `±gain_db`.
    pub gain_db: f64,
    /// Standard deviation of the background noise under the whole utterance, in full scale
    /// (`1e-3` is -60 dBFS), so that pauses are not digital silence.
    pub noise: f64,
    /// Seed of every draw.
    pub seed: u64,
}

impl Default for DigitCorpusSettings {
    /// 2,000 training and 500 test utterances of 1-7 digits, `theo` held out, pauses of
    /// 0-300 ms, edges of 50-300 ms, gains within ±6 dB, noise at -60 dBFS, seed 1.
    fn default() -> Self {
        DigitCorpusSettings {
            train: 2000,
            test: 500,
            test_speakers: vec!["theo".into()],
            min_digits: 1,
            max_digits: 7,
            pause_ms: (0.0, 300.0),
            edge_ms: (50.0, 300.0),
            gain_db: 6.0,
            noise: 1e-3,
            seed: 1,
        }
    }
}

impl DigitCorpusSettings {
    /// Checks ranges; messages name the setting as `` `field` ``.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        if self.min_digits == 0 || self.min_digits > self.max_digits {
            return Err(Error::Config(format!(
                "`min_digits` {} and `max_digits` {} must satisfy 1 <= min <= max",
                self.min_digits, self.max_digits
            )));
        }
        for (field, (lo, hi)) in [("pause_ms", self.pause_ms), ("edge_ms", self.edge_ms)] {
            if !(lo >= 0.0 && lo <= hi && hi <= 10_000.0) {
                return Err(Error::Config(format!(
                    "`{field}` must be a range within 0..=10000 ms, got {lo}..{hi}"
                )));
            }
        }
        if !(0.0..=40.0).contains(&self.gain_db) || !(0.0..=0.5).contains(&self.noise) {
            return Err(Error::Config(format!(
                "`gain_db` must be in [0, 40] and `noise` in [0, 0.5], got {} and {}",
                self.gain_db, self.noise
            )));
        }
        if self.train + self.test == 0 {
            return Err(Error::Config("`train` and `test` are both 0".into()));
        }
        Ok(())
    }
}

/// One isolated-digit recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// The digit spoken.
    pub digit: u8,
    /// Who spoke it.
    pub speaker: String,
    /// The file.
    pub path: PathBuf,
}

/// The recordings in `dir`, sorted by file name: every `.wav` named `{digit}_{speaker}_{index}`.
///
/// # Errors
/// [`Error::Io`] when `dir` cannot be listed; [`Error::Input`] for a `.wav` file whose name is
/// not of that form, or a folder without any.
pub fn list_recordings(dir: &Path) -> Result<Vec<Recording>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("wav") {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let parts: Vec<&str> = stem.split('_').collect();
        let digit = match parts.as_slice() {
            [d, speaker, index]
                if d.len() == 1 && !speaker.is_empty() && index.parse::<u32>().is_ok() =>
            {
                d.parse::<u8>().ok()
            }
            _ => None,
        };
        let Some(digit) = digit else {
            return Err(Error::Input(format!(
                "{}: expected a name {{digit}}_{{speaker}}_{{index}}.wav",
                path.display()
            )));
        };
        out.push(Recording {
            digit,
            speaker: parts[1].to_owned(),
            path,
        });
    }
    if out.is_empty() {
        return Err(Error::Input(format!(
            "{}: no {{digit}}_{{speaker}}_{{index}}.wav recordings",
            dir.display()
        )));
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// One digit of a planned utterance.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// Index of the recording.
    pub recording: usize,
    /// Silence before it, in samples.
    pub pause: usize,
    /// Its gain (linear).
    pub gain: f32,
}

/// One utterance of the corpus, fully drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    /// `"train"` or `"test"`.
    pub split: String,
    /// The speaker.
    pub speaker: String,
    /// The digits and how they are joined.
    pub parts: Vec<Part>,
    /// Silence after the last digit, in samples.
    pub tail: usize,
    /// The utterance's level (linear).
    pub level: f32,
    /// Seed of its background noise.
    pub noise_seed: u64,
    /// The digit words.
    pub transcript: String,
}

/// Draws every utterance of the corpus from `recordings` under `settings`.
///
/// # Errors
/// [`Error::Config`] for settings out of range; [`Error::Input`] when a test speaker has no
/// recordings, or a split's speakers lack a digit.
pub fn plan(recordings: &[Recording], settings: &DigitCorpusSettings) -> Result<Vec<Planned>> {
    settings.validate()?;
    let mut speakers: Vec<&str> = recordings.iter().map(|r| r.speaker.as_str()).collect();
    speakers.sort_unstable();
    speakers.dedup();
    for s in &settings.test_speakers {
        if !speakers.contains(&s.as_str()) {
            return Err(Error::Input(format!(
                "test speaker {s:?} has no recordings (speakers: {})",
                speakers.join(", ")
            )));
        }
    }
    let is_test = |s: &str| settings.test_speakers.iter().any(|t| t == s);
    let mut rng = Rng::new(settings.seed);
    let mut out = Vec::with_capacity(settings.train + settings.test);
    for (split, count, test) in [
        ("train", settings.train, false),
        ("test", settings.test, true),
    ] {
        let pool: Vec<&str> = speakers
            .iter()
            .copied()
            .filter(|s| is_test(s) == test)
            .collect();
        if count > 0 && pool.is_empty() {
            return Err(Error::Input(format!(
                "no speakers left for the {split} set"
            )));
        }
        // Per speaker and digit, the recordings to draw from.
        let mut by_digit: Vec<[Vec<usize>; 10]> = vec![Default::default(); pool.len()];
        for (i, r) in recordings.iter().enumerate() {
            if let Some(k) = pool.iter().position(|&s| s == r.speaker) {
                by_digit[k][usize::from(r.digit.min(9))].push(i);
            }
        }
        if let Some((k, d)) = (0..pool.len())
            .flat_map(|k| (0..10).map(move |d| (k, d)))
            .find(|&(k, d)| by_digit[k][d].is_empty())
        {
            return Err(Error::Input(format!(
                "speaker {:?} has no recording of the digit {d}",
                pool[k]
            )));
        }
        for _ in 0..count {
            let k = rng.below(pool.len());
            out.push(draw(&mut rng, settings, (split, pool[k]), &by_digit[k]));
        }
    }
    Ok(out)
}

/// One utterance of `speaker`'s recordings.
fn draw(
    rng: &mut Rng,
    s: &DigitCorpusSettings,
    (split, speaker): (&str, &str),
    by_digit: &[Vec<usize>; 10],
) -> Planned {
    let samples = |ms: (f64, f64), rng: &mut Rng| {
        (rng.uniform_range(ms.0, ms.1.max(ms.0 + 1e-9)) * f64::from(SAMPLE_RATE) / 1000.0) as usize
    };
    let gain =
        |rng: &mut Rng| 10f64.powf(rng.uniform_range(-s.gain_db, s.gain_db + 1e-12) / 20.0) as f32;
    let n = s.min_digits + rng.below(s.max_digits - s.min_digits + 1);
    let mut parts = Vec::with_capacity(n);
    let mut words = Vec::with_capacity(n);
    for i in 0..n {
        let digit = rng.below(10);
        let choices = &by_digit[digit];
        let pause = if i == 0 {
            samples(s.edge_ms, rng)
        } else {
            samples(s.pause_ms, rng)
        };
        parts.push(Part {
            recording: choices[rng.below(choices.len())],
            pause,
            gain: gain(rng),
        });
        words.push(DIGIT_WORDS[digit]);
    }
    Planned {
        split: split.into(),
        speaker: speaker.into(),
        parts,
        tail: samples(s.edge_ms, rng),
        level: gain(rng),
        noise_seed: rng.next_u64(),
        transcript: words.join(" "),
    }
}

/// The samples of `utterance` (in `[-1, 1]`), given each recording's samples.
pub fn render(utterance: &Planned, sources: &[Vec<f32>], noise: f64) -> Vec<f32> {
    let mut out = Vec::new();
    for p in &utterance.parts {
        out.extend(std::iter::repeat_n(0.0f32, p.pause));
        out.extend(sources[p.recording].iter().map(|&v| v * p.gain));
    }
    out.extend(std::iter::repeat_n(0.0f32, utterance.tail));
    let mut rng = Rng::new(utterance.noise_seed);
    for v in &mut out {
        *v = (*v * utterance.level + (noise * rng.normal()) as f32).clamp(-1.0, 1.0);
    }
    out
}

/// Reads a recording: mono 16-bit PCM at [`SAMPLE_RATE`], as samples in `[-1, 1)`.
///
/// # Errors
/// [`Error::Format`] naming the file when it is not such a WAV file.
pub fn read_recording(path: &Path) -> Result<Vec<f32>> {
    let reader = hound::WavReader::open(path)
        .map_err(|e| Error::format(path, format!("not a readable WAV file ({e})")))?;
    let spec = reader.spec();
    if spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
        || spec.sample_rate != SAMPLE_RATE
    {
        return Err(Error::format(
            path,
            format!(
                "{} channel(s), {}-bit {:?} at {} Hz; expected mono 16-bit PCM at {SAMPLE_RATE} Hz",
                spec.channels, spec.bits_per_sample, spec.sample_format, spec.sample_rate
            ),
        ));
    }
    reader
        .into_samples::<i16>()
        .map(|s| s.map(|v| f32::from(v) / 32768.0))
        .collect::<std::result::Result<Vec<f32>, _>>()
        .map_err(|e| Error::format(path, format!("truncated or corrupt samples ({e})")))
}

/// Writes `samples` (in `[-1, 1]`) as mono 16-bit PCM at [`SAMPLE_RATE`].
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_wav(path: &Path, samples: &[f32]) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let io = |e: hound::Error| match e {
        hound::Error::IoError(e) => Error::io(path, e),
        other => Error::io(path, std::io::Error::other(other.to_string())),
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(io)?;
    for &v in samples {
        w.write_sample((v * 32767.0).round() as i16).map_err(io)?;
    }
    w.finalize().map_err(io)
}

/// What [`build`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Built {
    /// Utterances per split (train, test).
    pub utterances: (usize, usize),
    /// Seconds of audio per split (train, test).
    pub seconds: (f64, f64),
}

/// Draws the corpus from the recordings in `source` and writes it into `dir` (an empty folder,
/// such as a run directory's temporary copy): WAVs, manifests and `corpus.json`.
///
/// # Errors
/// As [`list_recordings`], [`plan`] and [`read_recording`]; [`Error::Io`] naming a file that
/// cannot be written.
pub fn build(source: &Path, settings: &DigitCorpusSettings, dir: &Path) -> Result<Built> {
    let recordings = list_recordings(source)?;
    let planned = plan(&recordings, settings)?;
    let mut used = vec![false; recordings.len()];
    for p in planned.iter().flat_map(|u| &u.parts) {
        used[p.recording] = true;
    }
    let sources = recordings
        .iter()
        .zip(&used)
        .map(|(r, &u)| {
            if u {
                read_recording(&r.path)
            } else {
                Ok(Vec::new())
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let mut manifests = [
        String::from("path,transcript\n"),
        String::from("path,transcript\n"),
    ];
    let (mut counts, mut seconds) = ([0usize; 2], [0.0f64; 2]);
    for split in ["train", "test"] {
        let sub = dir.join(split);
        std::fs::create_dir_all(&sub).map_err(|e| Error::io(&sub, e))?;
    }
    for u in &planned {
        let s = usize::from(u.split == "test");
        counts[s] += 1;
        let name = format!("{}/{:05}.wav", u.split, counts[s]);
        let samples = render(u, &sources, settings.noise);
        seconds[s] += samples.len() as f64 / f64::from(SAMPLE_RATE);
        write_wav(&dir.join(&name), &samples)?;
        manifests[s].push_str(&format!("{name},{}\n", u.transcript));
    }
    for (s, split) in ["train", "test"].iter().enumerate() {
        let path = dir.join(format!("{split}.csv"));
        std::fs::write(&path, &manifests[s]).map_err(|e| Error::io(&path, e))?;
    }
    let record = serde_json::json!({
        "settings": settings,
        "sources": recordings.iter().map(|r| r.path.file_name().map(|n| n.to_string_lossy().into_owned())).collect::<Vec<_>>(),
        "utterances": planned,
    });
    let path = dir.join("corpus.json");
    std::fs::write(&path, format!("{record:#}\n")).map_err(|e| Error::io(&path, e))?;
    Ok(Built {
        utterances: (counts[0], counts[1]),
        seconds: (seconds[0], seconds[1]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recordings() -> Vec<Recording> {
        let mut out = Vec::new();
        for speaker in ["ann", "bob", "cy"] {
            for digit in 0..10u8 {
                for index in 0..2 {
                    out.push(Recording {
                        digit,
                        speaker: speaker.into(),
                        path: format!("{digit}_{speaker}_{index}.wav").into(),
                    });
                }
            }
        }
        out
    }

    #[test]
    fn plans_keep_speakers_apart_and_are_seeded() {
        let recs = recordings();
        let s = DigitCorpusSettings {
            train: 200,
            test: 50,
            test_speakers: vec!["cy".into()],
            ..Default::default()
        };
        let planned = plan(&recs, &s).unwrap();
        assert_eq!(planned, plan(&recs, &s).unwrap());
        assert_ne!(
            planned,
            plan(
                &recs,
                &DigitCorpusSettings {
                    seed: 2,
                    ..s.clone()
                }
            )
            .unwrap()
        );
        assert_eq!(planned.iter().filter(|u| u.split == "test").count(), 50);
        let mut lengths = std::collections::BTreeSet::new();
        for u in &planned {
            let test = u.split == "test";
            assert_eq!(u.speaker == "cy", test);
            lengths.insert(u.parts.len());
            let words: Vec<&str> = u.transcript.split(' ').collect();
            assert_eq!(words.len(), u.parts.len());
            for (p, w) in u.parts.iter().zip(words) {
                let r = &recs[p.recording];
                // Every digit is the utterance's speaker saying the transcript's word.
                assert_eq!(
                    (r.speaker.as_str(), DIGIT_WORDS[usize::from(r.digit)]),
                    (u.speaker.as_str(), w)
                );
                assert!((0.5..=2.0).contains(&p.gain));
            }
            let first = u.parts[0].pause as f64 / 8.0;
            assert!((50.0..=300.0).contains(&first), "{first} ms");
        }
        assert_eq!(lengths, (1..=7).collect());
        let missing = DigitCorpusSettings {
            test_speakers: vec!["dee".into()],
            ..s.clone()
        };
        assert!(plan(&recs, &missing)
            .unwrap_err()
            .to_string()
            .contains("\"dee\""));
    }

    #[test]
    fn rendering_joins_pauses_and_recordings() {
        let u = Planned {
            split: "train".into(),
            speaker: "ann".into(),
            parts: vec![
                Part {
                    recording: 0,
                    pause: 2,
                    gain: 1.0,
                },
                Part {
                    recording: 1,
                    pause: 1,
                    gain: 0.5,
                },
            ],
            tail: 3,
            level: 2.0,
            noise_seed: 0,
            transcript: "zero one".into(),
        };
        let sources = vec![vec![0.1, 0.2], vec![0.4]];
        let out = render(&u, &sources, 0.0);
        let want = [0.0, 0.0, 0.2, 0.4, 0.0, 0.4, 0.0, 0.0, 0.0];
        assert_eq!(out.len(), want.len());
        assert!(
            out.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-7),
            "{out:?}"
        );
    }
}
