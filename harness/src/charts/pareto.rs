//! Accuracy against compute cost (log x): one marker per method and IPC, with the Pareto front.

use super::style::{both, err_bar, legend, palette, y_max, DrawResult, FONT};
use crate::metrics::Stat;
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

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
    legend(&mut chart, SeriesLabelPosition::LowerRight)
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
