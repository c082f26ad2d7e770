//! `Embedding`: a table lookup, as `torch.nn.Embedding(num_embeddings, embedding_dim,
//! padding_idx)`.

use super::check_len;
use crate::error::{Error, Result};
use crate::rng::Rng;
use recur_kernels::Scalar;

/// Shape of an [`Embedding`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddingConfig {
    /// Rows of the table (token ids `0..num_embeddings`).
    pub num_embeddings: usize,
    /// Width of each row.
    pub embedding_dim: usize,
    /// A row that stays zero and gets no gradient (PyTorch's `padding_idx`).
    pub padding_idx: Option<usize>,
}

impl EmbeddingConfig {
    /// A table of `num_embeddings` rows of `embedding_dim`, without a padding row.
    pub fn new(num_embeddings: usize, embedding_dim: usize) -> Self {
        EmbeddingConfig {
            num_embeddings,
            embedding_dim,
            padding_idx: None,
        }
    }

    /// Sets the padding row.
    pub fn padding_idx(mut self, idx: usize) -> Self {
        self.padding_idx = Some(idx);
        self
    }

    /// PyTorch's initialisation: every entry from `N(0, 1)`, row by row; the padding row zero.
    ///
    /// # Errors
    /// [`Error::Config`] when `padding_idx` is not a row of the table.
    pub fn init<T: Scalar>(&self, rng: &mut Rng) -> Result<Embedding<T>> {
        let mut e = self.zeros()?;
        for v in &mut e.weight {
            *v = T::of(rng.normal());
        }
        if let Some(p) = self.padding_idx {
            let d = self.embedding_dim;
            e.weight[p * d..(p + 1) * d].fill(T::zero());
        }
        Ok(e)
    }

    /// A table of zeros (to be loaded).
    ///
    /// # Errors
    /// [`Error::Config`] when `padding_idx` is not a row of the table.
    pub fn zeros<T: Scalar>(&self) -> Result<Embedding<T>> {
        if let Some(p) = self.padding_idx.filter(|&p| p >= self.num_embeddings) {
            return Err(Error::Config(format!(
                "padding_idx {p} is not a row of an embedding of {} rows",
                self.num_embeddings
            )));
        }
        Ok(Embedding {
            config: *self,
            weight: vec![T::zero(); self.num_embeddings * self.embedding_dim],
        })
    }
}

/// A table of learned vectors, one per token id.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding<T> {
    config: EmbeddingConfig,
    /// `weight [num_embeddings, embedding_dim]`.
    pub weight: Vec<T>,
}

impl<T: Scalar> Embedding<T> {
    /// The shape.
    pub fn config(&self) -> &EmbeddingConfig {
        &self.config
    }

    fn check_id(&self, id: u32) -> Result<usize> {
        let id = id as usize;
        if id >= self.config.num_embeddings {
            return Err(Error::Input(format!(
                "token id {id} is outside the embedding's {} rows",
                self.config.num_embeddings
            )));
        }
        Ok(id)
    }

    /// `out [N, dim]`: row `ids[n]` of the table for each `n`.
    ///
    /// # Errors
    /// [`Error::Input`] for an id outside the table or an `out` of the wrong size.
    pub fn forward(&self, ids: &[u32], out: &mut [T]) -> Result<()> {
        let d = self.config.embedding_dim;
        check_len("Embedding output", out.len(), ids.len() * d)?;
        for (row, &id) in out.chunks_exact_mut(d).zip(ids) {
            let id = self.check_id(id)?;
            row.copy_from_slice(&self.weight[id * d..(id + 1) * d]);
        }
        Ok(())
    }

    /// Adds row `n` of `dy [N, dim]` into row `ids[n]` of `grad [num, dim]`, except into the
    /// padding row.
    ///
    /// # Errors
    /// [`Error::Input`] for an id outside the table or buffers of the wrong size.
    pub fn backward(&self, ids: &[u32], dy: &[T], grad: &mut [T]) -> Result<()> {
        let d = self.config.embedding_dim;
        check_len("Embedding output gradient", dy.len(), ids.len() * d)?;
        check_len("Embedding weight gradient", grad.len(), self.weight.len())?;
        for (row, &id) in dy.chunks_exact(d).zip(ids) {
            let id = self.check_id(id)?;
            if self.config.padding_idx == Some(id) {
                continue;
            }
            for (g, &v) in grad[id * d..(id + 1) * d].iter_mut().zip(row) {
                *g += v;
            }
        }
        Ok(())
    }
}
