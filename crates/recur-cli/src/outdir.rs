//! Where a command writes its run: the `--out` flag, or a numbered default directory.

use recur::rundir::{numbered, OutPolicy, RunDir};
use recur::Result;
use std::path::Path;

/// Opens `--out` for a new run (refused when it holds files, unless `overwrite`), or without the
/// flag the first free directory among `default`, `default-2`, `default-3`, … so that a run never
/// replaces the previous one unasked.
///
/// # Errors
/// [`recur::Error::OutputExists`] when `--out` holds files and `overwrite` is not set.
pub fn open(out: Option<&Path>, default: &str, overwrite: bool) -> Result<RunDir> {
    match out {
        Some(out) => RunDir::open(
            out,
            if overwrite {
                OutPolicy::Overwrite
            } else {
                OutPolicy::Fresh
            },
        ),
        None => RunDir::open(&numbered(Path::new(default)), OutPolicy::Fresh),
    }
}
