//! The character-model benchmark behind `recur bench`: training, forward-only and generation
//! throughput on synthetic data, with the achieved GFLOP/s and the peak memory.

use crate::charlm::sample::{Generator, SampleOptions};
use crate::charlm::{CharLm, CharLmConfig, TokenBatch};
use crate::config::{CellType, Nonlinearity};
use crate::error::{Error, Result};
use crate::optim::{Optimizer, OptimizerConfig, OptimizerKind};
use crate::recurrent::ForwardArgs;
use crate::rng::Rng;
use recur_kernels::{HeadWork, Threads};
use serde::Serialize;
use std::time::Instant;

/// Vocabulary of the synthetic data (the size of the tiny-Shakespeare character set).
pub const VOCAB: usize = 65;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Cell.
    pub cell: CellType,
    /// Embedding width (0: one-hot).
    pub embed: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Layers.
    pub layers: usize,
    /// Streams per batch.
    pub batch: usize,
    /// Steps per batch.
    pub seq_len: usize,
    /// Timed repetitions per measurement (the median is reported).
    pub reps: usize,
    /// Untimed repetitions first.
    pub warmup: usize,
    /// Tokens generated per generation repetition.
    pub generate_tokens: usize,
}

/// The figures of one benchmark run (`--json` prints exactly these keys).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BenchReport {
    /// Training: forward, loss, backward, clip, Adam step.
    pub train_tokens_per_s: f64,
    /// Forward and loss only.
    pub forward_tokens_per_s: f64,
    /// One token at a time at batch 1, sampling from the softmax.
    pub generate_tokens_per_s: f64,
    /// Arithmetic of training per second (see [`train_flops_per_token`]).
    pub train_gflops: f64,
    /// Peak resident memory of the process.
    pub peak_rss_mb: f64,
}

/// Multiply-adds ×2 per training token: forward `2·G·H·(I+H)` per layer plus `2·H·V` for the head,
/// backward twice the forward.
pub fn train_flops_per_token(c: &CharLmConfig) -> f64 {
    let g = c.rnn().kernel_cell().gates() as f64;
    let h = c.hidden_size as f64;
    let mut forward = 2.0 * h * c.vocab_size as f64;
    for layer in 0..c.num_layers {
        forward += 2.0 * g * h * (c.rnn().layer_input_size(layer) as f64 + h);
    }
    3.0 * forward
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident set size of this process in MiB (Linux; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs the benchmark.
pub fn run(config: &BenchConfig, threads: &Threads) -> Result<BenchReport> {
    let model_config = CharLmConfig {
        cell: config.cell,
        nonlinearity: (config.cell == CellType::Rnn).then_some(Nonlinearity::Tanh),
        vocab_size: VOCAB,
        embed_dim: config.embed,
        hidden_size: config.hidden,
        num_layers: config.layers,
        dropout: 0.0,
        bias: true,
    };
    model_config.validate()?;
    // The activations of one batch grow with batch × seq_len × hidden_size × num_layers: the
    // same limit as the parameters, checked without overflow before anything is allocated.
    let activations = [config.hidden, config.layers, 4]
        .iter()
        .try_fold(config.batch.max(1), |acc, &f| acc.checked_mul(f))
        .and_then(|v| v.checked_mul(config.seq_len.max(1)));
    if config.batch == 0 || config.seq_len == 0 {
        return Err(Error::Config("batch and seq_len must be at least 1".into()));
    }
    if activations.is_none_or(|a| a > crate::MAX_PARAMETERS) {
        return Err(Error::Config(format!(
            "batch {} × seq_len {} × hidden_size {} × num_layers {} make more activations than the limit of {} (2^28)",
            config.batch,
            config.seq_len,
            config.hidden,
            config.layers,
            crate::MAX_PARAMETERS
        )));
    }
    let mut rng = Rng::new(0);
    let mut model = CharLm::new(model_config.clone(), &mut rng)?;
    let (b, t) = (config.batch, config.seq_len);
    let n = b * t;
    let batch = |rng: &mut Rng| -> (Vec<u32>, Vec<u32>) {
        let tokens: Vec<u32> = (0..n + b).map(|_| rng.below(VOCAB) as u32).collect();
        (tokens[..n].to_vec(), tokens[b..].to_vec())
    };

    // Training.
    let sizes: Vec<usize> = model.buffers().iter().map(|x| x.len()).collect();
    let mut optimizer = Optimizer::new(OptimizerConfig::new(OptimizerKind::Adam), &sizes)?;
    let mut grads = model.zero_grads();
    let mut carry = model.zero_carry(b);
    let mut work = Default::default();
    let mut dropout_rng = Rng::new(1);
    let mut times = Vec::new();
    for rep in 0..config.warmup + config.reps {
        let (x, y) = batch(&mut rng);
        let start = Instant::now();
        grads.zero_in(threads);
        let tokens = TokenBatch {
            inputs: &x,
            targets: &y,
            batch: b,
        };
        model.train_batch(
            threads,
            tokens,
            &mut carry,
            &mut dropout_rng,
            &mut grads,
            &mut work,
        )?;
        optimizer.clip_and_step_in(
            threads,
            &mut model.buffers_mut(),
            &mut grads.slices_mut(),
            5.0,
            2e-3,
        );
        if rep >= config.warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    let train_tokens_per_s = n as f64 / median(times);

    // Forward only (evaluation mode), with the loss.
    let table = model.input_table()?;
    let head = model.packed_head();
    let mut head_work = HeadWork::new();
    let mut times = Vec::new();
    let mut recycled = None;
    for rep in 0..config.warmup + config.reps {
        let (x, y) = batch(&mut rng);
        let start = Instant::now();
        let args = ForwardArgs::default();
        let out = model
            .rnn()
            .forward_tokens(threads, &table, &x, b, args, recycled.take())?;
        model.head_loss(threads, &head, out.output.data(), &y, &mut head_work);
        recycled = Some(out.cache);
        if rep >= config.warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    let forward_tokens_per_s = n as f64 / median(times);

    // Generation at batch 1, one token at a time, sampling from the softmax.
    let options = SampleOptions::default();
    let mut gen = Generator::new(&model)?;
    let mut token = 0u32;
    let mut times = Vec::new();
    for rep in 0..config.warmup + config.reps {
        let start = Instant::now();
        for _ in 0..config.generate_tokens {
            gen.feed(threads, token)?;
            token = gen.pick(&options, &mut rng)?;
        }
        if rep >= config.warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    let generate_tokens_per_s = config.generate_tokens as f64 / median(times);

    Ok(BenchReport {
        train_tokens_per_s,
        forward_tokens_per_s,
        generate_tokens_per_s,
        train_gflops: train_tokens_per_s * train_flops_per_token(&model_config) / 1e9,
        peak_rss_mb: peak_rss_mb(),
    })
}
