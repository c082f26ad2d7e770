//! Charts as self-contained SVG, drawn with `plotters`: line charts (loss curves, forecasts) and
//! heat maps (confusion matrices, and any matrix of values), each with a title, axis labels with
//! units, and a legend.

use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const WIDTH: u32 = 720;
const HEIGHT: u32 = 400;
const PALETTE: [RGBColor; 5] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
];

/// One named line of a [`LineChart`].
#[derive(Clone, Debug)]
pub struct Line {
    /// The legend entry.
    pub name: String,
    /// `(x, y)` points in order; non-finite ones are left out.
    pub points: Vec<(f64, f64)>,
    /// Draw a dot at each point as well (for sparse series such as validations).
    pub markers: bool,
}

impl Line {
    /// A line without markers.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Line {
            name: name.into(),
            points,
            markers: false,
        }
    }

    /// The same line with a dot at each point.
    pub fn with_markers(mut self) -> Self {
        self.markers = true;
        self
    }
}

/// A shaded band between two lines of a [`LineChart`] (a prediction interval).
#[derive(Clone, Debug)]
pub struct Band {
    /// The legend entry.
    pub name: String,
    /// `(x, lower, upper)` in order of x; non-finite ones are left out.
    pub points: Vec<(f64, f64, f64)>,
}

/// A chart of lines over a shared x axis.
#[derive(Clone, Debug)]
pub struct LineChart {
    /// The title.
    pub title: String,
    /// The x axis label, with its unit.
    pub x_label: String,
    /// The y axis label, with its unit.
    pub y_label: String,
    /// The lines, drawn in order with a fixed palette.
    pub lines: Vec<Line>,
    /// An x position marked by a vertical dashed line (for example where a test span starts).
    pub marker_x: Option<f64>,
}

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Input(format!("drawing a chart: {e}"))
}

impl LineChart {
    /// The chart as an SVG document.
    ///
    /// # Errors
    /// [`Error::Input`] when the drawing library fails (it does not for finite data).
    pub fn to_svg(&self) -> Result<String> {
        self.to_svg_with_bands(&[])
    }

    /// The chart as an SVG document, with `bands` shaded under the lines (drawn in order, in
    /// translucent grey-blue, the first palest).
    ///
    /// # Errors
    /// [`Error::Input`] when the drawing library fails (it does not for finite data).
    pub fn to_svg_with_bands(&self, bands: &[Band]) -> Result<String> {
        let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
        let band_points: Vec<(f64, f64)> = bands
            .iter()
            .flat_map(|b| b.points.iter().flat_map(|&(x, l, u)| [(x, l), (x, u)]))
            .collect();
        let points = || {
            self.lines
                .iter()
                .flat_map(|l| l.points.iter())
                .chain(&band_points)
                .filter(finite)
        };
        let (mut x0, mut x1, mut y0, mut y1) = points().fold(
            (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ),
            |(a, b, c, d), p| (a.min(p.0), b.max(p.0), c.min(p.1), d.max(p.1)),
        );
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 - x0 < 1e-12 {
            x1 = x0 + 1.0;
        }
        let pad = ((y1 - y0) * 0.05).max(1e-9);
        (y0, y1) = (y0 - pad, y1 + pad);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_error)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(&self.title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(plot_error)?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .x_label_formatter(&|x| format!("{x}"))
                .light_line_style(RGBColor(0xee, 0xee, 0xee))
                .draw()
                .map_err(plot_error)?;
            if let Some(x) = self.marker_x {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(x, y0), (x, y1)],
                        5,
                        4,
                        RGBColor(0x88, 0x88, 0x88).into(),
                    ))
                    .map_err(plot_error)?;
            }
            for (k, band) in bands.iter().enumerate() {
                let shade = RGBColor(0x1f, 0x77, 0xb4).mix(0.12 + 0.1 * k as f64);
                let pts: Vec<(f64, f64, f64)> = band
                    .points
                    .iter()
                    .copied()
                    .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite())
                    .collect();
                let outline: Vec<(f64, f64)> = pts
                    .iter()
                    .map(|p| (p.0, p.2))
                    .chain(pts.iter().rev().map(|p| (p.0, p.1)))
                    .collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(outline, shade.filled())))
                    .map_err(plot_error)?
                    .label(&band.name)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 20, y + 5)], shade.filled())
                    });
            }
            for (k, line) in self.lines.iter().enumerate() {
                let color = PALETTE[k % PALETTE.len()];
                let pts: Vec<(f64, f64)> = line.points.iter().filter(finite).copied().collect();
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                    .map_err(plot_error)?
                    .label(&line.name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                if line.markers {
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                        .map_err(plot_error)?;
                }
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(0xaa, 0xaa, 0xaa))
                .draw()
                .map_err(plot_error)?;
            root.present().map_err(plot_error)?;
        }
        Ok(svg)
    }
}

/// A matrix drawn as coloured cells with their values written in (a confusion matrix, or any
/// heat map).
#[derive(Clone, Debug)]
pub struct HeatMap {
    /// The title.
    pub title: String,
    /// What the rows are (for example "true class").
    pub row_label: String,
    /// What the columns are (for example "predicted class").
    pub column_label: String,
    /// Row names, top to bottom.
    pub rows: Vec<String>,
    /// Column names, left to right.
    pub columns: Vec<String>,
    /// `[rows, columns]` values, row-major.
    pub values: Vec<f64>,
    /// Shade each cell by its share of its row (a confusion matrix's recall) rather than by the
    /// matrix's largest value.
    pub shade_by_row: bool,
}

impl HeatMap {
    /// The heat map as an SVG document.
    ///
    /// # Errors
    /// [`Error::Input`] when `values` is not `rows × columns`, or drawing fails.
    pub fn to_svg(&self) -> Result<String> {
        let (r, c) = (self.rows.len(), self.columns.len());
        if self.values.len() != r * c || r == 0 || c == 0 {
            return Err(Error::Input(format!(
                "heat map: {} values for {r} rows × {c} columns",
                self.values.len()
            )));
        }
        let cell = (480 / r.max(c)).clamp(20, 64) as u32;
        let (w, h) = (cell * c as u32 + 200, cell * r as u32 + 150);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_error)?;
            self.draw(&root)?;
            root.present().map_err(plot_error)?;
        }
        Ok(svg)
    }

    fn draw(&self, root: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()> {
        let (r, c) = (self.rows.len(), self.columns.len());
        let max = self
            .values
            .iter()
            .cloned()
            .fold(0.0f64, f64::max)
            .max(1e-12);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(120)
            .build_cartesian_2d((0..c - 1).into_segmented(), (0..r - 1).into_segmented())
            .map_err(plot_error)?;
        let name = |names: &[String], v: &SegmentValue<usize>, flip: bool| match v {
            SegmentValue::CenterOf(i) if *i < names.len() => {
                names[if flip { names.len() - 1 - i } else { *i }].clone()
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(c)
            .y_labels(r)
            .x_label_formatter(&|v| name(&self.columns, v, false))
            .y_label_formatter(&|v| name(&self.rows, v, true))
            .x_desc(&self.column_label)
            .y_desc(&self.row_label)
            .draw()
            .map_err(plot_error)?;
        let mut cells = Vec::with_capacity(r * c);
        for i in 0..r {
            let row = &self.values[i * c..(i + 1) * c];
            let scale = if self.shade_by_row {
                row.iter().sum::<f64>().max(1e-12)
            } else {
                max
            };
            for (j, &v) in row.iter().enumerate() {
                let shade = (255.0 - 200.0 * (v / scale).clamp(0.0, 1.0)) as u8;
                // Row 0 at the top: plotters' y axis grows upwards.
                cells.push((j, r - 1 - i, v, RGBColor(shade, shade, 255)));
            }
        }
        use SegmentValue::{CenterOf, Exact};
        chart
            .draw_series(cells.iter().map(|&(x, y, _, color)| {
                Rectangle::new(
                    [(Exact(x), Exact(y)), (Exact(x + 1), Exact(y + 1))],
                    color.filled(),
                )
            }))
            .map_err(plot_error)?;
        chart
            .draw_series(cells.iter().map(|&(x, y, v, _)| {
                let label = if v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.2}")
                };
                let style = ("sans-serif", 12)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                Text::new(label, (CenterOf(x), CenterOf(y)), style)
            }))
            .map_err(plot_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_chart_has_title_axes_and_legend() {
        let chart = LineChart {
            title: "Loss".into(),
            x_label: "optimiser step".into(),
            y_label: "cross-entropy (nats/char)".into(),
            lines: vec![
                Line::new("training", vec![(0.0, 2.0), (10.0, 1.5), (20.0, f64::NAN)]),
                Line::new("validation", vec![(10.0, 1.7)]).with_markers(),
            ],
            marker_x: Some(10.0),
        };
        let svg = chart.to_svg().unwrap();
        for text in [
            "Loss",
            "optimiser step",
            "cross-entropy (nats/char)",
            "training",
            "validation",
        ] {
            assert!(svg.contains(text), "no {text:?} in the chart");
        }
        assert!(svg.contains("<circle"), "validation points are marked");
        // Nothing to draw is still a valid (empty) chart.
        let empty = LineChart {
            lines: vec![],
            marker_x: None,
            ..chart
        };
        assert!(empty.to_svg().unwrap().starts_with("<svg"));
    }

    #[test]
    fn heat_map_writes_every_value_and_checks_its_shape() {
        let map = HeatMap {
            title: "Confusion".into(),
            row_label: "true class".into(),
            column_label: "predicted class".into(),
            rows: vec!["cat".into(), "dog".into()],
            columns: vec!["cat".into(), "dog".into()],
            values: vec![7.0, 1.0, 2.0, 9.0],
            shade_by_row: true,
        };
        let svg = map.to_svg().unwrap();
        for text in ["Confusion", "true class", "predicted class", "cat", "dog"] {
            assert!(svg.contains(text), "no {text:?} in the heat map");
        }
        for value in ["7", "1", "2", "9"] {
            assert!(svg.lines().any(|l| l.trim() == value), "no cell {value}");
        }
        let bad = HeatMap {
            values: vec![1.0; 3],
            ..map
        };
        assert!(bad.to_svg().is_err());
    }
}
