//! `recur transcribe corpus`: connected speech with CTC — a connected-digit corpus from isolated
//! recordings.

mod corpus;

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
}

/// Runs `recur transcribe`.
pub fn run(args: TranscribeArgs) -> Result<ExitCode> {
    match args.command {
        TranscribeCommand::Corpus(a) => corpus::run(a),
    }
}
