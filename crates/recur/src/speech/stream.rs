//! Transcribing a recording as it arrives: samples come in chunks, every feature frame is
//! computed as soon as the samples it depends on are there, goes through a unidirectional model
//! with the step API, and is decoded greedily on the spot.
//!
//! A frame depends on the window centred on it (half an FFT ahead) and, with deltas, on the
//! `delta_width / 2` frames after it: that is the lookahead, the latency the features add to a
//! chunk's own length. Each new stretch of frames is computed from the recent samples with
//! enough context before it that they come out exactly as the whole recording's features, so
//! the transcript is the one [`super::train::transcribe_greedy`] gives the whole recording.
//! Features normalised over the whole utterance (`cmvn`, `top_db`) cannot be streamed.

use super::alphabet::BLANK;
use super::model::AcousticModel;
use super::model::StreamState;
use crate::audio::Features;
use crate::error::{Error, Result};
use recur_kernels::Threads;

/// Feature frames of a recording that arrives in chunks: each frame as soon as the samples it
/// depends on are there, equal to the whole recording's frames.
pub struct StreamFeatures<'f> {
    features: &'f Features,
    /// Every sample so far.
    samples: Vec<f32>,
    /// Frames already given out.
    done: usize,
}

impl<'f> StreamFeatures<'f> {
    /// A stream of `features`.
    ///
    /// # Errors
    /// [`Error::Input`] for features normalised over the whole utterance (`cmvn`, `top_db`).
    pub fn new(features: &'f Features) -> Result<Self> {
        let c = features.config();
        if c.cmvn || c.top_db.is_some() {
            return Err(Error::Input(
                "streaming needs features computed frame by frame: this model's use per-utterance normalisation (cmvn) or a dB floor below the utterance's maximum (top_db); train with --no-cmvn --top-db none".into(),
            ));
        }
        Ok(StreamFeatures {
            features,
            samples: Vec::new(),
            done: 0,
        })
    }

    /// Delta frames on each side of a frame (0 without deltas).
    fn delta_radius(&self) -> usize {
        let c = self.features.config();
        if c.deltas == 0 {
            0
        } else {
            c.delta_width / 2
        }
    }

    /// Samples after a frame's centre that it waits for: half an FFT, plus the delta frames.
    pub fn lookahead_samples(&self) -> usize {
        let c = self.features.config();
        c.n_fft() / 2 + self.delta_radius() * c.hop_length()
    }

    /// Adds `chunk` of samples (mono, at the features' rate) and returns the frames it
    /// completes, `[n, F]`.
    pub fn push(&mut self, chunk: &[f32]) -> Vec<f32> {
        self.samples.extend_from_slice(chunk);
        let c = self.features.config();
        let (hop, half) = (c.hop_length(), c.n_fft() / 2);
        // Frame i's own features are final when its window is all in; with deltas, when those
        // of frames max(i, r) - r ..= max(i, r) + r are (the first r frames take the deltas
        // of frame r, as the whole recording's do).
        let Some(ready) = self.samples.len().checked_sub(half) else {
            return Vec::new();
        };
        let base = ready / hop + 1;
        let r = self.delta_radius();
        let end = if base > 2 * r { base - r } else { 0 };
        self.emit(end, false)
    }

    /// Ends the recording: the last frames, computed with its end.
    pub fn finish(&mut self) -> Vec<f32> {
        let total = 1 + self.samples.len() / self.features.config().hop_length();
        self.emit(total, true)
    }

    /// Frames `done..end` (`last`: the recording has ended).
    fn emit(&mut self, end: usize, last: bool) -> Vec<f32> {
        if end <= self.done {
            return Vec::new();
        }
        let c = self.features.config();
        let hop = c.hop_length();
        // Context before the first new frame: its window, the pre-emphasis of the sample
        // before it, and the delta neighbours' windows, all away from the slice's start.
        let context = self.delta_radius() * 2 + c.n_fft().div_ceil(2 * hop) + 2;
        let first = self.done.saturating_sub(context);
        let slice = &self.samples[first * hop..];
        // Deltas over fewer frames than their window narrow it: wait for a whole window.
        if !last && c.deltas > 0 && 1 + slice.len() / hop < c.delta_width {
            return Vec::new();
        }
        let m = self.features.compute(slice);
        let out = m.values[(self.done - first) * m.dims..(end - first) * m.dims].to_vec();
        self.done = end;
        out
    }
}

/// A streaming transcription in progress: [`StreamFeatures`] through
/// [`AcousticModel::step`] and greedy decoding.
pub struct Streamer<'m> {
    model: &'m AcousticModel,
    features: StreamFeatures<'m>,
    state: StreamState,
    /// The previous step's best class (repeats merge).
    previous: Option<u32>,
}

impl<'m> Streamer<'m> {
    /// A stream through `model` of features `features` (the model's own).
    ///
    /// # Errors
    /// [`Error::Input`] for a bidirectional model, features normalised over the utterance
    /// (`cmvn`, `top_db`), or features of another width than the model reads.
    pub fn new(model: &'m AcousticModel, features: &'m Features) -> Result<Self> {
        let dims = features.config().dims();
        if dims != model.config().input_size {
            return Err(Error::Input(format!(
                "the features have {dims} values a frame, the model reads {}",
                model.config().input_size
            )));
        }
        Ok(Streamer {
            state: model.step_state()?,
            features: StreamFeatures::new(features)?,
            model,
            previous: None,
        })
    }

    /// Samples after a frame's centre that its features wait for.
    pub fn lookahead_samples(&self) -> usize {
        self.features.lookahead_samples()
    }

    /// Adds `chunk` of samples (mono, at the features' rate) and returns the labels it
    /// completes.
    ///
    /// # Errors
    /// As [`AcousticModel::step`].
    pub fn push(&mut self, threads: &Threads, chunk: &[f32]) -> Result<Vec<u32>> {
        let frames = self.features.push(chunk);
        self.run(threads, &frames)
    }

    /// Ends the stream: the last frames and step, and their labels.
    ///
    /// # Errors
    /// As [`AcousticModel::step`].
    pub fn finish(&mut self, threads: &Threads) -> Result<Vec<u32>> {
        let frames = self.features.finish();
        let mut labels = self.run(threads, &frames)?;
        if let Some(log_probs) = self.model.finish_steps(threads, &mut self.state)? {
            self.decode(&log_probs, &mut labels);
        }
        Ok(labels)
    }

    fn run(&mut self, threads: &Threads, frames: &[f32]) -> Result<Vec<u32>> {
        let mut labels = Vec::new();
        for frame in frames.chunks_exact(self.model.config().input_size) {
            if let Some(log_probs) = self.model.step(threads, frame, &mut self.state)? {
                self.decode(&log_probs, &mut labels);
            }
        }
        Ok(labels)
    }

    /// Greedy decoding of one more step: its best class, unless a blank or a repeat.
    fn decode(&mut self, log_probs: &[f32], labels: &mut Vec<u32>) {
        let best = (0..log_probs.len())
            .fold(0, |b, j| if log_probs[j] > log_probs[b] { j } else { b })
            as u32;
        if Some(best) != self.previous && best != BLANK {
            labels.push(best);
        }
        self.previous = Some(best);
    }
}
