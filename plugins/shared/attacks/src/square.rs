//! Square attack, L∞ (Andriushchenko et al. 2020): score-based random search with vertical-stripe
//! initialisation and square updates of side `√(p·H·W)` at a random place per image, `p`
//! following the published schedule; a candidate is kept when it lowers the margin loss.
//! Forward passes only. The working set shrinks to the still-robust points every few queries.

use crate::losses::margin;
use crate::{check_images, per_image, Outcome};
use ddbench_plugin_api::{Model, Norm, PluginResult};
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
    pub fn validate(&self) -> PluginResult<()> {
        if self.n_queries < 1 || self.n_restarts < 1 {
            return Err(format!(
                "config keys 'n_queries' and 'n_restarts' must be ≥ 1, got {} and {}",
                self.n_queries, self.n_restarts
            )
            .into());
        }
        if !(self.p_init > 0.0 && self.p_init <= 1.0) {
            return Err(
                format!("config key 'p_init' must be in (0, 1], got {}", self.p_init).into(),
            );
        }
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

/// `[B, 1, H, W]` float masks of one `s × s` square per image at random places.
fn random_squares(b: i64, h: i64, w: i64, s: i64, dev: tch::Device) -> Tensor {
    let top = Tensor::randint_low(0, h - s + 1, [b, 1], (Kind::Int64, dev));
    let left = Tensor::randint_low(0, w - s + 1, [b, 1], (Kind::Int64, dev));
    let rows = Tensor::arange(h, (Kind::Int64, dev)).unsqueeze(0);
    let cols = Tensor::arange(w, (Kind::Int64, dev)).unsqueeze(0);
    let in_rows = rows
        .ge_tensor(&top)
        .logical_and(&rows.lt_tensor(&(&top + s)));
    let in_cols = cols
        .ge_tensor(&left)
        .logical_and(&cols.lt_tensor(&(&left + s)));
    (in_rows
        .view([b, 1, h, 1])
        .logical_and(&in_cols.view([b, 1, 1, w])))
    .to_kind(Kind::Float)
}

/// Random ±1 of the given shape.
fn random_signs(shape: &[i64], dev: tch::Device) -> Tensor {
    Tensor::randint_low(0, 2, shape, (Kind::Float, dev)) * 2.0 - 1.0
}

/// One Square run on `(x, y)`; returns the best point per image (adversarial where fooled).
pub fn run_once(
    model: &Model,
    x: &Tensor,
    y: &Tensor,
    eps: f64,
    cfg: &SquareConfig,
) -> PluginResult<Outcome> {
    let [b, c, h, w] = x.size()[..] else {
        return Err("images must be [B, C, H, W]".into());
    };
    let dev = x.device();
    let mut best = (x + random_signs(&[b, c, 1, w], dev) * eps).clamp(0.0, 1.0);
    let mut best_margin = margin(&model.predict(&best)?, y);
    let lo = (x - eps).clamp_min(0.0);
    let hi = (x + eps).clamp_max(1.0);

    // working set: indices into the batch, with their labels and box bounds
    let mut idx = Tensor::arange(b, (Kind::Int64, dev));
    let (mut yw, mut low, mut high) = (y.shallow_clone(), lo.shallow_clone(), hi.shallow_clone());
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
            yw = y.index_select(0, &idx);
            low = lo.index_select(0, &idx);
            high = hi.index_select(0, &idx);
            bw = best.index_select(0, &idx);
            mw = best_margin.index_select(0, &idx);
        }
        let n = yw.size()[0];
        let p = p_schedule(cfg.p_init, i, cfg.n_queries);
        let side = ((p * (h * w) as f64).sqrt().round() as i64).clamp(1, h.min(w) - 1);
        let square = random_squares(n, h, w, side, dev);
        let step = square * random_signs(&[n, c, 1, 1], dev) * (2.0 * eps);
        let cand = (&bw + step).maximum(&low).minimum(&high);
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

/// Square with restarts on the points still robust. L∞ only.
#[allow(clippy::too_many_arguments)]
pub fn run(
    model: &Model,
    x: &Tensor,
    y: &Tensor,
    norm: Norm,
    eps: f64,
    cfg: &SquareConfig,
    outcome: &mut Outcome,
) -> PluginResult<()> {
    check_images(x)?;
    cfg.validate()?;
    if norm != Norm::Linf {
        return Err("square: only the L-infinity version is implemented (the L2 version is not); run it with --norm linf".into());
    }
    let s = x.size();
    if s[2].min(s[3]) < 2 {
        return Err(format!(
            "square needs images of at least 2×2 pixels, got {}×{}",
            s[2], s[3]
        )
        .into());
    }
    for _ in 0..cfg.n_restarts {
        let more = outcome.run_on_robust(x, y, None, false, |xs, ys, _| {
            run_once(model, xs, ys, eps, cfg)
        })?;
        if !more {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::p_schedule;

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
