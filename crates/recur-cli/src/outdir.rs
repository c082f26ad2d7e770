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

/// Refuses an output file (`flag`) that would overwrite one of the command's inputs or a file
/// of the checkpoint it reads.
///
/// # Errors
/// [`recur::Error::Input`] naming the flag and the file it would replace.
pub fn check_output_file(
    flag: &str,
    out: &Path,
    inputs: &[&Path],
    checkpoint: &Path,
) -> Result<()> {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    let Some(target) = canon(out).or_else(|| {
        // Not there yet: it can only clash through its directory.
        let dir = out.parent().filter(|d| !d.as_os_str().is_empty())?;
        Some(canon(dir)?.join(out.file_name()?))
    }) else {
        return Ok(());
    };
    if let Some(input) = inputs.iter().find(|p| canon(p).as_ref() == Some(&target)) {
        return Err(recur::Error::Input(format!(
            "{flag} {}: that is the input {}; choose another file",
            out.display(),
            input.display()
        )));
    }
    if let Some(ck) = canon(checkpoint) {
        let recur_file = target.strip_prefix(&ck).is_ok_and(|rest| {
            rest.components().any(|c| {
                recur::rundir::RECUR_FILES
                    .iter()
                    .any(|f| c.as_os_str() == *f)
            })
        });
        if recur_file {
            return Err(recur::Error::Input(format!(
                "{flag} {}: that would replace a file of the checkpoint {}; write it elsewhere",
                out.display(),
                checkpoint.display()
            )));
        }
    }
    Ok(())
}

/// Checkpoints offered after validations are saved at most every [`SAVE_EVERY_S`] seconds, so
/// that saving stays a small share of training (the end of a run is always saved).
pub const SAVE_EVERY_S: f64 = 5.0;

/// When the last checkpoint of a run was saved.
#[derive(Clone, Copy, Debug, Default)]
pub struct SaveThrottle(Option<std::time::Instant>);

impl SaveThrottle {
    /// Whether a checkpoint offered now is saved (none in the last [`SAVE_EVERY_S`] seconds).
    pub fn due(&self) -> bool {
        self.0
            .is_none_or(|t| t.elapsed().as_secs_f64() >= SAVE_EVERY_S)
    }

    /// Notes a save made now.
    pub fn saved(&mut self) {
        self.0 = Some(std::time::Instant::now());
    }
}
