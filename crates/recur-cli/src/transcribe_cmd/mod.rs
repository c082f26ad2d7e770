//! `recur transcribe corpus | train | eval | run`: connected speech with CTC — a connected-digit
//! corpus from isolated recordings, an acoustic model trained on a manifest (`path,transcript`),
//! its word and character error rates, and transcripts of recordings (whole, or streamed chunk
//! by chunk).

mod corpus;
mod eval;
mod train;

use clap::{Args, Subcommand};
use recur::Result;
use std::process::ExitCode;

/// `recur transcribe` and its commands.
#[derive(Args)]
pub struct TranscribeArgs {
    #[command(subcommand)]
    command: TranscribeCommand,
}

#[derive(Subcommand)]
enum TranscribeCommand {
    /// Build a connected-digit corpus from isolated-digit recordings (FSDD): WAVs and manifests.
    Corpus(corpus::CorpusArgs),
    /// Train an acoustic model (recurrent layers + CTC) on a manifest path,transcript of WAV files.
    Train(Box<train::TrainArgs>),
    /// Word and character error rates of a model on a manifest, greedy and prefix beam.
    Eval(eval::EvalArgs),
    /// Transcribe WAV files (whole, or chunk by chunk with --stream).
    Run(eval::RunArgs),
}

/// Runs `recur transcribe`.
pub fn run(args: TranscribeArgs) -> Result<ExitCode> {
    match args.command {
        TranscribeCommand::Corpus(a) => corpus::run(a),
        TranscribeCommand::Train(a) => train::run(*a),
        TranscribeCommand::Eval(a) => eval::run_eval(a),
        TranscribeCommand::Run(a) => eval::run_run(a),
    }
}

/// Feature flags of `recur transcribe train` (the rest of the settings are
/// [`recur::audio::FeatureConfig`]'s defaults); stored in the checkpoint.
#[derive(Args)]
pub struct FeatureArgs {
    /// Features: mfcc or log-mel
    #[arg(long, default_value = "mfcc")]
    features: String,
    /// Mel bands
    #[arg(long, default_value_t = 40)]
    n_mels: usize,
    /// Cepstral coefficients (mfcc)
    #[arg(long, default_value_t = 13)]
    n_mfcc: usize,
    /// 0: base features; 1: with deltas; 2: with deltas and delta-deltas
    #[arg(long, default_value_t = 2)]
    deltas: usize,
    /// No per-utterance mean and variance normalisation (needed for `run --stream`)
    #[arg(long)]
    no_cmvn: bool,
    /// Floor of each utterance's dB values below its maximum, or none (needed for `run --stream`)
    #[arg(long, default_value = "80")]
    top_db: String,
}

/// The feature settings of `a`.
///
/// # Errors
/// [`recur::Error::Config`] naming the flag out of range.
pub fn feature_config(a: &FeatureArgs) -> Result<recur::audio::FeatureConfig> {
    let kind = match a.features.as_str() {
        "mfcc" => recur::audio::FeatureKind::Mfcc,
        "log-mel" => recur::audio::FeatureKind::LogMel,
        other => {
            return Err(recur::Error::Config(format!(
                "--features must be mfcc or log-mel, got {other:?}"
            )))
        }
    };
    let top_db = match a.top_db.as_str() {
        "none" => None,
        v => Some(v.parse::<f64>().map_err(|_| {
            recur::Error::Config(format!(
                "--top-db must be a number of dB or none, got {v:?}"
            ))
        })?),
    };
    let config = recur::audio::FeatureConfig {
        kind,
        n_mels: a.n_mels,
        n_mfcc: a.n_mfcc,
        deltas: a.deltas,
        cmvn: !a.no_cmvn,
        top_db,
        ..Default::default()
    };
    config.validate().map_err(|e| {
        crate::with_flags(
            e,
            &[
                ("n_mels", "--n-mels"),
                ("n_mfcc", "--n-mfcc"),
                ("deltas", "--deltas"),
                ("top_db", "--top-db"),
            ],
        )
    })?;
    Ok(config)
}
