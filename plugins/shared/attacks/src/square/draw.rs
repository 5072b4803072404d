//! Square's random draws: where a window goes, its signs and orientation, and the starting
//! point. [`Windows::PerBatch`] draws them as the reference code does (fra31/auto-attack
//! `square.py`, torchattacks 3.5.1 `Square`): one window corner per batch, `⌊(len − s)·u⌋` with
//! `u` uniform in [0, 1), so in [0, len − s − 1]; ±1 as the sign of `2u − 1`; uniforms drawn on
//! the CPU, in the reference's order. [`Windows::PerImage`] is ddbench's earlier form: an
//! independent window, signs and orientation per image, corners in [0, len − s].

use super::Windows;
use ddbench_plugin_api::{per_image_norm, Norm};
use tch::{Device, Kind, Tensor};

/// Uniforms in [0, 1) drawn on the CPU (the reference's `torch.rand(shape).to(device)`).
fn uniform(shape: &[i64], dev: Device) -> Tensor {
    Tensor::rand(shape, (Kind::Float, Device::Cpu)).to_device(dev)
}

/// Random ±1 of the given shape.
pub(super) fn signs(windows: Windows, shape: &[i64], dev: Device) -> Tensor {
    match windows {
        Windows::PerBatch => (uniform(shape, dev) * 2.0 - 1.0).sign(),
        Windows::PerImage => Tensor::randint_low(0, 2, shape, (Kind::Float, dev)) * 2.0 - 1.0,
    }
}

/// Corners (`[n, 1]`, or `[1, 1]` shared by the batch) of windows of side `s` along a side of
/// `len` pixels (`s < len`).
fn corners(windows: Windows, n: i64, len: i64, s: i64, dev: Device) -> Tensor {
    match windows {
        Windows::PerBatch => (uniform(&[1, 1], dev) * (len - s))
            .to_kind(Kind::Int64)
            .clamp(0, len - s - 1),
        Windows::PerImage => Tensor::randint_low(0, len - s + 1, [n, 1], (Kind::Int64, dev)),
    }
}

/// Which of the two orientations of the L2 pattern (`[n, 1]` or `[1, 1]`; 1: transposed).
pub(super) fn orientation(windows: Windows, n: i64, dev: Device) -> Tensor {
    match windows {
        Windows::PerBatch => uniform(&[1, 1], dev).gt(0.5).to_kind(Kind::Int64),
        Windows::PerImage => Tensor::randint_low(0, 2, [n, 1], (Kind::Int64, dev)),
    }
}

/// An `s × s` window per image (or one for the batch) in `h × w` images: the `[n|1, 1, H, W]`
/// float mask and, per pixel, the index into a flattened `s × s` pattern (clamped outside).
pub(super) struct Window {
    pub mask: Tensor,
    pub local: Tensor,
}

pub(super) fn window(windows: Windows, n: i64, h: i64, w: i64, s: i64, dev: Device) -> Window {
    let top = corners(windows, n, h, s, dev);
    let left = corners(windows, n, w, s, dev);
    let b = top.size()[0];
    let rows = Tensor::arange(h, (Kind::Int64, dev)).unsqueeze(0) - top;
    let cols = Tensor::arange(w, (Kind::Int64, dev)).unsqueeze(0) - left;
    let in_rows = rows.ge(0).logical_and(&rows.lt(s));
    let in_cols = cols.ge(0).logical_and(&cols.lt(s));
    let mask = in_rows
        .view([b, 1, h, 1])
        .logical_and(&in_cols.view([b, 1, 1, w]))
        .to_kind(Kind::Float);
    let local = rows.clamp(0, s - 1).view([b, h, 1]) * s + cols.clamp(0, s - 1).view([b, 1, w]);
    Window { mask, local }
}

/// Concentric rectangles around the centre of a `rows × cols` block, the `k`-th (Chebyshev
/// radius `k`) weighted `1/(k+1)²`, unit L2 norm: the paper's pseudo-Gaussian bump.
fn centred_bump(rows: i64, cols: i64) -> Vec<f64> {
    let (ci, cj) = (rows / 2, cols / 2);
    let radii = (rows / 2 + 1).max(cols / 2 + 1);
    let mut v = Vec::with_capacity((rows * cols) as usize);
    for i in 0..rows {
        for j in 0..cols {
            let d = (i - ci).abs().max((j - cj).abs());
            v.push(
                (d..radii)
                    .map(|k| 1.0 / ((k + 1) * (k + 1)) as f64)
                    .sum::<f64>(),
            );
        }
    }
    let n = v.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-12);
    v.iter().map(|a| a / n).collect()
}

/// The L2 update pattern of side `s`: a positive bump on the top half, a negative one on the
/// bottom half, unit norm; `[2, s·s]`: the pattern and its transpose.
pub(super) fn l2_patterns(s: i64, dev: Device) -> Tensor {
    let top = centred_bump(s / 2, s);
    let bottom = centred_bump(s - s / 2, s);
    let v: Vec<f32> = top
        .iter()
        .map(|a| *a as f32)
        .chain(bottom.iter().map(|a| -*a as f32))
        .collect();
    let p = Tensor::from_slice(&v).view([s, s]);
    let p = &p / p.square().sum(Kind::Float).sqrt().clamp_min(1e-12);
    Tensor::stack(&[p.reshape([-1]), p.tr().reshape([-1])], 0).to_device(dev)
}

/// The orientation `flip` (`[b, 1]`) of `patterns` (`[2, s·s]`) placed in `win`.
pub(super) fn place(patterns: &Tensor, win: &Window, flip: &Tensor) -> Tensor {
    let [b, h, w] = win.local.size()[..] else {
        unreachable!("local is [B, H, W]")
    };
    let ss = patterns.size()[1];
    let flat = (win.local.view([b, -1]) + flip * ss).view([-1]);
    patterns
        .view([-1])
        .index_select(0, &flat)
        .view([b, 1, h, w])
        * &win.mask
}

/// The starting point: vertical stripes of ±ε (L∞), or a 5 × 5 grid of bumps with random
/// signs per image and channel scaled to L2 norm ε.
pub(super) fn initial_point(x: &Tensor, norm: Norm, eps: f64, windows: Windows) -> Tensor {
    let [b, c, h, w] = x.size()[..] else {
        unreachable!("checked [B, C, H, W]")
    };
    let dev = x.device();
    match norm {
        Norm::Linf => (x + signs(windows, &[b, c, 1, w], dev) * eps).clamp(0.0, 1.0),
        Norm::L2 => {
            let s = (h.min(w) / 5).max(1);
            let (r0, c0) = ((h - 5 * s) / 2, (w - 5 * s) / 2);
            let bump = l2_patterns(s, dev).view([2, 1, 1, s, s]);
            let delta = Tensor::zeros_like(x);
            for gi in 0..5 {
                for gj in 0..5 {
                    let orient = orientation(windows, b, dev).view([-1]);
                    let pat = bump.index_select(0, &orient).select(1, 0);
                    let mut cell = delta.narrow(2, r0 + gi * s, s).narrow(3, c0 + gj * s, s);
                    cell += pat * signs(windows, &[b, c, 1, 1], dev);
                }
            }
            (x + &delta / (per_image_norm(&delta, Norm::L2) + 1e-12) * eps).clamp(0.0, 1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The corners drawn over many queries: the set of values seen.
    fn corners_seen(windows: Windows, len: i64, s: i64) -> Vec<i64> {
        let mut seen: Vec<i64> = (0..400)
            .flat_map(|_| {
                Vec::<i64>::try_from(corners(windows, 4, len, s, Device::Cpu).view([-1])).unwrap()
            })
            .collect();
        seen.sort();
        seen.dedup();
        seen
    }

    #[test]
    fn corners_cover_the_reference_range_per_batch_and_the_full_range_per_image() {
        tch::manual_seed(0);
        // side 8, windows of 5: the reference draws ⌊3u⌋ ∈ {0, 1, 2}; per image 0..=3
        assert_eq!(corners_seen(Windows::PerBatch, 8, 5), vec![0, 1, 2]);
        assert_eq!(corners_seen(Windows::PerImage, 8, 5), vec![0, 1, 2, 3]);
    }

    #[test]
    fn per_batch_draws_are_shared_by_the_batch() {
        tch::manual_seed(1);
        let dev = Device::Cpu;
        let win = window(Windows::PerBatch, 6, 16, 16, 5, dev);
        assert_eq!(win.mask.size(), vec![1, 1, 16, 16]);
        assert_eq!(win.mask.sum(Kind::Float).double_value(&[]), 25.0);
        assert_eq!(orientation(Windows::PerBatch, 6, dev).size(), vec![1, 1]);
        let win = window(Windows::PerImage, 6, 16, 16, 5, dev);
        assert_eq!(win.mask.size(), vec![6, 1, 16, 16]);
        assert_eq!(orientation(Windows::PerImage, 6, dev).size(), vec![6, 1]);
        // ±1 only, both signs present
        let s = signs(Windows::PerBatch, &[64], dev);
        assert_eq!(s.abs().eq(1.0).all().int64_value(&[]), 1);
        assert!(s.sum(Kind::Float).double_value(&[]).abs() < 64.0);
    }
}
