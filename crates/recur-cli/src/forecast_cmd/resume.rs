//! `recur forecast --resume DIR`: the record a run keeps of its inputs, reading it back, and
//! saving checkpoints (and, with `--transform auto`, the finished trials) into the run directory.

use super::RunFlags;
use recur::forecast::auto::{write_trial, TrialStore, TRIALS_DIR};
use recur::forecast::pipeline::{DataInfo, ForecastRun, ForecastSettings};
use recur::rundir::RunDir;
use recur::training::{Control, LoopCheckpoint, Observer};
use recur::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// What a run reads and where it stands, kept as `run` in its `state.json` so that `--resume`
/// needs nothing else: the CSV's absolute path and fingerprint (a changed file is refused), the
/// flags, with `--transform auto` the transform whose training the checkpoint holds, and
/// whether the run has ended.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Record {
    /// The CSV file, absolute.
    pub csv: PathBuf,
    /// Its FNV-1a fingerprint ([`crate::fingerprint`]).
    pub csv_fingerprint: String,
    /// The flags of the run (the CSV as given).
    pub flags: RunFlags,
    /// With `--transform auto`, the transform in training when the checkpoint was saved.
    #[serde(default)]
    pub trial: Option<String>,
    /// Whether the run has ended (nothing is left to continue).
    #[serde(default)]
    pub finished: bool,
}

impl Record {
    /// The record of a new run of `flags` that read the CSV at `csv`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the CSV when it cannot be read.
    pub fn fresh(flags: &RunFlags, csv: &Path) -> Result<Record> {
        Ok(Record {
            csv: std::path::absolute(csv).map_err(|e| Error::io(csv, e))?,
            csv_fingerprint: crate::fingerprint(csv)?,
            flags: flags.clone(),
            trial: None,
            finished: false,
        })
    }

    /// The record as stored, with `trial` in training and `finished`.
    pub fn json(&self, trial: Option<&str>, finished: bool) -> serde_json::Value {
        let record = Record {
            trial: trial.map(str::to_string),
            finished,
            ..self.clone()
        };
        serde_json::to_value(record).expect("a run record serialises")
    }
}

/// The record of the run saved in `dir`, checked before anything there changes: a directory
/// holding a forecaster's run that has not ended, its CSV unchanged.
///
/// # Errors
/// [`Error::Input`] for a missing or empty directory, a finished run or a changed CSV;
/// [`Error::Format`] naming the file of another task's run or an unreadable record.
pub(super) fn saved(dir: &Path) -> Result<Record> {
    let shown = dir.display();
    if !dir.is_dir() {
        return Err(Error::Input(format!("--resume {shown}: no such directory")));
    }
    let config_path = dir.join("config.json");
    if !config_path.is_file() {
        return Err(Error::Input(format!(
            "--resume {shown}: holds no forecaster run to resume (no config.json)"
        )));
    }
    let text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::format(&config_path, format!("not JSON ({e})")))?;
    match config.get("task").and_then(|t| t.as_str()) {
        Some("forecast") => {}
        task => {
            let task = task.map_or("missing".to_string(), |t| format!("\"{t}\""));
            return Err(Error::format(
                &config_path,
                format!("not a forecaster run (task is {task}); --resume continues a run of recur forecast"),
            ));
        }
    }
    let state_path = dir.join("state.json");
    let record: Record = serde_json::from_value(recur::training::read_run(dir)?)
        .map_err(|e| Error::format(&state_path, format!("run: {e}")))?;
    if record.flags.csv.is_none() || record.flags.target.is_none() {
        return Err(Error::format(
            &state_path,
            "run: the flags lack csv or target",
        ));
    }
    if record.finished {
        return Err(Error::Input(format!(
            "--resume {shown}: the run there has ended; there is nothing to continue"
        )));
    }
    if crate::fingerprint(&record.csv)? != record.csv_fingerprint {
        return Err(Error::Input(format!(
            "{}: changed since the run in {shown} read it; a run resumes only on the same data",
            record.csv.display()
        )));
    }
    Ok(record)
}

/// A trial of `--transform auto` trained to its end, to be saved in `trials/<name>/` with the
/// next save.
struct Pending {
    name: String,
    settings: ForecastSettings,
    run: ForecastRun,
}

/// Saves into the run directory: checkpoints at most every 5 seconds (so that saving stays a
/// small share of the time), and with every save the trials finished since the last one.
pub(super) struct Saver<'a> {
    out: &'a mut RunDir,
    last: crate::outdir::SaveThrottle,
    pending: Vec<Pending>,
    info: DataInfo,
}

impl<'a> Saver<'a> {
    /// Saves into `out` the runs on the data of `info` (recorded in `config.json`).
    pub fn new(out: &'a mut RunDir, info: DataInfo) -> Self {
        Saver {
            out,
            last: crate::outdir::SaveThrottle::default(),
            pending: Vec::new(),
            info,
        }
    }

    /// What the checkpoints record of the data.
    pub fn info(&self) -> &DataInfo {
        &self.info
    }

    /// The run directory.
    pub fn path(&self) -> &Path {
        self.out.path()
    }

    /// Whether a checkpoint offered now is saved ([`crate::outdir::SaveThrottle`]).
    fn due(&self) -> bool {
        self.last.due()
    }

    /// Replaces the run directory's contents atomically by what `fill` writes and the pending
    /// trials, keeping the rest ([`RunDir::save`]).
    ///
    /// # Errors
    /// What `fill`, writing a trial or the save reports.
    pub fn save(&mut self, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        let (pending, info) = (&self.pending, &self.info);
        self.out.save(|tmp| {
            for p in pending {
                let dir = tmp.join(TRIALS_DIR).join(&p.name);
                write_trial(&dir, &p.run, &p.settings, info)?;
            }
            fill(tmp)
        })?;
        self.pending.clear();
        self.last.saved();
        Ok(())
    }

    /// Whether trials wait to be saved.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// Trains through `train` with the checkpoints it offers saved by `saver`, continuing the run
/// saved there when `resume`; `record` is the run's record in `state.json`.
///
/// # Errors
/// What training or saving reports.
pub(super) fn train_saving(
    saver: &mut Saver<'_>,
    (observer, stop): (&mut dyn Observer, &AtomicBool),
    (resume, record): (bool, serde_json::Value),
    train: &mut dyn FnMut(Control<'_>) -> Result<ForecastRun>,
) -> Result<ForecastRun> {
    let dir = saver.path().to_path_buf();
    let mut save = |ck: &LoopCheckpoint<'_>| {
        if !saver.due() {
            return Ok(());
        }
        saver.save(|tmp| ck.write(tmp))
    };
    train(Control {
        observer,
        stop,
        resume_from: resume.then_some(dir.as_path()),
        on_checkpoint: Some(&mut save),
        run_record: record,
    })
}

/// Keeps the trials of `--transform auto` in the run directory: the checkpoints of the trial
/// in training at its top (the record naming the trial), a trial trained to its end in
/// `trials/<name>/` (with the next save), an interrupted trial's checkpoint at the top.
pub(super) struct RunStore<'a, 's> {
    /// Saves into the run directory.
    pub saver: &'a mut Saver<'s>,
    /// Progress, and the flag that stops training.
    pub progress: (&'a mut dyn Observer, &'a AtomicBool),
    /// The run's record.
    pub record: &'a Record,
    /// Whether the run continues one saved in the run directory: its finished trials are read
    /// back, and the trial of its record continues from the checkpoint at the top.
    pub resuming: bool,
    /// The trial interrupted in this process, and its step.
    pub stopped: Option<(String, u64)>,
}

impl TrialStore for RunStore<'_, '_> {
    fn finished(&self, name: &str) -> Option<PathBuf> {
        let dir = self.saver.path().join(TRIALS_DIR).join(name);
        (self.resuming && dir.join("state.json").is_file()).then_some(dir)
    }

    fn train(
        &mut self,
        name: &str,
        train: &mut dyn FnMut(Control<'_>) -> Result<ForecastRun>,
    ) -> Result<ForecastRun> {
        let resume = self.resuming && self.record.trial.as_deref() == Some(name);
        let record = self.record.json(Some(name), false);
        let observer: &mut dyn Observer = &mut *self.progress.0;
        train_saving(
            self.saver,
            (observer, self.progress.1),
            (resume, record),
            train,
        )
    }

    fn trained(&mut self, name: &str, s: &ForecastSettings, run: &ForecastRun) -> Result<()> {
        if !run.summary.interrupted {
            self.saver.pending.push(Pending {
                name: name.to_string(),
                settings: s.clone(),
                run: run.clone(),
            });
            return Ok(());
        }
        self.stopped = Some((name.to_string(), run.summary.steps));
        let record = self.record.json(Some(name), false);
        let config = run.config(s, &self.saver.info);
        self.saver
            .save(|tmp| run.checkpoint(config, record).write(tmp))
    }
}
