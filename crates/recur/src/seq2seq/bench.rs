//! The encoder-decoder benchmark behind `recur translate bench`: training throughput (target
//! tokens per second) and beam-search translation (sentences per second) on synthetic data.
//! `bench/torch_seq2seq.py` measures the same model in PyTorch.

use super::batch::PairBatch;
use super::decode::{DecodeOptions, LengthPenalty};
use super::model::Seq2SeqConfig;
use crate::error::{Error, Result};
use crate::optim::{Optimizer, OptimizerConfig, OptimizerKind};
use crate::rng::Rng;
use recur_kernels::Threads;
use serde::Serialize;
use std::time::Instant;

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub struct Seq2SeqBench {
    /// The model.
    pub model: Seq2SeqConfig,
    /// Sentence pairs per batch.
    pub batch: usize,
    /// Tokens of every source sentence.
    pub src_len: usize,
    /// Tokens of every target sentence (the decoder's steps in training).
    pub tgt_len: usize,
    /// Beam size of the translation measurement.
    pub beam: usize,
    /// Decoder steps of every translation (no `</s>`: every hypothesis runs this long).
    pub decode_steps: usize,
    /// Timed repetitions per measurement (the median is reported).
    pub reps: usize,
    /// Untimed repetitions first.
    pub warmup: usize,
}

/// The figures of one run (`--json` prints exactly these keys).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Seq2SeqBenchReport {
    /// Training (forward, loss with label smoothing 0.1, backward, clip 1, Adam): target
    /// tokens per second.
    pub train_tokens_per_s: f64,
    /// Beam search over the batch's sources: sentences per second.
    pub translate_sentences_per_s: f64,
    /// Peak resident memory of the process.
    pub peak_rss_mb: f64,
}

fn median_time(reps: usize, warmup: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut times = Vec::new();
    for rep in 0..warmup + reps {
        let start = Instant::now();
        f()?;
        if rep >= warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Runs the benchmark.
///
/// # Errors
/// [`Error::Config`] for sizes of zero or a model configuration out of range.
pub fn run(b: &Seq2SeqBench, threads: &Threads) -> Result<Seq2SeqBenchReport> {
    if [
        b.batch,
        b.src_len,
        b.tgt_len,
        b.beam,
        b.decode_steps,
        b.reps,
    ]
    .contains(&0)
    {
        return Err(Error::Config(
            "`batch`, `src_len`, `tgt_len`, `beam`, `decode_steps` and `reps` must be at least 1"
                .into(),
        ));
    }
    let mut rng = Rng::new(0);
    let mut model = b.model.init::<f32>(&mut rng)?;
    let tokens = |rng: &mut Rng, vocab: usize, len: usize| -> Vec<Vec<u32>> {
        (0..b.batch)
            .map(|_| (0..len).map(|_| 3 + rng.below(vocab - 3) as u32).collect())
            .collect()
    };
    if b.model.src_vocab < 4 || b.model.tgt_vocab < 4 {
        return Err(Error::Config(
            "the vocabularies need at least 4 tokens (padding, <s>, </s> and one word)".into(),
        ));
    }
    let src = tokens(&mut rng, b.model.src_vocab, b.src_len);
    let tgt = tokens(&mut rng, b.model.tgt_vocab, b.tgt_len - 1);
    let pairs: Vec<(&[u32], &[u32])> = src
        .iter()
        .zip(&tgt)
        .map(|(s, t)| (&s[..], &t[..]))
        .collect();
    let batch = PairBatch::new(&pairs, 1, 2)?;
    let mut optimizer = Optimizer::new(
        OptimizerConfig::new(OptimizerKind::Adam),
        &model.buffer_sizes(),
    )?;
    let mut grads = model.zero_grads();
    let mut dropout = Rng::new(1);
    let train = median_time(b.reps, b.warmup, || {
        for g in grads.buffers_mut() {
            g.fill(0.0);
        }
        model.loss(threads, &batch, 0.1, Some((&mut dropout, &mut grads)))?;
        let (mut p, mut g) = (model.buffers_mut(), grads.buffers_mut());
        optimizer.clip_and_step_in(threads, &mut p, &mut g, 1.0, 1e-3);
        Ok(())
    })?;
    let opts = DecodeOptions {
        beam: b.beam,
        max_len_ratio: 0.0,
        max_len_extra: b.decode_steps,
        length_penalty: LengthPenalty::Average,
        bos: 1,
        eos: u32::MAX, // never produced: every hypothesis runs `decode_steps` steps
        keep_attention: false,
    };
    let sources: Vec<&[u32]> = src.iter().map(|s| &s[..]).collect();
    let translate = median_time(b.reps, b.warmup, || {
        model.translate(threads, &sources, &opts).map(|_| ())
    })?;
    Ok(Seq2SeqBenchReport {
        train_tokens_per_s: (b.batch * b.tgt_len) as f64 / train,
        translate_sentences_per_s: b.batch as f64 / translate,
        peak_rss_mb: crate::bench::peak_rss_mb(),
    })
}
