//! `recur eval`: the figures of the evaluation contract for a checkpoint on a text.

use clap::Args;
use recur::charlm::{checkpoint, data::read_text, evaluate};
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `recur eval`.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct EvalArgs {
    /// Checkpoint directory (a `--out` of `recur train`, or its `best/`).
    #[arg(long)]
    checkpoint: PathBuf,
    /// UTF-8 text to score.
    #[arg(long)]
    text: PathBuf,
    /// Print one JSON object: loss, bpc, perplexity, accuracy, tokens.
    #[arg(long)]
    json: bool,
    /// Characters outside the model's vocabulary (after folding quotes and dashes): error, or skip them (and say how many)
    #[arg(long, default_value = "error", value_parser = ["error", "skip"])]
    unknown: String,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// Runs `recur eval`.
pub fn run(args: EvalArgs) -> recur::Result<ExitCode> {
    let threads = crate::threads(args.threads)?;
    let loaded = checkpoint::load(&args.checkpoint)?;
    let text = read_text(&args.text)?;
    let tokens = if args.unknown == "skip" {
        let (tokens, unknown, skipped) = loaded.vocab.encode_skipping(&text);
        if skipped > 0 {
            let list: String = unknown.iter().take(10).map(|c| format!(" {c:?}")).collect();
            errln!(
                "note: {}: skipped {skipped} character(s) outside the model's vocabulary:{list}{}",
                args.text.display(),
                if unknown.len() > 10 { " …" } else { "" }
            );
        }
        tokens
    } else {
        loaded
            .vocab
            .encode(&text, &args.text.display().to_string())?
    };
    if tokens.len() < 2 {
        return Err(recur::Error::format(
            &args.text,
            format!(
                "the text has {} character(s); evaluation needs at least 2",
                tokens.len()
            ),
        ));
    }
    let report = evaluate(&loaded.model, &threads, &tokens, |_, _| {})?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string(&report).expect("report serialises")
        )?;
    } else {
        outln!("loss        {:.6} nats/char", report.loss)?;
        outln!("bpc         {:.6}", report.bpc)?;
        outln!("perplexity  {:.4}", report.perplexity)?;
        outln!("accuracy    {:.4}", report.accuracy)?;
        outln!("tokens      {}", report.tokens)?;
    }
    Ok(ExitCode::SUCCESS)
}
