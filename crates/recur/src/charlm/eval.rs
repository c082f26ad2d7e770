//! Exact evaluation of a character model on a text (DESIGN contract): the mean of
//! `-ln p(x_i | x_0..x_{i-1})` over every position `i >= 1`, from a zero state at `x_0`.

use super::model::CharLm;
use crate::error::{Error, Result};
use crate::recurrent::ForwardArgs;
use recur_kernels::{HeadWork, Threads};
use serde::{Deserialize, Serialize};

/// What `recur eval` reports.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Mean negative log-likelihood, nats per character.
    pub loss: f64,
    /// Bits per character (`loss / ln 2`).
    pub bpc: f64,
    /// `e^loss`.
    pub perplexity: f64,
    /// Fraction of positions whose arg-max prediction is the next character.
    pub accuracy: f64,
    /// Positions scored (characters minus one).
    pub tokens: usize,
}

/// Steps per chunk: the state carries across chunks, so the figure does not depend on it.
const CHUNK: usize = 1024;

/// Scores `tokens` with `model`; `progress(done, total)` is called after every chunk.
///
/// # Errors
/// [`Error::Input`] for fewer than 2 tokens or a token outside the vocabulary.
pub fn evaluate(
    model: &CharLm,
    threads: &Threads,
    tokens: &[u32],
    progress: impl FnMut(usize, usize),
) -> Result<EvalReport> {
    evaluate_streams(model, threads, tokens, 1, progress)
}

/// Scores `tokens` cut into `streams` equal contiguous parts run side by side as one batch
/// (the remainder, under `streams` characters, is left out), each from a zero state: about
/// `streams` times faster than [`evaluate`] for a slightly higher figure, since each part's
/// first characters are predicted without context. With 1 stream it is [`evaluate`]. The
/// trainer validates this way during time-budget runs.
///
/// # Errors
/// [`Error::Input`] for fewer than 2 tokens a stream or a token outside the vocabulary.
pub fn evaluate_streams(
    model: &CharLm,
    threads: &Threads,
    tokens: &[u32],
    streams: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<EvalReport> {
    let b = streams.clamp(1, (tokens.len() / 2).max(1));
    let len = tokens.len() / b;
    if len < 2 {
        return Err(Error::Input(format!(
            "evaluation needs at least 2 characters, got {}",
            tokens.len()
        )));
    }
    let v = model.config().vocab_size;
    if let Some((i, &t)) = tokens.iter().enumerate().find(|(_, &t)| t as usize >= v) {
        return Err(Error::Input(format!(
            "token {t} at position {i} is outside the model's vocabulary of {v}"
        )));
    }
    let table = model.input_table()?;
    let steps = len - 1;
    let head = model.packed_head();
    let mut carry = model.zero_carry(b);
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let mut work = HeadWork::new();
    let mut recycled = None;
    let (mut inputs, mut targets) = (Vec::new(), Vec::new());
    for start in (0..steps).step_by(CHUNK) {
        let end = (start + CHUNK).min(steps);
        // Time-major: step t of every stream, then step t + 1.
        inputs.clear();
        targets.clear();
        for t in start..end {
            for s in 0..b {
                inputs.push(tokens[s * len + t]);
                targets.push(tokens[s * len + t + 1]);
            }
        }
        let args = ForwardArgs {
            h0: Some(&carry.h),
            c0: carry.c.as_ref(),
            ..Default::default()
        };
        let out = model
            .rnn()
            .forward_tokens(threads, &table, &inputs, b, args, recycled.take())?;
        let ce = model.head_loss(threads, &head, out.output.data(), &targets, &mut work);
        loss_sum += ce.loss_sum;
        correct += ce.correct;
        carry.h = out.h_n;
        carry.c = out.c_n;
        recycled = Some(out.cache);
        progress(end * b, steps * b);
    }
    let total = steps * b;
    let loss = loss_sum / total as f64;
    Ok(EvalReport {
        loss,
        bpc: loss / std::f64::consts::LN_2,
        perplexity: loss.exp(),
        accuracy: correct as f64 / total as f64,
        tokens: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charlm::{CharLmConfig, Vocab};
    use crate::{CellType, Rng};

    #[test]
    fn one_stream_is_the_exact_figure_and_streams_score_each_part() {
        let text = "the quick brown fox jumps over the lazy dog ".repeat(20);
        let vocab = Vocab::from_text(&text);
        let config = CharLmConfig {
            cell: CellType::Lstm,
            nonlinearity: None,
            vocab_size: vocab.len(),
            embed_dim: 8,
            hidden_size: 12,
            num_layers: 1,
            dropout: 0.0,
            bias: true,
        };
        let model = CharLm::new(config, &mut Rng::new(3)).unwrap();
        let tokens = vocab.encode(&text, "text").unwrap();
        let t = Threads::single();
        let exact = evaluate(&model, &t, &tokens, |_, _| {}).unwrap();
        let one = evaluate_streams(&model, &t, &tokens, 1, |_, _| {}).unwrap();
        assert_eq!(exact, one);
        let four = evaluate_streams(&model, &t, &tokens, 4, |_, _| {}).unwrap();
        assert_eq!(four.tokens, 4 * (tokens.len() / 4 - 1));
        // Each part from a zero state: close to the exact figure.
        assert!((four.loss - exact.loss).abs() < 0.05 * exact.loss);
    }
}
