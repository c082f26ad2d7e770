//! `recur sample`: text from a checkpoint, streamed as it is generated.

use clap::Args;
use recur::charlm::sample::default_prime;
use recur::charlm::{checkpoint, generate, SampleOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `recur sample`.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct SampleArgs {
    /// Checkpoint directory.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Text to start from (printed first); default a newline.
    #[arg(long)]
    prime: Option<String>,
    /// Characters to generate after the prime.
    #[arg(long, default_value_t = 500)]
    length: usize,
    /// Softmax temperature (lower is more conservative).
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Sample only among the k most likely characters (0: all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Sample only among the most likely characters whose probabilities sum to p.
    #[arg(long, default_value_t = 1.0)]
    top_p: f64,
    /// Always take the most likely character.
    #[arg(long)]
    argmax: bool,
    /// Random seed: the same seed gives the same text.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: 1, the fastest for one stream).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Runs `recur sample`.
pub fn run(args: SampleArgs) -> recur::Result<ExitCode> {
    let threads = crate::threads(Some(args.threads))?;
    let options = SampleOptions {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        argmax: args.argmax,
        seed: args.seed,
    };
    options.validate()?;
    let loaded = checkpoint::load(&args.checkpoint)?;
    let prime = args.prime.unwrap_or_else(|| default_prime(&loaded.vocab));
    loaded.vocab.encode(&prime, "--prime")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let io_err = crate::stdout_error;
    out.write_all(prime.as_bytes()).map_err(io_err)?;
    let mut buf = [0u8; 4];
    generate(
        &loaded.model,
        &loaded.vocab,
        &threads,
        &prime,
        args.length,
        &options,
        |c| {
            out.write_all(c.encode_utf8(&mut buf).as_bytes())
                .map_err(io_err)?;
            if c == '\n' || c == ' ' {
                out.flush().map_err(io_err)?;
            }
            Ok(())
        },
    )?;
    writeln!(out).map_err(io_err)?;
    Ok(ExitCode::SUCCESS)
}
