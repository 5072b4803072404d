//! Squeeze: train the teacher on the training set (official CIFAR recipe: SGD lr 0.1, momentum
//! 0.9, weight decay 5e-4, cosine annealing per epoch, batch 128, random crop + flip), with the
//! flavour's regularizer added to the cross-entropy; then (by default, a ddbench addition) the
//! BatchNorm running statistics are recomputed on the final weights.

use crate::regularizer::{
    ce_input_grad, curvature, guard_step, passes_per_step, pgd_examples, Regularizer,
};
use crate::Sre2lConfig;
use ddbench_nn::augment::crop_flip;
use ddbench_nn::train::{shuffled_batches, EpochLoss};
use ddbench_nn::Model;
use ddbench_plugin_api::{per_sample_norm, Norm};
use std::f64::consts::PI;
use tch::nn::OptimizerConfig;
use tch::{Kind, Tensor};

/// What training the teacher cost.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SqueezeStats {
    pub seconds: f64,
    pub steps: i64,
    /// Passes of one batch through the model (forward / backward).
    pub forward_passes: u64,
    pub backward_passes: u64,
    pub images_seen: i64,
    /// Mean cross-entropy and regularizer over the last epoch.
    pub final_ce: f64,
    pub final_reg: f64,
}

/// Trains `model` on `images` (uint8 `[N, C, H, W]`, resident) and `labels`.
pub fn train_teacher(
    model: &mut Model,
    images: &Tensor,
    labels: &Tensor,
    cfg: &Sre2lConfig,
    reg: &Regularizer,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<SqueezeStats, tch::TchError> {
    let t0 = std::time::Instant::now();
    let n = images.size()[0];
    let dev = model.device();
    let std = Tensor::from_slice(&model.spec.std)
        .to_kind(Kind::Float)
        .view([1, -1, 1, 1])
        .to(dev);
    let mut opt = tch::nn::sgd(cfg.teacher_momentum, 0.0, cfg.teacher_weight_decay, false)
        .build(&model.vs, cfg.teacher_lr)?;
    let (fw, bw) = passes_per_step(reg);
    let mut stats = SqueezeStats::default();
    let (mut ce_loss, mut reg_loss) = (EpochLoss::new(dev), EpochLoss::new(dev));
    for epoch in 0..cfg.teacher_epochs {
        let progress_of_schedule = epoch as f64 / cfg.teacher_epochs as f64;
        opt.set_lr(0.5 * cfg.teacher_lr * (1.0 + (PI * progress_of_schedule).cos()));
        (ce_loss, reg_loss) = (EpochLoss::new(dev), EpochLoss::new(dev));
        for idx in shuffled_batches(n, cfg.teacher_batch, dev) {
            let x = images.index_select(0, &idx).to_kind(Kind::Float) / 255.0;
            let x = crop_flip(&x, 4, true);
            let y = labels.index_select(0, &idx);
            let eval = |v: &Tensor| model.forward_t(v, false);
            let ce_of = |v: &Tensor| {
                model
                    .forward_t(v, true)
                    .log_softmax(-1, Kind::Float)
                    .nll_loss(&y)
            };
            let (ce, r) = match reg {
                Regularizer::None => (ce_of(&x), None),
                Regularizer::Guard {
                    variant,
                    h,
                    lambda,
                    beta,
                } => {
                    let z = guard_step(&eval, &x, &y, &std, *variant, *h);
                    let r = curvature(&eval, &x, &y, &z, &std, *variant, *lambda, *beta);
                    (ce_of(&x), Some(r))
                }
                Regularizer::PgdAt { eps, alpha, steps } => (
                    ce_of(&pgd_examples(&eval, &x, &y, *eps, *alpha, *steps)),
                    None,
                ),
            };
            match &r {
                Some(r) => opt.backward_step(&(&ce + r)),
                None => opt.backward_step(&ce),
            }
            ce_loss.add(&ce);
            if let Some(r) = r {
                reg_loss.add(&r);
            }
            stats.steps += 1;
            stats.images_seen += idx.size()[0];
            stats.forward_passes += fw;
            stats.backward_passes += bw;
        }
        progress(epoch + 1, cfg.teacher_epochs);
    }
    if cfg.bn_recalibration {
        let forward = |v: &Tensor| model.forward_t(&(v.to_kind(Kind::Float) / 255.0), true);
        ddbench_nn::bn_capture::recalibrate(forward, images, cfg.teacher_batch);
        stats.forward_passes += ((n + cfg.teacher_batch - 1) / cfg.teacher_batch) as u64;
    }
    stats.final_ce = ce_loss.mean();
    stats.final_reg = reg_loss.mean();
    stats.seconds = t0.elapsed().as_secs_f64();
    Ok(stats)
}

/// Mean per-sample L2 norm of ∇ₓ CE for `images` (float, [0, 1]) in eval mode: how sharp the
/// loss surface is around the data (GUARD should lower it).
pub fn input_gradient_norm(model: &Model, images: &Tensor, labels: &Tensor) -> f64 {
    let g = ce_input_grad(&|v: &Tensor| model.forward_t(v, false), images, labels);
    per_sample_norm(&g, Norm::L2)
        .mean(Kind::Float)
        .double_value(&[])
}
