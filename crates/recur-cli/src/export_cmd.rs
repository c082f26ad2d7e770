//! `recur export`: a checkpoint as a file other runtimes load (ONNX).

use clap::Args;
use recur::export::onnx::{write_checkpoint, ExportOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `recur export`.
#[derive(Args)]
#[command(
    after_help = "Models that export: character models, classifiers, regressors and forecasters \
(one graph each), acoustic models of `recur transcribe train` (one graph: raw feature frames \
in, scaled and frame-stacked inside, per-step CTC log-probabilities out), and translation \
models of `recur translate train`, as two files beside --out: with --out model.onnx, \
model.encoder.onnx (source tokens to encoder outputs and the decoder's initial state) and \
model.decoder.onnx (one decoder step: previous token and state to next-token log-probabilities, \
new state and attention), both written or neither. The long-range task models do not export."
)]
pub struct ExportArgs {
    /// Checkpoint directory of a character model, classifier, regressor, forecaster, acoustic
    /// model or translation model.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Output format.
    #[arg(long, default_value = "onnx", value_parser = ["onnx"])]
    format: String,
    /// File to write (replaced atomically); a translation model writes FILE's stem + `.encoder.onnx`
    /// and + `.decoder.onnx` instead.
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
    let (model, files) = write_checkpoint(&args.checkpoint, &args.out, &options)?;
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    outln!(
        "wrote {} (the {model}, ONNX opset {})",
        names.join(" and "),
        recur::export::onnx::OPSET
    )?;
    Ok(ExitCode::SUCCESS)
}
