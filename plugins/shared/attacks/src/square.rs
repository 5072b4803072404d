//! Square attack, L∞ and L2 (Andriushchenko et al. 2020): score-based random search with square
//! updates of side `√(p·H·W)` at a random place, `p` following the published schedule
//! (L∞: stripe start, ±2ε squares; L2: grid of pseudo-Gaussian bumps, mass moved between two
//! windows); a candidate is kept when it lowers the margin loss. The random place is one per
//! batch and query as the reference draws it, or one per image ([`Windows`]).
//! Forward passes only. The working set shrinks to the still-robust points every few queries.

mod draw;

use crate::losses::margin;
use crate::{check_budget, check_images, per_image, Outcome, Problem};
use ddbench_plugin_api::{check_in, per_image_norm, Norm, PluginResult, ValueRange};
use draw::{initial_point, l2_patterns, orientation, place, signs, window};
use tch::{Kind, Tensor};

/// How Square draws its windows at each query.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Windows {
    /// As the reference code: one window position (and, under L∞, one sign per channel; under
    /// L2, one second window and one orientation) shared by every image of the batch.
    #[default]
    PerBatch,
    /// ddbench's earlier form: each image its own window, signs and orientation.
    PerImage,
}

impl Windows {
    pub fn parse(s: &str) -> PluginResult<Windows> {
        match s {
            "per-batch" => Ok(Windows::PerBatch),
            "per-image" => Ok(Windows::PerImage),
            other => Err(format!(
                "config key 'windows': expected \"per-batch\" or \"per-image\", got \"{other}\""
            )
            .into()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Windows::PerBatch => "per-batch",
            Windows::PerImage => "per-image",
        }
    }
}

/// Square's parameters (torchattacks names; ε and the norm come from the threat model).
#[derive(Clone, Debug)]
pub struct SquareConfig {
    pub n_queries: i64,
    pub n_restarts: i64,
    pub p_init: f64,
    pub windows: Windows,
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

/// Per-image L2 norm kept as `[B, 1, 1, 1]`.
fn l2(t: &Tensor) -> Tensor {
    per_image_norm(t, Norm::L2)
}

/// Per-image, per-channel L2 norm over the pixels, `[B, C, 1, 1]`.
fn channel_l2(t: &Tensor) -> Tensor {
    t.square()
        .sum_dim_intlist(&[2i64, 3][..], true, Kind::Float)
        .sqrt()
}

/// A candidate around the current best point `best` of the clean images `xw`, with squares
/// covering the fraction `p` of the image.
fn candidate(xw: &Tensor, best: &Tensor, norm: Norm, eps: f64, p: f64, windows: Windows) -> Tensor {
    let [_, _, h, w] = best.size()[..] else {
        unreachable!("checked [B, C, H, W]")
    };
    let side = (p * (h * w) as f64).sqrt().round() as i64;
    match norm {
        Norm::Linf => linf_candidate(xw, best, eps, side.clamp(1, h.min(w) - 1), windows),
        Norm::L2 => {
            let s = side.max(3);
            let s = if s % 2 == 0 { s + 1 } else { s };
            l2_candidate(xw, best, eps, s.min(h.min(w) - 1), windows)
        }
    }
}

/// L∞: a ±2ε square of side `s` (one sign per channel) added to `best`, back in the ball.
fn linf_candidate(xw: &Tensor, best: &Tensor, eps: f64, s: i64, windows: Windows) -> Tensor {
    let [n, c, h, w] = best.size()[..] else {
        unreachable!("checked [B, C, H, W]")
    };
    let dev = best.device();
    let square = window(windows, n, h, w, s, dev).mask;
    let per = if windows == Windows::PerBatch { 1 } else { n };
    let step = square * signs(windows, &[per, c, 1, 1], dev) * (2.0 * eps);
    let lo = (xw - eps).clamp_min(0.0);
    let hi = (xw + eps).clamp_max(1.0);
    (best + step).maximum(&lo).minimum(&hi)
}

/// L2: the perturbation inside a first window of side `s` is replaced by a fresh bump (plus
/// its old direction), taking the mass of a second window, which is emptied.
fn l2_candidate(xw: &Tensor, best: &Tensor, eps: f64, s: i64, windows: Windows) -> Tensor {
    let [n, c, h, w] = best.size()[..] else {
        unreachable!("checked [B, C, H, W]")
    };
    let dev = best.device();
    let delta = best - xw;
    let first = window(windows, n, h, w, s, dev);
    let second = window(windows, n, h, w, s, dev).mask;
    let image_norm = l2(&delta);
    let windows_norm = l2(&(&delta * first.mask.maximum(&second)));
    let inside = &delta * &first.mask;
    let flip = orientation(windows, n, dev);
    let bump = place(&l2_patterns(s, dev), &first, &flip);
    let fresh = bump * signs(windows, &[n, c, 1, 1], dev) + &inside / (channel_l2(&inside) + 1e-12);
    let budget = ((image_norm.square().neg() + eps * eps).clamp_min(0.0) / c as f64
        + windows_norm.square())
    .sqrt();
    let fresh = &fresh / (channel_l2(&fresh) + 1e-12) * budget;
    let kept = delta * (first.mask.neg() + 1.0) * (second.neg() + 1.0);
    let delta = kept + fresh;
    (xw + &delta / (l2(&delta) + 1e-12) * eps).clamp(0.0, 1.0)
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
    let mut best = initial_point(x, norm, eps, cfg.windows);
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
        let cand = candidate(&xw, &bw, norm, eps, p, cfg.windows);
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
        let cases = [(Norm::Linf, 8.0 / 255.0), (Norm::L2, 0.5)];
        for ((norm, eps), windows) in cases.into_iter().flat_map(|c| {
            [Windows::PerBatch, Windows::PerImage]
                .into_iter()
                .map(move |w| (c, w))
        }) {
            let mut best = initial_point(&x, norm, eps, windows);
            for i in 0..20 {
                best = candidate(&x, &best, norm, eps, p_schedule(0.8, i, 20), windows);
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

    /// One L∞ candidate step from mid-grey images: ±ε inside the square, 0 outside.
    fn linf_steps(windows: Windows) -> Vec<Tensor> {
        let x = Tensor::full([6, 3, 16, 16], 0.5, (Kind::Float, tch::Device::Cpu));
        let eps = 0.1;
        (0..6)
            .map(|_| candidate(&x, &x, Norm::Linf, eps, 0.1, windows) - &x)
            .collect()
    }

    #[test]
    fn per_batch_windows_share_place_and_signs_per_image_ones_do_not() {
        tch::manual_seed(3);
        for step in linf_steps(Windows::PerBatch) {
            // every image the same step as the first: same window, same signs per channel
            assert!(step.eq_tensor(&step.narrow(0, 0, 1)).all().int64_value(&[]) == 1);
            assert!(step.abs().sum(Kind::Float).double_value(&[]) > 0.0);
        }
        let differing = linf_steps(Windows::PerImage)
            .iter()
            .filter(|step| step.eq_tensor(&step.narrow(0, 0, 1)).all().int64_value(&[]) == 0)
            .count();
        assert_eq!(differing, 6, "per-image windows coincided across the batch");
    }

    #[test]
    fn windows_names_parse_back() {
        for w in [Windows::PerBatch, Windows::PerImage] {
            assert_eq!(Windows::parse(w.name()).unwrap(), w);
        }
        let e = Windows::parse("per-pixel").unwrap_err().0;
        assert!(
            e.contains("'windows'") && e.contains("\"per-pixel\""),
            "{e}"
        );
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
