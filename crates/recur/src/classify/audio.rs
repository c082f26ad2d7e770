//! Recordings as classification data: every WAV file of a folder or manifest
//! ([`crate::audio::corpus::list_audio`]) turned into frames of speech features.

use super::data::{Dataset, Item};
use crate::audio::corpus::{list_audio, AudioList};
use crate::audio::{Features, Wav};
use crate::error::Result;
use std::path::Path;

/// The recordings named by `path` (a folder with one subfolder per label, a folder of
/// `{label}_….wav` files, a `path,label` CSV manifest, or a single `.wav` when labels are not
/// required) as sequences of `features` frames, with their labels (empty where none).
///
/// # Errors
/// As [`list_audio`] and [`Wav::read`]: each names the folder, manifest row or WAV file at
/// fault.
pub fn read_audio(path: &Path, features: &Features, labels_required: bool) -> Result<Dataset> {
    let list = list_audio(path, labels_required)?;
    audio_dataset(&list, features, path)
}

/// The recordings of `list` as sequences of `features` frames; `source` is named as the data's
/// origin.
///
/// # Errors
/// As [`Wav::read`] for any file of the list.
pub fn audio_dataset(list: &AudioList, features: &Features, source: &Path) -> Result<Dataset> {
    let mut items = Vec::with_capacity(list.paths.len());
    for p in &list.paths {
        let m = features.of_wav(Wav::read(p)?)?;
        items.push(Item::Numeric(m.values));
    }
    Ok(Dataset {
        dims: features.config().dims(),
        items,
        labels: list.labels.clone(),
        source: Some(source.to_path_buf()),
        lines: Vec::new(),
        targets: Vec::new(),
    })
}
