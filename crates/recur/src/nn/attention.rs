//! Attention of a sequence of queries over a sequence of keys (the encoder's outputs), with the
//! keys past each source sequence's length masked out: the scores of Luong et al. 2015
//! ("Effective Approaches to Attention-based Neural Machine Translation", `dot` and `general`)
//! and Bahdanau et al. 2015 ("Neural Machine Translation by Jointly Learning to Align and
//! Translate", additive, as PyTorch's sequence-to-sequence tutorial writes it).
//!
//! For a query `q_t` and keys `k_1 … k_S` of one sequence of valid length `L`:
//!
//! | score | `score(q, k)` | parameters (PyTorch names) |
//! |---|---|---|
//! | [`Score::Dot`] | `q · k` (needs `query_size == key_size`) | none |
//! | [`Score::General`] | `(W q) · k` (OpenNMT-py's `linear_in`) | `linear_in.weight [key_size, query_size]` |
//! | [`Score::Additive`] | `Va · tanh(Wa q + Ua k)` | `Wa.weight [A, query_size]`, `Wa.bias [A]`, `Ua.weight [A, key_size]`, `Ua.bias [A]`, `Va.weight [1, A]`, `Va.bias [1]` |
//!
//! `a_t = softmax(score(q_t, k_s))` over `s < L` (zero beyond), and the context is
//! `c_t = Σ_s a_ts k_s`: the keys are also the values.
//!
//! Layouts are time-major, as [`crate::Recurrent`]'s outputs: queries `[T, B, query_size]`, keys
//! `[S, B, key_size]`, the context `[T, B, key_size]`; the weights are `[B, T, S]`, one row per
//! query (what an attention heat map shows).

use super::{check_len, Linear, LinearConfig, LinearGrads};
use crate::error::{Error, Result};
use crate::io::{NamedTensor, TensorFile};
use crate::rng::Rng;
use recur_kernels::{matmul, Accum, MatMut, Operand, Scalar, Threads};
use serde::{Deserialize, Serialize};

/// How a query and a key are scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Score {
    /// Luong's `dot`: `q · k`.
    Dot,
    /// Luong's `general`: `(W q) · k`.
    General,
    /// Bahdanau's additive score: `Va · tanh(Wa q + Ua k)`.
    Additive,
}

impl std::str::FromStr for Score {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "dot" => Ok(Score::Dot),
            "general" | "luong" => Ok(Score::General),
            "additive" | "bahdanau" => Ok(Score::Additive),
            _ => Err(Error::Config(format!(
                "attention '{s}' is not one of dot, general (luong), additive (bahdanau)"
            ))),
        }
    }
}

/// Shape of an [`Attention`] block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionConfig {
    /// The score.
    pub score: Score,
    /// Width of a query.
    pub query_size: usize,
    /// Width of a key (and of the context).
    pub key_size: usize,
    /// Width `A` of the additive score's hidden layer (unused by the others).
    pub attention_size: usize,
}

impl AttentionConfig {
    /// Checks the sizes.
    ///
    /// # Errors
    /// [`Error::Config`] naming the size that is zero or does not fit the score.
    pub fn validate(&self) -> Result<()> {
        if self.query_size == 0 || self.key_size == 0 {
            return Err(Error::Config(
                "attention: `query_size` and `key_size` must be at least 1".into(),
            ));
        }
        if self.score == Score::Dot && self.query_size != self.key_size {
            return Err(Error::Config(format!(
                "attention dot: the query size {} differs from the key size {} (use general)",
                self.query_size, self.key_size
            )));
        }
        if self.score == Score::Additive && self.attention_size == 0 {
            return Err(Error::Config(
                "attention additive: `attention_size` must be at least 1".into(),
            ));
        }
        Ok(())
    }

    fn layers(&self) -> Vec<LinearConfig> {
        let (q, k, a) = (self.query_size, self.key_size, self.attention_size);
        match self.score {
            Score::Dot => vec![],
            Score::General => vec![LinearConfig::new(q, k).bias(false)],
            Score::Additive => vec![
                LinearConfig::new(q, a),
                LinearConfig::new(k, a),
                LinearConfig::new(a, 1),
            ],
        }
    }

    /// The block with PyTorch's `nn.Linear` initialisation of each layer, in the order of the
    /// table above.
    ///
    /// # Errors
    /// As [`Self::validate`].
    pub fn init<T: Scalar>(&self, rng: &mut Rng) -> Result<Attention<T>> {
        self.validate()?;
        Ok(Attention {
            config: *self,
            layers: self.layers().iter().map(|c| c.init(rng)).collect(),
        })
    }

    /// The block with every parameter zero (to be loaded).
    ///
    /// # Errors
    /// As [`Self::validate`].
    pub fn zeros<T: Scalar>(&self) -> Result<Attention<T>> {
        self.validate()?;
        Ok(Attention {
            config: *self,
            layers: self.layers().iter().map(|c| c.zeros()).collect(),
        })
    }
}

/// An attention block: for [`Score::General`] one layer (`linear_in`), for [`Score::Additive`]
/// three (`Wa`, `Ua`, `Va`), for [`Score::Dot`] none.
#[derive(Clone, Debug, PartialEq)]
pub struct Attention<T> {
    config: AttentionConfig,
    /// The layers, in the order of the table in the module docs.
    pub layers: Vec<Linear<T>>,
}

/// Gradients of an [`Attention`] block, one per layer.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionGrads<T> {
    /// The layers' gradients, in the block's order.
    pub layers: Vec<LinearGrads<T>>,
}

impl<T: Scalar> AttentionGrads<T> {
    /// Zero gradients for `block`.
    pub fn zeros_like(block: &Attention<T>) -> Self {
        AttentionGrads {
            layers: block.layers.iter().map(LinearGrads::zeros_like).collect(),
        }
    }

    /// The gradient buffers, in the order of [`Attention::buffers_mut`].
    pub fn buffers_mut(&mut self) -> Vec<&mut [T]> {
        self.layers
            .iter_mut()
            .flat_map(LinearGrads::buffers_mut)
            .collect()
    }
}

/// The sizes of one call: `T` queries and `S` keys for each of `B` sequences, whose valid key
/// counts are `lengths [B]` (each in `1..=S`).
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape<'a> {
    /// `T`.
    pub queries: usize,
    /// `S`.
    pub keys: usize,
    /// `B`.
    pub batch: usize,
    /// `[B]`: the valid keys of each sequence.
    pub lengths: &'a [usize],
}

/// What [`Attention::forward`] computes, with what [`Attention::backward`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Attended<T> {
    /// The context `[T, B, key_size]`.
    pub context: Vec<T>,
    /// The attention weights `[B, T, S]` (zero past each sequence's length).
    pub weights: Vec<T>,
    /// General: the transformed queries `W q` `[T, B, key_size]`; additive: `tanh(Wa q + Ua k)`
    /// `[B, T, S, A]`; dot: empty.
    cache: Vec<T>,
}

/// Names of the layers, in order, for each score.
fn layer_names(score: Score) -> &'static [&'static str] {
    match score {
        Score::Dot => &[],
        Score::General => &["linear_in"],
        Score::Additive => &["Wa", "Ua", "Va"],
    }
}

impl<T: Scalar> Attention<T> {
    /// The shape.
    pub fn config(&self) -> &AttentionConfig {
        &self.config
    }

    /// The parameter buffers, layer by layer, weight before bias.
    pub fn buffers(&self) -> Vec<&[T]> {
        self.layers.iter().flat_map(Linear::buffers).collect()
    }

    /// The parameter buffers, mutable.
    pub fn buffers_mut(&mut self) -> Vec<&mut [T]> {
        self.layers
            .iter_mut()
            .flat_map(Linear::buffers_mut)
            .collect()
    }

    fn check(&self, shape: &AttentionShape<'_>, query: &[T], keys: &[T]) -> Result<()> {
        let c = &self.config;
        check_len("attention lengths", shape.lengths.len(), shape.batch)?;
        check_len(
            "attention queries",
            query.len(),
            shape.queries * shape.batch * c.query_size,
        )?;
        check_len(
            "attention keys",
            keys.len(),
            shape.keys * shape.batch * c.key_size,
        )?;
        if let Some((b, &l)) = shape
            .lengths
            .iter()
            .enumerate()
            .find(|(_, &l)| l == 0 || l > shape.keys)
        {
            return Err(Error::Input(format!(
                "attention: sequence {b} has {l} keys, outside 1..={}",
                shape.keys
            )));
        }
        Ok(())
    }

    /// Attends with every query over its sequence's valid keys.
    ///
    /// # Errors
    /// [`Error::Input`] when a buffer or a length does not fit `shape` and the configuration.
    pub fn forward(
        &self,
        threads: &Threads,
        query: &[T],
        keys: &[T],
        shape: &AttentionShape<'_>,
    ) -> Result<Attended<T>> {
        self.check(shape, query, keys)?;
        let (nt, ns, nb) = (shape.queries, shape.keys, shape.batch);
        let hk = self.config.key_size;
        let mut weights = vec![T::zero(); nb * nt * ns];
        let cache = match self.config.score {
            Score::Dot | Score::General => {
                let q = if self.config.score == Score::General {
                    let mut q = vec![T::zero(); nt * nb * hk];
                    let w = &self.layers[0];
                    w.forward_packed(threads, &w.pack(threads), query, &mut q)?;
                    q
                } else {
                    query.to_vec()
                };
                if nt == 1 {
                    one_query_scores(&q, keys, (ns, nb, hk), &mut weights);
                } else {
                    for b in 0..nb {
                        let s = MatMut::new(&mut weights[b * nt * ns..], ns);
                        let (qb, kb) = (&q[b * hk..], &keys[b * hk..]);
                        let (qo, ko) = (Operand::new(qb, nb * hk), Operand::t(kb, nb * hk));
                        matmul(threads, (nt, ns, hk), qo, ko, s, Accum::Replace);
                    }
                }
                if self.config.score == Score::General {
                    q
                } else {
                    Vec::new()
                }
            }
            Score::Additive => self.additive_scores(threads, query, keys, shape, &mut weights)?,
        };
        for b in 0..nb {
            for row in weights[b * nt * ns..(b + 1) * nt * ns].chunks_exact_mut(ns) {
                masked_softmax(row, shape.lengths[b]);
            }
        }
        let mut context = vec![T::zero(); nt * nb * hk];
        if nt == 1 {
            // One query per sequence (a decoder step): sums, not a product per sequence.
            for (b, c) in context.chunks_exact_mut(hk).enumerate() {
                for (s, &a) in weights[b * ns..(b + 1) * ns].iter().enumerate() {
                    if a != T::zero() {
                        let k = &keys[(s * nb + b) * hk..(s * nb + b + 1) * hk];
                        for (cj, &kj) in c.iter_mut().zip(k) {
                            *cj += a * kj;
                        }
                    }
                }
            }
        } else {
            for b in 0..nb {
                let w = Operand::new(&weights[b * nt * ns..], ns);
                let kb = Operand::new(&keys[b * hk..], nb * hk);
                let c = MatMut::new(&mut context[b * hk..], nb * hk);
                matmul(threads, (nt, hk, ns), w, kb, c, Accum::Replace);
            }
        }
        Ok(Attended {
            context,
            weights,
            cache,
        })
    }

    /// The additive scores into `scores [B, T, S]`; returns `tanh(Wa q + Ua k)` `[B, T, S, A]`.
    fn additive_scores(
        &self,
        threads: &Threads,
        query: &[T],
        keys: &[T],
        shape: &AttentionShape<'_>,
        scores: &mut [T],
    ) -> Result<Vec<T>> {
        let (nt, ns, nb) = (shape.queries, shape.keys, shape.batch);
        let a = self.config.attention_size;
        let (wa, ua) = (&self.layers[0], &self.layers[1]);
        let mut wq = vec![T::zero(); nt * nb * a];
        wa.forward_packed(threads, &wa.pack(threads), query, &mut wq)?;
        let mut uk = vec![T::zero(); ns * nb * a];
        ua.forward_packed(threads, &ua.pack(threads), keys, &mut uk)?;
        let va = &self.layers[2].weight;
        let vb = self.layers[2].bias.as_ref().map_or(T::zero(), |b| b[0]);
        let mut e = vec![T::zero(); nb * nt * ns * a];
        for b in 0..nb {
            for t in 0..nt {
                let q = &wq[(t * nb + b) * a..(t * nb + b + 1) * a];
                for s in 0..ns {
                    let k = &uk[(s * nb + b) * a..(s * nb + b + 1) * a];
                    let at = ((b * nt + t) * ns + s) * a;
                    let row = &mut e[at..at + a];
                    for ((r, &x), &y) in row.iter_mut().zip(q).zip(k) {
                        *r = x + y;
                    }
                    T::tanh_in_place(row);
                    let mut score = vb;
                    for (&r, &v) in row.iter().zip(va) {
                        score += r * v;
                    }
                    scores[(b * nt + t) * ns + s] = score;
                }
            }
        }
        Ok(e)
    }

    /// Adds the parameter gradients into `grads` and returns the gradients of the queries
    /// `[T, B, query_size]` and of the keys `[S, B, key_size]`, from that of the context
    /// `d_context [T, B, key_size]`.
    ///
    /// # Errors
    /// [`Error::Input`] when a buffer does not fit `shape`, the configuration or `attended`.
    pub fn backward(
        &self,
        threads: &Threads,
        (query, keys): (&[T], &[T]),
        attended: &Attended<T>,
        d_context: &[T],
        shape: &AttentionShape<'_>,
        grads: &mut AttentionGrads<T>,
    ) -> Result<(Vec<T>, Vec<T>)> {
        self.check(shape, query, keys)?;
        let (nt, ns, nb) = (shape.queries, shape.keys, shape.batch);
        let hk = self.config.key_size;
        check_len("attention context gradient", d_context.len(), nt * nb * hk)?;
        check_len("attention weights", attended.weights.len(), nb * nt * ns)?;
        check_len("attention gradients", grads.layers.len(), self.layers.len())?;
        // Through the context: d_weights = dC · Kᵀ, d_keys = Aᵀ · dC.
        let mut d_keys = vec![T::zero(); ns * nb * hk];
        let mut d_scores = vec![T::zero(); nb * nt * ns];
        for b in 0..nb {
            let w = &attended.weights[b * nt * ns..(b + 1) * nt * ns];
            let dc = Operand::new(&d_context[b * hk..], nb * hk);
            let kt = Operand::t(&keys[b * hk..], nb * hk);
            let dw = MatMut::new(&mut d_scores[b * nt * ns..], ns);
            matmul(threads, (nt, ns, hk), dc, kt, dw, Accum::Replace);
            let dk = MatMut::new(&mut d_keys[b * hk..], nb * hk);
            let wt = Operand::t(w, ns);
            matmul(threads, (ns, hk, nt), wt, dc, dk, Accum::Add);
            // Through the softmax: ds = a ⊙ (da − Σ a·da).
            let ds = &mut d_scores[b * nt * ns..(b + 1) * nt * ns];
            for (ar, dr) in w.chunks_exact(ns).zip(ds.chunks_exact_mut(ns)) {
                let mut sum = T::zero();
                for (&av, &dv) in ar.iter().zip(dr.iter()) {
                    sum += av * dv;
                }
                for (&av, dv) in ar.iter().zip(dr.iter_mut()) {
                    *dv = av * (*dv - sum);
                }
            }
        }
        let d_query = match self.config.score {
            Score::Dot | Score::General => {
                let q: &[T] = match self.config.score {
                    Score::General => &attended.cache,
                    _ => query,
                };
                check_len("attention cache", q.len(), nt * nb * hk)?;
                let mut dq = vec![T::zero(); nt * nb * hk];
                for b in 0..nb {
                    let ds = &d_scores[b * nt * ns..(b + 1) * nt * ns];
                    let kb = Operand::new(&keys[b * hk..], nb * hk);
                    let dqm = MatMut::new(&mut dq[b * hk..], nb * hk);
                    matmul(
                        threads,
                        (nt, hk, ns),
                        Operand::new(ds, ns),
                        kb,
                        dqm,
                        Accum::Replace,
                    );
                    let qb = Operand::new(&q[b * hk..], nb * hk);
                    let dk = MatMut::new(&mut d_keys[b * hk..], nb * hk);
                    matmul(
                        threads,
                        (ns, hk, nt),
                        Operand::t(ds, ns),
                        qb,
                        dk,
                        Accum::Add,
                    );
                }
                if self.config.score == Score::General {
                    self.layers[0].backward_packed(threads, query, &dq, &mut grads.layers[0])?
                } else {
                    dq
                }
            }
            Score::Additive => {
                let (dq, dk) = self.additive_backward(
                    threads,
                    (query, keys),
                    (&attended.cache, &d_scores),
                    shape,
                    grads,
                )?;
                for (d, v) in d_keys.iter_mut().zip(dk) {
                    *d += v;
                }
                dq
            }
        };
        Ok((d_query, d_keys))
    }

    /// The additive score's backward from the scores' gradient `d_scores [B, T, S]`: adds into
    /// the three layers' gradients, returns the queries' and the keys' gradients.
    fn additive_backward(
        &self,
        threads: &Threads,
        (query, keys): (&[T], &[T]),
        (e, d_scores): (&[T], &[T]),
        shape: &AttentionShape<'_>,
        grads: &mut AttentionGrads<T>,
    ) -> Result<(Vec<T>, Vec<T>)> {
        let (nt, ns, nb) = (shape.queries, shape.keys, shape.batch);
        let a = self.config.attention_size;
        check_len("attention cache", e.len(), nb * nt * ns * a)?;
        let va = &self.layers[2].weight;
        let mut d_wq = vec![T::zero(); nt * nb * a];
        let mut d_uk = vec![T::zero(); ns * nb * a];
        let mut d_e = vec![T::zero(); a];
        {
            let gv = &mut grads.layers[2];
            for b in 0..nb {
                for t in 0..nt {
                    for s in 0..ns {
                        let g = d_scores[(b * nt + t) * ns + s];
                        if g == T::zero() {
                            continue; // a masked key, or no gradient
                        }
                        let at = ((b * nt + t) * ns + s) * a;
                        let row = &e[at..at + a];
                        for (((de, gw), &r), &v) in
                            d_e.iter_mut().zip(gv.weight.iter_mut()).zip(row).zip(va)
                        {
                            *gw += g * r;
                            *de = g * v * (T::one() - r * r);
                        }
                        if let Some(gb) = &mut gv.bias {
                            gb[0] += g;
                        }
                        let q = &mut d_wq[(t * nb + b) * a..(t * nb + b + 1) * a];
                        for (x, &d) in q.iter_mut().zip(&d_e) {
                            *x += d;
                        }
                        let k = &mut d_uk[(s * nb + b) * a..(s * nb + b + 1) * a];
                        for (x, &d) in k.iter_mut().zip(&d_e) {
                            *x += d;
                        }
                    }
                }
            }
        }
        let (wa, ua) = (&self.layers[0], &self.layers[1]);
        let dq = wa.backward_packed(threads, query, &d_wq, &mut grads.layers[0])?;
        let dk = ua.backward_packed(threads, keys, &d_uk, &mut grads.layers[1])?;
        Ok((dq, dk))
    }
}

impl Attention<f32> {
    /// The parameters under their PyTorch names, `{prefix}.{layer}.weight` and `.bias`.
    pub fn named_tensors(&self, prefix: &str) -> Vec<NamedTensor<'_>> {
        let names = layer_names(self.config.score);
        self.layers
            .iter()
            .zip(names)
            .flat_map(|(l, n)| l.named_tensors(&format!("{prefix}.{n}.")))
            .collect()
    }

    /// Loads the parameters saved by [`Self::named_tensors`] from `file`.
    ///
    /// # Errors
    /// [`Error::Format`] naming a tensor that is missing or of the wrong shape.
    pub fn load_tensors(&mut self, file: &mut TensorFile, prefix: &str) -> Result<()> {
        let names = layer_names(self.config.score);
        for (l, n) in self.layers.iter_mut().zip(names) {
            l.load_tensors(file, &format!("{prefix}.{n}."))?;
        }
        Ok(())
    }
}

/// The scores `q_b · k_sb` `[B, 1, S]` of one query per sequence (`q [1, B, H]`, keys
/// `[S, B, H]`): dot products, not a product call per sequence.
fn one_query_scores<T: Scalar>(
    q: &[T],
    keys: &[T],
    (ns, nb, h): (usize, usize, usize),
    out: &mut [T],
) {
    for b in 0..nb {
        let qb = &q[b * h..(b + 1) * h];
        for s in 0..ns {
            let k = &keys[(s * nb + b) * h..(s * nb + b + 1) * h];
            let mut sum = T::zero();
            for (&x, &y) in qb.iter().zip(k) {
                sum += x * y;
            }
            out[b * ns + s] = sum;
        }
    }
}

/// Softmax of `row[..len]` in place, zero beyond (masked keys).
fn masked_softmax<T: Scalar>(row: &mut [T], len: usize) {
    let (valid, masked) = row.split_at_mut(len);
    let max = valid.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
    let mut sum = T::zero();
    for v in valid.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in valid.iter_mut() {
        *v = *v / sum;
    }
    masked.fill(T::zero());
}
