//! `recur transcribe eval` (error rates on a manifest) and `recur transcribe run` (transcripts
//! of recordings, whole or streamed).

use clap::Args;
use recur::audio::{Features, Wav};
use recur::speech::input::features_of;
use recur::speech::manifest::{read_manifest, Entry};
use recur::speech::model::AcousticModel;
use recur::speech::stream::Streamer;
use recur::speech::{greedy_decode, ErrorCount, PrefixBeamSearch, BLANK};
use recur::{Error, Result, Threads};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Flags of `recur transcribe eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Checkpoint directory (recur transcribe train)
    #[arg(long)]
    model: PathBuf,
    /// Manifest of transcribed recordings: a CSV with columns path,transcript
    #[arg(long)]
    manifest: PathBuf,
    /// Width of the prefix beam search
    #[arg(long, default_value_t = 8)]
    beam: usize,
    /// Print the report as one JSON object
    #[arg(long)]
    json: bool,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
}

/// Flags of `recur transcribe run`.
#[derive(Args)]
pub struct RunArgs {
    /// Checkpoint directory (recur transcribe train)
    #[arg(long)]
    model: PathBuf,
    /// WAV files to transcribe
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Prefix beam search of this width instead of the best path (whole recordings only)
    #[arg(long, conflicts_with = "stream")]
    beam: Option<usize>,
    /// Transcribe chunk by chunk as if the audio arrived live (a unidirectional model, features without cmvn or top_db)
    #[arg(long)]
    stream: bool,
    /// Chunk length for --stream, in milliseconds
    #[arg(long, default_value_t = 100.0)]
    chunk_ms: f64,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
}

/// Error rates of a model on a manifest.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    /// Recordings scored.
    pub utterances: usize,
    /// Word error rate of the best path.
    pub wer_greedy: f64,
    /// Character error rate of the best path.
    pub cer_greedy: f64,
    /// Word error rate of the prefix beam search.
    pub wer_beam: f64,
    /// Character error rate of the prefix beam search.
    pub cer_beam: f64,
    /// The beam width.
    pub beam: usize,
    /// Reference words.
    pub words: usize,
    /// Seconds of audio.
    pub audio_s: f64,
    /// Seconds to read, featurise and run the model (greedy decoding), on `threads` threads.
    pub compute_s: f64,
    /// Audio seconds per second of compute.
    pub real_time: f64,
    /// Threads used.
    pub threads: usize,
}

/// The model and features of checkpoint `dir`.
pub fn load(dir: &Path) -> Result<(AcousticModel, Features)> {
    let model = recur::speech::checkpoint::load(dir)?;
    let config = recur::speech::checkpoint::read_config(dir)?;
    let path = dir.join("config.json");
    let audio = serde_json::from_value(config["audio"].clone())
        .map_err(|e| Error::format(&path, format!("audio: {e}")))?;
    let features = Features::new(audio).map_err(|e| Error::format(&path, format!("audio: {e}")))?;
    if features.config().dims() != model.config().input_size {
        return Err(Error::format(
            &path,
            "audio gives another number of features than model.input_size",
        ));
    }
    Ok((model, features))
}

/// Scores `model` on `entries`: greedy and beam-search WER and CER, and the speed of
/// featurising and running the model.
pub fn score(
    model: &AcousticModel,
    features: &Features,
    entries: &[Entry],
    threads: &Threads,
    beam: usize,
) -> Result<Report> {
    let alphabet = &model.config().alphabet;
    for e in entries {
        alphabet
            .encode(&e.transcript)
            .map_err(|err| Error::format(&e.path, format!("line {}: {err}", e.line)))?;
    }
    let search = PrefixBeamSearch {
        width: beam,
        blank: BLANK,
    };
    let (mut counts, mut audio_s, mut compute_s) = ([ErrorCount::default(); 4], 0.0, 0.0);
    for chunk in entries.chunks(32) {
        let start = Instant::now();
        let paths: Vec<&Path> = chunk.iter().map(|e| e.path.as_path()).collect();
        let frames = features_of(&paths, features, threads)?;
        let views: Vec<&[f32]> = frames.iter().map(|f| &f[..]).collect();
        let fwd = model.forward(threads, &views, None)?;
        let (n, c) = (chunk.len(), alphabet.classes());
        let per: Vec<Vec<f32>> = (0..n)
            .map(|b| {
                (0..fwd.lengths[b])
                    .flat_map(|t| &fwd.log_probs[(t * n + b) * c..(t * n + b + 1) * c])
                    .copied()
                    .collect()
            })
            .collect();
        let greedy: Vec<String> = per
            .iter()
            .map(|lp| greedy_decode(lp, c, BLANK).map(|l| alphabet.decode(&l)))
            .collect::<Result<_>>()?;
        compute_s += start.elapsed().as_secs_f64();
        for ((e, lp), g) in chunk.iter().zip(&per).zip(&greedy) {
            let best = search.decode(lp, c)?;
            let b = best
                .first()
                .map_or(String::new(), |h| alphabet.decode(&h.labels));
            counts[0].add_words(&e.transcript, g);
            counts[1].add_chars(&e.transcript, g);
            counts[2].add_words(&e.transcript, &b);
            counts[3].add_chars(&e.transcript, &b);
        }
        let hop = features.config().hop_ms / 1000.0;
        let dims = features.config().dims().max(1);
        audio_s += frames
            .iter()
            .map(|f| (f.len() / dims) as f64 * hop)
            .sum::<f64>();
    }
    Ok(Report {
        utterances: entries.len(),
        wer_greedy: counts[0].rate(),
        cer_greedy: counts[1].rate(),
        wer_beam: counts[2].rate(),
        cer_beam: counts[3].rate(),
        beam,
        words: counts[0].reference_len,
        audio_s,
        compute_s,
        real_time: audio_s / compute_s.max(1e-9),
        threads: threads.count(),
    })
}

/// Prints `r` for people.
pub fn print_report(r: &Report, what: &Path) -> Result<()> {
    outln!(
        "{} ({} recordings, {} words):",
        what.display(),
        r.utterances,
        r.words
    )?;
    outln!(
        "  greedy:          WER {:.4}  CER {:.4}",
        r.wer_greedy,
        r.cer_greedy
    )?;
    outln!(
        "  prefix beam {:>3}: WER {:.4}  CER {:.4}",
        r.beam,
        r.wer_beam,
        r.cer_beam
    )?;
    outln!(
        "  {:.1} s of audio in {:.2} s on {} thread(s): {:.0}x real time (features, model, greedy)",
        r.audio_s,
        r.compute_s,
        r.threads,
        r.real_time
    )
}

/// Runs `recur transcribe eval`.
pub fn run_eval(a: EvalArgs) -> Result<ExitCode> {
    let threads = crate::threads(a.threads)?;
    if a.beam == 0 {
        return Err(Error::Config("--beam must be at least 1".into()));
    }
    let (model, features) = load(&a.model)?;
    let entries = read_manifest(&a.manifest)?;
    let r = score(&model, &features, &entries, &threads, a.beam)?;
    if a.json {
        outln!("{}", serde_json::to_string(&r).expect("report serialises"))?;
    } else {
        print_report(&r, &a.manifest)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `recur transcribe run`.
pub fn run_run(a: RunArgs) -> Result<ExitCode> {
    let threads = crate::threads(a.threads)?;
    let (model, features) = load(&a.model)?;
    if a.stream {
        return stream(&model, &features, &a, &threads);
    }
    let paths: Vec<&Path> = a.files.iter().map(|p| p.as_path()).collect();
    let frames = features_of(&paths, &features, &threads)?;
    let c = model.config().alphabet.classes();
    for (path, f) in a.files.iter().zip(&frames) {
        let fwd = model.forward(&threads, &[&f[..]], None)?;
        let labels = match a.beam {
            Some(0) => return Err(Error::Config("--beam must be at least 1".into())),
            Some(w) => {
                let hyps = PrefixBeamSearch {
                    width: w,
                    blank: BLANK,
                }
                .decode(&fwd.log_probs, c)?;
                hyps.into_iter()
                    .next()
                    .map(|h| h.labels)
                    .unwrap_or_default()
            }
            None => greedy_decode(&fwd.log_probs, c, BLANK)?,
        };
        outln!(
            "{}\t{}",
            path.display(),
            model.config().alphabet.decode(&labels)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `run --stream`: each file fed chunk by chunk, words printed as they are recognised.
fn stream(
    model: &AcousticModel,
    features: &Features,
    a: &RunArgs,
    threads: &Threads,
) -> Result<ExitCode> {
    let rate = features.config().sample_rate;
    let chunk = (a.chunk_ms * f64::from(rate) / 1000.0).round() as usize;
    if !(a.chunk_ms.is_finite() && chunk >= 1 && a.chunk_ms <= 60_000.0) {
        return Err(Error::Config(format!(
            "--chunk-ms must be from one sample to 60000 ms, got {}",
            a.chunk_ms
        )));
    }
    let alphabet = &model.config().alphabet;
    for path in &a.files {
        let wav = Wav::read(path)?.resampled(rate)?;
        let mut s = Streamer::new(model, features)?;
        let (mut words, mut worst, mut total) = (Vec::new(), 0.0f64, 0.0f64);
        let pieces = wav.samples.chunks(chunk);
        let count = pieces.len();
        for piece in pieces {
            let start = Instant::now();
            words.extend(s.push(threads, piece)?);
            let took = start.elapsed().as_secs_f64();
            worst = worst.max(took);
            total += took;
        }
        words.extend(s.finish(threads)?);
        outln!("{}\t{}", path.display(), alphabet.decode(&words))?;
        let lookahead = s.lookahead_samples() as f64 * 1000.0 / f64::from(rate);
        errln!(
            "{}: {count} chunks of {:.0} ms; latency per word: the chunk ({:.0} ms) + feature lookahead {lookahead:.0} ms + compute {:.2} ms mean, {:.2} ms worst per chunk",
            path.display(),
            a.chunk_ms,
            a.chunk_ms,
            1000.0 * total / count.max(1) as f64,
            1000.0 * worst
        );
    }
    Ok(ExitCode::SUCCESS)
}
