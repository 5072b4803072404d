//! Robust accuracy against ε: one line per method, ±std error bars over seeds.

use super::style::{both, err_bar, legend, palette, y_max, DrawResult, FONT};
use crate::metrics::Stat;
use anyhow::Result;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

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
        draw_line(&mut chart, c, palette(i), xmax)?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// One method's line, its markers and ±std error bars (caps scaled to the x range `xmax`).
fn draw_line<DB: DrawingBackend>(
    chart: &mut ChartContext<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    c: &Curve,
    col: RGBColor,
    xmax: f64,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
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
    Ok(())
}

/// Robust accuracy vs ε, one line per method, ±std error bars.
pub fn curves(stem: &Path, title: &str, xdesc: &str, curves: &[Curve]) -> Result<Vec<PathBuf>> {
    both(stem, &|r| draw_curves(r, title, xdesc, curves), &|r| {
        draw_curves(r, title, xdesc, curves)
    })
}
