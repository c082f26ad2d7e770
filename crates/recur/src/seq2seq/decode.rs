//! Decoding: greedy search and beam search over a batch of sentences, one decoder step at a
//! time through the step API ([`crate::Recurrent::step`]), the attention over the encoder's
//! outputs recomputed only for the new step.

use super::batch::PAD;
use super::model::Seq2Seq;
use crate::error::{Error, Result};
use crate::nn::AttentionShape;
use crate::tensor::Tensor;
use recur_kernels::{PackedB, Threads};
use serde::{Deserialize, Serialize};

/// How a finished hypothesis's log-probability is normalised for length before hypotheses are
/// compared (beam search prefers short outputs without it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LengthPenalty {
    /// The log-probability as is.
    None,
    /// Divided by the length (with `</s>`), fairseq's default (`lenpen 1`).
    Average,
    /// Divided by `((5 + length) / 6)^α` (Wu et al. 2016, "Google's Neural Machine Translation
    /// System", eq. 14).
    Wu(f64),
}

impl LengthPenalty {
    /// The score of a hypothesis of `len` tokens (with `</s>`) and log-probability `log_prob`.
    pub fn score(&self, log_prob: f64, len: usize) -> f64 {
        let len = len.max(1) as f64;
        match *self {
            LengthPenalty::None => log_prob,
            LengthPenalty::Average => log_prob / len,
            LengthPenalty::Wu(alpha) => log_prob / ((5.0 + len) / 6.0).powf(alpha),
        }
    }
}

/// Settings of [`Seq2Seq::translate`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecodeOptions {
    /// Hypotheses kept per sentence (1: greedy search).
    pub beam: usize,
    /// The longest output, as a multiple of the source's length ...
    pub max_len_ratio: f64,
    /// ... plus this many tokens.
    pub max_len_extra: usize,
    /// How finished hypotheses are compared.
    pub length_penalty: LengthPenalty,
    /// The start token the decoder reads first.
    pub bos: u32,
    /// The end token that finishes a hypothesis.
    pub eos: u32,
    /// Keep each output token's attention weights over the source.
    pub keep_attention: bool,
}

impl DecodeOptions {
    /// Beam `beam`, outputs up to `2 × source + 10` tokens, scores divided by length.
    pub fn new(beam: usize, bos: u32, eos: u32) -> Self {
        DecodeOptions {
            beam,
            max_len_ratio: 2.0,
            max_len_extra: 10,
            length_penalty: LengthPenalty::Average,
            bos,
            eos,
            keep_attention: false,
        }
    }

    fn max_len(&self, src_len: usize) -> usize {
        (self.max_len_ratio * src_len as f64).ceil() as usize + self.max_len_extra
    }
}

/// A translation.
#[derive(Clone, Debug, PartialEq)]
pub struct Hypothesis {
    /// The output tokens, without `</s>`.
    pub tokens: Vec<u32>,
    /// Their log-probability under the model (with `</s>` when it was produced).
    pub log_prob: f64,
    /// The log-probability after the length penalty (what the search compared).
    pub score: f64,
    /// Whether the search reached `</s>` (rather than the maximum length).
    pub finished: bool,
    /// With [`DecodeOptions::keep_attention`]: for each output token (and `</s>`), its
    /// attention weights over the source tokens.
    pub attention: Vec<Vec<f32>>,
}

/// One live hypothesis of the search.
#[derive(Clone, Debug, Default)]
struct Live {
    tokens: Vec<u32>,
    log_prob: f64,
    attention: Vec<Vec<f32>>,
}

/// The search state of one sentence.
struct Sentence {
    src_len: usize,
    max_len: usize,
    finished: Vec<Hypothesis>,
    done: bool,
}

impl Seq2Seq<f32> {
    /// Translates `sources` (token ids, no `<s>`/`</s>`), all at once, by beam search
    /// (greedy for beam 1); each result is the best finished hypothesis by
    /// [`DecodeOptions::length_penalty`], or the best unfinished one at the maximum length.
    ///
    /// # Errors
    /// [`Error::Config`] for beam 0; [`Error::Input`] for an empty source or a token outside
    /// the source vocabulary.
    pub fn translate(
        &self,
        threads: &Threads,
        sources: &[&[u32]],
        opts: &DecodeOptions,
    ) -> Result<Vec<Hypothesis>> {
        if opts.beam == 0 {
            return Err(Error::Config("`beam` must be at least 1".into()));
        }
        if sources.is_empty() {
            return Ok(Vec::new());
        }
        let mut search = Search::start(self, threads, sources, opts)?;
        let longest = search
            .sentences
            .iter()
            .map(|s| s.max_len)
            .max()
            .unwrap_or(0);
        for step in 0..longest {
            search.step(self, threads, step)?;
            if search.sentences.iter().all(|s| s.done) {
                break;
            }
        }
        Ok(search.finish())
    }
}

/// A beam search over `B` sentences, `K` rows each (`N = B·K` decoder rows).
struct Search<'o> {
    opts: &'o DecodeOptions,
    k: usize,
    /// `[S, N, H]`: each sentence's encoder outputs, repeated for its rows.
    keys: Vec<f32>,
    lengths: Vec<usize>,
    steps: usize,
    state: crate::StepState<f32>,
    /// `combine` and `generator` packed once for every step.
    packed: (PackedB<f32>, PackedB<f32>),
    live: Vec<Live>,
    sentences: Vec<Sentence>,
}

impl<'o> Search<'o> {
    fn start(
        model: &Seq2Seq<f32>,
        threads: &Threads,
        sources: &[&[u32]],
        opts: &'o DecodeOptions,
    ) -> Result<Self> {
        let c = *model.config();
        let (b, k, h) = (sources.len(), opts.beam, c.hidden_size);
        if let Some(i) = sources.iter().position(|s| s.is_empty()) {
            return Err(Error::Input(format!("source {i} is empty")));
        }
        let lengths: Vec<usize> = sources.iter().map(|s| s.len()).collect();
        let steps = *lengths.iter().max().unwrap_or(&1);
        let mut src = vec![PAD; steps * b];
        for (j, s) in sources.iter().enumerate() {
            for (i, &t) in s.iter().enumerate() {
                src[i * b + j] = t;
            }
        }
        let (enc, h0, c0) = model.encode(threads, (&src, &lengths), None, &mut Vec::new())?;
        let n = b * k;
        let repeat = |data: &[f32], outer: usize| -> Vec<f32> {
            let mut out = Vec::with_capacity(outer * n * h);
            for o in 0..outer {
                for j in 0..b {
                    let row = &data[(o * b + j) * h..(o * b + j + 1) * h];
                    for _ in 0..k {
                        out.extend_from_slice(row);
                    }
                }
            }
            out
        };
        let keys = repeat(enc.output.data(), steps);
        let layers = c.num_layers;
        let h0 = Tensor::new("h0", &[layers, n, h], repeat(h0.data(), layers))?;
        let c0 = c0
            .map(|c0| Tensor::new("c0", &[layers, n, h], repeat(c0.data(), layers)))
            .transpose()?;
        let state = model.decoder.step_state(n, Some(&h0), c0.as_ref())?;
        let live = (0..n)
            .map(|r| Live {
                tokens: Vec::new(),
                // Only the first row of each sentence is alive at the start.
                log_prob: if r % k == 0 { 0.0 } else { f64::NEG_INFINITY },
                attention: Vec::new(),
            })
            .collect();
        let sentences = lengths
            .iter()
            .map(|&l| Sentence {
                src_len: l,
                max_len: opts.max_len(l),
                finished: Vec::new(),
                done: false,
            })
            .collect();
        Ok(Search {
            opts,
            k,
            keys,
            lengths: lengths
                .iter()
                .flat_map(|&l| std::iter::repeat_n(l, k))
                .collect(),
            steps,
            state,
            packed: (model.combine.pack(threads), model.generator.pack(threads)),
            live,
            sentences,
        })
    }

    /// The log-probabilities `[N, V]` of the next token of every row, and each row's
    /// attention weights `[N, S]`.
    fn next_log_probs(
        &mut self,
        model: &Seq2Seq<f32>,
        threads: &Threads,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let c = model.config();
        let (n, h, e, v) = (self.live.len(), c.hidden_size, c.embed_dim, c.tgt_vocab);
        let prev: Vec<u32> = self
            .live
            .iter()
            .map(|l| *l.tokens.last().unwrap_or(&self.opts.bos))
            .collect();
        let mut x = vec![0.0f32; n * e];
        model.tgt_embedding.forward(&prev, &mut x)?;
        let top = model.decoder.step(threads, &x, &mut self.state)?.to_vec();
        let shape = AttentionShape {
            queries: 1,
            keys: self.steps,
            batch: n,
            lengths: &self.lengths,
        };
        let att = model.attention.forward(threads, &top, &self.keys, &shape)?;
        let mut cat = vec![0.0f32; n * 2 * h];
        for ((row, ctx), out) in cat
            .chunks_exact_mut(2 * h)
            .zip(att.context.chunks_exact(h))
            .zip(top.chunks_exact(h))
        {
            row[..h].copy_from_slice(ctx);
            row[h..].copy_from_slice(out);
        }
        let mut h_tilde = vec![0.0f32; n * h];
        model
            .combine
            .forward_packed(threads, &self.packed.0, &cat, &mut h_tilde)?;
        recur_kernels::Scalar::tanh_in_place(&mut h_tilde[..]);
        let mut logits = vec![0.0f32; n * v];
        model
            .generator
            .forward_packed(threads, &self.packed.1, &h_tilde, &mut logits)?;
        let mut e = vec![0.0f32; v];
        for row in logits.chunks_exact_mut(v) {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            for (ej, &x) in e.iter_mut().zip(row.iter()) {
                *ej = x - max;
            }
            recur_kernels::Scalar::exp_in_place(&mut e[..]);
            let sum: f64 = e.iter().map(|&x| x as f64).sum();
            let log_sum = max + sum.ln() as f32;
            for x in row.iter_mut() {
                *x -= log_sum;
            }
            // Padding and the start token are never output.
            row[PAD as usize] = f32::NEG_INFINITY;
            if self.opts.bos != self.opts.eos {
                if let Some(x) = row.get_mut(self.opts.bos as usize) {
                    *x = f32::NEG_INFINITY;
                }
            }
        }
        Ok((logits, att.weights))
    }

    /// One step of every sentence still searching.
    fn step(&mut self, model: &Seq2Seq<f32>, threads: &Threads, step: usize) -> Result<()> {
        let v = model.config().tgt_vocab;
        let (log_probs, weights) = self.next_log_probs(model, threads)?;
        let k = self.k;
        let mut parents: Vec<usize> = (0..self.live.len()).collect();
        // Next step's rows; a sentence that is done keeps its rows as they are (moved, not copied).
        let mut old = std::mem::take(&mut self.live);
        let mut next: Vec<Live> = Vec::with_capacity(old.len());
        for (j, sent) in self.sentences.iter_mut().enumerate() {
            if sent.done {
                next.extend(old[j * k..(j + 1) * k].iter_mut().map(std::mem::take));
                continue;
            }
            let last_step = step + 1 >= sent.max_len;
            let mut cands: Vec<(f64, usize, u32)> = Vec::with_capacity(2 * k * k);
            for r in j * k..(j + 1) * k {
                let base = old[r].log_prob;
                if base == f64::NEG_INFINITY {
                    continue;
                }
                let lp = &log_probs[r * v..(r + 1) * v];
                cands.extend(
                    top_tokens(lp, 2 * k)
                        .into_iter()
                        .filter(|&t| lp[t as usize].is_finite())
                        .map(|t| (base + lp[t as usize] as f64, r, t)),
                );
            }
            cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            let mut kept = 0;
            for &(lp, r, t) in &cands {
                let finishes = t == self.opts.eos || last_step;
                if !finishes && kept == k {
                    continue; // the beam is full; only finishing candidates still count
                }
                // Only the continuations used are built: a parent's tokens copied once each.
                let mut hyp = Live {
                    tokens: old[r].tokens.clone(),
                    log_prob: lp,
                    attention: old[r].attention.clone(),
                };
                if self.opts.keep_attention {
                    let s = self.steps;
                    hyp.attention
                        .push(weights[r * s..r * s + sent.src_len].to_vec());
                }
                if finishes {
                    if t != self.opts.eos {
                        hyp.tokens.push(t);
                    }
                    let len = hyp.tokens.len() + 1;
                    sent.finished.push(Hypothesis {
                        score: self.opts.length_penalty.score(lp, len),
                        tokens: hyp.tokens,
                        log_prob: lp,
                        finished: t == self.opts.eos,
                        attention: hyp.attention,
                    });
                    if sent.finished.len() >= k {
                        break;
                    }
                    continue;
                }
                hyp.tokens.push(t);
                parents[j * k + kept] = r;
                next.push(hyp);
                kept += 1;
                if kept == k && !last_step {
                    break;
                }
            }
            // Rows left without a continuation are dead from now on.
            next.extend((kept..k).map(|_| Live {
                log_prob: f64::NEG_INFINITY,
                ..Live::default()
            }));
            sent.done = sent.finished.len() >= k || last_step || kept == 0;
        }
        self.state.select(&parents)?;
        self.live = next;
        Ok(())
    }

    fn finish(self) -> Vec<Hypothesis> {
        self.sentences
            .into_iter()
            .map(|s| {
                s.finished
                    .into_iter()
                    .max_by(|a, b| a.score.total_cmp(&b.score))
                    .unwrap_or(Hypothesis {
                        tokens: Vec::new(),
                        log_prob: f64::NEG_INFINITY,
                        score: f64::NEG_INFINITY,
                        finished: false,
                        attention: Vec::new(),
                    })
            })
            .collect()
    }
}

/// The `n` most likely token ids of a row of log-probabilities, most likely first (ties: the
/// lower id first): one pass that keeps the best `n` seen so far.
fn top_tokens(lp: &[f32], n: usize) -> Vec<u32> {
    let n = n.min(lp.len());
    let mut best: Vec<(f32, u32)> = Vec::with_capacity(n + 1);
    for (i, &x) in lp.iter().enumerate() {
        // Not better than the worst kept (an equal one has a higher id), or NaN.
        if best.len() == n && x.partial_cmp(&best[n - 1].0) != Some(std::cmp::Ordering::Greater) {
            continue;
        }
        let at = best.partition_point(|&(v, _)| v >= x);
        best.insert(at, (x, i as u32));
        best.truncate(n);
    }
    best.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_tokens_are_the_most_likely_in_order_with_ties_to_the_lower_id() {
        let lp = [0.1, 0.5, f32::NEG_INFINITY, 0.5, 0.9, 0.2];
        assert_eq!(top_tokens(&lp, 3), vec![4, 1, 3]);
        assert_eq!(top_tokens(&lp, 10), vec![4, 1, 3, 5, 0, 2]);
        let mut rng = crate::rng::Rng::new(3);
        let row: Vec<f32> = (0..500)
            .map(|_| rng.uniform_range(-5.0, 0.0) as f32)
            .collect();
        let mut idx: Vec<u32> = (0..500).collect();
        idx.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
        assert_eq!(top_tokens(&row, 10), idx[..10].to_vec());
    }
}
