//! The text side of machine translation: sentence pairs, subword vocabularies, and the BLEU and
//! chrF scores of sacreBLEU.
//!
//! - [`pairs`] reads aligned sentence pairs from a tab-separated file (`source<TAB>target`, the
//!   Tatoeba/Anki export) or from two files aligned by line, with errors that name the file and
//!   line, and checks sentence lengths for the commands.
//! - [`subword`] learns a byte-level BPE vocabulary (or, for teaching, a word vocabulary) from
//!   training text with the `tokenizers` crate, with `<pad>`, `<s>`, `</s>` and `<unk>` at ids
//!   0 to 3, exact detokenisation, and a JSON form for checkpoints;
//!   [`vocabularies::Vocabularies`] holds one shared vocabulary or one per side.
//! - [`bleu`] and [`chrf`] compute corpus and sentence BLEU (13a or no tokenisation, cased or
//!   lower-cased, 'exp' smoothing) and chrF exactly as sacreBLEU 2.x does: the same n-gram
//!   statistics, the same floating-point operations, and sacreBLEU's way of reporting them;
//!   [`tokenize_13a`] is the tokeniser they share.
//!
//! ```
//! use recur::translate::bleu::{corpus_bleu, BleuSettings};
//! use recur::translate::chrf::{corpus_chrf, ChrfSettings};
//! let hyps = ["The cat sat on the mat."];
//! let refs = [vec!["The cat sat on the mat."]];
//! let bleu = corpus_bleu(&hyps, &refs, &BleuSettings::default()).unwrap();
//! assert!((bleu.score - 100.0).abs() < 1e-9);
//! let chrf = corpus_chrf(&hyps, &refs, &ChrfSettings::default()).unwrap();
//! assert!((chrf.score - 100.0).abs() < 1e-9);
//! ```

pub mod bleu;
pub mod chrf;
pub mod pairs;
pub mod subword;
pub mod tokenize_13a;
pub mod train;
pub mod translator;
pub mod vocabularies;
