//! Charts as self-contained SVG, drawn with `plotters`: line charts (loss curves, forecasts) and
//! heat maps (confusion matrices, and any matrix of values), each with a title, axis labels with
//! units, and a legend.

use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const WIDTH: u32 = 720;
const HEIGHT: u32 = 400;
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x17, 0xbe, 0xcf),
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
        self.render(&[], false)
    }

    /// The chart as an SVG document, with `bands` shaded under the lines (drawn in order, in
    /// translucent grey-blue, the first palest).
    ///
    /// # Errors
    /// [`Error::Input`] when the drawing library fails (it does not for finite data).
    pub fn to_svg_with_bands(&self, bands: &[Band]) -> Result<String> {
        self.render(bands, false)
    }

    /// The chart as an SVG document with a logarithmic y axis (ticks labelled as powers of
    /// ten): for values spanning orders of magnitude, such as gradient norms. Points with
    /// `y <= 0` are left out.
    ///
    /// # Errors
    /// As [`Self::to_svg`].
    pub fn to_svg_log_y(&self) -> Result<String> {
        let mut log = self.clone();
        for line in &mut log.lines {
            line.points = line
                .points
                .iter()
                .filter(|p| p.1 > 0.0)
                .map(|&(x, y)| (x, y.log10()))
                .collect();
        }
        log.render(&[], true)
    }

    /// Draws the chart with `bands` under the lines; with `log_y`, the y values are already
    /// `log10` and the ticks say `10^y`.
    fn render(&self, bands: &[Band], log_y: bool) -> Result<String> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_error)?;
            let axes = Axes {
                log_y,
                ..Axes::default()
            };
            self.draw(&root, bands, &axes)?;
            root.present().map_err(plot_error)?;
        }
        Ok(svg)
    }

    /// The range of the points (and bands) to draw: x within `x_range` when given, y padded by
    /// 5 %.
    fn ranges(&self, bands: &[Band], x_range: Option<(f64, f64)>) -> (f64, f64, f64, f64) {
        let inside = |x: f64| x_range.is_none_or(|(a, b)| (a..=b).contains(&x));
        let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite() && inside(p.0);
        let band_points: Vec<(f64, f64)> = bands
            .iter()
            .flat_map(|b| b.points.iter().flat_map(|&(x, l, u)| [(x, l), (x, u)]))
            .collect();
        let (mut x0, mut x1, mut y0, mut y1) = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter())
            .chain(&band_points)
            .filter(finite)
            .fold(
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
        if let Some((a, b)) = x_range {
            (x0, x1) = (a, b);
        }
        if x1 - x0 < 1e-12 {
            x1 = x0 + 1.0;
        }
        let pad = ((y1 - y0) * 0.05).max(1e-9);
        (x0, x1, y0 - pad, y1 + pad)
    }

    /// Draws the chart on `area`, with `bands` under the lines, as `axes` says.
    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        bands: &[Band],
        axes: &Axes,
    ) -> Result<()> {
        let (x0, x1, y0, y1) = self.ranges(bands, axes.x_range);
        let inside = |x: f64| (x0..=x1).contains(&x);
        let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite() && inside(p.0);
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_error)?;
        let powers_of_ten = |y: &f64| format!("{:.0e}", 10f64.powf(*y));
        let dates = date_format(x1 - x0);
        let date_label = |x: &f64| day_label(*x, dates);
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&|x| format!("{x}"))
            .light_line_style(RGBColor(0xee, 0xee, 0xee));
        if axes.dates {
            mesh.x_label_formatter(&date_label).x_labels(8);
        }
        if axes.log_y {
            mesh.y_label_formatter(&powers_of_ten);
        }
        mesh.draw().map_err(plot_error)?;
        if let Some(x) = self.marker_x.filter(|x| inside(*x)) {
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
                .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite() && inside(p.0))
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
            .position(if axes.legend_left {
                SeriesLabelPosition::UpperLeft
            } else {
                SeriesLabelPosition::UpperRight
            })
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(0xaa, 0xaa, 0xaa))
            .draw()
            .map_err(plot_error)?;
        Ok(())
    }
}

/// How [`LineChart::draw`] lays out its axes.
#[derive(Clone, Copy, Debug, Default)]
struct Axes {
    /// The y values are `log10` of the data: ticks say `10^y`.
    log_y: bool,
    /// The x values are days since 1970-01-01, labelled as dates.
    dates: bool,
    /// Only this x range is drawn.
    x_range: Option<(f64, f64)>,
    /// The legend goes in the upper left corner (else the upper right).
    legend_left: bool,
}

/// The `chrono` pattern of date ticks over a span of `days`: years over a span of six years or
/// more, months over two months, days over two days, hours and minutes below.
fn date_format(days: f64) -> &'static str {
    if days >= 6.0 * 365.0 {
        "%Y"
    } else if days >= 60.0 {
        "%Y-%m"
    } else if days >= 2.0 {
        "%Y-%m-%d"
    } else {
        "%m-%d %H:%M"
    }
}

/// Day `x` (days since 1970-01-01, fractions for the time of day) written in `format`.
fn day_label(x: f64, format: &str) -> String {
    let seconds = (x * 86_400.0).round();
    if !seconds.is_finite() || seconds.abs() > 1e13 {
        return String::new();
    }
    chrono::DateTime::from_timestamp(seconds as i64, 0)
        .map_or(String::new(), |d| d.naive_utc().format(format).to_string())
}

/// The days since 1970-01-01 of `stamp` (with the time of day as a fraction): the x value of a
/// dated chart ([`ChartPanel::dates`]).
pub fn day_number(stamp: &chrono::NaiveDateTime) -> f64 {
    stamp.and_utc().timestamp() as f64 / 86_400.0
}

/// One chart of a stack ([`stack_to_svg`]).
#[derive(Clone, Debug)]
pub struct ChartPanel {
    /// Lines, title and axis labels.
    pub chart: LineChart,
    /// Shaded bands under the lines (drawn in order, the first palest).
    pub bands: Vec<Band>,
    /// Only this x range is drawn (a zoom), the y axis fitted to the points inside it; `None`:
    /// every point.
    pub x_range: Option<(f64, f64)>,
    /// The x values are days since 1970-01-01 ([`day_number`]) and the ticks are dates (years,
    /// months, days or times of day, as the range shown asks).
    pub dates: bool,
}

/// Charts one above the other in one SVG document, each as [`LineChart::to_svg_with_bands`]
/// draws it (with dated ticks and zooms as each [`ChartPanel`] says, the legend in the upper
/// left corner, where a forecast at the right end leaves room).
///
/// # Errors
/// [`Error::Input`] when the drawing library fails (it does not for finite data).
pub fn stack_to_svg(panels: &[ChartPanel]) -> Result<String> {
    let rows = panels.len().max(1) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT * rows)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let areas = root.split_evenly((rows as usize, 1));
        for (p, area) in panels.iter().zip(&areas) {
            let axes = Axes {
                log_y: false,
                dates: p.dates,
                x_range: p.x_range,
                legend_left: true,
            };
            p.chart.draw(area, &p.bands, &axes)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
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
    fn a_log_y_chart_labels_powers_of_ten_and_leaves_out_non_positive_values() {
        let chart = LineChart {
            title: "Gradient norms".into(),
            x_label: "distance".into(),
            y_label: "norm".into(),
            lines: vec![Line::new(
                "rnn",
                (0..40)
                    .map(|d| (d as f64, 0.5f64.powi(d)))
                    .chain([(40.0, 0.0)])
                    .collect(),
            )],
            marker_x: None,
        };
        let svg = chart.to_svg_log_y().unwrap();
        assert!(
            svg.contains("1e0") && svg.contains("1e-10"),
            "powers of ten"
        );
        // The linear chart of the same points shows none of them.
        assert!(!chart.to_svg().unwrap().contains("1e-10"));
    }

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

    #[test]
    fn a_stack_of_dated_charts_labels_dates_and_zooms() {
        let day = |y: i32, m: u32| {
            day_number(
                &chrono::NaiveDate::from_ymd_opt(y, m, 1)
                    .unwrap()
                    .and_hms_opt(0, 0, 0)
                    .unwrap(),
            )
        };
        let points: Vec<(f64, f64)> = (0..120)
            .map(|t| (day(2000 + t / 12, (t % 12 + 1) as u32), t as f64))
            .collect();
        let chart = LineChart {
            title: "Forecast of sales".into(),
            x_label: "date".into(),
            y_label: "sales".into(),
            lines: vec![Line::new("history", points.clone())],
            marker_x: Some(points[100].0),
        };
        let whole = ChartPanel {
            chart: chart.clone(),
            bands: vec![Band {
                name: "80 % interval".into(),
                points: points[100..]
                    .iter()
                    .map(|&(x, y)| (x, y - 1.0, y + 1.0))
                    .collect(),
            }],
            x_range: None,
            dates: true,
        };
        let zoom = ChartPanel {
            chart: LineChart {
                title: "zoom".into(),
                ..chart
            },
            x_range: Some((points[96].0, points[119].0)),
            ..whole.clone()
        };
        let svg = stack_to_svg(&[whole, zoom]).unwrap();
        // Ten years are labelled by year; the two-year zoom by month.
        let labels: Vec<&str> = svg.lines().map(str::trim).collect();
        let years = labels
            .iter()
            .filter(|l| l.len() == 4 && l.starts_with("200"))
            .count();
        let months = labels
            .iter()
            .filter(|l| l.len() == 7 && (l.starts_with("2008-") || l.starts_with("2009-")))
            .count();
        assert!(years >= 3 && months >= 3, "{years} years, {months} months");
        assert!(svg.contains("zoom") && svg.contains("80 % interval") && svg.contains("sales"));
        assert!(svg.contains(&format!("height=\"{}\"", 2 * HEIGHT)));
        assert_eq!(day_label(day(1999, 7), "%Y-%m"), "1999-07");
    }
}
