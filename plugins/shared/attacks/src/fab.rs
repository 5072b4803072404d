//! FAB-T (Croce & Hein 2020, "Minimally distorted adversarial examples with a fast adaptive
//! boundary attack"), the targeted version AutoAttack runs: linearise the boundary between the
//! true and the target class, step to the box-constrained projection biased towards the clean
//! point (α ≤ α_max, extrapolation η), step back by β after each success, and keep the smallest
//! adversarial point. Only points whose smallest distance is within ε count as fooled.

use crate::boxproj::project_onto_hyperplane_in_box;
use crate::targets::for_each_target;
use crate::{check_budget, check_images, per_image, Outcome, Problem};
use ddbench_plugin_api::ValueRange;
use ddbench_plugin_api::{check_in, per_sample_norm, project, PluginResult};
use tch::{Kind, Tensor};

/// FAB's parameters (torchattacks names; ε and the norm come from the threat model).
#[derive(Clone, Debug)]
pub struct FabConfig {
    pub steps: i64,
    pub n_restarts: i64,
    pub alpha_max: f64,
    pub eta: f64,
    pub beta: f64,
}

impl FabConfig {
    /// Checks the ranges: steps ≥ 1, n_restarts ≥ 1, alpha_max (the largest weight of the step
    /// from the clean point) in [0, 1], eta (extrapolation) ≥ 1, beta (the backward step after a
    /// success) in (0, 1].
    pub fn validate(&self) -> PluginResult<()> {
        check_budget("steps", self.steps, self.n_restarts)?;
        check_in("alpha_max", self.alpha_max, ValueRange::closed(0.0, 1.0))?;
        check_in("eta", self.eta, ValueRange::at_least(1.0))?;
        check_in("beta", self.beta, ValueRange::left_open(0.0, 1.0))?;
        Ok(())
    }
}

/// One targeted FAB run on `(x0, y)` towards `target`; `random_start` (restarts after the
/// first) starts at half the ε-radius. Returns the in-ε adversarial points (clean image where
/// the smallest adversarial point found lies outside ε) and the fooled mask.
pub fn run_once(
    p: &Problem,
    target: &Tensor,
    cfg: &FabConfig,
    random_start: bool,
) -> PluginResult<Outcome> {
    let Problem {
        model,
        x: x0,
        y,
        norm,
        eps,
    } = *p;
    let n = x0.size()[0];
    let x0_flat = x0.view([n, -1]);
    let mut x1 = if random_start {
        let start = crate::apgd::random_start(x0, norm, eps);
        x0 + (start - x0) * 0.5
    } else {
        x0.copy()
    };
    let mut best_dist = Tensor::full([n], f64::INFINITY, (Kind::Float, x0.device()));
    let mut best = x0.copy();
    let yc = y.view([-1, 1]);
    let tc = target.view([-1, 1]);
    for _ in 0..cfg.steps {
        // f = z_t − z_y: positive beyond the targeted boundary
        let (logits, grad) = model.value_and_grad(&x1, |l| {
            (l.gather(1, &tc, false) - l.gather(1, &yc, false)).sum(Kind::Float)
        })?;
        let f = (logits.gather(1, &tc, false) - logits.gather(1, &yc, false)).view([-1]);
        let w = grad.view([n, -1]);
        let x1_flat = x1.view([n, -1]);
        let b = (&w * &x1_flat).sum_dim_intlist(1, false, Kind::Float) - f;
        let both = project_onto_hyperplane_in_box(
            &Tensor::cat(&[&x1_flat, &x0_flat], 0),
            &Tensor::cat(&[&w, &w], 0),
            &Tensor::cat(&[&b, &b], 0),
            norm,
        );
        let d1 = both.narrow(0, 0, n);
        let d2 = both.narrow(0, n, n);
        let a1 = per_sample_norm(&d1, norm).clamp_min(1e-8);
        let a2 = per_sample_norm(&d2, norm).clamp_min(1e-8);
        let alpha = per_image(&(&a1 / (&a1 + &a2)).clamp(0.0, cfg.alpha_max));
        let d1 = d1.view_as(x0);
        let d2 = d2.view_as(x0);
        let keep: Tensor = alpha.neg() + 1.0;
        x1 = ((&x1 + &d1 * cfg.eta) * &keep + (x0 + &d2 * cfg.eta) * &alpha).clamp(0.0, 1.0);

        let is_adv = model.predict(&x1)?.argmax(-1, false).ne_tensor(y);
        let dist = per_sample_norm(&(&x1 - x0), norm);
        let closer = is_adv.logical_and(&dist.lt_tensor(&best_dist));
        best = x1.where_self(&per_image(&closer), &best);
        best_dist = dist.where_self(&closer, &best_dist);
        let back = x0 + (&x1 - x0) * cfg.beta;
        x1 = back.where_self(&per_image(&is_adv), &x1);
    }
    let fooled = best_dist.le(eps);
    // in-ball points are unchanged by the projection; it only removes float rounding
    let adv = project(&best, x0, norm, eps).where_self(&per_image(&fooled), x0);
    Ok(Outcome { adv, fooled })
}

/// FAB-T: for each target column (see [`crate::targets::top_k_targets`]) and restart, a
/// targeted run on the points still robust.
pub fn run_targeted(
    p: &Problem,
    cfg: &FabConfig,
    targets: &Tensor,
    outcome: &mut Outcome,
    on_target: &mut dyn FnMut(i64, i64),
) -> PluginResult<()> {
    check_images(p.x)?;
    cfg.validate()?;
    for_each_target(targets, on_target, |t| {
        for restart in 0..cfg.n_restarts {
            let more = outcome.run_on_robust(p.x, p.y, Some(t), true, |xs, ys, ts| {
                let ts = ts.expect("targets are passed");
                run_once(&p.on(xs, ys), ts, cfg, restart > 0)
            })?;
            if !more {
                return Ok(false);
            }
        }
        Ok(true)
    })
}
