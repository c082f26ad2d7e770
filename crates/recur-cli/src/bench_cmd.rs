//! `recur bench`: training, forward and generation throughput of the character model on
//! synthetic data. `bench/torch_charrnn.py` measures the same model in PyTorch.

use clap::Args;
use recur::bench::{run as bench, BenchConfig};
use recur::CellType;
use std::process::ExitCode;

/// Flags of `recur bench`.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct BenchArgs {
    /// rnn, lstm or gru
    #[arg(long, default_value = "lstm")]
    cell: String,
    /// Embedding width (0: one-hot input)
    #[arg(long, default_value_t = 64)]
    embed: usize,
    /// Hidden units
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    /// Layers
    #[arg(long, default_value_t = 1)]
    layers: usize,
    /// Streams per batch
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Steps per batch
    #[arg(long, default_value_t = 64)]
    seq_len: usize,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
    /// Timed repetitions per measurement (the median is reported)
    #[arg(long, default_value_t = 15)]
    reps: usize,
    /// Untimed warm-up repetitions
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
}

/// Runs `recur bench`.
pub fn run(args: BenchArgs) -> recur::Result<ExitCode> {
    let cell: CellType = args.cell.parse()?;
    if args.hidden == 0
        || args.layers == 0
        || args.batch_size == 0
        || args.seq_len == 0
        || args.reps == 0
    {
        return Err(recur::Error::Config(
            "--hidden, --layers, --batch-size, --seq-len and --reps must be at least 1".into(),
        ));
    }
    let threads = crate::threads(args.threads)?;
    let config = BenchConfig {
        cell,
        embed: args.embed,
        hidden: args.hidden,
        layers: args.layers,
        batch: args.batch_size,
        seq_len: args.seq_len,
        reps: args.reps,
        warmup: args.warmup,
        generate_tokens: 200,
    };
    let r = bench(&config, &threads).map_err(|e| {
        crate::with_flags(
            e,
            &[
                ("hidden_size", "--hidden"),
                ("embed_dim", "--embed"),
                ("num_layers", "--layers"),
                ("batch", "--batch-size"),
                ("seq_len", "--seq-len"),
            ],
        )
    })?;
    if args.json {
        outln!("{}", serde_json::to_string(&r).expect("report serialises"))?;
    } else {
        outln!(
            "{} embed {} hidden {} layers {} | batch {} × {} | {} thread(s)",
            args.cell,
            args.embed,
            args.hidden,
            args.layers,
            args.batch_size,
            args.seq_len,
            threads.count()
        )?;
        outln!(
            "train      {:>10.0} tokens/s  ({:.1} GFLOP/s)",
            r.train_tokens_per_s,
            r.train_gflops
        )?;
        outln!("forward    {:>10.0} tokens/s", r.forward_tokens_per_s)?;
        outln!(
            "generate   {:>10.0} tokens/s (batch 1)",
            r.generate_tokens_per_s
        )?;
        outln!("peak RSS   {:>10.1} MiB", r.peak_rss_mb)?;
    }
    Ok(ExitCode::SUCCESS)
}
