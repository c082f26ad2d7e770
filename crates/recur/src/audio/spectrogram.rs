//! A log-mel spectrogram drawn as an SVG picture (time across, mel bands up, loudness in
//! colour).

use super::{FeatureConfig, FeatureKind, Features};
use crate::error::{Error, Result};
use plotters::prelude::*;

/// The log-mel spectrogram of `samples` (mono, at `config.sample_rate`) under `config`'s frame
/// and mel settings (base features in dB: no deltas, no normalisation), as an SVG document
/// titled `title`: one column per frame, one row per mel band, coloured from dark (the
/// recording's quietest) to yellow (its loudest).
///
/// # Errors
/// As [`Features::new`]; [`Error::Input`] when drawing fails.
pub fn spectrogram_svg(samples: &[f32], config: &FeatureConfig, title: &str) -> Result<String> {
    let config = FeatureConfig {
        kind: FeatureKind::LogMel,
        deltas: 0,
        cmvn: false,
        ..config.clone()
    };
    let m = Features::new(config.clone())?.compute(samples);
    let (lo, hi) = m
        .values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = (hi - lo).max(1e-6);
    let hop = config.hop_length() as f64 / config.sample_rate as f64;
    let seconds = m.frames as f64 * hop;
    let bands = m.dims;
    let fail = |e: &dyn std::fmt::Display| Error::Input(format!("drawing a spectrogram: {e}"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..seconds, 0.0..bands as f64)
            .map_err(|e| fail(&e))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("time (s)")
            .y_desc(format!(
                "mel band ({:.0}-{:.0} Hz)",
                config.fmin,
                config.top_hz()
            ))
            .draw()
            .map_err(|e| fail(&e))?;
        let cells = m.values.iter().enumerate().map(|(i, &v)| {
            let (t, b) = ((i / bands) as f64, (i % bands) as f64);
            let colour = heat(((v - lo) / span) as f64);
            Rectangle::new([(t * hop, b), ((t + 1.0) * hop, b + 1.0)], colour.filled())
        });
        chart.draw_series(cells).map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(svg)
}

/// A dark-blue → magenta → yellow colour scale for `x` in [0, 1].
fn heat(x: f64) -> RGBColor {
    let stops = [
        (0.0, [13.0, 8.0, 135.0]),
        (0.5, [204.0, 71.0, 120.0]),
        (1.0, [240.0, 249.0, 33.0]),
    ];
    let x = x.clamp(0.0, 1.0);
    let (a, b) = if x < 0.5 {
        (stops[0], stops[1])
    } else {
        (stops[1], stops[2])
    };
    let f = (x - a.0) / (b.0 - a.0);
    let c = |k: usize| (a.1[k] + f * (b.1[k] - a.1[k])) as u8;
    RGBColor(c(0), c(1), c(2))
}
