//! `recur transcribe train`: an acoustic model on a manifest of transcribed recordings.

use super::{feature_config, FeatureArgs};
use clap::Args;
use recur::audio::{FeatureConfig, Features};
use recur::speech::input::corpus_of;
use recur::speech::manifest::read_manifest;
use recur::speech::train::{train_with, Corpus, Trained, TranscribeSettings};
use recur::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Flags of `recur transcribe train`.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct TrainArgs {
    /// Manifest of the training recordings: a CSV with columns path,transcript (paths relative to it)
    #[arg(long, required_unless_present = "resume")]
    train: Option<PathBuf>,
    /// Manifest of test recordings, scored (WER, CER) at the end
    #[arg(long)]
    test: Option<PathBuf>,
    /// gru, lstm or rnn
    #[arg(long, default_value = "gru")]
    cell: String,
    /// Hidden units per direction
    #[arg(long, default_value_t = 96)]
    hidden: usize,
    /// Recurrent layers
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// One direction only (needed for `run --stream`)
    #[arg(long)]
    unidirectional: bool,
    /// Dropout between recurrent layers
    #[arg(long, default_value_t = 0.0)]
    dropout: f64,
    /// Feature frames concatenated into one recurrent step (fewer, wider steps: faster)
    #[arg(long, default_value_t = 3)]
    frame_stack: usize,
    /// Output symbols: word (whitespace-separated words, e.g. digit words) or char
    #[arg(long, default_value = "word")]
    unit: String,
    /// Utterances per step
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Adam learning rate
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Passes over the training recordings (unless --steps or --time-budget)
    #[arg(long, default_value_t = 30)]
    epochs: u64,
    /// Stop after this many steps instead
    #[arg(long)]
    steps: Option<u64>,
    /// Stop after this many seconds instead
    #[arg(long)]
    time_budget: Option<f64>,
    /// Validations without a lower validation loss before stopping (0: never)
    #[arg(long, default_value_t = 5)]
    patience: u64,
    /// Share of the training recordings held out for validation
    #[arg(long, default_value_t = 0.1)]
    val_frac: f64,
    /// Seed
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    features: FeatureArgs,
    /// Output directory: config.json, model.safetensors, metrics.jsonl, loss.svg, report.json [default: runs/transcribe, numbered]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Let this run replace the files of an earlier run in --out
    #[arg(long)]
    overwrite: bool,
    /// Continue the run saved in this directory (its data and settings come from it)
    #[arg(long, conflicts_with_all = ["train", "test", "cell", "hidden", "layers", "unidirectional", "dropout", "frame_stack", "unit", "batch_size", "lr", "epochs", "steps", "time_budget", "patience", "val_frac", "seed", "out", "overwrite"])]
    resume: Option<PathBuf>,
    /// Stop (as if interrupted, with a checkpoint to resume from) after this many steps
    #[arg(long)]
    stop_after: Option<u64>,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
    /// No progress lines
    #[arg(long)]
    quiet: bool,
}

/// What a run reads, kept in `state.json` for `--resume`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Inputs {
    train: PathBuf,
    train_fingerprint: String,
    test: Option<PathBuf>,
}

fn settings_of(a: &TrainArgs) -> Result<TranscribeSettings> {
    Ok(TranscribeSettings {
        cell: a.cell.parse()?,
        hidden: a.hidden,
        layers: a.layers,
        bidirectional: !a.unidirectional,
        dropout: a.dropout,
        frame_stack: a.frame_stack,
        unit: a
            .unit
            .parse()
            .map_err(|_| Error::Config(format!("--unit must be word or char, got {:?}", a.unit)))?,
        batch_size: a.batch_size,
        lr: a.lr,
        epochs: a.epochs,
        steps: a.steps,
        time_budget: a.time_budget,
        patience: a.patience,
        val_frac: a.val_frac,
        seed: a.seed,
    })
}

/// The settings, features and inputs of the run saved in `dir`.
fn saved_run(dir: &Path) -> Result<(TranscribeSettings, FeatureConfig, Inputs)> {
    let config = recur::speech::checkpoint::read_config(dir).map_err(|e| match e {
        Error::Io { .. } => Error::Input(format!(
            "--resume {}: holds no transcription run to resume (no config.json)",
            dir.display()
        )),
        other => other,
    })?;
    let path = dir.join("config.json");
    let settings = serde_json::from_value(config["training"].clone())
        .map_err(|e| Error::format(&path, format!("training: {e}")))?;
    let audio = serde_json::from_value(config["audio"].clone())
        .map_err(|e| Error::format(&path, format!("audio: {e}")))?;
    let inputs: Inputs = serde_json::from_value(recur::training::read_run(dir)?)
        .map_err(|e| Error::format(dir.join("state.json"), format!("run: {e}")))?;
    crate::check_unchanged(
        [(inputs.train.as_path(), inputs.train_fingerprint.as_str())],
        dir,
    )?;
    Ok((settings, audio, inputs))
}

/// Runs `recur transcribe train`.
pub fn run(a: TrainArgs) -> Result<ExitCode> {
    let threads = crate::threads(a.threads)?;
    let (settings, audio, inputs, mut out) = match &a.resume {
        Some(dir) => {
            let (s, f, i) = saved_run(dir)?;
            let out = recur::rundir::RunDir::open(dir, recur::rundir::OutPolicy::Resume)?;
            (s, f, i, out)
        }
        None => {
            let out = crate::outdir::open(a.out.as_deref(), "runs/transcribe", a.overwrite)?;
            let train = a
                .train
                .clone()
                .expect("clap requires --train without --resume");
            let train = std::fs::canonicalize(&train).map_err(|e| Error::io(&train, e))?;
            let inputs = Inputs {
                train_fingerprint: crate::fingerprint(&train)?,
                train,
                test: a
                    .test
                    .as_ref()
                    .map(|t| std::fs::canonicalize(t).map_err(|e| Error::io(t, e)))
                    .transpose()?,
            };
            (settings_of(&a)?, feature_config(&a.features)?, inputs, out)
        }
    };
    settings.validate().map_err(flagged)?;
    crate::warn_inert_dropout(settings.dropout, settings.layers);
    let features = Features::new(audio.clone()).map_err(flagged)?;
    let entries = read_manifest(&inputs.train)?;
    let test_entries = inputs.test.as_deref().map(read_manifest).transpose()?;
    let started = std::time::Instant::now();
    let corpus = corpus_of(&entries, &features, &threads)?;
    let header = format!(
        "{} recordings, {} frames of {} features ({:.1} s); a {} {} of {} layer(s) × {} units",
        corpus.utterances.len(),
        corpus
            .utterances
            .iter()
            .map(|u| u.frames.len())
            .sum::<usize>()
            / corpus.input_size.max(1),
        corpus.input_size,
        started.elapsed().as_secs_f64(),
        if settings.bidirectional {
            "bidirectional"
        } else {
            "unidirectional"
        },
        format!("{:?}", settings.cell).to_uppercase(),
        settings.layers,
        settings.hidden
    );
    let trained = train_run(
        &a,
        (&corpus, &settings, &audio),
        &threads,
        &mut out,
        (&inputs, header),
    )?;
    let report = match &test_entries {
        Some(test) => Some(super::eval::score(
            &trained.model,
            &features,
            test,
            &threads,
            8,
        )?),
        None => None,
    };
    save_final(&mut out, &trained, report.as_ref())?;
    errln!("{}", crate::progress::loop_summary(&trained.summary, "WER"));
    if let Some(r) = &report {
        super::eval::print_report(r, inputs.test.as_deref().unwrap_or(Path::new("")))?;
    }
    if trained.summary.interrupted {
        errln!(
            "stopped at step {}; checkpoint in {} (continue with --resume {})",
            trained.summary.steps,
            out.path().display(),
            out.path().display()
        );
    } else {
        errln!("checkpoint in {}", out.path().display());
    }
    Ok(crate::finished())
}

/// The training run with progress lines and checkpoints (at most one every 5 seconds).
fn train_run(
    a: &TrainArgs,
    (corpus, settings, audio): (&Corpus, &TranscribeSettings, &FeatureConfig),
    threads: &recur::Threads,
    out: &mut recur::rundir::RunDir,
    (inputs, header): (&Inputs, String),
) -> Result<Trained> {
    let mut lines = crate::progress::LoopLines::new(a.quiet, "WER").with_header(header);
    crate::catch_ctrl_c();
    let flag = std::sync::atomic::AtomicBool::new(false);
    let mut observer = crate::progress::Stopping::new(&mut lines, &flag, a.stop_after);
    let mut throttle = crate::outdir::SaveThrottle::default();
    let mut save = |ck: &recur::training::LoopCheckpoint<'_>| {
        if !throttle.due() {
            return Ok(());
        }
        out.save(|tmp| ck.write(tmp))?;
        throttle.saved();
        Ok(())
    };
    let mut extra = serde_json::Map::new();
    extra.insert(
        "audio".into(),
        serde_json::to_value(audio).expect("features serialise"),
    );
    let control = recur::training::Control {
        observer: &mut observer,
        stop: &flag,
        resume_from: a.resume.as_deref(),
        on_checkpoint: Some(&mut save),
        run_record: serde_json::to_value(inputs).expect("inputs serialise"),
    };
    train_with(corpus, settings, &extra, threads, control).map_err(flagged)
}

/// The last checkpoint with the metrics, the loss chart and the test report.
fn save_final(
    out: &mut recur::rundir::RunDir,
    trained: &Trained,
    report: Option<&super::eval::Report>,
) -> Result<()> {
    use recur::io::write_atomically;
    out.save(|tmp| {
        trained.checkpoint().write(tmp)?;
        let s = &trained.summary;
        write_atomically(&tmp.join("metrics.jsonl"), s.metrics_jsonl().as_bytes())?;
        let chart = s.loss_chart("Acoustic model: CTC loss", "CTC loss per label (nats)");
        write_atomically(&tmp.join("loss.svg"), chart.to_svg()?.as_bytes())?;
        if let Some(r) = report {
            let text = serde_json::to_string_pretty(r).expect("report serialises");
            write_atomically(&tmp.join("report.json"), format!("{text}\n").as_bytes())?;
        }
        Ok(())
    })
}

/// A library error with its settings named by their flags.
fn flagged(e: Error) -> Error {
    crate::with_flags(
        e,
        &[
            ("hidden_size", "--hidden"),
            ("num_layers", "--layers"),
            ("`unit`", "--unit"),
            ("`frame_stack`", "--frame-stack"),
        ],
    )
}
