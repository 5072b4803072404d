//! Grouped bars: clean and robust accuracy per method, ±std error bars over seeds, published
//! values as red diamonds.

use super::style::{both, err_bar, legend, palette, y_max, DrawResult, FONT};
use crate::metrics::Stat;
use anyhow::Result;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

const DIAMOND: [(i32, i32); 5] = [(0, -9), (9, 0), (0, 9), (-9, 0), (0, -9)];

/// One group of bars (a method): one bar per series, and published values as (series, value).
pub struct BarGroup {
    pub label: String,
    pub bars: Vec<Stat>,
    pub published: Vec<(usize, f64)>,
}

/// The chart's coordinates: methods along x (one unit each), accuracy along y.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[String],
    groups: &[BarGroup],
    published: &str,
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
    method_names(root, &chart, groups)?;
    let w = 0.8 / series.len().max(1) as f64;
    for (s, name) in series.iter().enumerate() {
        draw_series(&mut chart, groups, s, name, w)?;
    }
    draw_published(&mut chart, groups, w, published)?;
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// Method names under their groups (in pixels: the chart's coordinates stop at the axis).
fn method_names<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart<DB>,
    groups: &[BarGroup],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    for (i, g) in groups.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        root.draw(&Text::new(
            g.label.clone(),
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
    Ok(())
}

/// The bars of series `s` (each `w` wide), with its legend entry and ±std error bars.
fn draw_series<DB: DrawingBackend>(
    chart: &mut Chart<DB>,
    groups: &[BarGroup],
    s: usize,
    name: &str,
    w: f64,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
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
        .label(name.to_string())
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
    Ok(())
}

/// Published values as red diamonds over the bars of their series, `label` in the legend.
fn draw_published<DB: DrawingBackend>(
    chart: &mut Chart<DB>,
    groups: &[BarGroup],
    w: f64,
    label: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
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
            .label(label)
            .legend(|(x, y)| {
                Polygon::new(
                    vec![(x + 8, y - 8), (x + 16, y), (x + 8, y + 8), (x, y)],
                    RED.filled(),
                )
            });
    }
    Ok(())
}

/// Grouped bars with ±std error bars (over seeds) and published values as red diamonds, named
/// `published` in the legend (where the figures come from, and for which protocol).
pub fn bars(
    stem: &Path,
    title: &str,
    series: &[String],
    groups: &[BarGroup],
    published: &str,
) -> Result<Vec<PathBuf>> {
    both(
        stem,
        &|r| draw_bars(r, title, series, groups, published),
        &|r| draw_bars(r, title, series, groups, published),
    )
}
