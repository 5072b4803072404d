//! Square attack, L∞ and L2 (Andriushchenko et al. 2020): score-based random search with square
//! updates of side `√(p·H·W)` at a random place per image, `p` following the published schedule
//! (L∞: stripe start, ±2ε squares; L2: grid of pseudo-Gaussian bumps, mass moved between two
//! windows); a candidate is kept when it lowers the margin loss.
//! Forward passes only. The working set shrinks to the still-robust points every few queries.

use crate::losses::margin;
use crate::{check_budget, check_images, per_image, Outcome, Problem};
use ddbench_plugin_api::{check_in, per_image_norm, Norm, PluginResult, ValueRange};
use tch::{Kind, Tensor};

/// Square's parameters (torchattacks names; ε and the norm come from the threat model).
#[derive(Clone, Debug)]
pub struct SquareConfig {
    pub n_queries: i64,
    pub n_restarts: i64,
    pub p_init: f64,
}

/// Queries between two compactions of the working set (each costs one host sync).
const COMPACT_EVERY: i64 = 20;

impl SquareConfig {
    /// Checks the ranges: n_queries ≥ 1, n_restarts ≥ 1, p_init (the first squares' fraction
    /// of the image) in (0, 1].
    pub fn validate(&self) -> PluginResult<()> {
        check_budget("n_queries", self.n_queries, self.n_restarts)?;
        check_in("p_init", self.p_init, ValueRange::left_open(0.0, 1.0))?;
        Ok(())
    }
}

/// The fraction of pixels a square covers at query `i` of `n_queries`: the published schedule
/// (halving at 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of 10,000), rescaled to `n_queries`.
pub fn p_schedule(p_init: f64, i: i64, n_queries: i64) -> f64 {
    let it = (i as f64 / n_queries as f64 * 10000.0) as i64;
    let halvings = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]
        .iter()
        .filter(|&&t| it > t)
        .count() as i32;
    p_init / 2f64.powi(halvings)
}

/// One `s × s` square per image at a random place: the `[B, 1, H, W]` float mask and, per
/// pixel, the index into a flattened `s × s` pattern (clamped outside the square).
fn random_squares(b: i64, h: i64, w: i64, s: i64, dev: tch::Device) -> (Tensor, Tensor) {
    let top = Tensor::randint_low(0, h - s + 1, [b, 1], (Kind::Int64, dev));
    let left = Tensor::randint_low(0, w - s + 1, [b, 1], (Kind::Int64, dev));
    let rows = Tensor::arange(h, (Kind::Int64, dev)).unsqueeze(0) - top;
    let cols = Tensor::arange(w, (Kind::Int64, dev)).unsqueeze(0) - left;
    let in_rows = rows.ge(0).logical_and(&rows.lt(s));
    let in_cols = cols.ge(0).logical_and(&cols.lt(s));
    let mask = in_rows
        .view([b, 1, h, 1])
        .logical_and(&in_cols.view([b, 1, 1, w]))
        .to_kind(Kind::Float);
    let local = rows.clamp(0, s - 1).view([b, h, 1]) * s + cols.clamp(0, s - 1).view([b, 1, w]);
    (mask, local)
}

/// Random ±1 of the given shape.
fn random_signs(shape: &[i64], dev: tch::Device) -> Tensor {
    Tensor::randint_low(0, 2, shape, (Kind::Float, dev)) * 2.0 - 1.0
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
fn l2_patterns(s: i64, dev: tch::Device) -> Tensor {
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

/// Per image, one of the two orientations of `patterns` (`[2, s·s]`), placed by `local`.
fn place(patterns: &Tensor, local: &Tensor, mask: &Tensor) -> Tensor {
    let [b, h, w] = local.size()[..] else {
        unreachable!("local is [B, H, W]")
    };
    let flip = Tensor::randint_low(0, 2, [b, 1], (Kind::Int64, local.device()));
    let ss = patterns.size()[1];
    let flat = (local.view([b, -1]) + flip * ss).view([-1]);
    patterns
        .view([-1])
        .index_select(0, &flat)
        .view([b, 1, h, w])
        * mask
}

/// Per-image L2 norm kept as `[B, 1, 1, 1]`.
fn l2(t: &Tensor) -> Tensor {
    per_image_norm(t, Norm::L2)
}

/// The starting point: vertical stripes of ±ε (L∞), or a 5 × 5 grid of bumps with random
/// signs scaled to L2 norm ε.
fn initial_point(x: &Tensor, norm: Norm, eps: f64) -> Tensor {
    let [b, c, h, w] = x.size()[..] else {
        unreachable!("checked [B, C, H, W]")
    };
    let dev = x.device();
    match norm {
        Norm::Linf => (x + random_signs(&[b, c, 1, w], dev) * eps).clamp(0.0, 1.0),
        Norm::L2 => {
            let s = (h.min(w) / 5).max(1);
            let (r0, c0) = ((h - 5 * s) / 2, (w - 5 * s) / 2);
            let bump = l2_patterns(s, dev).view([2, 1, 1, s, s]);
            let delta = Tensor::zeros_like(x);
            for gi in 0..5 {
                for gj in 0..5 {
                    let orient = Tensor::randint_low(0, 2, [b], (Kind::Int64, dev));
                    let pat = bump.index_select(0, &orient).view([b, 1, s, s]);
                    let mut cell = delta.narrow(2, r0 + gi * s, s).narrow(3, c0 + gj * s, s);
                    cell += pat * random_signs(&[b, c, 1, 1], dev);
                }
            }
            (x + &delta / (l2(&delta) + 1e-12) * eps).clamp(0.0, 1.0)
        }
    }
}

/// A candidate around the current best point `best` of the clean images `xw` at query `i`.
fn candidate(xw: &Tensor, best: &Tensor, norm: Norm, eps: f64, p: f64) -> Tensor {
    let [n, c, h, w] = best.size()[..] else {
        unreachable!("checked [B, C, H, W]")
    };
    let dev = best.device();
    let side = (p * (h * w) as f64).sqrt().round() as i64;
    match norm {
        Norm::Linf => {
            let s = side.clamp(1, h.min(w) - 1);
            let (square, _) = random_squares(n, h, w, s, dev);
            let step = square * random_signs(&[n, c, 1, 1], dev) * (2.0 * eps);
            let lo = (xw - eps).clamp_min(0.0);
            let hi = (xw + eps).clamp_max(1.0);
            (best + step).maximum(&lo).minimum(&hi)
        }
        Norm::L2 => {
            let mut s = side.max(3);
            if s % 2 == 0 {
                s += 1;
            }
            let s = s.min(h.min(w) - 1);
            let delta = best - xw;
            let (m1, local) = random_squares(n, h, w, s, dev);
            let (m2, _) = random_squares(n, h, w, s, dev);
            let image_norm = l2(&delta);
            let windows_norm = l2(&(&delta * m1.maximum(&m2)));
            let inside = &delta * &m1;
            let channel_norm = inside
                .square()
                .sum_dim_intlist(&[2i64, 3][..], true, Kind::Float)
                .sqrt();
            let bump = place(&l2_patterns(s, dev), &local, &m1);
            let fresh = bump * random_signs(&[n, c, 1, 1], dev) + &inside / (channel_norm + 1e-12);
            let fresh_norm = fresh
                .square()
                .sum_dim_intlist(&[2i64, 3][..], true, Kind::Float)
                .sqrt();
            let budget = ((image_norm.square().neg() + eps * eps).clamp_min(0.0) / c as f64
                + windows_norm.square())
            .sqrt();
            let fresh = fresh / (fresh_norm + 1e-12) * budget;
            let kept = delta * (m1.neg() + 1.0) * (m2.neg() + 1.0);
            let delta = kept + fresh;
            (xw + &delta / (l2(&delta) + 1e-12) * eps).clamp(0.0, 1.0)
        }
    }
}

/// One Square run on `(x, y)`; returns the best point per image (adversarial where fooled).
pub fn run_once(p: &Problem, cfg: &SquareConfig) -> PluginResult<Outcome> {
    let Problem {
        model,
        x,
        y,
        norm,
        eps,
    } = *p;
    let b = x.size()[0];
    let dev = x.device();
    let mut best = initial_point(x, norm, eps);
    let mut best_margin = margin(&model.predict(&best)?, y);

    // working set: indices into the batch, with their clean images and labels
    let mut idx = Tensor::arange(b, (Kind::Int64, dev));
    let (mut xw, mut yw) = (x.shallow_clone(), y.shallow_clone());
    let (mut bw, mut mw) = (best.shallow_clone(), best_margin.shallow_clone());
    for i in 0..cfg.n_queries {
        if i % COMPACT_EVERY == 0 {
            if i > 0 {
                best = best.index_copy(0, &idx, &bw);
                best_margin = best_margin.index_copy(0, &idx, &mw);
            }
            idx = best_margin.gt(0.0).nonzero().view([-1]);
            if idx.size()[0] == 0 {
                break;
            }
            xw = x.index_select(0, &idx);
            yw = y.index_select(0, &idx);
            bw = best.index_select(0, &idx);
            mw = best_margin.index_select(0, &idx);
        }
        let p = p_schedule(cfg.p_init, i, cfg.n_queries);
        let cand = candidate(&xw, &bw, norm, eps, p);
        let m = margin(&model.predict(&cand)?, &yw);
        let active = mw.gt(0.0);
        let take = active.logical_and(&m.lt_tensor(&mw).logical_or(&m.le(0.0)));
        bw = cand.where_self(&per_image(&take), &bw);
        mw = m.where_self(&take, &mw);
    }
    if idx.size()[0] > 0 {
        best = best.index_copy(0, &idx, &bw);
        best_margin = best_margin.index_copy(0, &idx, &mw);
    }
    Ok(Outcome {
        adv: best,
        fooled: best_margin.le(0.0),
    })
}

/// Refuses images Square cannot attack: not `[B, C, H, W]`, or smaller than 2 × 2 pixels (L∞)
/// or 5 × 5 (L2, the initial grid of bumps).
pub fn check_input(x: &Tensor, norm: Norm) -> PluginResult<()> {
    check_images(x)?;
    let s = x.size();
    let min_side = if norm == Norm::L2 { 5 } else { 2 };
    if s[2].min(s[3]) < min_side {
        return Err(format!(
            "square needs images of at least {min_side}×{min_side} pixels, got {}×{}",
            s[2], s[3]
        )
        .into());
    }
    Ok(())
}

/// Square with restarts on the points still robust.
pub fn run(p: &Problem, cfg: &SquareConfig, outcome: &mut Outcome) -> PluginResult<()> {
    cfg.validate()?;
    check_input(p.x, p.norm)?;
    for _ in 0..cfg.n_restarts {
        let more = outcome.run_on_robust(p.x, p.y, None, false, |xs, ys, _| {
            run_once(&p.on(xs, ys), cfg)
        })?;
        if !more {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_stay_in_the_ball_and_the_box() {
        tch::manual_seed(1);
        let x = Tensor::rand([4, 3, 28, 28], (Kind::Float, tch::Device::Cpu));
        for (norm, eps) in [(Norm::Linf, 8.0 / 255.0), (Norm::L2, 0.5)] {
            let mut best = initial_point(&x, norm, eps);
            for i in 0..20 {
                best = candidate(&x, &best, norm, eps, p_schedule(0.8, i, 20));
                let d = ddbench_plugin_api::per_sample_norm(&(&best - &x), norm)
                    .max()
                    .double_value(&[]);
                assert!(d <= eps * (1.0 + 1e-5), "{norm:?}: norm {d} > {eps}");
                assert!(best.min().double_value(&[]) >= 0.0 && best.max().double_value(&[]) <= 1.0);
            }
            // the candidate moves: not a no-op
            let moved = ddbench_plugin_api::per_sample_norm(&(&best - &x), norm)
                .min()
                .double_value(&[]);
            assert!(moved > 0.1 * eps, "{norm:?}: moved only {moved}");
        }
    }

    #[test]
    fn l2_pattern_is_a_unit_bump_pair() {
        let p = l2_patterns(5, tch::Device::Cpu);
        let v = Vec::<f32>::try_from(p.get(0)).unwrap();
        let n: f32 = v.iter().map(|a| a * a).sum();
        assert!((n - 1.0).abs() < 1e-5);
        // top half positive, bottom half negative, peaks at the half centres
        assert!(v[2] > 0.0 && v[3 * 5 + 2] < 0.0);
        assert!(v[5 + 2] > v[5] && v[5 + 2] > v[2]);
    }

    #[test]
    fn schedule_halves_at_the_published_iterations() {
        assert_eq!(p_schedule(0.8, 0, 10000), 0.8);
        assert_eq!(p_schedule(0.8, 10, 10000), 0.8);
        assert_eq!(p_schedule(0.8, 11, 10000), 0.4);
        assert_eq!(p_schedule(0.8, 600, 10000), 0.05);
        assert_eq!(p_schedule(0.8, 9000, 10000), 0.8 / 512.0);
        // rescaled to 5000 queries: query 300 is 600 of 10,000
        assert_eq!(p_schedule(0.8, 300, 5000), 0.05);
    }
}
