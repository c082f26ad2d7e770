//! `recur transcribe corpus`: [`recur::speech::digits`] from the command line.

use clap::Args;
use recur::rundir::{OutPolicy, RunDir};
use recur::speech::digits::{build, DigitCorpusSettings};
use recur::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `recur transcribe corpus`.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct CorpusArgs {
    /// Folder of isolated-digit recordings named {digit}_{speaker}_{index}.wav (mono 16-bit, 8 kHz)
    #[arg(long)]
    fsdd: PathBuf,
    /// Output folder (new or empty): train/, test/, train.csv, test.csv, corpus.json
    #[arg(long)]
    out: PathBuf,
    /// Training utterances
    #[arg(long, default_value_t = 2000)]
    train: usize,
    /// Test utterances
    #[arg(long, default_value_t = 500)]
    test: usize,
    /// A speaker held out for the test set (repeat for several)
    #[arg(long = "test-speaker", default_values_t = ["theo".to_string()])]
    test_speakers: Vec<String>,
    /// Fewest digits per utterance
    #[arg(long, default_value_t = 1)]
    min_digits: usize,
    /// Most digits per utterance
    #[arg(long, default_value_t = 7)]
    max_digits: usize,
    /// Longest pause between digits, in milliseconds (pauses are uniform from 0)
    #[arg(long, default_value_t = 300.0)]
    max_pause_ms: f64,
    /// Gains of the digits and of the utterance drawn within ±this many dB
    #[arg(long, default_value_t = 6.0)]
    gain_db: f64,
    /// Seed of every draw
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

const FLAGS: &[(&str, &str)] = &[
    ("min_digits", "--min-digits"),
    ("max_digits", "--max-digits"),
    ("pause_ms", "--max-pause-ms"),
    ("gain_db", "--gain-db"),
    ("train", "--train"),
    ("test", "--test"),
];

/// Runs `recur transcribe corpus`.
pub fn run(a: CorpusArgs) -> Result<ExitCode> {
    let settings = DigitCorpusSettings {
        train: a.train,
        test: a.test,
        test_speakers: a.test_speakers,
        min_digits: a.min_digits,
        max_digits: a.max_digits,
        pause_ms: (0.0, a.max_pause_ms),
        seed: a.seed,
        gain_db: a.gain_db,
        ..Default::default()
    };
    let flagged = |e: recur::Error| {
        let mut e = e;
        for (field, flag) in FLAGS {
            e = match e {
                recur::Error::Config(m) => {
                    recur::Error::Config(m.replace(&format!("`{field}`"), flag))
                }
                other => other,
            };
        }
        e
    };
    settings.validate().map_err(flagged)?;
    let mut out = RunDir::open(&a.out, OutPolicy::Fresh)?;
    let mut built = None;
    out.save(|tmp| {
        built = Some(build(&a.fsdd, &settings, tmp)?);
        Ok(())
    })?;
    let b = built.expect("the save ran");
    outln!(
        "{}: {} training utterances ({:.0} s), {} test utterances ({:.0} s) of speaker(s) {}",
        out.path().display(),
        b.utterances.0,
        b.seconds.0,
        b.utterances.1,
        b.seconds.1,
        settings.test_speakers.join(", ")
    )?;
    Ok(ExitCode::SUCCESS)
}
