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
pub fn evaluate(
    model: &CharLm,
    threads: &Threads,
    tokens: &[u32],
    mut progress: impl FnMut(usize, usize),
) -> Result<EvalReport> {
    if tokens.len() < 2 {
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
    let total = tokens.len() - 1;
    let head = model.packed_head();
    let mut carry = model.zero_carry(1);
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let mut work = HeadWork::new();
    let mut recycled = None;
    for start in (0..total).step_by(CHUNK) {
        let end = (start + CHUNK).min(total);
        let inputs = &tokens[start..end];
        let targets = &tokens[start + 1..end + 1];
        let args = ForwardArgs {
            h0: Some(&carry.h),
            c0: carry.c.as_ref(),
            ..Default::default()
        };
        let out = model
            .rnn()
            .forward_tokens(threads, &table, inputs, 1, args, recycled.take())?;
        let ce = model.head_loss(threads, &head, out.output.data(), targets, &mut work);
        loss_sum += ce.loss_sum;
        correct += ce.correct;
        carry.h = out.h_n;
        carry.c = out.c_n;
        recycled = Some(out.cache);
        progress(end, total);
    }
    let loss = loss_sum / total as f64;
    Ok(EvalReport {
        loss,
        bpc: loss / std::f64::consts::LN_2,
        perplexity: loss.exp(),
        accuracy: correct as f64 / total as f64,
        tokens: total,
    })
}
