//! The `recur` command line. Thin: every real decision lives in the `recur` library.

/// Writes a line to standard output like `println!`, but returns a closed pipe or a full disk
/// as an error naming standard output instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::stdout_error)
    }};
}

/// Writes a line to standard error like `eprintln!`, but a closed or full standard error is
/// ignored instead of ending the run with a panic (a message nobody can read is not worth a
/// lost checkpoint).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod audio_flags;
mod bench_cmd;
mod classify_cmd;
mod eval_cmd;
mod export_cmd;
mod folds_cmd;
mod forecast_cmd;
mod gradients_cmd;
mod outdir;
mod progress;
mod regress_cmd;
mod sample_cmd;
mod task_cmd;
mod train_cmd;
mod transcribe_cmd;
mod translate_cmd;

use clap::{Parser, Subcommand};
use std::path::Path;
use std::process::ExitCode;

/// Recurrent neural networks (RNN, LSTM, GRU) with PyTorch semantics.
#[derive(Parser)]
#[command(name = "recur", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a character-level language model (defaults: the bundled Moby Dick, 5 minutes).
    Train(Box<train_cmd::TrainArgs>),
    /// Evaluate a checkpoint on a text: loss, bits per character, perplexity, accuracy.
    Eval(eval_cmd::EvalArgs),
    /// Generate text from a checkpoint, streamed as it is produced.
    Sample(sample_cmd::SampleArgs),
    /// Measure training, forward and generation speed of the character model.
    Bench(bench_cmd::BenchArgs),
    /// Train a forecaster on a CSV series and score it against baselines on its last points.
    Forecast(Box<forecast_cmd::ForecastArgs>),
    /// Classify sequences: train, eval, predict.
    Classify(Box<classify_cmd::ClassifyArgs>),
    /// Train on a synthetic long-range task (adding, copy, first) against the memoryless baseline; `compare` runs the three cells.
    Task(Box<task_cmd::TaskArgs>),
    /// Measure vanishing and exploding gradients: the norm of dL/dh_t by distance from a loss at the last step.
    Gradients(gradients_cmd::GradientsArgs),
    /// Machine translation: score translations against references (BLEU, chrF as sacreBLEU).
    Translate(Box<translate_cmd::TranslateArgs>),
    /// Connected speech with CTC: build a digit corpus, train an acoustic model, error rates, transcripts.
    Transcribe(Box<transcribe_cmd::TranscribeArgs>),
    /// Export a checkpoint to ONNX (character model, classifier, regressor, forecaster, acoustic model; a translation model as encoder and decoder files).
    Export(export_cmd::ExportArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            // One line: clap's first line, without its usage block.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            errln!("{first} (see `recur --help`)");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Train(args) => train_cmd::run(*args),
        Command::Eval(args) => eval_cmd::run(args),
        Command::Sample(args) => sample_cmd::run(args),
        Command::Bench(args) => bench_cmd::run(args),
        Command::Forecast(args) => forecast_cmd::run(*args),
        Command::Classify(args) => classify_cmd::run(*args),
        Command::Task(args) => task_cmd::run(*args),
        Command::Gradients(args) => gradients_cmd::run(args),
        Command::Translate(args) => translate_cmd::run(*args),
        Command::Transcribe(args) => transcribe_cmd::run(*args),
        Command::Export(args) => export_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        // A reader that went away (`recur … | head -1`) ends the command quietly, as other tools.
        Err(recur::Error::Io { path, source })
            if path == Path::new(STDOUT) && source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::SUCCESS
        }
        Err(e @ recur::Error::Io { .. }) if matches!(&e, recur::Error::Io { path, .. } if path == Path::new(STDOUT)) =>
        {
            errln!("error: {e}");
            ExitCode::from(1)
        }
        Err(recur::Error::OutputExists(dir)) => {
            let holds = if dir.join("config.json").is_file() {
                "already holds a recur run"
            } else {
                "is not a recur output directory: it holds other files"
            };
            errln!(
                "error: {}: {holds}; choose another --out, or add --overwrite to replace recur's files there (other files are kept)",
                dir.display()
            );
            ExitCode::from(2)
        }
        Err(e) => {
            errln!("error: {}", flags_for_fields(&e.to_string()));
            match e {
                recur::Error::Diverged(_) => ExitCode::from(1),
                recur::Error::Io { source, .. } if is_write_failure(&source) => ExitCode::from(1),
                _ => ExitCode::from(2),
            }
        }
    }
}

/// A failure of the system to store what recur wrote (a full disk or quota, an I/O error, a
/// read-only file system): not bad input, so exit status 1.
fn is_write_failure(e: &std::io::Error) -> bool {
    // ENOSPC, EDQUOT, EIO, EROFS on Linux.
    matches!(e.raw_os_error(), Some(28 | 122 | 5 | 30)) || e.kind() == std::io::ErrorKind::WriteZero
}

/// Says, as PyTorch warns, that dropout between recurrent layers does nothing with one layer.
pub fn warn_inert_dropout(dropout: f64, layers: usize) {
    if dropout > 0.0 && layers == 1 {
        errln!(
            "warning: --dropout {dropout} has no effect with --layers 1: dropout is applied between stacked recurrent layers (use --layers 2 or more)"
        );
    }
}

/// Raised by Ctrl-C (once [`catch_ctrl_c`] is installed): training finishes its step and saves.
pub static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes the first Ctrl-C raise [`STOP`] (the run finishes its step, saves and exits 130) and a
/// second one exit at once.
pub fn catch_ctrl_c() {
    use std::sync::atomic::Ordering;
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            errln!(
                "\ninterrupted again: exiting now without saving (an earlier checkpoint, if any, is intact)"
            );
            std::process::exit(130);
        }
        errln!("\ninterrupted: finishing this step and saving (Ctrl-C again to quit now)");
    });
}

/// The exit status of a run that ended normally, or 130 after a Ctrl-C.
pub fn finished() -> ExitCode {
    if STOP.load(std::sync::atomic::Ordering::SeqCst) {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    }
}

/// FNV-1a of a file's bytes, as hex: what a run records of its input files, so that resuming
/// refuses a changed one.
///
/// # Errors
/// [`recur::Error::Io`] naming the file that cannot be read.
pub fn fingerprint(path: &Path) -> recur::Result<String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    fingerprint_into(path, &mut h)?;
    Ok(format!("{h:016x}"))
}

/// Folds the bytes of `path` into `h` (FNV-1a); for a folder, the name and bytes of every entry
/// in name order, folders recursively.
fn fingerprint_into(path: &Path, h: &mut u64) -> recur::Result<()> {
    if !path.is_dir() {
        fold_bytes(
            h,
            &std::fs::read(path).map_err(|e| recur::Error::io(path, e))?,
        );
        return Ok(());
    }
    let mut entries = std::fs::read_dir(path)
        .map_err(|e| recur::Error::io(path, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| recur::Error::io(path, e))?;
    entries.sort();
    for p in entries {
        fold_bytes(h, p.file_name().unwrap_or_default().as_encoded_bytes());
        fingerprint_into(&p, h)?;
    }
    Ok(())
}

/// One FNV-1a step per byte.
fn fold_bytes(h: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *h = (*h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
}

/// Refuses to resume the run in `dir` when a data file it read has changed since: each `file`
/// must still have `print` ([`fingerprint`]).
///
/// # Errors
/// [`recur::Error::Input`] naming the changed file; [`recur::Error::Io`] for one that cannot
/// be read.
pub fn check_unchanged<'a>(
    files: impl IntoIterator<Item = (&'a Path, &'a str)>,
    dir: &Path,
) -> recur::Result<()> {
    for (file, print) in files {
        if fingerprint(file)? != print {
            return Err(recur::Error::Input(format!(
                "{}: changed since the run in {} read it; a run resumes only on the same data",
                file.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

/// How errors name standard output.
pub const STDOUT: &str = "standard output";

/// The error of a failed write to standard output.
pub fn stdout_error(e: std::io::Error) -> recur::Error {
    recur::Error::io(STDOUT, e)
}

/// The most threads a command starts.
pub const MAX_THREADS: usize = 1024;

/// Threads to use: the flag, or every core the process may run on.
pub fn threads(flag: Option<usize>) -> recur::Result<recur::Threads> {
    let n = flag.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if n == 0 {
        return Err(recur::Error::Config("--threads must be at least 1".into()));
    }
    if n > MAX_THREADS {
        return Err(recur::Error::Config(format!(
            "--threads must be at most {MAX_THREADS}, got {n}"
        )));
    }
    Ok(recur::Threads::new(n)?)
}

/// The library's settings named in a message as `` `field` ``, and the flag that sets each.
const FIELD_FLAGS: &[(&str, &str)] = &[
    ("batch_size", "--batch-size"),
    ("seq_len", "--seq-len"),
    ("steps", "--steps"),
    ("epochs", "--epochs"),
    ("time_budget", "--time-budget"),
    ("val_frac", "--val-frac"),
    ("clip", "--clip"),
    ("clip_value", "--clip-value"),
    ("hidden", "--hidden"),
    ("layers", "--layers"),
    ("frame_size", "--frame-size"),
    ("lr", "--lr"),
    ("dropout", "--dropout"),
    ("embed", "--embed"),
    ("max_vocab", "--max-vocab"),
    ("prime", "--prime"),
    ("lookback", "--lookback"),
    ("horizon", "--horizon"),
    ("test_size", "--test-size"),
    ("period", "--period"),
    ("level", "--level"),
    ("log", "--log"),
    ("seasonal_diff", "--seasonal-diff"),
    ("fill", "--fill"),
    ("id", "--id"),
    ("calendar", "--calendar"),
    ("delimiter", "--delimiter"),
    ("augment", "--augment"),
    ("ensemble", "--ensemble"),
    ("length", "--length"),
    ("eval_size", "--eval-size"),
    ("validate_every", "--validate-every"),
    ("max_len", "--max-len"),
    ("vocab_size", "--vocab-size"),
    ("min_freq", "--min-freq"),
    ("lowercase", "--lowercase"),
    ("label_smoothing", "--label-smoothing"),
    ("hidden_size", "--hidden"),
    ("embed_dim", "--embed"),
    ("num_layers", "--layers"),
    ("beam", "--beam"),
    ("cell", "--cell"),
    ("patience", "--patience"),
    ("sample_rate", "--sample-rate"),
    ("frame_ms", "--frame-ms"),
    ("hop_ms", "--hop-ms"),
    ("n_mels", "--n-mels"),
    ("n_mfcc", "--n-mfcc"),
    ("fmin", "--fmin"),
    ("fmax", "--fmax"),
    ("pre_emphasis", "--pre-emphasis"),
    ("top_db", "--top-db"),
    ("deltas", "--deltas"),
    ("delta_width", "--delta-width"),
];

/// A library message retold for the command line: every `` `field` `` of [`FIELD_FLAGS`]
/// becomes its flag.
pub fn flags_for_fields(message: &str) -> String {
    let mut m = message.to_string();
    for (field, flag) in FIELD_FLAGS {
        m = m.replace(&format!("`{field}`"), flag);
    }
    m
}

/// A configuration error of the library, which names configuration fields (`hidden_size`),
/// retold with the flags that set them (`--hidden`): `names` pairs each field with its flag.
pub fn with_flags(e: recur::Error, names: &[(&str, &str)]) -> recur::Error {
    match e {
        recur::Error::Config(mut m) => {
            for (field, flag) in names {
                m = replace_word(&m, field, flag);
            }
            recur::Error::Config(m)
        }
        other => other,
    }
}

/// `e` with the library's name of the input encoding setting (`` `encoding` ``) told as the
/// `--encoding` flag, in configuration and file errors alike.
pub fn with_encoding_flag(e: recur::Error) -> recur::Error {
    match e {
        recur::Error::Format { path, message } => recur::Error::Format {
            path,
            message: message.replace("`encoding`", "--encoding"),
        },
        recur::Error::Config(m) => recur::Error::Config(m.replace("`encoding`", "--encoding")),
        other => other,
    }
}

/// `text` with every whole-word `word` (not part of a longer name or a flag) replaced by `by`.
fn replace_word(text: &str, word: &str, by: &str) -> String {
    let name_char = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().next_back().or(out.chars().next_back());
        let after = rest[i + word.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(name_char) || after.is_some_and(name_char) {
            out.push_str(word);
        } else {
            out.push_str(by);
        }
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoted_fields_are_retold_as_flags() {
        assert_eq!(
            super::flags_for_fields(
                "`batch_size` 3 × `seq_len` 4; `clip_value` and `clip`, `nope`"
            ),
            "--batch-size 3 × --seq-len 4; --clip-value and --clip, `nope`"
        );
    }

    #[test]
    fn fields_are_retold_as_flags_only_as_whole_words() {
        let e = recur::Error::Config(
            "hidden_size 9, horizon 3 (--horizon, horizons, hidden_size_x) make a model".into(),
        );
        let m = super::with_flags(e, &[("hidden_size", "--hidden"), ("horizon", "--horizon")])
            .to_string();
        assert_eq!(
            m,
            "invalid configuration: --hidden 9, --horizon 3 (--horizon, horizons, hidden_size_x) make a model"
        );
    }
}
