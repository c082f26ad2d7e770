//! `recur translate eval` and `recur translate predict`: a trained model on a test set, and on
//! sentences from the command line, a file or standard input.

use clap::Args;
use recur::seq2seq::LengthPenalty;
use recur::translate::bleu::{corpus_bleu, BleuSettings};
use recur::translate::chrf::{corpus_chrf, ChrfSettings};
use recur::translate::pairs::{read_aligned, read_tsv, PairOptions, Pairs};
use recur::translate::translator::{Translation, Translator};
use recur::{Error, Result, Threads};
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Decoding flags shared by `eval` and `predict`.
#[derive(Args)]
struct Decoding {
    /// Beam size (1: greedy search)
    #[arg(long, default_value_t = 5)]
    beam: usize,
    /// How hypotheses of different lengths are compared: avg (log-probability per token), none,
    /// or wu:ALPHA (Wu et al. 2016)
    #[arg(long, default_value = "avg")]
    length_penalty: String,
    /// The longest translation, as a multiple of the source's tokens (plus 10)
    #[arg(long, default_value_t = 2.0)]
    max_len_ratio: f64,
    /// Sentences translated together
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
}

impl Decoding {
    fn options(&self, t: &Translator) -> Result<recur::seq2seq::DecodeOptions> {
        if self.beam == 0 || self.batch_size == 0 {
            return Err(Error::Config(
                "--beam and --batch-size must be at least 1".into(),
            ));
        }
        if !(self.max_len_ratio >= 0.0 && self.max_len_ratio.is_finite()) {
            return Err(Error::Config(format!(
                "--max-len-ratio must be >= 0, got {}",
                self.max_len_ratio
            )));
        }
        let mut o = t.decode_options(self.beam);
        o.max_len_ratio = self.max_len_ratio;
        o.length_penalty = match self.length_penalty.as_str() {
            "avg" => LengthPenalty::Average,
            "none" => LengthPenalty::None,
            other => match other.strip_prefix("wu:").map(str::parse::<f64>) {
                Some(Ok(a)) if a >= 0.0 => LengthPenalty::Wu(a),
                _ => {
                    return Err(Error::Config(format!(
                        "--length-penalty must be avg, none or wu:ALPHA (ALPHA >= 0), got {other:?}"
                    )))
                }
            },
        };
        Ok(o)
    }
}

/// Flags of `recur translate eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// The checkpoint directory (of `recur translate train`)
    #[arg(long)]
    checkpoint: PathBuf,
    /// Test pairs as a TSV: source<TAB>target
    #[arg(long, conflicts_with_all = ["src", "tgt"], required_unless_present = "src")]
    pairs: Option<PathBuf>,
    /// Test source sentences, one a line (with --tgt)
    #[arg(long, requires = "tgt")]
    src: Option<PathBuf>,
    /// Reference translations, one a line, aligned with --src
    #[arg(long, requires = "src")]
    tgt: Option<PathBuf>,
    /// Where the translations go, one a line [default: CHECKPOINT/translations-NAME.txt]
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    decoding: Decoding,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
}

/// Translates `sources` in batches, calling `each` with every translation in order.
fn translate_all(
    t: &Translator,
    threads: &Threads,
    sources: &[&str],
    d: &Decoding,
    mut each: impl FnMut(usize, &Translation) -> Result<()>,
) -> Result<()> {
    let opts = d.options(t)?;
    for (k, chunk) in sources.chunks(d.batch_size).enumerate() {
        let out = t.translate(threads, chunk, &opts).map_err(|e| match e {
            Error::Input(m) => Error::Input(format!(
                "{m} (counting from sentence {} of the input)",
                k * d.batch_size + 1
            )),
            e => e,
        })?;
        for (i, tr) in out.iter().enumerate() {
            each(k * d.batch_size + i, tr)?;
        }
    }
    Ok(())
}

/// Teacher-forced cross-entropy per reference token (no label smoothing), and the tokens.
fn reference_loss(t: &Translator, threads: &Threads, pairs: &Pairs) -> Result<(f64, usize)> {
    let ids = recur::translate::train::encode(pairs, &t.vocab, usize::MAX)?;
    let order: Vec<usize> = (0..ids.pairs.len()).collect();
    let r = t.model.mean_loss(threads, &ids.batches(&order, 64)?)?;
    Ok((r.loss, r.tokens))
}

/// Runs `recur translate eval`.
pub fn eval(a: EvalArgs) -> Result<ExitCode> {
    let threads = crate::threads(a.decoding.threads)?;
    let t = Translator::load(&a.checkpoint)?;
    let options = PairOptions { skip_empty: false };
    let pairs = match (&a.pairs, &a.src, &a.tgt) {
        (Some(p), _, _) => read_tsv(p, options)?,
        (None, Some(s), Some(g)) => read_aligned(s, g, options)?,
        _ => return Err(Error::Config("give --pairs, or --src and --tgt".into())),
    };
    let name = pairs
        .source_file
        .file_stem()
        .map_or("test".into(), |s| s.to_string_lossy().into_owned());
    let out_path = a
        .out
        .clone()
        .unwrap_or_else(|| a.checkpoint.join(format!("translations-{name}.txt")));
    let sources: Vec<&str> = pairs.pairs.iter().map(|p| p.source.as_str()).collect();
    let started = std::time::Instant::now();
    let mut hyps = Vec::with_capacity(sources.len());
    translate_all(&t, &threads, &sources, &a.decoding, |_, tr| {
        hyps.push(tr.text.clone());
        Ok(())
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let refs: Vec<&str> = pairs.pairs.iter().map(|p| p.target.as_str()).collect();
    let cased = corpus_bleu(&hyps, &[&refs], &BleuSettings::default())?;
    let lower = BleuSettings {
        lowercase: true,
        ..BleuSettings::default()
    };
    let lowered = corpus_bleu(&hyps, &[&refs], &lower)?;
    let chrf = corpus_chrf(&hyps, &[&refs], &ChrfSettings::default())?;
    let (loss, tokens) = reference_loss(&t, &threads, &pairs)?;
    let mut text = hyps.join("\n");
    text.push('\n');
    recur::io::write_atomically(&out_path, text.as_bytes())?;
    if a.json {
        let j = serde_json::json!({
            "sentences": hyps.len(), "beam": a.decoding.beam,
            "bleu": cased.score, "bleu_lowercase": lowered.score, "chrf": chrf.score,
            "bp": cased.bp, "ratio": cased.ratio, "precisions": cased.precisions,
            "loss": loss, "perplexity": loss.exp(), "reference_tokens": tokens,
            "sentences_per_s": hyps.len() as f64 / seconds,
            "translations": out_path,
        });
        outln!("{j}")?;
    } else {
        outln!(
            "{} sentences, beam {}: BLEU {:.2} (sacreBLEU: cased, 13a; BP {:.3}, ratio {:.3}, {}), lower-cased BLEU {:.2}, chrF {:.2}",
            hyps.len(),
            a.decoding.beam,
            cased.score,
            cased.bp,
            cased.ratio,
            cased
                .precisions
                .iter()
                .map(|p| format!("{p:.1}"))
                .collect::<Vec<_>>()
                .join("/"),
            lowered.score,
            chrf.score
        )?;
        outln!(
            "reference loss {loss:.4} nats/token, perplexity {:.2} ({tokens} tokens); {:.1} sentences/s; translations in {}",
            loss.exp(),
            hyps.len() as f64 / seconds,
            out_path.display()
        )?;
    }
    Ok(crate::finished())
}

/// Flags of `recur translate predict`.
#[derive(Args)]
pub struct PredictArgs {
    /// The checkpoint directory (of `recur translate train`)
    #[arg(long)]
    checkpoint: PathBuf,
    /// Sentences to translate [default: --file, or standard input, one sentence a line]
    sentences: Vec<String>,
    /// A file of sentences, one a line
    #[arg(long, conflicts_with = "sentences")]
    file: Option<PathBuf>,
    #[command(flatten)]
    decoding: Decoding,
    /// One JSON object a line: source, translation, tokens, log-probability and score
    #[arg(long)]
    json: bool,
    /// Write the attention of the first sentence as a heat map (source against target tokens)
    #[arg(long, value_name = "FILE.svg")]
    show_attention: Option<PathBuf>,
}

fn print(source: &str, tr: &Translation, json: bool) -> Result<()> {
    if json {
        let j = serde_json::json!({
            "source": source, "translation": tr.text, "source_tokens": tr.source_tokens,
            "target_tokens": tr.target_tokens, "log_prob": tr.log_prob, "score": tr.score,
        });
        outln!("{j}")
    } else {
        outln!("{}", tr.text)
    }
}

/// The attention of `tr` as a heat map: target tokens down, source tokens across.
fn attention_svg(tr: &Translation) -> Result<String> {
    recur::plot::HeatMap {
        title: format!("Attention: {}", tr.text),
        row_label: "target token".into(),
        column_label: "source token".into(),
        rows: tr.target_tokens.clone(),
        columns: tr.source_tokens.clone(),
        values: tr.attention.iter().flatten().map(|&v| v as f64).collect(),
        shade_by_row: false,
    }
    .to_svg()
}

/// Runs `recur translate predict`.
pub fn predict(a: PredictArgs) -> Result<ExitCode> {
    let threads = crate::threads(a.decoding.threads)?;
    let t = Translator::load(&a.checkpoint)?;
    let mut opts = a.decoding.options(&t)?;
    opts.keep_attention = a.show_attention.is_some();
    let mut first = true;
    let mut handle = |batch: &[String]| -> Result<()> {
        let views: Vec<&str> = batch.iter().map(String::as_str).collect();
        for (s, tr) in views.iter().zip(t.translate(&threads, &views, &opts)?) {
            if first {
                if let Some(path) = &a.show_attention {
                    recur::io::write_atomically(path, attention_svg(&tr)?.as_bytes())?;
                }
                first = false;
            }
            print(s, &tr, a.json)?;
        }
        Ok(())
    };
    if !a.sentences.is_empty() {
        handle(&a.sentences)?;
        return Ok(crate::finished());
    }
    let lines: Box<dyn Iterator<Item = std::io::Result<String>>> = match &a.file {
        Some(path) => {
            let text = recur::input::read_utf8(path)?;
            let lines: Vec<String> = text.lines().map(String::from).collect();
            Box::new(lines.into_iter().map(Ok))
        }
        None => Box::new(std::io::stdin().lock().lines()),
    };
    // Interactive input is translated line by line; a file or a pipe in batches.
    let batch = if a.file.is_none() && std::io::stdin().is_terminal() {
        1
    } else {
        a.decoding.batch_size
    };
    let source = a.file.as_deref().unwrap_or(Path::new("standard input"));
    let mut pending = Vec::new();
    for (i, line) in lines.enumerate() {
        let line = line.map_err(|e| Error::io(source, e))?;
        if line.trim().is_empty() {
            return Err(Error::Input(format!(
                "{} line {}: an empty line (one sentence a line)",
                source.display(),
                i + 1
            )));
        }
        pending.push(line);
        if pending.len() == batch {
            handle(&pending)?;
            pending.clear();
        }
    }
    if !pending.is_empty() {
        handle(&pending)?;
    }
    Ok(crate::finished())
}
