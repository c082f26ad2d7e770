//! `recur translate train`: learns vocabularies and trains an encoder-decoder with attention on
//! sentence pairs, with progress, validation BLEU, checkpoints, `--resume` and `--time-budget`.

use clap::Args;
use recur::translate::pairs::{read_aligned, read_tsv, PairOptions, Pairs};
use recur::translate::subword::{Units, VocabSettings};
use recur::translate::train::{train_with, TranslateData, TranslateSettings};
use recur::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Flags of `recur translate train`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("train_data").args(["pairs", "src"])))]
pub struct TrainArgs {
    /// Training pairs as a TSV: source<TAB>target[<TAB>anything], one pair a line
    #[arg(long, conflicts_with_all = ["src", "tgt"])]
    pairs: Option<PathBuf>,
    /// Training source sentences, one a line (with --tgt, aligned by line)
    #[arg(long, requires = "tgt")]
    src: Option<PathBuf>,
    /// Training target sentences, one a line
    #[arg(long, requires = "src")]
    tgt: Option<PathBuf>,
    /// Validation pairs as a TSV [default: a held-out 5 % of the training pairs, at most 1,000]
    #[arg(long, conflicts_with_all = ["valid_src", "valid_tgt"])]
    valid_pairs: Option<PathBuf>,
    /// Validation source sentences (with --valid-tgt)
    #[arg(long, requires = "valid_tgt")]
    valid_src: Option<PathBuf>,
    /// Validation target sentences
    #[arg(long, requires = "valid_src")]
    valid_tgt: Option<PathBuf>,
    /// Leave out pairs with an empty side (and say how many) instead of stopping at the first
    #[arg(long)]
    skip_empty: bool,
    /// Subword units: bpe (byte-level BPE, exact round trip) or word (whole words, for teaching)
    #[arg(long, default_value = "bpe")]
    units: String,
    /// BPE vocabulary size per side (or in all, with --shared-vocab)
    #[arg(long, default_value_t = 8000)]
    vocab_size: usize,
    /// Word units: the fewest occurrences for a word of its own (rarer ones are <unk>)
    #[arg(long, default_value_t = 2)]
    min_freq: usize,
    /// Word units: lower-case the text first
    #[arg(long)]
    lowercase: bool,
    /// One vocabulary for both languages (source and target share the ids)
    #[arg(long)]
    shared_vocab: bool,
    /// gru or lstm, for the encoder and the decoder
    #[arg(long, default_value = "gru")]
    cell: String,
    /// Embedding width
    #[arg(long, default_value_t = 256)]
    embed: usize,
    /// The decoder's hidden units (the bidirectional encoder has half per direction)
    #[arg(long, default_value_t = 512)]
    hidden: usize,
    /// Layers of the encoder and of the decoder
    #[arg(long, default_value_t = 1)]
    layers: usize,
    /// Dropout on embeddings, between layers and before the output layer
    #[arg(long, default_value_t = 0.3)]
    dropout: f64,
    /// Attention score: general (Luong), dot (Luong) or bahdanau (additive)
    #[arg(long, default_value = "general")]
    attention: String,
    /// Label smoothing of the training loss
    #[arg(long, default_value_t = 0.1)]
    label_smoothing: f64,
    /// The most tokens of a sentence; a longer one is an error naming its line
    #[arg(long, default_value_t = 100)]
    max_len: usize,
    /// Sentence pairs per batch
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam's learning rate
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Passes over the training pairs
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Optimiser steps instead of epochs
    #[arg(long, conflicts_with = "time_budget")]
    steps: Option<u64>,
    /// Seconds of training instead of epochs
    #[arg(long)]
    time_budget: Option<f64>,
    /// Validations without a lower validation loss before training stops (0: never)
    #[arg(long, default_value_t = 4)]
    patience: usize,
    /// Validate every N steps [default: once per epoch]
    #[arg(long, default_value_t = 0)]
    validate_every: u64,
    /// Validation sentences translated (greedy) for the BLEU shown at each validation (0: none)
    #[arg(long, default_value_t = 300)]
    bleu_sentences: usize,
    /// Seed of the held-out split, initialisation, shuffles and dropout
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
    /// Output directory [default: runs/translate, numbered]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace recur's files in an --out that holds a run
    #[arg(long)]
    overwrite: bool,
    /// Continue the run saved in DIR (its data and settings; other flags are not taken)
    #[arg(long, conflicts_with_all = ["pairs", "src", "valid_pairs", "valid_src", "out"])]
    resume: Option<PathBuf>,
    /// Stop (as if interrupted, with a checkpoint to resume from) after this many steps
    #[arg(long)]
    stop_after: Option<u64>,
    /// No progress lines
    #[arg(long)]
    quiet: bool,
}

/// What a run reads, kept in `state.json` so that `--resume` finds it again.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Inputs {
    /// `(file, fingerprint)` of each data file, in the order TSV | source, target.
    train: Vec<(PathBuf, String)>,
    valid: Vec<(PathBuf, String)>,
    skip_empty: bool,
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::io(p, e))
}

fn with_prints(files: &[&PathBuf]) -> Result<Vec<(PathBuf, String)>> {
    files
        .iter()
        .map(|p| Ok((absolute(p)?, crate::fingerprint(p)?)))
        .collect()
}

fn read_pairs(files: &[(PathBuf, String)], skip_empty: bool) -> Result<Pairs> {
    let options = PairOptions { skip_empty };
    match files {
        [tsv] => read_tsv(&tsv.0, options),
        [src, tgt] => read_aligned(&src.0, &tgt.0, options),
        _ => Err(Error::Input("no training data".into())),
    }
}

/// The training and validation pairs: the validation files, or a held-out share.
fn read_sets(inputs: &Inputs, seed: u64) -> Result<(Pairs, Pairs)> {
    let all = read_pairs(&inputs.train, inputs.skip_empty)?;
    if !inputs.valid.is_empty() {
        return Ok((all, read_pairs(&inputs.valid, inputs.skip_empty)?));
    }
    let n = all.pairs.len();
    let held = (n / 20).clamp(1, 1000);
    if n < 2 * held.max(2) {
        return Err(Error::Input(format!(
            "{}: {n} pairs are too few to hold out a validation share; give --valid-pairs or --valid-src/--valid-tgt",
            all.source_file.display()
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    recur::Rng::new(seed ^ 0x5eed).shuffle(&mut order);
    let (v, t) = order.split_at(held);
    let pick = |idx: &[usize]| {
        let mut idx = idx.to_vec();
        idx.sort_unstable();
        Pairs {
            pairs: idx.iter().map(|&i| all.pairs[i].clone()).collect(),
            skipped: Vec::new(),
            ..all.clone()
        }
    };
    Ok((pick(t), pick(v)))
}

fn settings_of(a: &TrainArgs) -> Result<TranslateSettings> {
    let units: Units = a
        .units
        .parse()
        .map_err(|_| Error::Config(format!("--units must be bpe or word, got {:?}", a.units)))?;
    let vocab = match units {
        Units::Bpe => VocabSettings::bpe(a.vocab_size),
        Units::Word => VocabSettings::words(a.min_freq, a.lowercase),
    };
    if a.lowercase && units == Units::Bpe {
        return Err(Error::Config(
            "--lowercase applies to --units word only (BPE keeps the text exact)".into(),
        ));
    }
    Ok(TranslateSettings {
        cell: a.cell.parse()?,
        embed_dim: a.embed,
        hidden_size: a.hidden,
        num_layers: a.layers,
        dropout: a.dropout,
        attention: a.attention.parse()?,
        label_smoothing: a.label_smoothing,
        vocab,
        shared_vocab: a.shared_vocab,
        max_len: a.max_len,
        batch_size: a.batch_size,
        lr: a.lr,
        epochs: a.epochs,
        steps: a.steps,
        time_budget: a.time_budget,
        patience: a.patience,
        validate_every: a.validate_every,
        bleu_sentences: a.bleu_sentences,
        seed: a.seed,
    })
}

/// The settings and inputs of the run saved in `dir`; its data files must be unchanged.
fn saved_run(dir: &Path) -> Result<(TranslateSettings, Inputs)> {
    let config_path = dir.join("config.json");
    if !config_path.is_file() {
        return Err(Error::Input(format!(
            "--resume {}: holds no translation run to resume (no config.json)",
            dir.display()
        )));
    }
    let text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::format(&config_path, format!("not JSON ({e})")))?;
    if config.get("task").and_then(|t| t.as_str()) != Some(recur::translate::translator::TASK) {
        return Err(Error::format(
            &config_path,
            "not a translation checkpoint (task is not \"translate\")",
        ));
    }
    let settings: TranslateSettings = serde_json::from_value(config["training"].clone())
        .map_err(|e| Error::format(&config_path, format!("training: {e}")))?;
    let state_path = dir.join("state.json");
    let inputs: Inputs = serde_json::from_value(recur::training::read_run(dir)?)
        .map_err(|e| Error::format(&state_path, format!("run: {e}")))?;
    let files = inputs.train.iter().chain(&inputs.valid);
    crate::check_unchanged(files.map(|(p, f)| (p.as_path(), f.as_str())), dir)?;
    Ok((settings, inputs))
}

fn fresh_inputs(a: &TrainArgs) -> Result<Inputs> {
    let train = match (&a.pairs, &a.src, &a.tgt) {
        (Some(p), _, _) => with_prints(&[p])?,
        (None, Some(s), Some(t)) => with_prints(&[s, t])?,
        _ => {
            return Err(Error::Config(
                "give the training pairs: --pairs FILE.tsv, or --src FILE and --tgt FILE".into(),
            ))
        }
    };
    let valid = match (&a.valid_pairs, &a.valid_src, &a.valid_tgt) {
        (Some(p), _, _) => with_prints(&[p])?,
        (None, Some(s), Some(t)) => with_prints(&[s, t])?,
        _ => Vec::new(),
    };
    Ok(Inputs {
        train,
        valid,
        skip_empty: a.skip_empty,
    })
}

/// The settings line printed once training begins.
fn header(s: &TranslateSettings, train: &Pairs, valid: &Pairs) -> String {
    let budget = match (s.steps, s.time_budget) {
        (Some(n), _) => format!("{n} steps"),
        (None, Some(t)) => format!("{t} s"),
        (None, None) => format!("{} epochs", s.epochs),
    };
    format!(
        "{} training pairs, {} validation; {} vocabularies; {} {}×{} (embed {}), attention {}, dropout {}, label smoothing {}; batch {}, lr {}, {budget}, patience {}",
        train.pairs.len(),
        valid.pairs.len(),
        s.vocab.units.name(),
        format!("{:?}", s.cell).to_lowercase(),
        s.num_layers,
        s.hidden_size,
        s.embed_dim,
        format!("{:?}", s.attention).to_lowercase(),
        s.dropout,
        s.label_smoothing,
        s.batch_size,
        s.lr,
        s.patience
    )
}

/// Runs `recur translate train`.
pub fn run(a: TrainArgs) -> Result<ExitCode> {
    let threads = crate::threads(a.threads)?;
    let (settings, inputs, mut out) = match &a.resume {
        Some(dir) => {
            let (settings, inputs) = saved_run(dir)?;
            let out = recur::rundir::RunDir::open(dir, recur::rundir::OutPolicy::Resume)?;
            (settings, inputs, out)
        }
        None => {
            let out = crate::outdir::open(a.out.as_deref(), "runs/translate", a.overwrite)?;
            let settings = settings_of(&a)?;
            (settings, fresh_inputs(&a)?, out)
        }
    };
    settings.validate()?;
    let (train, valid) = read_sets(&inputs, settings.seed)?;
    for (set, p) in [("training", &train), ("validation", &valid)] {
        if !p.skipped.is_empty() {
            errln!(
                "note: {} empty {set} pairs left out (--skip-empty)",
                p.skipped.len()
            );
        }
    }
    let mut lines = crate::progress::LoopLines::new(a.quiet, "BLEU")
        .with_header(header(&settings, &train, &valid));
    crate::catch_ctrl_c();
    let flag = std::sync::atomic::AtomicBool::new(false);
    let mut observer = crate::progress::Stopping::new(&mut lines, &flag, a.stop_after);
    let run_record = serde_json::to_value(&inputs).expect("inputs serialise");
    let mut throttle = crate::outdir::SaveThrottle::default();
    let mut save = |ck: &recur::training::LoopCheckpoint<'_>| {
        if !throttle.due() {
            return Ok(());
        }
        out.save(|tmp| ck.write(tmp))?;
        throttle.saved();
        Ok(())
    };
    let control = recur::training::Control {
        observer: &mut observer,
        stop: &flag,
        resume_from: a.resume.as_deref(),
        on_checkpoint: Some(&mut save),
        run_record,
    };
    let data = TranslateData {
        train: &train,
        valid: &valid,
    };
    let trained = train_with(data, &settings, &threads, control)?;
    let s = &trained.summary;
    out.save(|tmp| {
        trained.checkpoint().write(tmp)?;
        recur::io::write_atomically(&tmp.join("metrics.jsonl"), s.metrics_jsonl().as_bytes())?;
        let chart = s.loss_chart(
            "Translation model: loss",
            "cross-entropy per target token (nats)",
        );
        recur::io::write_atomically(&tmp.join("loss.svg"), chart.to_svg()?.as_bytes())
    })?;
    if !a.quiet {
        errln!("{}", crate::progress::loop_summary(s, "BLEU"));
    }
    if s.interrupted {
        errln!(
            "stopped at step {}; checkpoint in {} (continue with --resume {})",
            s.steps,
            out.path().display(),
            out.path().display()
        );
    } else {
        outln!(
            "model in {} (validation loss {:.4}, perplexity {:.2}, greedy BLEU {:.2} at step {}); score it with: recur translate eval --checkpoint {} --src … --tgt …",
            out.path().display(),
            s.best.0.loss,
            s.best.0.loss.exp(),
            s.best.0.score.unwrap_or(f64::NAN),
            s.best.1,
            out.path().display()
        )?;
    }
    Ok(crate::finished())
}
