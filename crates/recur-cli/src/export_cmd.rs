//! `recur export`: a checkpoint as a file other runtimes load (ONNX).

use clap::Args;
use recur::checkpoint::Task;
use recur::export::onnx::{write_checkpoint, ExportOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `recur export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Checkpoint directory of a character model, classifier, regressor or forecaster.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Output format.
    #[arg(long, default_value = "onnx", value_parser = ["onnx"])]
    format: String,
    /// File to write (replaced atomically).
    #[arg(long)]
    out: PathBuf,
    /// Leave out the `lengths` input: every sequence of a batch runs all its steps (for
    /// runtimes without the recurrent operators' `sequence_lens`, such as tract).
    #[arg(long)]
    equal_lengths: bool,
}

/// Runs `recur export`.
pub fn run(args: ExportArgs) -> recur::Result<ExitCode> {
    let options = ExportOptions {
        lengths: !args.equal_lengths,
        ..ExportOptions::default()
    };
    write_checkpoint(&args.checkpoint, &args.out, &options)?;
    let task = match recur::checkpoint::task(&args.checkpoint)? {
        Task::CharLm => "character model",
        Task::Classify => "classifier",
        Task::Regress => "regressor",
        Task::Forecast => "forecaster",
        Task::Translate => "translation model",
    };
    outln!(
        "wrote {} (the {task}, ONNX opset {})",
        args.out.display(),
        recur::export::onnx::OPSET
    )?;
    Ok(ExitCode::SUCCESS)
}
