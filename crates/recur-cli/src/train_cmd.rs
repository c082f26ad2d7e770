//! `recur train`: train a character model, show progress, validate, checkpoint, and print a
//! sample of what it learned.

use crate::progress::{clock, Mode, Progress};
use clap::Args;
use recur::charlm::data::read_text;
use recur::charlm::defaults::{self, Fitted};
use recur::charlm::sample::default_prime;
use recur::charlm::{
    checkpoint, evaluate, generate, CharLm, CharLmConfig, SampleOptions, Stop, TrainSettings,
    Trainer, Vocab,
};
use recur::optim::{OptimizerConfig, OptimizerKind, Schedule, ScheduleKind};
use recur::rundir::{self, OutPolicy, RunDir};
use recur::{CellType, Error, Nonlinearity, Result, Rng, Threads};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The bundled default text, compiled in so that `recur train` works from any directory.
const BUNDLED_TEXT: &str = include_str!("../../../data/moby_dick.txt");
const BUNDLED_NAME: &str = "data/moby_dick.txt (bundled)";

/// Defaults, chosen for the most learning per second on a 2-core machine (see README).
mod default {
    pub const CELL: &str = "gru";
    pub const EMBED: usize = 64;
    pub const HIDDEN: usize = 512;
    pub const LAYERS: usize = 1;
    pub const BATCH: usize = 32;
    pub const SEQ_LEN: usize = 64;
    pub const TIME_BUDGET: f64 = 300.0;
    pub const LR: f64 = 3e-3;
    pub const MIN_LR_FRACTION: f64 = 0.1;
    pub const WARMUP: u64 = 50;
    pub const CLIP: f64 = 1.0;
    pub const OUT: &str = "runs/char-lm";
}

/// Flags of `recur train`.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct TrainArgs {
    /// UTF-8 training text [default: the bundled Moby Dick]
    #[arg(long)]
    text: Option<PathBuf>,
    /// Recurrent cell: rnn, lstm or gru [default: gru]
    #[arg(long)]
    cell: Option<String>,
    /// RNN nonlinearity: tanh or relu [default: tanh]
    #[arg(long)]
    nonlinearity: Option<String>,
    /// Embedding width; 0 feeds one-hot characters [default: 64]
    #[arg(long)]
    embed: Option<usize>,
    /// Hidden units per layer [default: 512]
    #[arg(long)]
    hidden: Option<usize>,
    /// Stacked recurrent layers [default: 1]
    #[arg(long)]
    layers: Option<usize>,
    /// Dropout between recurrent layers and on the head's input (the last layer's output), in [0, 1) [default: from the passes over the text the run is expected to make: 0 up to 8, then rising to 0.5 (README)]
    #[arg(long)]
    dropout: Option<f64>,
    /// Streams per batch [default: 32]
    #[arg(long)]
    batch_size: Option<usize>,
    /// Steps of truncated backprop through time [default: 64]
    #[arg(long)]
    seq_len: Option<usize>,
    /// Stop after this many optimiser steps
    #[arg(long, conflicts_with_all = ["epochs", "time_budget"])]
    steps: Option<u64>,
    /// Stop after this many passes over the training text
    #[arg(long, conflicts_with = "time_budget")]
    epochs: Option<u64>,
    /// Train for this many seconds, the schedule following the time used [default: 300]
    #[arg(long)]
    time_budget: Option<f64>,
    /// adam, adamw, sgd or rmsprop [default: adam]
    #[arg(long)]
    optimizer: Option<String>,
    /// Peak learning rate [default: 0.003]
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Lowest learning rate of the cosine schedule [default: lr / 10]
    #[arg(long)]
    min_lr: Option<f64>,
    /// Momentum (sgd, rmsprop) [default: 0]
    #[arg(long)]
    momentum: Option<f64>,
    /// Weight decay (decoupled for adamw) [default: 0, adamw 0.01]
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Clip the global gradient norm to this; 0 disables [default: 1]
    #[arg(long)]
    clip: Option<f64>,
    /// Clip every gradient element to [-v, v]; 0 disables [default: 0]
    #[arg(long)]
    clip_value: Option<f64>,
    /// constant, step or cosine [default: cosine]
    #[arg(long)]
    lr_schedule: Option<String>,
    /// Steps of linear learning-rate warm-up [default: 50; 0 with --lr-schedule constant]
    #[arg(long)]
    warmup: Option<u64>,
    /// Step schedule: multiply the rate by this at every quarter of the run [default: 0.5]
    #[arg(long)]
    lr_gamma: Option<f64>,
    /// Fraction of the text's tail held out for validation; 0 for none [default: 0.1]
    #[arg(long)]
    val_frac: Option<f64>,
    /// Validate every this many steps [default: four times in a run of known length, and at the end]
    #[arg(long)]
    eval_every: Option<u64>,
    /// Reserve an unknown symbol (U+FFFD) for any character outside the vocabulary, so that the model reads arbitrary text: characters seen fewer than 3 times in the training text are read as it, which teaches it to the model
    #[arg(long, conflicts_with_all = ["init_from", "resume"])]
    unk: bool,
    /// Stop when the validation loss has risen at 3 validations in a row while the training loss fell, keeping best/
    #[arg(long)]
    early_stop: bool,
    /// Seed of initialisation and dropout [default: 1]
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
    /// Output directory: last checkpoint, best/, metrics.jsonl, loss.svg [default: runs/char-lm, numbered (runs/char-lm-2, …) when that holds a run; with --resume, the resumed directory]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Let a new run replace the files of an earlier run in --out (files recur did not write are kept)
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Start from this checkpoint's weights (fine-tuning); architecture and vocabulary come from it
    #[arg(long, conflicts_with = "resume")]
    init_from: Option<PathBuf>,
    /// Continue the run saved in this directory exactly where it stopped
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Stop (as if interrupted, with a checkpoint to resume from) after this many steps
    #[arg(long)]
    stop_after: Option<u64>,
    /// Characters of sample text printed at the end; 0 for none
    #[arg(long, default_value_t = 400)]
    sample_length: usize,
    /// No progress output
    #[arg(long)]
    quiet: bool,
}

fn read_training_text(flag: &Option<PathBuf>) -> Result<(String, String)> {
    match flag {
        // The absolute path goes into the checkpoint, so that --resume finds the text from any
        // working directory.
        Some(path) => {
            let text = read_text(path)?;
            let name = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            Ok((name.display().to_string(), text))
        }
        None => Ok((BUNDLED_NAME.to_string(), BUNDLED_TEXT.to_string())),
    }
}

/// The stopping rule of the flags, if any was given.
fn stop_flag(args: &TrainArgs) -> Option<Stop> {
    match (args.steps, args.epochs, args.time_budget) {
        (Some(n), _, _) => Some(Stop::Steps(n)),
        (_, Some(n), _) => Some(Stop::Epochs(n)),
        (_, _, Some(s)) => Some(Stop::TimeBudget(s)),
        _ => None,
    }
}

/// Architecture flags given on the command line, for refusing them where the checkpoint decides.
fn architecture_flags(args: &TrainArgs) -> Vec<&'static str> {
    let mut given = Vec::new();
    let pairs: [(&'static str, bool); 6] = [
        ("--cell", args.cell.is_some()),
        ("--nonlinearity", args.nonlinearity.is_some()),
        ("--embed", args.embed.is_some()),
        ("--hidden", args.hidden.is_some()),
        ("--layers", args.layers.is_some()),
        ("--dropout", args.dropout.is_some()),
    ];
    for (flag, on) in pairs {
        if on {
            given.push(flag);
        }
    }
    given
}

fn model_config(args: &TrainArgs, vocab_size: usize) -> Result<CharLmConfig> {
    let cell: CellType = args.cell.as_deref().unwrap_or(default::CELL).parse()?;
    let nonlinearity = match &args.nonlinearity {
        Some(s) => {
            let n: Nonlinearity = s.parse()?;
            if cell != CellType::Rnn {
                return Err(Error::Config(
                    "--nonlinearity applies to --cell rnn only".into(),
                ));
            }
            Some(n)
        }
        None => (cell == CellType::Rnn).then_some(Nonlinearity::Tanh),
    };
    let config = CharLmConfig {
        cell,
        nonlinearity,
        vocab_size,
        embed_dim: args.embed.unwrap_or(default::EMBED),
        hidden_size: args.hidden.unwrap_or(default::HIDDEN),
        num_layers: args.layers.unwrap_or(default::LAYERS),
        dropout: args.dropout.unwrap_or(0.0),
        bias: true,
    };
    if config.hidden_size == 0 {
        return Err(Error::Config("--hidden must be at least 1".into()));
    }
    if config.num_layers == 0 {
        return Err(Error::Config("--layers must be at least 1".into()));
    }
    if !(0.0..1.0).contains(&config.dropout) {
        return Err(Error::Config(format!(
            "--dropout must be in [0, 1), got {}",
            config.dropout
        )));
    }
    config.validate().map_err(|e| {
        crate::with_flags(
            e,
            &[
                ("hidden_size", "--hidden"),
                ("embed_dim", "--embed"),
                ("num_layers", "--layers"),
                ("vocab_size", "the text's vocabulary size"),
            ],
        )
    })?;
    Ok(config)
}

fn settings(args: &TrainArgs, text_name: String) -> Result<TrainSettings> {
    let kind: OptimizerKind = args.optimizer.as_deref().unwrap_or("adam").parse()?;
    let mut optimizer = OptimizerConfig::new(kind);
    if let Some(m) = args.momentum {
        if kind == OptimizerKind::Adam || kind == OptimizerKind::Adamw {
            return Err(Error::Config(
                "--momentum applies to sgd and rmsprop only".into(),
            ));
        }
        optimizer.momentum = m;
    }
    if let Some(wd) = args.weight_decay {
        optimizer.weight_decay = wd;
    }
    let lr = args.lr.unwrap_or(default::LR);
    if !(lr > 0.0 && lr.is_finite()) {
        return Err(Error::Config(format!("--lr must be > 0, got {lr}")));
    }
    let schedule = Schedule {
        kind: args
            .lr_schedule
            .as_deref()
            .unwrap_or("cosine")
            .parse::<ScheduleKind>()?,
        lr,
        // A constant schedule is constant unless a warm-up is asked for.
        warmup_steps: args
            .warmup
            .unwrap_or(if args.lr_schedule.as_deref() == Some("constant") {
                0
            } else {
                default::WARMUP
            }),
        min_lr: args.min_lr.unwrap_or(lr * default::MIN_LR_FRACTION),
        step_fraction: 0.25,
        gamma: args.lr_gamma.unwrap_or(0.5),
    };
    let s = TrainSettings {
        text: text_name,
        batch_size: args.batch_size.unwrap_or(default::BATCH),
        seq_len: args.seq_len.unwrap_or(default::SEQ_LEN),
        stop: stop_flag(args).unwrap_or(Stop::TimeBudget(default::TIME_BUDGET)),
        optimizer,
        schedule,
        clip: args.clip.unwrap_or(default::CLIP),
        clip_value: args.clip_value.unwrap_or(0.0),
        val_frac: args.val_frac.unwrap_or(0.1),
        eval_every: args.eval_every.unwrap_or(0),
        early_stop: args.early_stop,
        seed: args.seed.unwrap_or(1),
    };
    s.validate()?;
    Ok(s)
}

/// Builds the trainer the flags ask for (fresh, fine-tuning, or resumed) and opens its output
/// directory, refusing one that holds another run before any training time is spent.
fn trainer(args: &TrainArgs, threads: &Threads) -> Result<(Trainer, RunDir, Option<Fitted>)> {
    if let Some(dir) = &args.resume {
        let given = architecture_flags(args);
        let changed_training = [
            ("--batch-size", args.batch_size.is_some()),
            ("--seq-len", args.seq_len.is_some()),
            ("--optimizer", args.optimizer.is_some()),
            ("--lr", args.lr.is_some()),
            ("--lr-schedule", args.lr_schedule.is_some()),
            ("--val-frac", args.val_frac.is_some()),
            ("--seed", args.seed.is_some()),
            ("--clip", args.clip.is_some()),
            ("--clip-value", args.clip_value.is_some()),
            ("--momentum", args.momentum.is_some()),
            ("--weight-decay", args.weight_decay.is_some()),
            ("--min-lr", args.min_lr.is_some()),
            ("--warmup", args.warmup.is_some()),
            ("--lr-gamma", args.lr_gamma.is_some()),
            ("--eval-every", args.eval_every.is_some()),
            ("--early-stop", args.early_stop),
        ];
        if let Some(flag) = given
            .into_iter()
            .chain(changed_training.iter().filter(|p| p.1).map(|p| p.0))
            .next()
        {
            return Err(Error::Config(format!(
                "{flag} cannot be changed when resuming: the run continues with its saved settings"
            )));
        }
        let saved = checkpoint::read_config(dir)?;
        let text_flag = match (&args.text, saved.training.as_ref()) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(t)) if t.text != BUNDLED_NAME => Some(PathBuf::from(&t.text)),
            _ => None,
        };
        let (_, text) = read_training_text(&text_flag).map_err(|e| match (&args.text, e) {
            (None, Error::Io { path, source }) => Error::Input(format!(
                "{}: {source} (the training text recorded in {}; give its new place with --text)",
                path.display(),
                dir.join("config.json").display()
            )),
            (_, e) => e,
        })?;
        let trainer = Trainer::resume(dir, &text, stop_flag(args))?;
        let at = trainer.state().step;
        if let Some(n) = trainer.total_steps().filter(|&n| n <= at) {
            return Err(Error::Config(format!(
                "the run in {} is already at step {at}, and its stopping rule ends at step {n}: give a larger --steps or --epochs to continue it",
                dir.display()
            )));
        }
        let out = match &args.out {
            Some(out) if !same_dir(out, dir) => RunDir::open(out, out_policy(args))?,
            _ => RunDir::open(dir, OutPolicy::Resume)?,
        };
        return Ok((trainer, out, None));
    }
    let out = match &args.out {
        Some(out) => RunDir::open(out, out_policy(args))?,
        None => RunDir::open(&rundir::numbered(Path::new(default::OUT)), OutPolicy::Fresh)?,
    };
    let (name, text) = read_training_text(&args.text)?;
    let settings = settings(args, name)?;
    // A new model without --dropout gets the defaults' rule.
    let mut fit = false;
    let (model, vocab) = match &args.init_from {
        Some(dir) => {
            // Dropout is a training setting: it may change when fine-tuning.
            if let Some(flag) = architecture_flags(args)
                .into_iter()
                .find(|f| *f != "--dropout")
            {
                return Err(Error::Config(format!(
                    "{flag}: with --init-from the architecture comes from the checkpoint"
                )));
            }
            let mut loaded = checkpoint::load(dir)?;
            if let Some(p) = args.dropout {
                loaded.model.set_dropout(p)?;
            }
            (loaded.model, loaded.vocab)
        }
        None => {
            let vocab = if args.unk {
                Vocab::from_text_with_unk(&text, UNK_MIN_COUNT)
            } else {
                Vocab::from_text(&text)
            };
            let config = model_config(args, vocab.len())?;
            let model = CharLm::new(config, &mut Rng::new(settings.seed))?;
            fit = args.dropout.is_none();
            (model, vocab)
        }
    };
    let mut trainer = Trainer::new(model, vocab, settings, &text)?;
    let fitted = if fit {
        Some(defaults::fit_dropout(&mut trainer, &text, threads)?)
    } else {
        None
    };
    Ok((trainer, out, fitted))
}

/// With `--unk`, characters seen fewer times than this in the training text become the unknown
/// symbol.
const UNK_MIN_COUNT: usize = 3;

fn out_policy(args: &TrainArgs) -> OutPolicy {
    if args.overwrite {
        OutPolicy::Overwrite
    } else {
        OutPolicy::Fresh
    }
}

/// Whether two paths name the same existing directory.
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Runs `recur train`.
pub fn run(args: TrainArgs) -> Result<ExitCode> {
    let threads = crate::threads(args.threads)?;
    let (mut trainer, mut out_dir, fitted) = trainer(&args, &threads)?;
    let out = out_dir.path().to_path_buf();
    let mode = Mode::detect(args.quiet);
    if mode != Mode::Quiet {
        let c = trainer.model().config();
        let s = trainer.settings();
        let (train, val) = trainer.split_sizes();
        let stop = match s.stop {
            Stop::Steps(n) => format!("{n} steps"),
            Stop::Epochs(n) => format!("{n} epochs ({} steps)", trainer.total_steps().unwrap_or(n)),
            Stop::TimeBudget(t) => format!("{} of training", clock(t)),
        };
        errln!(
            "recur train: {} | {train} training + {val} validation characters, vocabulary {}",
            s.text,
            c.vocab_size
        );
        errln!(
            "model: {:?} hidden {} × {} layer(s), {}, {} parameters | batch {} × {} steps, {:?} lr {} {:?}, {stop}, {} thread(s)",
            c.cell,
            c.hidden_size,
            c.num_layers,
            if c.embed_dim == 0 { "one-hot input".to_string() } else { format!("embedding {}", c.embed_dim) },
            trainer.model().num_params(),
            s.batch_size,
            s.seq_len,
            s.optimizer.kind,
            s.schedule.lr,
            s.schedule.kind,
            threads.count()
        );
        if let Some(f) = fitted {
            errln!(
                "dropout {} (about {:.1} passes over the training text expected{}; the defaults' rule, README \"How the defaults were chosen\"; --dropout sets it)",
                f.dropout,
                f.passes,
                match f.step_seconds {
                    Some(s) => format!(" at {:.0} ms per step, timed on a few trial steps", 1e3 * s),
                    None => String::new(),
                }
            );
        }
        if trainer.state().step > 0 {
            errln!(
                "resuming at step {} (epoch {})",
                trainer.state().step,
                trainer.state().epoch
            );
        }
    }
    crate::catch_ctrl_c();
    let s = trainer.settings();
    let mut progress = Progress::new(mode, s.batch_size * s.seq_len, s.clip);
    // Ctrl-C and --stop-after end the run as an interruption, with a checkpoint to resume from.
    let flag = std::sync::atomic::AtomicBool::new(false);
    let mut observer = crate::progress::Stopping::new(&mut progress, &flag, args.stop_after);
    let summary = trainer.run(&threads, &mut out_dir, &mut observer, &flag);
    progress.finish();
    let summary = summary?;
    if summary.interrupted {
        errln!(
            "stopped at step {} after {}; checkpoint in {} (continue with --resume {})",
            summary.steps,
            clock(summary.train_seconds),
            out.display(),
            out.display()
        );
        // A Ctrl-C ends with the status shells expect of an interrupted command.
        return Ok(crate::finished());
    }
    let time_budget = matches!(trainer.settings().stop, Stop::TimeBudget(_));
    // The model the run leaves as its result: best/, when validation chose one.
    let best = match trainer.state().best_step {
        Some(step) => Some((step, checkpoint::load(&out.join("best"))?.model)),
        None => None,
    };
    if mode != Mode::Quiet {
        errln!(
            "trained {} steps in {} ({:.0} characters/s)",
            summary.steps,
            clock(summary.train_seconds),
            (summary.steps as f64
                * (trainer.settings().batch_size * trainer.settings().seq_len) as f64)
                / summary.train_seconds.max(1e-9)
        );
        if summary.stopped_early {
            errln!(
                "stopped early at step {} (--early-stop): the model was overfitting; best/ is the result",
                summary.steps
            );
        } else if let Some(signs) = summary.overfitting {
            let warning = recur::charlm::train::overfitting_warning(&signs);
            errln!("warning: {}", crate::flags_for_fields(&warning));
        }
        if let Some(v) = summary.final_val {
            errln!(
                "last validation (step {}{}): loss {:.4} nats/char",
                summary.steps,
                if time_budget {
                    ", 32 parallel streams"
                } else {
                    ""
                },
                v.loss
            );
        }
        if let Some((step, model)) = &best {
            // The exact figure of `recur eval` on the validation text, for the kept model.
            let v = match summary.final_val {
                Some(v) if !time_budget && *step == summary.steps => v,
                _ => evaluate(model, &threads, trainer.validation_tokens(), |_, _| {})?,
            };
            errln!(
                "best/ (step {step}): validation loss {:.4} nats/char, {:.4} bits/char, perplexity {:.3}, accuracy {:.2}% over {} characters",
                v.loss, v.bpc, v.perplexity, 100.0 * v.accuracy, v.tokens
            );
        }
        errln!(
            "checkpoint: {} (best by validation: {}/best), metrics: {}/metrics.jsonl, plot: {}/loss.svg",
            out.display(),
            out.display(),
            out.display(),
            out.display()
        );
    }
    if args.sample_length > 0 && !args.quiet {
        let vocab = trainer.vocab();
        let prime = default_prime(vocab);
        let options = SampleOptions {
            temperature: 0.8,
            ..Default::default()
        };
        let mut sample = prime.clone();
        let model = best.as_ref().map_or(trainer.model(), |(_, m)| m);
        generate(
            model,
            vocab,
            &threads,
            &prime,
            args.sample_length,
            &options,
            |c| {
                sample.push(c);
                Ok(())
            },
        )?;
        outln!(
            "--- sample (temperature 0.8) ---{}",
            if sample.starts_with('\n') { "" } else { "\n" }
        )?;
        outln!("{}", sample.trim_start_matches('\n'))?;
    }
    Ok(ExitCode::SUCCESS)
}
