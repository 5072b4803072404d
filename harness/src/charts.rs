//! Charts for the report (plotters; each as SVG and PNG, text in the vendored DejaVu Sans so no
//! system font library is needed): grouped bars, robust accuracy vs ε, accuracy vs compute.

use crate::metrics::Stat;
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

const FONT: &str = "sans-serif";
const SIZE: (u32, u32) = (1000, 600);

/// The bundled font (DejaVu Sans, Bitstream Vera licence: harness/assets/DejaVuSans.LICENSE).
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, bytes);
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, bytes);
    });
}

fn palette(i: usize) -> RGBColor {
    // colour-blind-safe (Okabe–Ito)
    const C: [RGBColor; 8] = [
        RGBColor(0, 114, 178),
        RGBColor(230, 159, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(86, 180, 233),
        RGBColor(213, 94, 0),
        RGBColor(240, 228, 66),
        RGBColor(0, 0, 0),
    ];
    C[i % C.len()]
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// A vertical error bar from `lo` to `hi` at `x`, with caps `cap` wide (data units; 0: none).
fn err_bar(x: f64, lo: f64, hi: f64, cap: f64, style: ShapeStyle) -> Vec<PathElement<(f64, f64)>> {
    let mut v = vec![PathElement::new(vec![(x, lo), (x, hi)], style)];
    if cap > 0.0 {
        v.push(PathElement::new(vec![(x - cap, lo), (x + cap, lo)], style));
        v.push(PathElement::new(vec![(x - cap, hi), (x + cap, hi)], style));
    }
    v
}

const DIAMOND: [(i32, i32); 5] = [(0, -9), (9, 0), (0, 9), (-9, 0), (0, -9)];

/// Draws `f` into `stem.svg` and `stem.png`.
fn both(
    stem: &Path,
    f: &dyn Fn(&DrawingArea<SVGBackend, Shift>) -> DrawResult,
    g: &dyn Fn(&DrawingArea<BitMapBackend, Shift>) -> DrawResult,
) -> Result<Vec<PathBuf>> {
    register_font();
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        f(&root).map_err(|e| anyhow!("drawing {}: {e}", svg.display()))?;
        root.present()
            .map_err(|e| anyhow!("writing {}: {e}", svg.display()))?;
    }
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        g(&root).map_err(|e| anyhow!("drawing {}: {e}", png.display()))?;
        root.present()
            .map_err(|e| anyhow!("writing {}: {e}", png.display()))?;
    }
    Ok(vec![svg, png])
}

/// One group of bars (a method): one bar per series, and published values as (series, value).
pub struct BarGroup {
    pub label: String,
    pub bars: Vec<Stat>,
    pub published: Vec<(usize, f64)>,
}

fn y_max(vals: impl Iterator<Item = f64>) -> f64 {
    let m = vals.filter(|v| v.is_finite()).fold(0.0, f64::max);
    ((m * 1.15 / 10.0).ceil() * 10.0).clamp(10.0, 100.0)
}

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[String],
    groups: &[BarGroup],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let n = groups.len().max(1) as f64;
    let ymax = y_max(groups.iter().flat_map(|g| {
        g.bars
            .iter()
            .map(|b| b.mean + b.std)
            .chain(g.published.iter().map(|p| p.1))
    }));
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 26))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n, 0.0..ymax)?;
    let labels: Vec<String> = groups.iter().map(|g| g.label.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("accuracy (%)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(RGBColor(238, 238, 238))
        .x_desc("method")
        .axis_desc_style((FONT, 20))
        .label_style((FONT, 17))
        .draw()?;
    // method names under their groups (in pixels: the chart's coordinates stop at the axis)
    for (i, l) in labels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        root.draw(&Text::new(
            l.clone(),
            (px, py + 10),
            (FONT, 17)
                .into_font()
                .color(&BLACK)
                .pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Top,
                )),
        ))?;
    }
    let k = series.len().max(1) as f64;
    let w = 0.8 / k;
    for (s, name) in series.iter().enumerate() {
        let c = palette(s);
        let rects = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.bars[s].mean.is_finite())
            .map(move |(i, g)| {
                let x0 = i as f64 + 0.1 + s as f64 * w;
                Rectangle::new([(x0, 0.0), (x0 + w * 0.92, g.bars[s].mean)], c.filled())
            });
        chart
            .draw_series(rects)?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 7), (x + 16, y + 7)], c.filled()));
        let errs = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.bars[s].n > 1 && g.bars[s].std.is_finite())
            .flat_map(move |(i, g)| {
                let b = g.bars[s];
                let x = i as f64 + 0.1 + (s as f64 + 0.46) * w;
                err_bar(
                    x,
                    b.mean - b.std,
                    b.mean + b.std,
                    w * 0.2,
                    BLACK.stroke_width(2),
                )
            });
        chart.draw_series(errs)?;
    }
    let pubs: Vec<(f64, f64)> = groups
        .iter()
        .enumerate()
        .flat_map(|(i, g)| {
            g.published
                .iter()
                .map(move |&(s, v)| (i as f64 + 0.1 + (s as f64 + 0.46) * w, v))
        })
        .collect();
    if !pubs.is_empty() {
        chart
            .draw_series(pubs.iter().map(|&(x, y)| {
                EmptyElement::at((x, y))
                    + Polygon::new(DIAMOND.to_vec(), RED.filled())
                    + PathElement::new(DIAMOND.to_vec(), BLACK.stroke_width(2))
            }))?
            .label("published (baselines/)")
            .legend(|(x, y)| {
                Polygon::new(
                    vec![(x + 8, y - 8), (x + 16, y), (x + 8, y + 8), (x, y)],
                    RED.filled(),
                )
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 17))
        .draw()?;
    Ok(())
}

/// Grouped bars with ±std error bars (over seeds) and published values as red diamonds.
pub fn bars(
    stem: &Path,
    title: &str,
    series: &[String],
    groups: &[BarGroup],
) -> Result<Vec<PathBuf>> {
    both(stem, &|r| draw_bars(r, title, series, groups), &|r| {
        draw_bars(r, title, series, groups)
    })
}

/// One line: (x, statistic over seeds) points.
pub struct Curve {
    pub label: String,
    pub points: Vec<(f64, Stat)>,
}

fn draw_curves<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    xdesc: &str,
    curves: &[Curve],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let xmax = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold(0.0, f64::max)
        .max(1e-9);
    let ymax = y_max(
        curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.1.mean + p.1.std)),
    );
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 26))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(70)
        .build_cartesian_2d(-xmax * 0.03..xmax * 1.05, 0.0..ymax)?;
    chart
        .configure_mesh()
        .x_desc(xdesc)
        .x_label_formatter(&|v| {
            if xmax >= 4.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        })
        .y_desc("robust accuracy on the attacked subset (%)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(RGBColor(238, 238, 238))
        .axis_desc_style((FONT, 20))
        .label_style((FONT, 17))
        .draw()?;
    for (i, c) in curves.iter().enumerate() {
        let col = palette(i);
        let pts: Vec<(f64, f64)> = c
            .points
            .iter()
            .filter(|p| p.1.mean.is_finite())
            .map(|p| (p.0, p.1.mean))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), col.stroke_width(3)))?
            .label(c.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(3)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 5, col.filled())))?;
        chart.draw_series(
            c.points
                .iter()
                .filter(|p| p.1.n > 1 && p.1.std.is_finite())
                .flat_map(|p| {
                    err_bar(
                        p.0,
                        p.1.mean - p.1.std,
                        p.1.mean + p.1.std,
                        xmax * 0.008,
                        col.stroke_width(2),
                    )
                }),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 17))
        .draw()?;
    Ok(())
}

/// Robust accuracy vs ε, one line per method, ±std error bars.
pub fn curves(stem: &Path, title: &str, xdesc: &str, curves: &[Curve]) -> Result<Vec<PathBuf>> {
    both(stem, &|r| draw_curves(r, title, xdesc, curves), &|r| {
        draw_curves(r, title, xdesc, curves)
    })
}

/// A point of the accuracy-vs-compute chart.
pub struct ParetoPoint {
    pub label: String,
    /// Seconds (distillation + student training + attacks), mean over seeds.
    pub cost: f64,
    pub acc: Stat,
}

/// Indices of the points no other point beats on both cost (lower) and accuracy (higher).
pub fn pareto_front(pts: &[(f64, f64)]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..pts.len())
        .filter(|&i| {
            !(0..pts.len()).any(|j| {
                j != i
                    && pts[j].0 <= pts[i].0
                    && pts[j].1 >= pts[i].1
                    && (pts[j].0 < pts[i].0 || pts[j].1 > pts[i].1)
            })
        })
        .collect();
    idx.sort_by(|&a, &b| pts[a].0.total_cmp(&pts[b].0));
    idx
}

fn draw_pareto<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    ydesc: &str,
    pts: &[ParetoPoint],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let costs: Vec<f64> = pts.iter().map(|p| p.cost.max(1e-3)).collect();
    let (cmin, cmax) = (
        costs.iter().copied().fold(f64::INFINITY, f64::min),
        costs.iter().copied().fold(0.0, f64::max),
    );
    let ymax = y_max(pts.iter().map(|p| p.acc.mean + p.acc.std));
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 26))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(70)
        .build_cartesian_2d((cmin / 2.0..cmax * 2.0).log_scale(), 0.0..ymax)?;
    chart
        .configure_mesh()
        .x_desc("compute: distillation + training + attack (seconds, log scale)")
        .x_labels(6)
        .x_label_formatter(&|v| {
            if *v >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        })
        .y_desc(ydesc)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(RGBColor(238, 238, 238))
        .axis_desc_style((FONT, 20))
        .label_style((FONT, 17))
        .draw()?;
    let xy: Vec<(f64, f64)> = pts
        .iter()
        .zip(&costs)
        .map(|(p, &c)| (c, p.acc.mean))
        .collect();
    let front: Vec<(f64, f64)> = pareto_front(&xy).into_iter().map(|i| xy[i]).collect();
    chart
        .draw_series(LineSeries::new(front, BLACK.mix(0.5).stroke_width(2)))?
        .label("Pareto front")
        .legend(|(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.5).stroke_width(2))
        });
    for (i, (p, &(x, y))) in pts.iter().zip(&xy).enumerate() {
        let col = palette(i);
        chart
            .draw_series(std::iter::once(Circle::new((x, y), 7, col.filled())))?
            .label(p.label.clone())
            .legend(move |(x, y)| Circle::new((x + 8, y), 6, col.filled()));
        if p.acc.n > 1 && p.acc.std.is_finite() {
            chart.draw_series(err_bar(
                x,
                y - p.acc.std,
                y + p.acc.std,
                0.0,
                col.stroke_width(2),
            ))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 17))
        .draw()?;
    Ok(())
}

/// Accuracy against compute cost (log x), one marker per (method, IPC), with the Pareto front.
pub fn pareto(stem: &Path, title: &str, ydesc: &str, pts: &[ParetoPoint]) -> Result<Vec<PathBuf>> {
    both(stem, &|r| draw_pareto(r, title, ydesc, pts), &|r| {
        draw_pareto(r, title, ydesc, pts)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn pareto_front_keeps_the_undominated() {
        // (cost, acc): b dominates c (cheaper and better); a is cheapest; d is best
        let pts = [(1.0, 40.0), (2.0, 50.0), (3.0, 45.0), (10.0, 60.0)];
        assert_eq!(super::pareto_front(&pts), vec![0, 1, 3]);
    }
}
