//! Figures: what a command wants drawn ([`Figure`], plain data built from its typed report),
//! and one SVG renderer for all of them ([`Figure::svg`], with plotters).
//!
//! Commands never touch plotters: they describe marks (categories with intervals, curves,
//! points) and axes, and this module owns every drawing decision, so all figures share one
//! look. Text stays SVG text (plotters' font-free build estimates its width), so no font has
//! to be installed where the figure is made; the browser lays it out.

use std::path::Path;

use anyhow::{Context as _, Result, anyhow};
use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const WIDTH: u32 = 900;
const HEIGHT: u32 = 520;
const CAPTION_HEIGHT: u32 = 28;
/// Color-blind-safe (Okabe-Ito), in series order.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(100, 100, 100),
];
const FONT: &str = "sans-serif";

/// One figure: what to draw, not how.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The file's name without `.svg`, unique among one command's figures.
    pub name: String,
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub marks: Marks,
    /// Horizontal lines across the plot (an anchor, a threshold), named in the legend.
    pub levels: Vec<Level>,
}

#[derive(Debug, Clone)]
pub struct Axis {
    /// The axis name with its unit.
    pub label: String,
    pub scale: Scale,
}

impl Axis {
    pub fn linear(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            scale: Scale::Linear,
        }
    }

    pub fn log(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            scale: Scale::Log,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
    /// Percentiles (x only): each nine gets the same room, as in HdrHistogram's plots, so the
    /// tail is as readable as the median.
    Percentile,
}

#[derive(Debug, Clone)]
pub enum Marks {
    /// Named categories along x (the x axis's scale is ignored); in each, one mark per series
    /// side by side: a bar from zero on a linear y axis, a dot on a log one, with its interval.
    Categories {
        names: Vec<String>,
        series: Vec<Series<Option<Estimate>>>,
    },
    /// Points joined by lines, each with an optional interval. On a percentile axis, x is a
    /// percentile (0 to 100, exclusive of 100).
    Curves(Vec<Series<(f64, Estimate)>>),
    /// Points, not joined.
    Scatter(Vec<Series<(f64, f64)>>),
}

#[derive(Debug, Clone)]
pub struct Series<T> {
    pub name: String,
    pub points: Vec<T>,
}

/// A value and, when it has one, its interval (a 95% confidence interval, or a spread such as
/// p5-p95: the figure's title says which).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub interval: Option<[f64; 2]>,
}

impl Estimate {
    pub fn exact(value: f64) -> Self {
        Self {
            value,
            interval: None,
        }
    }

    pub fn within(value: f64, interval: [f64; 2]) -> Self {
        Self {
            value,
            interval: Some(interval),
        }
    }

    fn low(&self) -> f64 {
        self.interval
            .map_or(self.value, |[lo, _]| lo.min(self.value))
    }

    fn high(&self) -> f64 {
        self.interval
            .map_or(self.value, |[_, hi]| hi.max(self.value))
    }
}

#[derive(Debug, Clone)]
pub struct Level {
    pub name: String,
    pub value: f64,
}

impl Figure {
    /// The figure as a standalone SVG document, `caption` (the command that made it) under it.
    pub fn svg(&self, caption: &str) -> Result<String> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            root.fill(&WHITE).map_err(drawing)?;
            let (plot, footer) = root.split_vertically(HEIGHT - CAPTION_HEIGHT);
            footer
                .draw(&Text::new(
                    caption.to_string(),
                    (12, 6),
                    (FONT, 13).into_font().color(&RGBColor(90, 90, 90)),
                ))
                .map_err(drawing)?;
            let x_points = self.x_key_points();
            let ([x0, x1], [y0, y1]) = self.bounds()?;
            match (self.x_scale(), x_points) {
                (_, Some(points)) => self.with_y(
                    &plot,
                    Ticks {
                        inner: RangedCoordf64::from(x0..x1),
                        points,
                    },
                    (y0, y1),
                )?,
                (Scale::Log, None) => self.with_y(&plot, log_axis(x0, x1), (y0, y1))?,
                _ => self.with_y(&plot, RangedCoordf64::from(x0..x1), (y0, y1))?,
            }
            root.present().map_err(drawing)?;
        }
        // A <title> names the figure for screen readers and browsers' tooltips.
        let opened = svg.find('>').map_or(0, |i| i + 1);
        svg.insert_str(
            opened,
            &format!("\n<title>{}</title>", xml_text(&self.title)),
        );
        Ok(svg)
    }

    /// Writes `DIR/<name>.svg`.
    pub fn write(&self, dir: &Path, caption: &str) -> Result<std::path::PathBuf> {
        let path = dir.join(format!("{}.svg", self.name));
        std::fs::write(&path, self.svg(caption)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    fn x_scale(&self) -> Scale {
        match self.marks {
            Marks::Categories { .. } => Scale::Linear,
            _ => self.x.scale,
        }
    }

    /// Ticks placed by hand: one per category, or one per nine of a percentile axis.
    fn x_key_points(&self) -> Option<Vec<f64>> {
        match (&self.marks, self.x.scale) {
            (Marks::Categories { names, .. }, _) => {
                Some((0..names.len()).map(|i| i as f64).collect())
            }
            (_, Scale::Percentile) => {
                let [_, high] = self.x_extent();
                Some((0..=high.ceil() as u32).map(f64::from).collect())
            }
            _ => None,
        }
    }

    /// The x extent in plotting units (a percentile p plots at -log10(1 - p/100)).
    fn x_extent(&self) -> [f64; 2] {
        let xs: Vec<f64> = match &self.marks {
            Marks::Categories { names, .. } => {
                return [-0.5, names.len() as f64 - 0.5];
            }
            Marks::Curves(series) => series
                .iter()
                .flat_map(|s| s.points.iter().map(|(x, _)| self.x_plotted(*x)))
                .collect(),
            Marks::Scatter(series) => series
                .iter()
                .flat_map(|s| s.points.iter().map(|(x, _)| *x))
                .collect(),
        };
        padded(&xs, self.x.scale == Scale::Log, false, false)
    }

    fn x_plotted(&self, x: f64) -> f64 {
        if self.x.scale == Scale::Percentile {
            -(1.0 - x / 100.0).max(1e-9).log10()
        } else {
            x
        }
    }

    fn bounds(&self) -> Result<([f64; 2], [f64; 2])> {
        let mut ys: Vec<f64> = self.levels.iter().map(|l| l.value).collect();
        match &self.marks {
            Marks::Categories { series, .. } => ys.extend(
                series
                    .iter()
                    .flat_map(|s| s.points.iter().flatten().flat_map(|e| [e.low(), e.high()])),
            ),
            Marks::Curves(series) => ys.extend(
                series
                    .iter()
                    .flat_map(|s| s.points.iter().flat_map(|(_, e)| [e.low(), e.high()])),
            ),
            Marks::Scatter(series) => {
                ys.extend(series.iter().flat_map(|s| s.points.iter().map(|(_, y)| *y)))
            }
        }
        let log = self.y.scale == Scale::Log;
        ys.retain(|y| y.is_finite() && (!log || *y > 0.0));
        if ys.is_empty() {
            return Err(anyhow!("figure {} has nothing to draw", self.name));
        }
        let bars_from_zero = matches!(self.marks, Marks::Categories { .. }) && !log;
        Ok((self.x_extent(), padded(&ys, log, bars_from_zero, true)))
    }

    fn with_y<X>(&self, area: &Area<'_>, x: X, (y0, y1): (f64, f64)) -> Result<()>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        match self.y.scale {
            Scale::Log => self.draw(area, x, log_axis(y0, y1)),
            _ => self.draw(area, x, RangedCoordf64::from(y0..y1)),
        }
    }

    fn draw<X, Y>(&self, area: &Area<'_>, x: X, y: Y) -> Result<()>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        // Category names that would run into each other stand on end, with room below.
        let longest = match &self.marks {
            Marks::Categories { names, .. } => names.iter().map(|n| n.len()).max().unwrap_or(0),
            _ => 0,
        };
        let slots = match &self.marks {
            Marks::Categories { names, .. } => names.len().max(1),
            _ => 1,
        };
        let upright = longest * 7 > (WIDTH as usize - 120) / slots;
        let x_area = if upright {
            (longest * 7 + 40).min(220) as u32
        } else {
            46
        };
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, (FONT, 20))
            .margin(14)
            .x_label_area_size(x_area)
            .y_label_area_size(72)
            .build_cartesian_2d(x, y)
            .map_err(drawing)?;
        // Upright names are drawn below, by hand: plotters centres a turned label on its tick,
        // which puts half of it inside the plot.
        let x_format = |v: &f64| {
            if upright {
                String::new()
            } else {
                self.x_label(*v)
            }
        };
        let y_format = |v: &f64| number(*v);
        chart
            .configure_mesh()
            .x_desc(&self.x.label)
            .y_desc(&self.y.label)
            .x_label_formatter(&x_format)
            .y_label_formatter(&y_format)
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 12))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(drawing)?;

        match &self.marks {
            Marks::Categories { names, series } => {
                categories(&mut chart, names, series, self.y.scale == Scale::Log)?
            }
            Marks::Curves(series) => self.curves(&mut chart, series)?,
            Marks::Scatter(series) => scatter(&mut chart, series)?,
        }
        if let (true, Marks::Categories { names, .. }) = (upright, &self.marks) {
            upright_names(&chart, area, names)?;
        }
        self.levels(&mut chart)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FONT, 13))
            .draw()
            .map_err(drawing)?;
        Ok(())
    }

    /// Lines through each series' points, with their intervals (dots only where few).
    fn curves<X, Y>(
        &self,
        chart: &mut Chart<'_, X, Y>,
        series: &[Series<(f64, Estimate)>],
    ) -> Result<()>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        for (i, s) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let points: Vec<(f64, Estimate)> = s
                .points
                .iter()
                .map(|&(x, e)| (self.x_plotted(x), e))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|&(x, e)| (x, e.value)),
                    color.stroke_width(2),
                ))
                .map_err(drawing)?
                .label(&s.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            if points.len() <= 40 {
                chart
                    .draw_series(
                        points
                            .iter()
                            .map(|&(x, e)| Circle::new((x, e.value), 3, color.filled())),
                    )
                    .map_err(drawing)?;
            }
            chart
                .draw_series(points.iter().filter_map(|&(x, e)| {
                    e.interval.map(|[lo, hi]| {
                        ErrorBar::new_vertical(x, lo, e.value, hi, color.stroke_width(1), 8)
                    })
                }))
                .map_err(drawing)?;
        }
        Ok(())
    }

    /// The figure's reference levels, dashed across the whole x range.
    fn levels<X, Y>(&self, chart: &mut Chart<'_, X, Y>) -> Result<()>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let x_range = chart.x_range();
        for (i, level) in self.levels.iter().enumerate() {
            let color = PALETTE[(PALETTE.len() - 1 + i) % PALETTE.len()];
            let style = ShapeStyle::from(color).stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(
                    [(x_range.start, level.value), (x_range.end, level.value)],
                    8,
                    5,
                    style,
                ))
                .map_err(drawing)?
                .label(format!("{} ({})", level.name, number(level.value)))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        Ok(())
    }

    fn x_label(&self, v: f64) -> String {
        match (&self.marks, self.x.scale) {
            (Marks::Categories { names, .. }, _) => {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            }
            (_, Scale::Percentile) => {
                let p = 100.0 * (1.0 - 10f64.powf(-v));
                format!("{}%", number(p))
            }
            _ => number(v),
        }
    }
}

/// An axis with ticks exactly where asked (one per category, one per nine, 1-2-5 on a log
/// axis): plotters' own log ticks can leave a span of less than a decade with one label.
struct Ticks<C> {
    inner: C,
    points: Vec<f64>,
}

impl<C: Ranged<ValueType = f64>> Ranged for Ticks<C> {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.points.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// A log axis from `lo` to `hi` with its ticks on round numbers: every 1, 2 and 5 over a
/// short span, fewer as the span grows.
fn log_axis(lo: f64, hi: f64) -> Ticks<LogCoord<f64>> {
    let decades = (hi / lo).log10();
    let steps: &[f64] = if decades <= 1.6 {
        &[1.0, 2.0, 5.0]
    } else if decades <= 2.6 {
        &[1.0, 3.0]
    } else {
        &[1.0]
    };
    let mut points = Vec::new();
    for exponent in lo.log10().floor() as i32..=hi.log10().ceil() as i32 {
        for step in steps {
            let v = step * 10f64.powi(exponent);
            if (lo..=hi).contains(&v) {
                points.push(v);
            }
        }
    }
    Ticks {
        inner: LogCoord::from((lo..hi).log_scale()),
        points,
    }
}

/// The chart `draw` builds: an SVG drawing with two f64 axes.
type Chart<'a, X, Y> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>;

/// Dots (log y) or bars per category and series, side by side, with their intervals.
fn categories<X, Y>(
    chart: &mut Chart<'_, X, Y>,
    names: &[String],
    series: &[Series<Option<Estimate>>],
    log: bool,
) -> Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let slots = series.len().max(1) as f64;
    let width = 0.8 / slots;
    let floor = chart.y_range().start;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let offset = -0.4 + width * (i as f64 + 0.5);
        let marks = s
            .points
            .iter()
            .enumerate()
            .take(names.len())
            .filter_map(|(category, e)| e.map(|e| (category as f64 + offset, e)));
        let marks: Vec<(f64, Estimate)> = marks.collect();
        if log {
            chart
                .draw_series(
                    marks
                        .iter()
                        .map(|&(x, e)| Circle::new((x, e.value), 5, color.filled())),
                )
                .map_err(drawing)?
                .label(&s.name)
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
        } else {
            chart
                .draw_series(marks.iter().map(|&(x, e)| {
                    Rectangle::new(
                        [(x - width * 0.45, floor), (x + width * 0.45, e.value)],
                        color.mix(0.85).filled(),
                    )
                }))
                .map_err(drawing)?
                .label(&s.name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.filled())
                });
        }
        chart
            .draw_series(marks.iter().filter_map(|&(x, e)| {
                e.interval.map(|[lo, hi]| {
                    ErrorBar::new_vertical(x, lo, e.value, hi, BLACK.stroke_width(1), 8)
                })
            }))
            .map_err(drawing)?;
    }
    Ok(())
}

/// Small translucent dots, one colour per series.
fn scatter<X, Y>(chart: &mut Chart<'_, X, Y>, series: &[Series<(f64, f64)>]) -> Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(
                s.points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 2, color.mix(0.6).filled())),
            )
            .map_err(drawing)?
            .label(&s.name)
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
    }
    Ok(())
}

/// Category names standing on end below the axis, drawn by hand: plotters centres a turned
/// label on its tick, which puts half of it inside the plot.
fn upright_names<X, Y>(chart: &Chart<'_, X, Y>, area: &Area<'_>, names: &[String]) -> Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let floor = chart.y_range().start;
    let style = TextStyle::from((FONT, 12).into_font())
        .transform(FontTransform::Rotate90)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, name) in names.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64, floor));
        area.draw(&Text::new(name.clone(), (px, py + 8), style.clone()))
            .map_err(drawing)?;
    }
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// plotters' drawing errors name the backend's error; this keeps the message.
fn drawing<E: std::fmt::Debug>(err: E) -> anyhow::Error {
    anyhow!("cannot draw the figure: {err:?}")
}

/// An axis range around the values, with room at the ends (a log axis pads by a factor).
/// `headroom` leaves the top quarter empty for the legend, so it never covers a mark.
fn padded(values: &[f64], log: bool, from_zero: bool, headroom: bool) -> [f64; 2] {
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return [0.0, 1.0];
    }
    if log {
        let (lo, hi) = (lo.max(f64::MIN_POSITIVE), hi.max(lo * 1.01));
        let (bottom, top) = (lo / 1.5, hi * 1.5);
        let room = if headroom {
            (top / bottom).powf(0.4)
        } else {
            1.0
        };
        return [bottom, top * room];
    }
    let lo = if from_zero { lo.min(0.0) } else { lo };
    let span = (hi - lo).max(hi.abs() * 0.1).max(1e-9);
    [
        if from_zero && lo >= 0.0 {
            0.0
        } else {
            lo - span * 0.05
        },
        hi + span * if headroom { 0.5 } else { 0.08 },
    ]
}

/// A tick label: few significant digits, no trailing zeros, large numbers as 25k or 1.5M.
fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        // Past millions a tick reads best as a power of ten (1e9, 2.5e12).
        return format!("{v:.1e}").replace(".0e", "e");
    }
    if a >= 1e6 {
        return format!("{}M", number(v / 1e6));
    }
    if a >= 1e4 {
        return format!("{}k", number(v / 1e3));
    }
    let text = if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Text as XML character data.
fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Writes every figure into `dir` (created if missing) and returns the files written.
pub fn write_all(figures: &[Figure], dir: &Path, caption: &str) -> Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the plot directory {}", dir.display()))?;
    figures.iter().map(|f| f.write(dir, caption)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parses_with_title(svg: &str, title: &str) {
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(title), "title missing");
    }

    #[test]
    fn log_ticks_fall_on_round_numbers_however_short_the_span() {
        assert_eq!(
            log_axis(133_000.0, 3_000_000.0).points,
            [200_000.0, 500_000.0, 1_000_000.0, 2_000_000.0]
        );
        assert_eq!(log_axis(0.5, 5_000.0).points, [1.0, 10.0, 100.0, 1_000.0]);
    }

    #[test]
    fn every_kind_of_mark_renders() {
        let categories = Figure {
            name: "c".into(),
            title: "Categories title".into(),
            x: Axis::linear("variant"),
            y: Axis::log("median latency (ms)"),
            marks: Marks::Categories {
                names: vec!["none".into(), "week8".into()],
                series: vec![Series {
                    name: "client".into(),
                    points: vec![
                        Some(Estimate::within(20.0, [18.0, 25.0])),
                        Some(Estimate::exact(1.4)),
                    ],
                }],
            },
            levels: vec![Level {
                name: "write-up".into(),
                value: 747.0,
            }],
        };
        parses_with_title(
            &categories.svg("concert-bench query").unwrap(),
            "Categories title",
        );
        let curves = Figure {
            name: "p".into(),
            title: "Percentiles".into(),
            x: Axis {
                label: "percentile".into(),
                scale: Scale::Percentile,
            },
            y: Axis::log("latency (ms)"),
            marks: Marks::Curves(vec![Series {
                name: "cell".into(),
                points: [50.0, 90.0, 99.0, 99.9]
                    .iter()
                    .map(|&p| (p, Estimate::exact(p / 10.0)))
                    .collect(),
            }]),
            levels: vec![],
        };
        let svg = curves.svg("concert-bench cache-bench").unwrap();
        parses_with_title(&svg, "Percentiles");
        assert!(svg.contains("99.9%"), "percentile ticks are labelled");
    }

    #[test]
    fn a_figure_with_nothing_to_draw_says_so() {
        let empty = Figure {
            name: "e".into(),
            title: "Empty".into(),
            x: Axis::linear("x"),
            y: Axis::log("y"),
            marks: Marks::Scatter(vec![]),
            levels: vec![],
        };
        let err = empty.svg("c").unwrap_err().to_string();
        assert!(err.contains("nothing to draw"), "{err}");
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(number(0.12345), "0.123");
        assert_eq!(number(2.50), "2.5");
        assert_eq!(number(150.0), "150");
        assert_eq!(number(25_000.0), "25k");
        assert_eq!(number(1_500_000.0), "1.5M");
        assert_eq!(number(1e10), "1e10");
        assert_eq!(number(2.5e12), "2.5e12");
    }
}
