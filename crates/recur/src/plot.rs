//! A loss-curve plot as a self-contained SVG: training loss and validation loss against steps.

use crate::charlm::train::MetricsRow;

/// Renders the training and validation curves of `rows`.
pub fn loss_curve_svg(rows: &[MetricsRow]) -> String {
    let (w, h) = (640.0, 400.0);
    let (left, right, top, bottom) = (60.0, 20.0, 30.0, 45.0);
    let train: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.train_loss.is_finite())
        .map(|r| (r.step as f64, r.train_loss))
        .collect();
    let val: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.val_loss.map(|v| (r.step as f64, v)))
        .collect();
    let all = || train.iter().chain(&val);
    let max_x = all().map(|p| p.0).fold(1.0, f64::max);
    let (mut lo, mut hi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.1), b.max(p.1))
    });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let sx = |x: f64| left + (w - left - right) * x / max_x;
    let sy = |y: f64| top + (h - top - bottom) * (hi - y) / (hi - lo);
    let path = |pts: &[(f64, f64)]| -> String {
        pts.iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"18\" text-anchor=\"middle\">loss (nats/char)</text>\n",
        w / 2.0
    );
    for i in 0..=4 {
        let y = lo + (hi - lo) * i as f64 / 4.0;
        svg += &format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{y:.2}</text>\n",
            w - right, sy(y), sy(y), left - 6.0, sy(y) + 4.0
        );
        let x = max_x * i as f64 / 4.0;
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{x:.0}</text>\n",
            sx(x),
            h - bottom + 18.0
        );
    }
    svg += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step</text>\n",
        w / 2.0,
        h - 8.0
    );
    svg += &format!(
        "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"{}\"/>\n",
        path(&train)
    );
    svg += &format!(
        "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"{}\"/>\n",
        path(&val)
    );
    for &(x, y) in &val {
        svg += &format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#d62728\"/>\n",
            sx(x),
            sy(y)
        );
    }
    svg += &format!(
        "<text x=\"{}\" y=\"{}\" fill=\"#1f77b4\">train</text><text x=\"{}\" y=\"{}\" fill=\"#d62728\">validation</text>\n</svg>\n",
        w - 150.0, top + 12.0, w - 100.0, top + 12.0
    );
    svg
}
