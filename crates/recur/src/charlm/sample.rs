//! Generating text one character at a time from a character model.

use super::model::CharLm;
use super::vocab::Vocab;
use crate::error::{Error, Result};
use crate::recurrent::Recurrent;
use crate::rng::Rng;
use crate::step::StepState;
use recur_kernels::{PackedB, Threads};

/// How the next character is drawn from the model's distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleOptions {
    /// Divides the logits: below 1 sharpens, above 1 flattens.
    pub temperature: f64,
    /// Keep only the `k` most likely characters (0: all).
    pub top_k: usize,
    /// Keep the smallest set of most likely characters whose probability reaches `p` (1: all).
    pub top_p: f64,
    /// Always take the most likely character (greedy decoding).
    pub argmax: bool,
    /// Seed of [`generate`]'s random choices: the same seed gives the same text.
    pub seed: u64,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            argmax: false,
            seed: 0,
        }
    }
}

impl SampleOptions {
    /// Checks ranges; the message names the flag.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(Error::Config(format!(
                "temperature must be > 0, got {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Config(format!(
                "top-p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        Ok(())
    }
}

/// A model stepping one character at a time.
pub struct Generator<'m> {
    model: &'m CharLm,
    state: StepState<f32>,
    head: PackedB<f32>,
    logits: Vec<f32>,
    probs: Vec<(f32, u32)>,
}

impl<'m> Generator<'m> {
    /// A generator from the zero state.
    pub fn new(model: &'m CharLm) -> Result<Self> {
        let rnn: &Recurrent<f32> = model.rnn();
        let mut state = rnn.step_state(1, None, None)?;
        // The first layer reads its input as rows of the token table, projected once.
        rnn.set_step_table(&mut state, model.input_table()?.data())?;
        Ok(Generator {
            model,
            state,
            head: model.packed_head(),
            logits: Vec::new(),
            probs: Vec::new(),
        })
    }

    /// Feeds one character; afterwards [`Self::logits`] predicts the next.
    pub fn feed(&mut self, threads: &Threads, token: u32) -> Result<()> {
        let h = self
            .model
            .rnn()
            .step_tokens(threads, &[token], &mut self.state)?;
        self.model
            .head_logits(threads, &self.head, h, &mut self.logits);
        Ok(())
    }

    /// Logits of the next character after the last [`Self::feed`].
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// Draws the next character from the current logits; an error if they are not finite.
    pub fn pick(&mut self, options: &SampleOptions, rng: &mut Rng) -> Result<u32> {
        pick(&self.logits, options, rng, &mut self.probs)
    }
}

/// Draws a token from `logits` under `options`.
///
/// The distribution is `softmax(logits / temperature)`, computed in `f64` relative to the largest
/// logit, so that it stays finite at any temperature: as the temperature falls towards 0 it
/// converges to the arg-max (the most likely token gets weight 1 and every other one underflows to
/// 0), which is what `argmax` gives. A non-finite logit, or a distribution that is not finite, is
/// an error rather than a silent fallback to some token.
pub fn pick(
    logits: &[f32],
    options: &SampleOptions,
    rng: &mut Rng,
    probs: &mut Vec<(f32, u32)>,
) -> Result<u32> {
    if logits.is_empty() {
        return Err(Error::Input("no logits to sample from".into()));
    }
    if let Some((i, v)) = logits.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::Input(format!(
            "the model's logit for token {i} is {v}: its distribution is not finite (the weights may be corrupt)"
        )));
    }
    let best = logits
        .iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
        );
    if options.argmax {
        return Ok(best.0 as u32);
    }
    if options.temperature.is_nan() || options.temperature <= 0.0 {
        return Err(Error::Config(format!(
            "temperature must be > 0, got {}",
            options.temperature
        )));
    }
    // 1/t may be infinite for a subnormal t; d = 0 (the best logit) then still gives weight 1.
    let inv_t = 1.0 / options.temperature;
    probs.clear();
    probs.extend(logits.iter().enumerate().map(|(i, &v)| {
        let d = v as f64 - best.1 as f64;
        let scaled = if d == 0.0 { 0.0 } else { d * inv_t };
        (scaled.exp() as f32, i as u32)
    }));
    if options.top_k > 0 || options.top_p < 1.0 {
        probs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        if options.top_k > 0 {
            probs.truncate(options.top_k.max(1));
        }
        if options.top_p < 1.0 {
            let total: f32 = probs.iter().map(|p| p.0).sum();
            let mut acc = 0.0;
            let keep = probs
                .iter()
                .position(|p| {
                    acc += p.0 / total;
                    acc as f64 >= options.top_p
                })
                .map_or(probs.len(), |i| i + 1);
            probs.truncate(keep);
        }
    }
    let total: f64 = probs.iter().map(|p| p.0 as f64).sum();
    if !(total.is_finite() && total > 0.0) {
        return Err(Error::Input(format!(
            "the sampling distribution sums to {total}, not a finite positive number (temperature {})",
            options.temperature
        )));
    }
    let mut u = rng.uniform() * total;
    for &(p, i) in probs.iter() {
        u -= p as f64;
        if u < 0.0 {
            return Ok(i);
        }
    }
    // Rounding left a sliver of `u`: the last token with any weight.
    Ok(probs
        .iter()
        .rev()
        .find(|p| p.0 > 0.0)
        .map_or(best.0 as u32, |p| p.1))
}

/// The prime used when none is given: a newline if the vocabulary has one, else a space, else the
/// first character.
pub fn default_prime(vocab: &Vocab) -> String {
    ['\n', ' ']
        .into_iter()
        .find(|&c| vocab.id(c).is_some())
        .unwrap_or_else(|| vocab.char(0))
        .to_string()
}

/// Generates `length` characters after `prime`, calling `emit` with each as it is produced (never
/// the unknown symbol [`super::UNK`]); the random choices follow `options.seed`.
pub fn generate(
    model: &CharLm,
    vocab: &Vocab,
    threads: &Threads,
    prime: &str,
    length: usize,
    options: &SampleOptions,
    mut emit: impl FnMut(char) -> Result<()>,
) -> Result<()> {
    options.validate()?;
    if vocab.len() != model.config().vocab_size {
        return Err(Error::Input(format!(
            "the vocabulary has {} characters but the model's vocab_size is {}",
            vocab.len(),
            model.config().vocab_size
        )));
    }
    let tokens = vocab.encode(prime, "`prime`")?;
    if tokens.is_empty() {
        return Err(Error::Input("`prime` is empty".into()));
    }
    let mut gen = Generator::new(model)?;
    let mut rng = Rng::new(options.seed);
    for &t in &tokens {
        gen.feed(threads, t)?;
    }
    // The unknown symbol stands for what the model cannot name: it is read, never written.
    let unk = vocab.id(super::vocab::UNK);
    for _ in 0..length {
        if let Some(u) = unk {
            gen.logits[u as usize] = f32::MIN;
        }
        let t = gen.pick(options, &mut rng)?;
        emit(vocab.char(t))?;
        gen.feed(threads, t)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_top_p_and_argmax_restrict_the_choice() {
        let logits = [0.0f32, 3.0, 2.9, -5.0];
        let mut rng = Rng::new(1);
        let mut probs = Vec::new();
        let argmax = SampleOptions {
            argmax: true,
            ..Default::default()
        };
        assert_eq!(pick(&logits, &argmax, &mut rng, &mut probs).unwrap(), 1);
        let top2 = SampleOptions {
            top_k: 2,
            ..Default::default()
        };
        for _ in 0..200 {
            assert!(matches!(
                pick(&logits, &top2, &mut rng, &mut probs).unwrap(),
                1 | 2
            ));
        }
        let top_p = SampleOptions {
            top_p: 0.3,
            ..Default::default()
        };
        for _ in 0..200 {
            assert_eq!(pick(&logits, &top_p, &mut rng, &mut probs).unwrap(), 1);
        }
        let cold = SampleOptions {
            temperature: 0.01,
            ..Default::default()
        };
        assert!((0..100).all(|_| pick(&logits, &cold, &mut rng, &mut probs).unwrap() == 1));
        let mut counts = [0usize; 4];
        for _ in 0..20_000 {
            counts[pick(&logits, &SampleOptions::default(), &mut rng, &mut probs).unwrap()
                as usize] += 1;
        }
        // p(1) / p(2) = e^0.1 ≈ 1.105
        let ratio = counts[1] as f64 / counts[2] as f64;
        assert!((ratio - 1.105).abs() < 0.08, "{ratio}");
    }

    #[test]
    fn extreme_temperature_converges_to_argmax() {
        let logits = [0.5f32, 3.0, 2.999, -5.0, 1.0];
        let mut rng = Rng::new(7);
        let mut probs = Vec::new();
        for t in [1e-6, 1e-30, 1e-40, 1e-300, 5e-324] {
            let options = SampleOptions {
                temperature: t,
                ..Default::default()
            };
            for _ in 0..50 {
                assert_eq!(
                    pick(&logits, &options, &mut rng, &mut probs).unwrap(),
                    1,
                    "t {t}"
                );
            }
            assert!(probs.iter().all(|p| p.0.is_finite()), "t {t}: {probs:?}");
        }
        let hot = SampleOptions {
            temperature: 1e300,
            ..Default::default()
        };
        let mut seen = [false; 5];
        for _ in 0..500 {
            seen[pick(&logits, &hot, &mut rng, &mut probs).unwrap() as usize] = true;
        }
        assert!(
            seen.iter().all(|&s| s),
            "a huge temperature samples every token"
        );
    }

    #[test]
    fn non_finite_distribution_is_an_error() {
        let mut rng = Rng::new(1);
        let mut probs = Vec::new();
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let logits = [0.0f32, bad, 1.0];
            let e = pick(&logits, &SampleOptions::default(), &mut rng, &mut probs)
                .unwrap_err()
                .to_string();
            assert!(e.contains("token 1") && e.contains("not finite"), "{e}");
        }
        assert!(pick(&[], &SampleOptions::default(), &mut rng, &mut probs).is_err());
    }
}
