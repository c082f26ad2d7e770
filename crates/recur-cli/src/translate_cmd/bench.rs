//! `recur translate bench`: training and beam-search throughput of the encoder-decoder on
//! synthetic data. `bench/torch_seq2seq.py` measures the same model in PyTorch.

use clap::Args;
use recur::seq2seq::bench::{run as bench, Seq2SeqBench};
use recur::seq2seq::Seq2SeqConfig;
use recur::Result;
use std::process::ExitCode;

/// Flags of `recur translate bench` (those of `bench/torch_seq2seq.py`).
#[derive(Args)]
pub struct BenchArgs {
    /// gru or lstm
    #[arg(long, default_value = "gru")]
    cell: String,
    /// Attention score: general, dot or bahdanau
    #[arg(long, default_value = "general")]
    attention: String,
    /// Embedding width
    #[arg(long, default_value_t = 256)]
    embed: usize,
    /// The decoder's hidden units
    #[arg(long, default_value_t = 512)]
    hidden: usize,
    /// Layers of the encoder and of the decoder
    #[arg(long, default_value_t = 1)]
    layers: usize,
    /// Source vocabulary size
    #[arg(long, default_value_t = 8000)]
    src_vocab: usize,
    /// Target vocabulary size
    #[arg(long, default_value_t = 6000)]
    tgt_vocab: usize,
    /// Sentence pairs per batch (and sentences translated together)
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Tokens per source sentence
    #[arg(long, default_value_t = 14)]
    src_len: usize,
    /// Tokens per target sentence (decoder steps in training)
    #[arg(long, default_value_t = 14)]
    tgt_len: usize,
    /// Beam size of the translation measurement
    #[arg(long, default_value_t = 5)]
    beam: usize,
    /// Decoder steps of every translation
    #[arg(long, default_value_t = 20)]
    decode_steps: usize,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
    /// Timed repetitions per measurement (the median is reported)
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Untimed warm-up repetitions
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
}

/// Runs `recur translate bench`.
pub fn run(a: BenchArgs) -> Result<ExitCode> {
    let threads = crate::threads(a.threads)?;
    let config = Seq2SeqBench {
        model: Seq2SeqConfig {
            cell: a.cell.parse()?,
            src_vocab: a.src_vocab,
            tgt_vocab: a.tgt_vocab,
            embed_dim: a.embed,
            hidden_size: a.hidden,
            num_layers: a.layers,
            dropout: 0.0,
            attention: a.attention.parse()?,
        },
        batch: a.batch_size,
        src_len: a.src_len,
        tgt_len: a.tgt_len,
        beam: a.beam,
        decode_steps: a.decode_steps,
        reps: a.reps,
        warmup: a.warmup,
    };
    let r = bench(&config, &threads)?;
    if a.json {
        outln!("{}", serde_json::to_string(&r).expect("report serialises"))?;
    } else {
        outln!(
            "training {:.0} target tokens/s; beam-{} translation {:.1} sentences/s; peak memory {:.0} MB",
            r.train_tokens_per_s,
            a.beam,
            r.translate_sentences_per_s,
            r.peak_rss_mb
        )?;
    }
    Ok(crate::finished())
}
