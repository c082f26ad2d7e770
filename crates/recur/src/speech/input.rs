//! Recordings into the acoustic model's input: WAV files read ([`Wav`]) and turned into feature
//! frames ([`Features`]), spread over threads.

use super::manifest::Entry;
use super::train::{Corpus, Utterance};
use crate::audio::{Features, Wav};
use crate::error::Result;
use recur_kernels::Threads;
use std::path::Path;
use std::sync::Mutex;

/// The feature frames `[T, F]` of every file of `paths`, in order (files spread over `threads`;
/// the results do not depend on their number).
///
/// # Errors
/// The first file's error, in the order of `paths`, for a file that cannot be read as a WAV.
pub fn features_of(
    paths: &[&Path],
    features: &Features,
    threads: &Threads,
) -> Result<Vec<Vec<f32>>> {
    let slots: Vec<Mutex<Option<Result<Vec<f32>>>>> =
        paths.iter().map(|_| Mutex::new(None)).collect();
    threads.for_each(paths.len(), |i| {
        let out = Wav::read(paths[i])
            .and_then(|w| features.of_wav(w))
            .map(|m| m.values);
        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
    });
    slots
        .into_iter()
        .map(|s| {
            s.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| Ok(Vec::new()))
        })
        .collect()
}

/// The utterances of a manifest's rows with their feature frames.
///
/// # Errors
/// As [`features_of`].
pub fn corpus_of(entries: &[Entry], features: &Features, threads: &Threads) -> Result<Corpus> {
    let paths: Vec<&Path> = entries.iter().map(|e| e.path.as_path()).collect();
    let frames = features_of(&paths, features, threads)?;
    Ok(Corpus {
        input_size: features.config().dims(),
        utterances: frames
            .into_iter()
            .zip(entries)
            .map(|(frames, e)| Utterance {
                frames,
                transcript: e.transcript.clone(),
            })
            .collect(),
    })
}
