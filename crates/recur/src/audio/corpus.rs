//! Lists of labelled recordings: a folder with one subfolder per label, a folder of files named
//! `{label}_….wav`, a CSV manifest `path,label`, or single WAV files.

use crate::error::{Error, Result};
use crate::input::{parse_csv, read_utf8};
use std::path::{Path, PathBuf};

/// Recordings and their labels (empty strings where none was given).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AudioList {
    /// The WAV files.
    pub paths: Vec<PathBuf>,
    /// The label of each file.
    pub labels: Vec<String>,
}

/// Whether `path` names audio input for [`list_audio`]: a folder, a `.wav` file, or a `.csv`
/// whose header has a `path` column.
pub fn is_audio_source(path: &Path) -> bool {
    if path.is_dir() || has_extension(path, "wav") {
        return true;
    }
    has_extension(path, "csv")
        && std::fs::read_to_string(path).is_ok_and(|t| {
            let header = t
                .trim_start_matches('\u{feff}')
                .lines()
                .next()
                .unwrap_or("");
            header
                .split(',')
                .any(|c| c.trim().trim_matches('"') == "path")
        })
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// The recordings named by `path`, sorted by path within a folder:
/// - a folder whose subfolders hold `.wav` files: each file labelled with its subfolder's name
///   (files directly in the folder are then an error);
/// - a folder of `.wav` files: each labelled with the text of its name before the first `_`;
/// - a `.csv` manifest with a `path` column (relative to the manifest's folder) and a `label`
///   column (optional when `labels_required` is false);
/// - a single `.wav` file (no label).
///
/// # Errors
/// [`Error::Format`] naming the folder or manifest (and its row) when no recordings are found,
/// a name has no label, a manifest lacks a column or names a file that does not exist.
pub fn list_audio(path: &Path, labels_required: bool) -> Result<AudioList> {
    if path.is_dir() {
        return list_folder(path, labels_required);
    }
    if has_extension(path, "csv") {
        return read_manifest(path, labels_required);
    }
    if has_extension(path, "wav") {
        if labels_required {
            return Err(Error::format(
                path,
                "a single recording has no label: training and evaluation read a folder or a manifest (path,label)",
            ));
        }
        if !path.is_file() {
            return Err(Error::format(path, "no such file"));
        }
        return Ok(AudioList {
            paths: vec![path.to_path_buf()],
            labels: vec![String::new()],
        });
    }
    Err(Error::format(
        path,
        "not audio input: expected a folder of .wav files, a .wav file or a .csv manifest (path,label)",
    ))
}

/// The `.wav` files directly in `dir` and the subfolders holding any, both sorted.
fn entries(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let p = entry.map_err(|e| Error::io(dir, e))?.path();
        if p.is_dir() {
            folders.push(p);
        } else if has_extension(&p, "wav") {
            files.push(p);
        }
    }
    files.sort();
    folders.sort();
    Ok((files, folders))
}

fn list_folder(dir: &Path, labels_required: bool) -> Result<AudioList> {
    let (files, folders) = entries(dir)?;
    let mut list = AudioList::default();
    for folder in &folders {
        let label = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for f in entries(folder)?.0 {
            list.paths.push(f);
            list.labels.push(label.clone());
        }
    }
    if !list.paths.is_empty() {
        if let Some(stray) = files.first() {
            return Err(Error::format(
                dir,
                format!(
                    "holds both label subfolders and loose .wav files ({}): put every file in the subfolder of its label",
                    stray.display()
                ),
            ));
        }
        return Ok(list);
    }
    for f in files {
        let name = f
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let label = match name.split_once('_') {
            Some((l, _)) if !l.is_empty() => l.to_string(),
            _ if !labels_required => String::new(),
            _ => {
                return Err(Error::format(
                    &f,
                    "no label in the file name: expected {label}_….wav (or one subfolder per label, or a manifest)",
                ))
            }
        };
        list.paths.push(f);
        list.labels.push(label);
    }
    if list.paths.is_empty() {
        return Err(Error::format(
            dir,
            "holds no .wav files (nor subfolders of them)",
        ));
    }
    Ok(list)
}

fn read_manifest(path: &Path, labels_required: bool) -> Result<AudioList> {
    let csv = parse_csv(path, &read_utf8(path)?)?;
    let file_col = csv
        .column("path")
        .ok_or_else(|| Error::format(path, "no 'path' column (a manifest is path,label)"))?;
    let label_col = csv.column("label");
    if label_col.is_none() && labels_required {
        return Err(Error::format(
            path,
            "no 'label' column (a manifest is path,label)",
        ));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut list = AudioList::default();
    for rec in &csv.records {
        let at = |m: String| Error::format(path, format!("row {}: {m}", rec.line));
        let cell = |c: usize| rec.fields.get(c).map_or("", |s| s.trim());
        let name = cell(file_col);
        if name.is_empty() {
            return Err(at("the path is empty".into()));
        }
        let file = base.join(name);
        if !file.is_file() {
            return Err(at(format!("{} does not exist", file.display())));
        }
        let label = label_col.map_or("", cell);
        if labels_required && label.is_empty() {
            return Err(at("the label is empty".into()));
        }
        list.paths.push(file);
        list.labels.push(label.to_string());
    }
    if list.paths.is_empty() {
        return Err(Error::format(path, "no rows"));
    }
    Ok(list)
}
