//! Transcribed recordings listed in a CSV manifest: a header with the columns `path` and
//! `transcript` (others are ignored), one recording a row, paths relative to the manifest's
//! folder.

use crate::error::{Error, Result};
use crate::input::{parse_csv, read_utf8};
use std::path::{Path, PathBuf};

/// One row of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The recording (the manifest's folder joined with the row's path).
    pub path: PathBuf,
    /// What was said (whitespace-trimmed; may be empty for silence).
    pub transcript: String,
    /// The manifest line the row starts on.
    pub line: usize,
}

/// Reads the manifest `path`.
///
/// # Errors
/// [`Error::Io`] when it cannot be read; [`Error::Format`] naming the manifest (and the line)
/// for a missing column, an empty path, a recording that does not exist, or no rows.
pub fn read_manifest(path: &Path) -> Result<Vec<Entry>> {
    let csv = parse_csv(path, &read_utf8(path)?)?;
    let column = |name: &str| {
        csv.column(name).ok_or_else(|| {
            Error::format(
                path,
                format!("no '{name}' column (a transcript manifest is path,transcript)"),
            )
        })
    };
    let (file_col, text_col) = (column("path")?, column("transcript")?);
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::with_capacity(csv.records.len());
    for rec in &csv.records {
        let at = |m: String| Error::format(path, format!("line {}: {m}", rec.line));
        let cell = |c: usize| rec.fields.get(c).map_or("", |s| s.trim());
        let name = cell(file_col);
        if name.is_empty() {
            return Err(at("the path is empty".into()));
        }
        let file = base.join(name);
        if !file.is_file() {
            return Err(at(format!("{} does not exist", file.display())));
        }
        out.push(Entry {
            path: file,
            transcript: cell(text_col).to_owned(),
            line: rec.line,
        });
    }
    if out.is_empty() {
        return Err(Error::format(path, "lists no recordings"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_resolve_against_the_manifest_folder_and_bad_rows_are_named() {
        let dir = std::env::temp_dir().join(format!("recur-manifest-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(dir.join("a/x.wav"), b"RIFF").unwrap();
        let m = dir.join("m.csv");
        std::fs::write(&m, "path,transcript\na/x.wav, one two \n").unwrap();
        let rows = read_manifest(&m).unwrap();
        assert_eq!(rows[0].path, dir.join("a/x.wav"));
        assert_eq!(rows[0].transcript, "one two");
        std::fs::write(&m, "path,transcript\na/x.wav,one\na/missing.wav,two\n").unwrap();
        let e = read_manifest(&m).unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("missing.wav does not exist"),
            "{e}"
        );
        std::fs::write(&m, "path,label\na/x.wav,one\n").unwrap();
        let e = read_manifest(&m).unwrap_err().to_string();
        assert!(e.contains("no 'transcript' column"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
