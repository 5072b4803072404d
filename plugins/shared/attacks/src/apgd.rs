//! APGD (Croce & Hein 2020, Alg. 1): projected gradient ascent with momentum 0.75, step size
//! 2ε halved at checkpoints (too few improving steps, or no progress since the last checkpoint)
//! with a restart from the best point; CE or DLR loss, untargeted or targeted (targeted DLR).
//! The checkpoints follow the reference code by default, the paper on request ([`Schedule`]).

mod schedule;

pub use schedule::{paper_checkpoints, reference_checkpoints, Schedule, StepControl};

use crate::losses::{self, Loss};
use crate::targets::for_each_target;
use crate::{check_budget, check_images, per_image, Outcome, Problem};
use ddbench_plugin_api::ValueRange;
use ddbench_plugin_api::{check_in, per_image_norm, project, Model, Norm, PluginResult};
use tch::{Kind, Tensor};

/// APGD's parameters (torchattacks names; `eps` and the norm come from the threat model).
#[derive(Clone, Debug)]
pub struct ApgdConfig {
    pub steps: i64,
    pub n_restarts: i64,
    pub rho: f64,
    pub loss: Loss,
    /// When the step size may halve: the reference code's checkpoints (default) or the paper's.
    pub schedule: Schedule,
}

impl ApgdConfig {
    /// Checks the ranges: steps ≥ 1, n_restarts ≥ 1, rho (the fraction of improving steps below
    /// which the step size halves at a checkpoint) in (0, 1].
    pub fn validate(&self) -> PluginResult<()> {
        check_budget("steps", self.steps, self.n_restarts)?;
        check_in("rho", self.rho, ValueRange::left_open(0.0, 1.0))?;
        Ok(())
    }
}

/// A random start inside the ball (uniform direction scaled to the sphere, as the reference).
pub fn random_start(x: &Tensor, norm: Norm, eps: f64) -> Tensor {
    let step = match norm {
        Norm::Linf => {
            let t = Tensor::rand_like(x) * 2.0 - 1.0;
            let m = per_image_norm(&t, Norm::Linf);
            t / m
        }
        Norm::L2 => {
            let t = Tensor::randn_like(x);
            let n = per_image_norm(&t, Norm::L2);
            t / (n + 1e-12)
        }
    };
    (x + step * eps).clamp(0.0, 1.0)
}

/// The ascent direction: sign of the gradient (L∞) or the per-sample unit gradient (L2).
fn direction(grad: &Tensor, norm: Norm) -> Tensor {
    match norm {
        Norm::Linf => grad.sign(),
        Norm::L2 => grad / (per_image_norm(grad, Norm::L2) + 1e-12),
    }
}

fn check_classes(model: &Model, loss: Loss, targeted: bool) -> PluginResult<()> {
    let k = model.num_classes();
    let need = if targeted {
        4
    } else if loss == Loss::Dlr {
        3
    } else {
        2
    };
    if k < need {
        return Err(format!(
            "the {} loss needs at least {need} classes; the model has {k}",
            if targeted { "targeted DLR" } else { "DLR" }
        )
        .into());
    }
    Ok(())
}

/// One APGD run from a random start on `(x, y)`. With `target`, ascends the targeted DLR loss
/// towards those classes (success still means "misclassified"). Returns, per point, the last
/// misclassified iterate if any, else the highest-loss point, and the fooled mask.
pub fn run_once(p: &Problem, cfg: &ApgdConfig, target: Option<&Tensor>) -> PluginResult<Outcome> {
    let Problem {
        model,
        x,
        y,
        norm,
        eps,
    } = *p;
    let loss_of = |logits: &Tensor| -> Tensor {
        match (target, cfg.loss) {
            (Some(t), _) => losses::dlr_targeted(logits, y, t),
            (None, Loss::Ce) => losses::ce(logits, y),
            (None, Loss::Dlr) => losses::dlr(logits, y),
        }
    };
    let grad_at = |p: &Tensor| -> PluginResult<(Tensor, Tensor, Tensor)> {
        let (logits, grad) = model.value_and_grad(p, |l| loss_of(l).sum(Kind::Float))?;
        let loss = loss_of(&logits);
        let wrong = logits.argmax(-1, false).ne_tensor(y);
        Ok((loss, grad, wrong))
    };

    let mut x_adv = random_start(x, norm, eps);
    let (loss_start, mut grad, mut fooled) = grad_at(&x_adv)?;
    let mut adv_found = x_adv.where_self(&per_image(&fooled), x);
    let mut x_max = x_adv.copy();
    let mut grad_max = grad.copy();
    let mut loss_max = loss_start.copy();
    let mut x_prev = x_adv.copy();
    let mut step = Tensor::full([x.size()[0]], 2.0 * eps, (Kind::Float, x.device()));
    let mut control = StepControl::new(cfg.schedule, cfg.rho, cfg.steps, &loss_start);

    for i in 0..cfg.steps {
        let momentum = if i == 0 { 1.0 } else { 0.75 };
        let z = project(
            &(&x_adv + per_image(&step) * direction(&grad, norm)),
            x,
            norm,
            eps,
        );
        let moved = &x_adv + (z - &x_adv) * momentum + (&x_adv - &x_prev) * (1.0 - momentum);
        x_prev = x_adv;
        x_adv = project(&moved, x, norm, eps);

        let (loss, g, wrong) = grad_at(&x_adv)?;
        grad = g;
        adv_found = x_adv.where_self(&per_image(&wrong), &adv_found);
        fooled = fooled.logical_or(&wrong);
        control.observe(&loss);
        let better = loss.gt_tensor(&loss_max);
        x_max = x_adv.where_self(&per_image(&better), &x_max);
        grad_max = grad.where_self(&per_image(&better), &grad_max);
        loss_max = loss.where_self(&better, &loss_max);

        if let Some(reduce) = control.check(i, &loss_max) {
            step = step.where_self(&reduce.logical_not(), &(&step * 0.5));
            let r = per_image(&reduce);
            x_adv = x_max.where_self(&r, &x_adv);
            grad = grad_max.where_self(&r, &grad);
        }
    }
    Ok(Outcome {
        adv: adv_found.where_self(&per_image(&fooled), &x_max),
        fooled,
    })
}

/// APGD with restarts: each restart runs only on the points no earlier restart fooled.
/// `outcome` starts as [`Outcome::clean`] (or the result of earlier attacks).
pub fn run(
    p: &Problem,
    cfg: &ApgdConfig,
    target: Option<&Tensor>,
    outcome: &mut Outcome,
) -> PluginResult<()> {
    check_images(p.x)?;
    cfg.validate()?;
    check_classes(p.model, cfg.loss, target.is_some())?;
    for _ in 0..cfg.n_restarts {
        let more = outcome.run_on_robust(p.x, p.y, target, false, |xs, ys, ts| {
            run_once(&p.on(xs, ys), cfg, ts)
        })?;
        if !more {
            break;
        }
    }
    Ok(())
}

/// APGD-T: for each of the `targets` columns (see [`crate::targets::top_k_targets`]), APGD with
/// the targeted DLR loss on the points still robust, `n_restarts` times per target class.
pub fn run_targeted(
    p: &Problem,
    cfg: &ApgdConfig,
    targets: &Tensor,
    outcome: &mut Outcome,
    on_target: &mut dyn FnMut(i64, i64),
) -> PluginResult<()> {
    for_each_target(targets, on_target, |t| {
        run(p, cfg, Some(t), outcome)?;
        Ok(true)
    })
}
