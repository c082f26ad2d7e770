//! `recur translate`: train an encoder-decoder with attention on sentence pairs (`train`),
//! score it on a test set (`eval`), translate sentences (`predict`), and score any
//! translations against references exactly as sacreBLEU does (`score`).

mod bench;
mod train;
mod use_model;

use clap::{Args, Subcommand};
use recur::translate::bleu::{corpus_bleu, sentence_bleu, BleuScore, BleuSettings};
use recur::translate::chrf::{corpus_chrf, sentence_chrf, ChrfSettings};
use recur::translate::pairs::{check_same_count, sentence_lines};
use recur::{Error, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `recur translate` and its commands.
#[derive(Args)]
pub struct TranslateArgs {
    #[command(subcommand)]
    command: TranslateCommand,
}

#[derive(Subcommand)]
enum TranslateCommand {
    /// Train an encoder-decoder with attention on sentence pairs (vocabularies learned from them)
    Train(Box<train::TrainArgs>),
    /// Translate a test set with a checkpoint and score it: BLEU, chrF, loss and perplexity
    Eval(use_model::EvalArgs),
    /// Translate sentences (arguments, a file or standard input), streaming the translations
    Predict(use_model::PredictArgs),
    /// Score translations against references: corpus BLEU and chrF as sacreBLEU computes them.
    Score(ScoreArgs),
    /// Measure training and beam-search speed of the encoder-decoder on synthetic data
    Bench(bench::BenchArgs),
}

#[derive(Args)]
struct ScoreArgs {
    /// The translations, one sentence a line (detokenised text)
    #[arg(long)]
    hyp: Option<PathBuf>,
    /// The references, one sentence a line aligned with --hyp; repeat for several references
    #[arg(long = "ref")]
    refs: Vec<PathBuf>,
    /// Lower-case translations and references first (BLEU and chrF)
    #[arg(long)]
    lowercase: bool,
    /// BLEU's tokenisation: 13a (sacreBLEU's default) or none (for text tokenised beforehand)
    #[arg(long, default_value = "13a", value_parser = ["13a", "none"])]
    tokenize: String,
    /// Also score each sentence (sentence BLEU with effective order, and chrF)
    #[arg(long)]
    sentences: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
}

/// Runs `recur translate …`.
pub fn run(args: TranslateArgs) -> Result<ExitCode> {
    match args.command {
        TranslateCommand::Train(a) => train::run(*a),
        TranslateCommand::Eval(a) => use_model::eval(a),
        TranslateCommand::Predict(a) => use_model::predict(a),
        TranslateCommand::Score(a) => score(a),
        TranslateCommand::Bench(a) => bench::run(a),
    }
}

/// The lines of a file of sentences (a final line end starts no line).
fn read_lines(path: &Path) -> Result<Vec<String>> {
    let text = recur::input::read_utf8(path)?;
    Ok(sentence_lines(path, &text)?
        .into_iter()
        .map(String::from)
        .collect())
}

/// Per-sentence BLEU and chrF, one entry per hypothesis.
fn sentence_scores(
    hyps: &[String],
    refs: &[Vec<String>],
    bleu: &BleuSettings,
    chrf: &ChrfSettings,
) -> Result<Vec<(f64, f64)>> {
    let mut out = Vec::with_capacity(hyps.len());
    for (i, hyp) in hyps.iter().enumerate() {
        let these: Vec<&str> = refs.iter().map(|r| r[i].as_str()).collect();
        let b = sentence_bleu(hyp, &these, bleu).score;
        let c = sentence_chrf(hyp, &these, chrf)?.score;
        out.push((b, c));
    }
    Ok(out)
}

fn bleu_json(score: &BleuScore, signature: String) -> serde_json::Value {
    json!({
        "score": score.score,
        "precisions": score.precisions,
        "bp": score.bp,
        "ratio": score.ratio,
        "hyp_len": score.hyp_len,
        "ref_len": score.ref_len,
        "counts": score.counts,
        "totals": score.totals,
        "signature": signature,
    })
}

fn score(args: ScoreArgs) -> Result<ExitCode> {
    // Checked here rather than by clap, so that the one-line message names the flag.
    let Some(hyp_path) = &args.hyp else {
        return Err(Error::Input(
            "missing --hyp FILE: the translations to score, one sentence a line".into(),
        ));
    };
    if args.refs.is_empty() {
        return Err(Error::Input(
            "missing --ref FILE: the reference translations, one sentence a line aligned with --hyp".into(),
        ));
    }
    let hyps = read_lines(hyp_path)?;
    let mut refs = Vec::with_capacity(args.refs.len());
    for path in &args.refs {
        let lines = read_lines(path)?;
        check_same_count((hyp_path, hyps.len()), (path, lines.len()))?;
        refs.push(lines);
    }
    let bleu_settings = BleuSettings {
        lowercase: args.lowercase,
        tokenize: args.tokenize.parse()?,
    };
    let chrf_settings = ChrfSettings {
        lowercase: args.lowercase,
        ..ChrfSettings::default()
    };
    let bleu = corpus_bleu(&hyps, &refs, &bleu_settings)?;
    let chrf = corpus_chrf(&hyps, &refs, &chrf_settings)?;
    let per_sentence = if args.sentences {
        Some(sentence_scores(
            &hyps,
            &refs,
            &bleu_settings,
            &chrf_settings,
        )?)
    } else {
        None
    };
    let bleu_signature = bleu_settings.signature(refs.len(), false);
    let chrf_signature = chrf_settings.signature(refs.len());
    if args.json {
        let mut out = json!({
            "bleu": bleu_json(&bleu, bleu_signature),
            "chrf": {"name": chrf_settings.name(), "score": chrf.score, "signature": chrf_signature},
        });
        if let Some(scores) = &per_sentence {
            let lines: Vec<serde_json::Value> = scores
                .iter()
                .enumerate()
                .map(|(i, (b, c))| json!({"line": i + 1, "bleu": b, "chrf": c}))
                .collect();
            out["sentences"] = lines.into();
        }
        outln!("{out}")?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(scores) = &per_sentence {
        for (i, (b, c)) in scores.iter().enumerate() {
            outln!(
                "line {}: BLEU {b:.2} {} {c:.2}",
                i + 1,
                chrf_settings.name()
            )?;
        }
    }
    outln!(
        "BLEU|{bleu_signature} = {:.2} {}",
        bleu.score,
        bleu.verbose()
    )?;
    outln!(
        "{}|{chrf_signature} = {:.2}",
        chrf_settings.name(),
        chrf.score
    )?;
    Ok(ExitCode::SUCCESS)
}
