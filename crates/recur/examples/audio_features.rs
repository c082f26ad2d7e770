//! Speech features from the command line: how fast they are computed, and a spectrogram picture.
//!
//! ```sh
//! # Seconds of audio turned into the default features (13 MFCCs + deltas) per second, one core:
//! cargo run --release -p recur --example audio_features -- speed FOLDER_OF_WAVS
//! # The log-mel spectrogram of one recording as SVG:
//! cargo run --release -p recur --example audio_features -- spectrogram FILE.wav OUT.svg
//! ```

use recur::audio::{corpus::list_audio, FeatureConfig, Features, Wav};
use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["speed", folder] => speed(Path::new(folder)),
        ["spectrogram", wav, out] => {
            let w = Wav::read_at(Path::new(wav), 8000)?;
            let name = Path::new(wav)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            let title =
                format!("Log-mel spectrogram of {name} (40 bands, 25 ms frames every 10 ms)");
            let svg = recur::audio::spectrogram::spectrogram_svg(
                &w.samples,
                &FeatureConfig::default(),
                &title,
            )?;
            recur::io::write_atomically(Path::new(out), svg.as_bytes())?;
            Ok(())
        }
        _ => Err("usage: audio_features speed FOLDER | spectrogram FILE.wav OUT.svg".into()),
    }
}

/// Reads every recording of `folder` once, then times the default features over all of them
/// (three passes, the fastest reported).
fn speed(folder: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let list = list_audio(folder, false)?;
    let wavs: Vec<Wav> = list
        .paths
        .iter()
        .map(|p| Wav::read(p))
        .collect::<Result<_, _>>()?;
    let seconds: f64 = wavs.iter().map(Wav::seconds).sum();
    let features = Features::new(FeatureConfig::default())?;
    let mut best = f64::INFINITY;
    let mut frames = 0;
    for _ in 0..3 {
        let start = Instant::now();
        frames = wavs
            .iter()
            .map(|w| features.compute(&w.samples).frames)
            .sum::<usize>();
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{} recordings, {seconds:.1} s of audio, {frames} frames: features in {best:.3} s, {:.0}x real time (one core)",
        wavs.len(),
        seconds / best
    );
    Ok(())
}
