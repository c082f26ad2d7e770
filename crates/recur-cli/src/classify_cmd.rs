//! `recur classify train | eval | predict`: many-to-one classification of numeric sequences
//! (`.ts`, per-frame `.csv`), texts (`.jsonl`) and recordings (folders of WAV files or a
//! `path,label` manifest, read as speech features).

use clap::{Args, Subcommand};
use recur::classify::data::{read_dataset_in, read_unlabelled_in, Dataset};
use recur::classify::model::Classifier;
use recur::classify::train::{
    argmax_rows, defaults_for, predict, predict_members, report, stratified_split, train_with,
    ClassifySettings, Report,
};
use recur::io::write_atomically;
use recur::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `recur classify` and its commands.
#[derive(Args)]
pub struct ClassifyArgs {
    #[command(subcommand)]
    command: ClassifyCommand,
}

#[derive(Subcommand)]
enum ClassifyCommand {
    /// Train on labelled sequences, keep the model of the lowest validation loss, and score it on
    /// a test file or a held-out share.
    Train(Box<TrainArgs>),
    /// Score a checkpoint on labelled sequences.
    Eval(EvalArgs),
    /// Labels and class probabilities for sequences (labels in the file are ignored).
    Predict(PredictArgs),
}

#[derive(Args)]
#[command(allow_negative_numbers = true)]
struct TrainArgs {
    /// Training data: .ts (UCR/UEA), .csv (one row per frame: seq, label, frame, features), .jsonl (text, label), or audio: a folder of WAV files (one subfolder per label, or files named {label}_….wav) or a .csv manifest (path,label)
    #[arg(long, required_unless_present = "resume")]
    data: Option<PathBuf>,
    /// Test data; without it a stratified --test-frac of --data is held out
    #[arg(long)]
    test: Option<PathBuf>,
    /// Share of --data held out for testing when there is no --test
    #[arg(long, default_value_t = 0.2)]
    test_frac: f64,
    /// Cross-validate instead: K stratified folds of --data, each the test set of a model trained on the others; writes cv_report.json
    #[arg(long, conflicts_with_all = ["test", "test_frac", "resume", "stop_after"])]
    folds: Option<usize>,
    /// Share of the training data held out for early stopping (stratified)
    #[arg(long, default_value_t = 0.15)]
    val_frac: f64,
    /// rnn, lstm or gru
    #[arg(long, default_value = "gru")]
    cell: String,
    /// Hidden units per direction [default: 128 for numeric data, 64 for text]
    #[arg(long)]
    hidden: Option<usize>,
    /// Layers
    #[arg(long, default_value_t = 1)]
    layers: usize,
    /// Run a second direction backwards (`--bidirectional false` for one) [default: bidirectional]
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    bidirectional: Option<bool>,
    /// Dropout between layers
    #[arg(long, default_value_t = 0.0)]
    dropout: f64,
    /// last, mean or max [default: max]
    #[arg(long)]
    pooling: Option<String>,
    /// Text: embedding width [default: 64]
    #[arg(long)]
    embed: Option<usize>,
    /// Numeric: raw steps read as one step of the recurrent layers (their features side by side), so that it spans longer series [default: series of median length 64 or more are cut into about 16 frames, shorter ones 1]
    #[arg(long)]
    frame_size: Option<usize>,
    /// Text: characters kept per text
    #[arg(long, default_value_t = 1000)]
    max_len: usize,
    /// The files' text encoding, if not UTF-8 (a WHATWG label: windows-1252, latin1, utf-16le, shift_jis, …)
    #[arg(long)]
    encoding: Option<String>,
    /// Text: most frequent characters with their own embedding (--units char)
    #[arg(long, default_value_t = 200)]
    max_vocab: usize,
    /// Text: read texts as words (Unicode word boundaries, punctuation kept) or characters
    #[arg(long, default_value = "word", value_parser = ["char", "word", "subword"])]
    units: String,
    /// Text, --units word: words seen fewer times in the training split share the unknown token
    #[arg(long, default_value_t = 2)]
    min_freq: usize,
    /// Text, --units word: keep upper and lower case apart (texts are lower-cased by default)
    #[arg(long)]
    keep_case: bool,
    /// Text: dropout on the embedding vectors in training
    #[arg(long, default_value_t = 0.5)]
    embed_dropout: f64,
    /// Text: dropout on the pooled features (the head's input) in training
    #[arg(long, default_value_t = 0.0)]
    head_dropout: f64,
    /// Maximum epochs (passes over the training split) [default: 60, and at least 1,000 steps on small data]
    #[arg(long)]
    epochs: Option<usize>,
    /// Stop after this many optimiser steps instead of --epochs
    #[arg(long, conflicts_with = "time_budget")]
    steps: Option<u64>,
    /// Train for this many seconds instead of --epochs
    #[arg(long)]
    time_budget: Option<f64>,
    /// Epochs (one validation each) without a lower validation loss before stopping; 0 never stops early [default: 4 for text; for numeric data about 400 steps' worth, from 10 to 50 epochs]
    #[arg(long)]
    patience: Option<usize>,
    /// Sequences per step
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Adam learning rate
    #[arg(long, default_value_t = 3e-3, allow_negative_numbers = true)]
    lr: f64,
    /// Seed of initialisation, splits and shuffling
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Numeric data: train on augmented copies (a random window of 1 - A of each series, magnitude scaling and jitter of strength A); 0 for none [default: 0.2 for series of median length 64 or more, 0.1 for shorter numeric series, 0 for text]
    #[arg(long)]
    augment: Option<f64>,
    /// Train N models (seeds --seed, --seed + 1, …, each with its own validation split) and average their probabilities [default: 5 for data sets of at most 5,000 sequence-steps (sequences times recurrent steps), else 1]
    #[arg(long)]
    ensemble: Option<usize>,
    /// After early stopping has chosen the number of passes on the validation split, train again on all the training data for that many passes and keep that model [default: true for text, false for numeric data]
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    refit: Option<bool>,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
    /// Output directory: config.json, model.safetensors, report.json, confusion.svg, metrics.jsonl, loss.svg [default: runs/classify, numbered (runs/classify-2, …) when that holds a run]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Let this run replace the files of an earlier run in --out (files recur did not write are kept)
    #[arg(long)]
    overwrite: bool,
    /// Continue the run saved in this directory exactly where it stopped (its data and settings come from it)
    #[arg(long, conflicts_with_all = ["data", "test", "test_frac", "val_frac", "cell", "hidden", "layers", "bidirectional", "dropout", "pooling", "embed", "frame_size", "max_len", "encoding", "max_vocab", "units", "min_freq", "keep_case", "embed_dropout", "head_dropout", "epochs", "steps", "time_budget", "patience", "batch_size", "lr", "seed", "augment", "ensemble", "refit", "out", "overwrite", "features", "sample_rate", "frame_ms", "hop_ms", "window", "n_mels", "n_mfcc", "fmin", "fmax", "htk", "pre_emphasis", "top_db", "deltas", "delta_width", "cmvn", "spec_augment"])]
    resume: Option<PathBuf>,
    /// Stop (as if interrupted, with a checkpoint to resume from) after this many steps
    #[arg(long)]
    stop_after: Option<u64>,
    /// No per-epoch lines
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    audio: crate::audio_flags::AudioArgs,
}

/// What a run reads, kept in `state.json` so that `--resume` finds it again: absolute paths,
/// and fingerprints that refuse a changed file.
#[derive(serde::Serialize, serde::Deserialize)]
struct Inputs {
    data: PathBuf,
    data_fingerprint: String,
    test: Option<PathBuf>,
    test_fingerprint: Option<String>,
    test_frac: f64,
    max_len: usize,
    #[serde(default)]
    encoding: Option<String>,
    /// Audio input: the feature settings the recordings are read with.
    #[serde(default)]
    audio: Option<recur::audio::FeatureConfig>,
}

#[derive(Args)]
#[command(allow_negative_numbers = true)]
struct EvalArgs {
    /// Checkpoint directory
    #[arg(long)]
    checkpoint: PathBuf,
    /// Labelled sequences
    #[arg(long)]
    data: PathBuf,
    /// Text: characters kept per text
    #[arg(long, default_value_t = 1000)]
    max_len: usize,
    /// The file's text encoding, if not UTF-8 (windows-1252, latin1, utf-16le, …)
    #[arg(long)]
    encoding: Option<String>,
    /// Write the confusion matrix as an SVG here
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Print the report as one JSON object
    #[arg(long)]
    json: bool,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
#[command(allow_negative_numbers = true)]
struct PredictArgs {
    /// Checkpoint directory
    #[arg(long)]
    checkpoint: PathBuf,
    /// Sequences, in a format the model was trained on; labels may be left out (.ts with @classLabel false, JSON lines without "label", a CSV without a label column); for a model trained on audio, a WAV file, a folder of them or a manifest
    #[arg(long)]
    data: PathBuf,
    /// Where to write: .csv (index, label, one probability column per class) or .json
    #[arg(long)]
    output: PathBuf,
    /// Text: characters kept per text
    #[arg(long, default_value_t = 1000)]
    max_len: usize,
    /// The file's text encoding, if not UTF-8 (windows-1252, latin1, utf-16le, …)
    #[arg(long)]
    encoding: Option<String>,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
}

/// Runs `recur classify`.
pub fn run(args: ClassifyArgs) -> Result<ExitCode> {
    match args.command {
        ClassifyCommand::Train(a) => run_train(*a),
        ClassifyCommand::Eval(a) => run_eval(a),
        ClassifyCommand::Predict(a) => run_predict(a),
    }
}

/// The classifier (every member of an ensemble) of checkpoint `dir`.
fn load(dir: &Path) -> Result<Vec<Classifier>> {
    recur::classify::model::load_members(dir)
}

fn check_kind(model: &Classifier, data: &Dataset, path: &Path) -> Result<()> {
    let dims = model.config().dims;
    let kind = |d: usize| match d {
        0 => "texts".to_string(),
        1 => "sequences of 1 feature per step".to_string(),
        d => format!("sequences of {d} features per step"),
    };
    if data.dims != dims {
        return Err(Error::format(
            path,
            format!(
                "holds {}, but the model was trained on {}",
                kind(data.dims),
                kind(dims)
            ),
        ));
    }
    Ok(())
}

fn print_report(r: &Report) -> Result<()> {
    outln!(
        "accuracy {:.4}  macro-F1 {:.4}  ({} sequences)",
        r.accuracy,
        r.macro_f1,
        r.count
    )?;
    outln!("{:<14}{:>10}{:>10}", "class", "precision", "recall")?;
    for c in &r.classes {
        outln!("{:<14}{:>10.3}{:>10.3}", c, r.precision[c], r.recall[c])?;
    }
    outln!("confusion (rows true, columns predicted):")?;
    for (i, row) in r.confusion.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>5}")).collect();
        outln!("{:<14}{}", r.classes[i], cells.join(""))?;
    }
    Ok(())
}

/// `text` as one CSV cell: quoted (quotes doubled) when it holds a comma, a quote or a line
/// break.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The confusion matrix of `r` as an SVG heat map, each cell shaded by its share of the row.
fn confusion_svg(r: &Report) -> Result<String> {
    recur::plot::HeatMap {
        title: format!("Confusion matrix (accuracy {:.3})", r.accuracy),
        row_label: "true class".into(),
        column_label: "predicted class".into(),
        rows: r.classes.clone(),
        columns: r.classes.clone(),
        values: r.confusion.iter().flatten().map(|&v| v as f64).collect(),
        shade_by_row: true,
    }
    .to_svg()
}

/// `--max-len` must leave a text something to read.
fn check_max_len(max_len: usize) -> Result<()> {
    if max_len == 0 {
        return Err(Error::Config("--max-len must be at least 1".into()));
    }
    Ok(())
}

/// The inputs of a new run, from the flags.
fn fresh_inputs(a: &TrainArgs) -> Result<Inputs> {
    let data = a
        .data
        .clone()
        .expect("clap requires --data without --resume");
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| Error::io(p, e));
    Ok(Inputs {
        data_fingerprint: crate::fingerprint(&data)?,
        data: absolute(&data)?,
        test_fingerprint: a.test.as_deref().map(crate::fingerprint).transpose()?,
        test: a.test.as_deref().map(absolute).transpose()?,
        test_frac: a.test_frac,
        max_len: a.max_len,
        encoding: a.encoding.clone(),
        audio: audio_config(a, &data)?,
    })
}

/// The feature settings of audio input (`--data` a folder, a WAV file or a manifest), checked;
/// `None` for other data.
fn audio_config(a: &TrainArgs, data: &Path) -> Result<Option<recur::audio::FeatureConfig>> {
    if !recur::audio::corpus::is_audio_source(data) {
        return Ok(None);
    }
    let config = a.audio.feature_config();
    config.validate()?;
    Ok(Some(config))
}

/// Reads `path` as the model or run expects: recordings as `audio` features when it is set,
/// otherwise a sequence file ([`read_dataset_in`], or [`read_unlabelled_in`] without
/// `labels_required`).
fn read_data(
    path: &Path,
    audio: Option<&recur::audio::FeatureConfig>,
    labels_required: bool,
    (max_len, encoding): (usize, Option<&str>),
) -> Result<Dataset> {
    if let Some(config) = audio {
        if !recur::audio::corpus::is_audio_source(path) {
            return Err(Error::format(
                path,
                "the model reads audio: expected a folder of .wav files, a .wav file or a .csv manifest (path,label)",
            ));
        }
        return crate::audio_flags::read(path, config, labels_required);
    }
    let read = if labels_required {
        read_dataset_in
    } else {
        read_unlabelled_in
    };
    read(path, max_len, encoding).map_err(crate::with_encoding_flag)
}

/// The settings of a new run: the flags, and where a flag is not given the defaults that fit
/// the training data ([`defaults_for`]); and a line that says them.
fn fresh_settings(
    a: &TrainArgs,
    data: &Dataset,
    inputs: &Inputs,
) -> Result<(ClassifySettings, String)> {
    let fit = defaults_for(data);
    // Texts take the text defaults (measured on sentence polarity, README).
    let text = data.dims == 0;
    let d = recur::classify::text::TEXT_DEFAULTS;
    // Regression data takes the regression defaults (measured on Covid3Month, README).
    let regress = data.is_regression();
    let r = recur::classify::regress::REGRESSION_DEFAULTS;
    let pooling = match &a.pooling {
        Some(p) => p.parse()?,
        None if regress => r.pooling,
        None if text => d.pooling,
        None => fit.pooling,
    };
    let batch_size = a.batch_size.max(1);
    let training = (data.items.len() as f64 * (1.0 - a.val_frac)).max(1.0);
    let batches = (training / batch_size as f64).ceil();
    let settings = ClassifySettings {
        cell: a.cell.parse()?,
        hidden: a
            .hidden
            .unwrap_or(if regress { r.hidden } else { fit.hidden }),
        layers: a.layers,
        bidirectional: a.bidirectional.unwrap_or(if regress {
            r.bidirectional
        } else if text {
            d.bidirectional
        } else {
            fit.bidirectional
        }),
        dropout: a.dropout,
        pooling,
        embed: a.embed.unwrap_or(if text { d.embed } else { 32 }),
        frame_size: a.frame_size.unwrap_or(if regress {
            r.frame_size
        } else {
            fit.frame_size
        }),
        max_vocab: a.max_vocab,
        val_frac: a.val_frac,
        epochs: a.epochs.unwrap_or(60),
        // Without an explicit budget, small data sets still get a thousand steps.
        min_steps: match (a.epochs, regress) {
            (Some(_), _) => 0,
            (None, true) => r.min_steps,
            (None, false) => 1000,
        },
        steps: a.steps,
        time_budget: a.time_budget,
        patience: a.patience.unwrap_or_else(|| {
            if regress {
                r.patience
            } else if text {
                d.patience
            } else {
                ((400.0 / batches).ceil() as usize).clamp(10, 50)
            }
        }),
        batch_size: a.batch_size,
        lr: a.lr,
        seed: a.seed,
        augment: a.augment.unwrap_or(if data.dims > 0 && !regress {
            fit.augment
        } else {
            0.0
        }),
        // A regressor is one model (ensembles average class probabilities).
        ensemble: if data.is_regression() {
            1
        } else {
            a.ensemble.unwrap_or(fit.ensemble)
        },
        refit: a.refit.unwrap_or(text && !regress),
        text: recur::classify::text::TextSettings {
            units: a.units.parse()?,
            min_freq: a.min_freq,
            lowercase: !a.keep_case,
            embed_dropout: a.embed_dropout,
            head_dropout: a.head_dropout,
        },
        audio: inputs.audio.clone(),
        spec_augment: match inputs.audio {
            Some(_) => a.audio.spec_augment()?,
            None => None,
        },
    };
    let line = settings_line(data, &fit, &settings);
    Ok((settings, line))
}

/// The line that says a run's settings (and for audio its features).
fn settings_line(
    data: &Dataset,
    fit: &recur::classify::train::DataDefaults,
    s: &ClassifySettings,
) -> String {
    let features = features_line(s);
    format!(
            "{features}settings for this data ({} sequences, median length {}): {}{:?} hidden {}, {:?} pooling{}, augment {}, ensemble of {}, patience {} epochs{}",
            data.items.len(),
            fit.median_length,
            if s.bidirectional { "bidirectional, " } else { "" },
            s.cell,
            s.hidden,
            s.pooling,
            if data.dims > 0 { format!(", frame size {}", s.frame_size) } else { String::new() },
            s.augment,
            s.ensemble,
            s.patience,
            if s.refit { ", then a refit on all the training data" } else { "" }
    )
}

/// What audio features a run reads, for its settings line (empty for other data).
fn features_line(s: &ClassifySettings) -> String {
    let Some(f) = &s.audio else {
        return String::new();
    };
    let masks = match &s.spec_augment {
        Some(m) => format!(
            ", SpecAugment {}x{} frames and {}x{} features",
            m.time_masks, m.time_width, m.freq_masks, m.freq_width
        ),
        None => String::new(),
    };
    let kind = match f.kind {
        recur::audio::FeatureKind::Mfcc => "MFCC",
        recur::audio::FeatureKind::LogMel => "log-mel",
    };
    format!(
        "audio: {} {kind} features a frame ({} ms frames every {} ms at {} Hz, deltas {}{}){masks}\n",
        f.dims(),
        f.frame_ms,
        f.hop_ms,
        f.sample_rate,
        f.deltas,
        if f.cmvn { ", normalised per recording" } else { "" },
    )
}

/// The settings and inputs of the run saved in `dir`; its data files must be unchanged.
fn saved_run(dir: &Path) -> Result<(ClassifySettings, Inputs)> {
    let config_path = dir.join("config.json");
    if !config_path.is_file() {
        return Err(Error::Input(format!(
            "--resume {}: holds no classifier run to resume (no config.json)",
            dir.display()
        )));
    }
    let text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::format(&config_path, format!("not JSON ({e})")))?;
    if !matches!(
        config.get("task").and_then(|t| t.as_str()),
        Some("classify" | "regress")
    ) {
        return Err(Error::format(
            &config_path,
            "not a classifier checkpoint (task is not \"classify\")",
        ));
    }
    let settings: ClassifySettings = serde_json::from_value(config["training"].clone())
        .map_err(|e| Error::format(&config_path, format!("training: {e}")))?;
    if settings.ensemble > 1 {
        return Err(Error::Input(format!(
            "--resume {}: an ensemble ({} models) is saved at its end only and cannot be resumed; train it again, or a single model with --ensemble 1",
            dir.display(),
            settings.ensemble
        )));
    }
    let state_path = dir.join("state.json");
    let inputs: Inputs = serde_json::from_value(recur::training::read_run(dir)?)
        .map_err(|e| Error::format(&state_path, format!("run: {e}")))?;
    let mut files = vec![(inputs.data.as_path(), inputs.data_fingerprint.as_str())];
    if let (Some(test), Some(print)) = (&inputs.test, &inputs.test_fingerprint) {
        files.push((test.as_path(), print.as_str()));
    }
    crate::check_unchanged(files, dir)?;
    Ok((settings, inputs))
}

/// The training and test sets: `--test`, or a stratified `--test-frac` of `--data`.
fn read_sets(inputs: &Inputs, seed: u64) -> Result<(Dataset, Dataset)> {
    let read = |p: &Path| {
        read_data(
            p,
            inputs.audio.as_ref(),
            true,
            (inputs.max_len, inputs.encoding.as_deref()),
        )
    };
    let all = read(&inputs.data)?;
    let (train_data, test_data) = match &inputs.test {
        Some(t) => (all, read(t)?),
        None => {
            if !(inputs.test_frac > 0.0 && inputs.test_frac < 1.0) {
                return Err(Error::Config(format!(
                    "--test-frac must be in (0, 1), got {}",
                    inputs.test_frac
                )));
            }
            let (tr, te) = if all.is_regression() {
                recur::classify::regress::random_split(
                    all.items.len(),
                    inputs.test_frac,
                    seed.wrapping_add(1),
                )
            } else {
                stratified_split(&all.labels, inputs.test_frac, seed.wrapping_add(1))
            };
            (all.subset(&tr), all.subset(&te))
        }
    };
    if test_data.dims != train_data.dims {
        let kind = |d: usize| match d {
            0 => "texts".to_string(),
            d => format!("sequences of {d} features per step"),
        };
        return Err(Error::Input(format!(
            "--test and --data hold different kinds of sequences: {} holds {}, {} holds {}",
            inputs.data.display(),
            kind(train_data.dims),
            inputs.test.as_deref().unwrap_or(&inputs.data).display(),
            kind(test_data.dims)
        )));
    }
    Ok((train_data, test_data))
}

/// `--folds K`: cross-validation of the settings on `--data`; no model is kept.
fn run_folds(a: &TrainArgs, k: usize, threads: &recur::Threads) -> Result<ExitCode> {
    let mut out = crate::outdir::open(a.out.as_deref(), "runs/classify-cv", a.overwrite)?;
    let inputs = fresh_inputs(a)?;
    let data = read_data(
        &inputs.data,
        inputs.audio.as_ref(),
        true,
        (inputs.max_len, inputs.encoding.as_deref()),
    )?;
    let (settings, _) = fresh_settings(a, &data, &inputs)?;
    settings_ok(&settings)?;
    crate::folds_cmd::run(&data, &settings, k, threads, &mut out, a.quiet)
}

/// How each model's run ended, and its refit.
fn print_summaries(members: &[recur::classify::train::Trained]) {
    for m in members {
        errln!("{}", crate::progress::loop_summary(&m.summary, "accuracy"));
        if let Some(r) = &m.refitted {
            errln!(
                "then trained again on all {} training sequences for those {} epochs ({} steps, {}; --refit): that model is kept",
                r.sequences,
                r.epochs,
                r.steps,
                crate::progress::clock(r.seconds)
            );
        }
    }
}

fn run_train(a: TrainArgs) -> Result<ExitCode> {
    let threads = crate::threads(a.threads)?;
    check_max_len(a.max_len)?;
    if let Some(k) = a.folds {
        return run_folds(&a, k, &threads);
    }
    let (settings, inputs, train_data, test_data, mut out, header) = match &a.resume {
        Some(dir) => {
            let (settings, inputs) = saved_run(dir)?;
            let (train_data, test_data) = read_sets(&inputs, settings.seed)?;
            let out = recur::rundir::RunDir::open(dir, recur::rundir::OutPolicy::Resume)?;
            let line = format!("resuming the run in {}", dir.display());
            (settings, inputs, train_data, test_data, out, line)
        }
        None => {
            // The output directory is checked first (opening it creates nothing).
            let out = crate::outdir::open(a.out.as_deref(), "runs/classify", a.overwrite)?;
            let inputs = fresh_inputs(&a)?;
            let (train_data, test_data) = read_sets(&inputs, a.seed)?;
            let (settings, line) = fresh_settings(&a, &train_data, &inputs)?;
            settings_ok(&settings)?;
            (settings, inputs, train_data, test_data, out, line)
        }
    };
    settings_ok(&settings)?;
    let regression = train_data.is_regression();
    let header = if regression {
        format!(
            "{}\n{header}",
            crate::regress_cmd::announcement(&train_data)
        )
    } else {
        header
    };
    let score = if regression { "RMSE" } else { "accuracy" };
    let mut lines = crate::progress::LoopLines::new(a.quiet, score).with_header(header);
    crate::catch_ctrl_c();
    let flag = std::sync::atomic::AtomicBool::new(false);
    let mut observer = crate::progress::Stopping::new(&mut lines, &flag, a.stop_after);
    let run_record = serde_json::to_value(&inputs).expect("inputs serialise");
    let members = if settings.ensemble > 1 {
        train_members(
            &train_data,
            &settings,
            &threads,
            &mut observer,
            &flag,
            a.quiet,
        )?
    } else {
        vec![train_one(
            &train_data,
            &settings,
            &threads,
            (&mut observer, &flag),
            (&mut out, a.resume.as_deref(), run_record),
        )?]
    };
    if regression {
        let test_name = inputs
            .test
            .as_ref()
            .map_or("held-out share of --data".into(), |p| {
                p.display().to_string()
            });
        let first = &members[0];
        crate::regress_cmd::finish_run(
            first,
            &train_data,
            &test_data,
            &test_name,
            &threads,
            &mut out,
        )?;
        if first.summary.interrupted {
            errln!(
                "stopped at step {}; checkpoint in {} (continue with --resume {})",
                first.summary.steps,
                out.path().display(),
                out.path().display()
            );
        } else {
            errln!("checkpoint and report in {}", out.path().display());
        }
        return Ok(crate::finished());
    }
    let models: Vec<_> = members.iter().map(|m| m.model.clone()).collect();
    let classes = models[0].config().classes.clone();
    let truth = test_data.class_ids(&classes)?;
    let mut member_accuracy = Vec::new();
    if models.len() > 1 {
        for m in &models {
            let probs = predict(m, &threads, &test_data, 64)?;
            member_accuracy
                .push(report(&truth, &argmax_rows(&probs, classes.len()), &classes)?.accuracy);
        }
    }
    let probs = predict_members(&models, &threads, &test_data, 64)?;
    let r = report(&truth, &argmax_rows(&probs, classes.len()), &classes)?;
    let mut report_json = serde_json::to_value(&r).expect("report serialises");
    if !member_accuracy.is_empty() {
        report_json["member_accuracy"] = serde_json::json!(member_accuracy);
    }
    out.save(|tmp| {
        let first = &members[0];
        let mut ck = first.checkpoint();
        if members.len() > 1 {
            ck.config["ensemble"] = serde_json::json!(members.len());
        }
        ck.write(tmp)?;
        for (i, m) in members.iter().enumerate().skip(1) {
            let dir = tmp.join("members").join(i.to_string());
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let config = format!("{:#}\n", m.config_json);
            write_atomically(&dir.join("config.json"), config.as_bytes())?;
            recur::io::write_safetensors(dir.join("model.safetensors"), &m.model.named_tensors())?;
        }
        let rj = serde_json::to_string_pretty(&report_json).expect("report serialises");
        write_atomically(&tmp.join("report.json"), format!("{rj}\n").as_bytes())?;
        write_atomically(&tmp.join("confusion.svg"), confusion_svg(&r)?.as_bytes())?;
        let s = &first.summary;
        write_atomically(&tmp.join("metrics.jsonl"), s.metrics_jsonl().as_bytes())?;
        let chart = s.loss_chart("Classifier: loss", "cross-entropy (nats)");
        write_atomically(&tmp.join("loss.svg"), chart.to_svg()?.as_bytes())
    })?;
    print_summaries(&members);
    outln!(
        "test ({}):",
        inputs
            .test
            .as_ref()
            .map_or("held-out share of --data".into(), |p| p
                .display()
                .to_string())
    )?;
    if !member_accuracy.is_empty() {
        let n = member_accuracy.len() as f64;
        let mean = member_accuracy.iter().sum::<f64>() / n;
        let sd = (member_accuracy
            .iter()
            .map(|a| (a - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        let each: Vec<String> = member_accuracy.iter().map(|a| format!("{a:.4}")).collect();
        outln!(
            "ensemble of {}: each model's accuracy {} (mean {mean:.4}, sd {sd:.4}); the ensemble's:",
            models.len(),
            each.join(" ")
        )?;
    }
    print_report(&r)?;
    let interrupted = members.iter().any(|m| m.summary.interrupted);
    if interrupted && members.len() == 1 {
        errln!(
            "stopped at step {}; checkpoint in {} (continue with --resume {})",
            members[0].summary.steps,
            out.path().display(),
            out.path().display()
        );
    } else {
        errln!("checkpoint and report in {}", out.path().display());
    }
    Ok(crate::finished())
}

/// Retells a training error with the flags, and a divergence with the checkpoint left intact.
fn training_error(e: Error, saved: Option<(u64, &Path)>) -> Error {
    let e = crate::with_flags(
        e,
        &[
            ("hidden_size", "--hidden"),
            ("embed_dim", "--embed"),
            ("num_layers", "--layers"),
        ],
    );
    match (e, saved) {
        (Error::Diverged(m), Some((step, dir))) => Error::Diverged(format!(
            "{m}; the checkpoint of step {step} in {} is intact",
            dir.display()
        )),
        (e, _) => e,
    }
}

/// One model, with checkpoints at validations (at most one every 5 seconds) into `out`,
/// resumed from `resume` when given.
fn train_one(
    data: &Dataset,
    settings: &ClassifySettings,
    threads: &recur::Threads,
    (observer, flag): (
        &mut dyn recur::training::Observer,
        &std::sync::atomic::AtomicBool,
    ),
    (out, resume, run_record): (&mut recur::rundir::RunDir, Option<&Path>, serde_json::Value),
) -> Result<recur::classify::train::Trained> {
    let mut throttle = crate::outdir::SaveThrottle::default();
    let mut saved_step = None;
    let dir = out.path().to_path_buf();
    let mut save = |ck: &recur::training::LoopCheckpoint<'_>| {
        if !throttle.due() {
            return Ok(());
        }
        out.save(|tmp| ck.write(tmp))?;
        throttle.saved();
        saved_step = Some(ck.snapshot.state.step);
        Ok(())
    };
    let control = recur::training::Control {
        observer,
        stop: flag,
        resume_from: resume,
        on_checkpoint: Some(&mut save),
        run_record,
    };
    let trained = if data.is_regression() {
        recur::classify::regress::train_regressor(data, settings, threads, control)
    } else {
        train_with(data, settings, threads, control)
    };
    trained.map_err(|e| training_error(e, saved_step.map(|s| (s, dir.as_path()))))
}

/// An ensemble: `settings.ensemble` models of seeds `seed`, `seed + 1`, …, one after another,
/// saved together at the end.
fn train_members(
    data: &Dataset,
    settings: &ClassifySettings,
    threads: &recur::Threads,
    observer: &mut dyn recur::training::Observer,
    flag: &std::sync::atomic::AtomicBool,
    quiet: bool,
) -> Result<Vec<recur::classify::train::Trained>> {
    let n = settings.ensemble;
    let mut members = Vec::with_capacity(n);
    for i in 0..n {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Input(format!(
                "interrupted after {i} of the {n} models of the ensemble; nothing saved"
            )));
        }
        // The first model's line is the settings line, printed once it has begun.
        if !quiet && i > 0 {
            errln!("model {} of {n} (seed {})", i + 1, settings.seed + i as u64);
        }
        let member = ClassifySettings {
            seed: settings.seed + i as u64,
            ensemble: 1,
            ..settings.clone()
        };
        let control = recur::training::Control::new(&mut *observer, flag);
        members.push(
            train_with(data, &member, threads, control).map_err(|e| training_error(e, None))?,
        );
    }
    Ok(members)
}

/// Checks the settings and warns of inert ones.
fn settings_ok(settings: &ClassifySettings) -> Result<()> {
    settings.validate()?;
    crate::warn_inert_dropout(settings.dropout, settings.layers);
    Ok(())
}

fn run_eval(a: EvalArgs) -> Result<ExitCode> {
    let threads = crate::threads(a.threads)?;
    check_max_len(a.max_len)?;
    if let Some(p) = &a.plot {
        crate::outdir::check_output_file("--plot", p, &[&a.data], &a.checkpoint)?;
    }
    let members = load(&a.checkpoint)?;
    let model = &members[0];
    let data = read_data(
        &a.data,
        model.config().audio.as_ref(),
        true,
        (a.max_len, a.encoding.as_deref()),
    )?;
    check_kind(model, &data, &a.data)?;
    if model.config().target.is_some() {
        crate::regress_cmd::eval(model, &threads, &data, &a.data, a.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let truth = data.class_ids(&model.config().classes)?;
    let probs = predict_members(&members, &threads, &data, 64)?;
    let r = report(
        &truth,
        &argmax_rows(&probs, model.config().classes.len()),
        &model.config().classes,
    )?;
    if let Some(p) = &a.plot {
        write_atomically(p, confusion_svg(&r)?.as_bytes())?;
    }
    if a.json {
        outln!("{}", serde_json::to_string(&r).expect("report serialises"))?;
    } else {
        print_report(&r)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_predict(a: PredictArgs) -> Result<ExitCode> {
    let threads = crate::threads(a.threads)?;
    check_max_len(a.max_len)?;
    crate::outdir::check_output_file("--output", &a.output, &[&a.data], &a.checkpoint)?;
    let members = load(&a.checkpoint)?;
    let model = &members[0];
    let data = read_data(
        &a.data,
        model.config().audio.as_ref(),
        false,
        (a.max_len, a.encoding.as_deref()),
    )?;
    check_kind(model, &data, &a.data)?;
    if model.config().target.is_some() {
        crate::regress_cmd::predict(model, &threads, &data, &a.output)?;
        return Ok(ExitCode::SUCCESS);
    }
    let classes = &model.config().classes;
    let probs = predict_members(&members, &threads, &data, 64)?;
    let labels = argmax_rows(&probs, classes.len());
    // Audio predictions name their recordings.
    let files: Option<Vec<String>> = match model.config().audio {
        Some(_) => Some(
            recur::audio::corpus::list_audio(&a.data, false)?
                .paths
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        ),
        None => None,
    };
    let file_of = |i: usize| files.as_ref().map(|f| f[i].clone());
    let json = a.output.extension().and_then(|e| e.to_str()) == Some("json");
    let text = if json {
        let rows: Vec<serde_json::Value> = labels
            .iter()
            .zip(probs.chunks_exact(classes.len()))
            .enumerate()
            .map(|(i, (&l, p))| {
                let probs: serde_json::Map<String, serde_json::Value> =
                    classes.iter().zip(p).map(|(c, &v)| (c.clone(), serde_json::json!(v))).collect();
                let mut row = serde_json::json!({"index": i, "label": classes[l as usize], "probabilities": probs});
                if let Some(f) = file_of(i) {
                    row["file"] = serde_json::json!(f);
                }
                row
            })
            .collect();
        format!("{}\n", serde_json::Value::Array(rows))
    } else {
        let mut s = format!(
            "index,{}label,{}\n",
            if files.is_some() { "file," } else { "" },
            classes
                .iter()
                .map(|c| format!("p_{c}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        for (i, (&l, p)) in labels
            .iter()
            .zip(probs.chunks_exact(classes.len()))
            .enumerate()
        {
            let ps: Vec<String> = p.iter().map(|v| format!("{v:.6}")).collect();
            let file = file_of(i).map_or(String::new(), |f| format!("{},", csv_cell(&f)));
            s += &format!("{i},{file}{},{}\n", classes[l as usize], ps.join(","));
        }
        s
    };
    write_atomically(&a.output, text.as_bytes())?;
    errln!(
        "{} predictions written to {}",
        labels.len(),
        a.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
