//! What every chart shares: the bundled font, the palette, the canvas, error bars, and drawing
//! one chart both as SVG and PNG.

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

pub(super) const FONT: &str = "sans-serif";
pub(super) const SIZE: (u32, u32) = (1000, 600);

/// The bundled font (DejaVu Sans, Bitstream Vera licence: harness/assets/DejaVuSans.LICENSE).
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, bytes);
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, bytes);
    });
}

pub(super) fn palette(i: usize) -> RGBColor {
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

pub(super) type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// A vertical error bar from `lo` to `hi` at `x`, with caps `cap` wide (data units; 0: none).
pub(super) fn err_bar(
    x: f64,
    lo: f64,
    hi: f64,
    cap: f64,
    style: ShapeStyle,
) -> Vec<PathElement<(f64, f64)>> {
    let mut v = vec![PathElement::new(vec![(x, lo), (x, hi)], style)];
    if cap > 0.0 {
        v.push(PathElement::new(vec![(x - cap, lo), (x + cap, lo)], style));
        v.push(PathElement::new(vec![(x - cap, hi), (x + cap, hi)], style));
    }
    v
}

/// Draws `f` into `stem.svg` and `stem.png`.
pub(super) fn both(
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

pub(super) fn y_max(vals: impl Iterator<Item = f64>) -> f64 {
    let m = vals.filter(|v| v.is_finite()).fold(0.0, f64::max);
    ((m * 1.15 / 10.0).ceil() * 10.0).clamp(10.0, 100.0)
}

/// The legend of a chart's series, in the shared look, at `position`.
pub(super) fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 17))
        .draw()?;
    Ok(())
}
