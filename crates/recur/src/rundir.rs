//! Output directories of runs: a fresh run never replaces another run's files unless asked, never
//! deletes files recur did not write, and every save replaces the directory's contents atomically,
//! so that at every instant a complete, loadable checkpoint is in place.
//!
//! A save writes the new contents into a temporary sibling (`.NAME.tmp-PID`), links into it every
//! entry of the current directory that the new contents do not replace (`best/`, the user's own
//! files), flushes it to disk, and exchanges it with the directory in one `renameat2(…,
//! RENAME_EXCHANGE)` call (Linux). Where the exchange is not available the old directory is first
//! renamed to `.NAME.old-PID`, and a later [`RunDir::open`] puts it back if the process died
//! between the two renames. Temporary siblings left by killed runs are removed when a run next
//! opens the directory.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Names of the files and directories that recur's commands write into an output directory.
/// A run allowed to overwrite an earlier one replaces exactly these; anything else is kept.
pub const RECUR_FILES: &[&str] = &[
    "config.json",
    "model.safetensors",
    "optim.safetensors",
    "state.json",
    "metrics.jsonl",
    "metrics.json",
    "loss.svg",
    "samples.txt",
    "best",
    "report.json",
    "confusion.svg",
    "cv_report.json",
    "forecast.csv",
    "forecast.svg",
    "members",
    "curves.svg",
    "gradients.svg",
    "gradients.csv",
    "gradients.json",
    TRIALS,
];

/// The folder of a run directory where `recur forecast --transform auto` saves its finished
/// trials, one folder per transform: every folder in it is recur's.
pub const TRIALS: &str = crate::forecast::auto::TRIALS_DIR;

/// What a run may do with an output directory that already holds files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutPolicy {
    /// A new run: the directory must not exist or be empty ([`Error::OutputExists`] otherwise).
    Fresh,
    /// A new run that replaces an earlier run's files (those in [`RECUR_FILES`]) at its first
    /// save; other files are kept.
    Overwrite,
    /// The run that wrote the directory continues: its files stay, later saves replace them.
    Resume,
}

/// An output directory opened by a run; [`RunDir::save`] replaces its contents atomically.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    drop_previous: bool,
    _lock: Lock,
}

/// `.NAME.lock` beside a run directory, holding the PID of the run that writes it: a second run
/// into the same directory is refused while the first runs. Removed when the run ends; a lock
/// left by a process that no longer runs is taken over.
#[derive(Debug)]
struct Lock(PathBuf);

impl Lock {
    fn take(parent: &Path, name: &str, dir: &Path) -> Result<Lock> {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let path = parent.join(format!(".{name}.lock"));
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(Lock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if alive(pid) && pid != std::process::id() => {
                            return Err(Error::Input(format!(
                                "{}: another recur run (process {pid}) is writing there; wait for it or choose another output directory",
                                dir.display()
                            )));
                        }
                        _ => {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Err(Error::Input(format!(
            "{}: could not take the lock {}",
            dir.display(),
            path.display()
        )))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl RunDir {
    /// Opens `path` for a run under `policy`: recovers a directory left mid-swap by a killed
    /// process, removes temporary siblings of killed runs, and checks the policy. Creates nothing.
    ///
    /// # Errors
    /// [`Error::OutputExists`] for a fresh run into a directory that holds files;
    /// [`Error::Format`] when `path` is a file or, resuming, does not exist; [`Error::Io`] when
    /// the directory cannot be read.
    pub fn open(path: &Path, policy: OutPolicy) -> Result<RunDir> {
        // A link to a directory: the run writes into the directory it points to.
        let resolved;
        let path = if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            resolved = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
            resolved.as_path()
        } else {
            path
        };
        let (parent, name) = split(path)?;
        recover(&parent, &name, path)?;
        remove_stale(&parent, &name);
        if path.exists() && !path.is_dir() {
            return Err(Error::format(path, "exists and is not a directory"));
        }
        let empty = !path.exists() || is_empty(path)?;
        let lock = Lock::take(&parent, &name, path)?;
        match policy {
            OutPolicy::Fresh if !empty => Err(Error::OutputExists(path.to_path_buf())),
            OutPolicy::Resume if !path.is_dir() => {
                Err(Error::format(path, "no such run directory to resume"))
            }
            _ => Ok(RunDir {
                path: path.to_path_buf(),
                drop_previous: policy == OutPolicy::Overwrite,
                _lock: lock,
            }),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the directory's contents by what `fill` writes into the (empty) directory it is
    /// given, keeping every entry of the current directory that `fill` did not write (except an
    /// earlier run's files at the first save of an [`OutPolicy::Overwrite`] run). A failure or a
    /// crash at any point leaves either the old or the new contents complete in place.
    ///
    /// # Errors
    /// What `fill` returns, or [`Error::Io`] naming the path that could not be written.
    pub fn save(&mut self, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        let (parent, name) = split(&self.path)?;
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        fault_point("created");
        let result = fill(&tmp).and_then(|()| {
            fault_point("filled");
            self.carry_over(&tmp)?;
            fault_point("carried");
            sync_tree(&tmp)
        });
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        fault_point("synced");
        swap_in(&tmp, &self.path, &parent, &name)?;
        sync_dir(&parent);
        self.drop_previous = false;
        Ok(())
    }

    /// Links every entry of the current directory that `tmp` lacks into `tmp`, and inside a
    /// directory both hold (`best/`), every entry of the old one the new one lacks: files of the
    /// user's own survive every save.
    fn carry_over(&self, tmp: &Path) -> Result<()> {
        if !self.path.is_dir() {
            return Ok(());
        }
        merge(&self.path, tmp, self.drop_previous)
    }
}

/// Links into `to` what `from` holds and `to` lacks, recursing into directories both hold. With
/// `drop_recur`, recur's own files ([`RECUR_FILES`]) are left out, at any depth, while the
/// user's files among them are kept.
fn merge(from: &Path, to: &Path, drop_recur: bool) -> Result<()> {
    for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let name = entry.file_name();
        let (src, dst) = (entry.path(), to.join(&name));
        let is_dir = entry.file_type().map_err(|e| Error::io(&src, e))?.is_dir();
        let ours = name.to_str().is_some_and(|n| RECUR_FILES.contains(&n))
            || (is_dir && from.file_name().is_some_and(|f| f == TRIALS));
        if dst.exists() {
            if is_dir && dst.is_dir() {
                merge(&src, &dst, drop_recur)?;
            }
        } else if drop_recur && ours {
            if is_dir {
                // An earlier run's `best/`: keep only what the user put there.
                std::fs::create_dir(&dst).map_err(|e| Error::io(&dst, e))?;
                merge(&src, &dst, true)?;
                if is_empty(&dst)? {
                    std::fs::remove_dir(&dst).map_err(|e| Error::io(&dst, e))?;
                }
            }
        } else {
            link_tree(&src, &dst)?;
        }
    }
    Ok(())
}

/// The first of `base`, `base-2`, `base-3`, … that does not exist or is an empty directory: where
/// a run with a default output directory writes, so that it never replaces an earlier run.
pub fn numbered(base: &Path) -> PathBuf {
    let free = |p: &Path| !p.exists() || (p.is_dir() && is_empty(p).unwrap_or(false));
    if free(base) {
        return base.to_path_buf();
    }
    let name = base.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_else(|| "run".into());
    (2u64..)
        .map(|k| base.with_file_name(format!("{name}-{k}")))
        .find(|p| free(p))
        .expect("some numbered directory is free")
}

fn split(path: &Path) -> Result<(PathBuf, String)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::format(
                path,
                "cannot hold a run: name a directory of its own, such as runs/mine",
            )
        })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

fn is_empty(dir: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .next()
        .is_none())
}

/// Temporary siblings `.NAME.tmp-PID` and `.NAME.old-PID` of `parent/NAME`, with their PIDs.
fn siblings(parent: &Path, name: &str) -> Vec<(PathBuf, &'static str, u32)> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&format!(".{name}.")))
        else {
            continue;
        };
        for kind in ["tmp", "old"] {
            if let Some(pid) = rest.strip_prefix(&format!("{kind}-")) {
                if let Ok(pid) = pid.parse::<u32>() {
                    found.push((entry.path(), kind, pid));
                }
            }
        }
    }
    found
}

/// Whether process `pid` is running (on systems without `/proc`, only this process counts).
fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).is_dir()
}

/// Puts back a directory that a killed process had renamed away before its replacement arrived.
fn recover(parent: &Path, name: &str, path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let old = siblings(parent, name)
        .into_iter()
        .filter(|(_, kind, pid)| *kind == "old" && !alive(*pid))
        .map(|(p, _, _)| p)
        .next();
    if let Some(old) = old {
        std::fs::rename(&old, path).map_err(|e| Error::io(&old, e))?;
    }
    Ok(())
}

/// Removes temporary siblings left by processes that no longer run.
fn remove_stale(parent: &Path, name: &str) {
    for (p, _, pid) in siblings(parent, name) {
        if !alive(pid) {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

/// Makes `to` hold what `from` holds, sharing the files' data through hard links (files in an
/// output directory are only ever replaced, never changed in place), copying where links fail.
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(from).map_err(|e| Error::io(from, e))?;
    if meta.is_dir() {
        std::fs::create_dir(to).map_err(|e| Error::io(to, e))?;
        for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
            let entry = entry.map_err(|e| Error::io(from, e))?;
            link_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        return Ok(());
    }
    #[cfg(unix)]
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from).map_err(|e| Error::io(from, e))?;
        return std::os::unix::fs::symlink(target, to).map_err(|e| Error::io(to, e));
    }
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).map_err(|e| Error::io(from, e))?;
    }
    Ok(())
}

/// Flushes every file under `dir`, and `dir` itself, to the disk.
fn sync_tree(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if kind.is_dir() {
            sync_tree(&path)?;
        } else if kind.is_file() {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(&path, e))?;
        }
    }
    sync_dir(dir);
    Ok(())
}

/// Flushes a directory's entries (best effort: not every system can open a directory).
fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Puts the complete directory `tmp` in the place of `path`.
fn swap_in(tmp: &Path, path: &Path, parent: &Path, name: &str) -> Result<()> {
    if !path.exists() {
        std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))?;
        fault_point("swapped");
        return Ok(());
    }
    if exchange(tmp, path) {
        fault_point("swapped");
        // `tmp` now holds the old contents.
        let _ = std::fs::remove_dir_all(tmp);
        return Ok(());
    }
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    std::fs::rename(path, &old).map_err(|e| Error::io(path, e))?;
    fault_point("moved-away");
    std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))?;
    fault_point("swapped");
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Exchanges two directories atomically; false where the system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> bool {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let (Ok(a), Ok(b)) = (
        CString::new(a.as_os_str().as_bytes()),
        CString::new(b.as_os_str().as_bytes()),
    ) else {
        return false;
    };
    // SAFETY: both arguments are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    rc == 0
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> bool {
    false
}

/// Environment variable naming a point of [`RunDir::save`] at which the process aborts, as
/// `POINT` or `POINT@N` (the N-th time it is reached): `created`, `filled`, `carried`, `synced`,
/// `moved-away` (only without the atomic exchange), `swapped`. Tests use it to kill a run at
/// each step of a save and check that a checkpoint always loads.
pub const FAULT_ENV: &str = "RECUR_FAULT_POINT";

fn fault_point(point: &str) {
    static REACHED: AtomicUsize = AtomicUsize::new(0);
    let Ok(spec) = std::env::var(FAULT_ENV) else {
        return;
    };
    let (name, nth) = match spec.split_once('@') {
        Some((n, k)) => (n.to_string(), k.parse::<usize>().unwrap_or(1)),
        None => (spec, 1),
    };
    if name == point && REACHED.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        eprintln!("{FAULT_ENV}: aborting at '{point}'");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("recur-rundir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_directory_renamed_away_by_a_killed_run_is_put_back() {
        let parent = temp("recover");
        let run = parent.join("run");
        // What the two-rename fallback leaves when killed between its renames: the complete old
        // directory beside a half-filled new one, from a process that no longer runs.
        let old = parent.join(".run.old-4294967295");
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join("config.json"), "{}").unwrap();
        let tmp = parent.join(".run.tmp-4294967295");
        std::fs::create_dir(&tmp).unwrap();
        let dir = RunDir::open(&run, OutPolicy::Resume).unwrap();
        assert_eq!(std::fs::read(run.join("config.json")).unwrap(), b"{}");
        assert!(!old.exists() && !tmp.exists());
        assert_eq!(dir.path(), run);
    }

    #[test]
    fn save_keeps_unknown_entries_and_replaces_written_ones() {
        let parent = temp("save");
        let run = parent.join("run");
        let mut dir = RunDir::open(&run, OutPolicy::Fresh).unwrap();
        dir.save(|t| {
            std::fs::create_dir(t.join("best")).unwrap();
            std::fs::write(t.join("best/config.json"), "1").unwrap();
            std::fs::write(t.join("config.json"), "1").unwrap();
            Ok(())
        })
        .unwrap();
        std::fs::write(run.join("NOTES.txt"), "mine").unwrap();
        dir.save(|t| std::fs::write(t.join("config.json"), "2").map_err(|e| Error::io(t, e)))
            .unwrap();
        assert_eq!(std::fs::read(run.join("config.json")).unwrap(), b"2");
        assert_eq!(std::fs::read(run.join("best/config.json")).unwrap(), b"1");
        assert_eq!(std::fs::read(run.join("NOTES.txt")).unwrap(), b"mine");
        // A failing fill changes nothing and leaves no temporary directory.
        let failed = dir.save(|_| Err(Error::Input("no".into())));
        assert!(failed.is_err());
        assert_eq!(std::fs::read(run.join("config.json")).unwrap(), b"2");
        let temporaries = std::fs::read_dir(&parent)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp-")
            })
            .count();
        assert_eq!(temporaries, 0);
        // Overwriting drops the earlier run's files at its first save, and only those.
        let mut again = RunDir::open(&run, OutPolicy::Overwrite).unwrap();
        assert!(matches!(
            RunDir::open(&run, OutPolicy::Fresh),
            Err(Error::OutputExists(_))
        ));
        again
            .save(|t| std::fs::write(t.join("config.json"), "3").map_err(|e| Error::io(t, e)))
            .unwrap();
        assert!(!run.join("best").exists());
        assert_eq!(std::fs::read(run.join("NOTES.txt")).unwrap(), b"mine");
        // An earlier run's trials go too (each trial's folder is recur's), the user's files stay.
        again
            .save(|t| {
                std::fs::create_dir_all(t.join("trials/log+diff")).unwrap();
                std::fs::write(t.join("trials/log+diff/state.json"), "{}").unwrap();
                Ok(())
            })
            .unwrap();
        std::fs::write(run.join("trials/mine.txt"), "mine").unwrap();
        let mut third = RunDir::open(&run, OutPolicy::Overwrite).unwrap();
        third
            .save(|t| std::fs::write(t.join("config.json"), "4").map_err(|e| Error::io(t, e)))
            .unwrap();
        assert!(!run.join("trials/log+diff").exists());
        assert_eq!(std::fs::read(run.join("trials/mine.txt")).unwrap(), b"mine");
        assert_eq!(numbered(&run), parent.join("run-2"));
    }
}
