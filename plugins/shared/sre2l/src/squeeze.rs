//! Squeeze: train the teacher on the training set (official CIFAR recipe: SGD lr 0.1, momentum
//! 0.9, weight decay 5e-4, cosine annealing per epoch, batch 128, random crop + flip), with the
//! flavour's regularizer added to the cross-entropy.

use crate::regularizer::{curvature, guard_step, passes_per_step, pgd_examples, Regularizer};
use crate::Sre2lConfig;
use ddbench_nn::augment::crop_flip;
use ddbench_nn::Model;
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
    let steps_per_epoch = (n + cfg.teacher_batch - 1) / cfg.teacher_batch;
    let (fw, bw) = passes_per_step(reg);
    let mut stats = SqueezeStats::default();
    let (mut ce_acc, mut reg_acc) = (
        Tensor::zeros([], (Kind::Float, dev)),
        Tensor::zeros([], (Kind::Float, dev)),
    );
    for epoch in 0..cfg.teacher_epochs {
        opt.set_lr(
            0.5 * cfg.teacher_lr * (1.0 + (PI * epoch as f64 / cfg.teacher_epochs as f64).cos()),
        );
        let perm = Tensor::randperm(n, (Kind::Int64, dev));
        ce_acc = Tensor::zeros([], (Kind::Float, dev));
        reg_acc = Tensor::zeros([], (Kind::Float, dev));
        let mut start = 0;
        while start < n {
            let len = cfg.teacher_batch.min(n - start);
            let idx = perm.narrow(0, start, len);
            let x = crop_flip(
                &(images.index_select(0, &idx).to_kind(Kind::Float) / 255.0),
                4,
                true,
            );
            let y = labels.index_select(0, &idx);
            let eval = |v: &Tensor| model.forward_t(v, false);
            let (ce, r) = match reg {
                Regularizer::None => (
                    model
                        .forward_t(&x, true)
                        .log_softmax(-1, Kind::Float)
                        .nll_loss(&y),
                    None,
                ),
                Regularizer::Guard {
                    variant,
                    h,
                    lambda,
                    beta,
                } => {
                    let z = guard_step(&eval, &x, &y, &std, *variant, *h);
                    let r = curvature(&eval, &x, &y, &z, &std, *variant, *lambda, *beta);
                    (
                        model
                            .forward_t(&x, true)
                            .log_softmax(-1, Kind::Float)
                            .nll_loss(&y),
                        Some(r),
                    )
                }
                Regularizer::PgdAt { eps, alpha, steps } => {
                    let adv = pgd_examples(&eval, &x, &y, *eps, *alpha, *steps);
                    (
                        model
                            .forward_t(&adv, true)
                            .log_softmax(-1, Kind::Float)
                            .nll_loss(&y),
                        None,
                    )
                }
            };
            let loss = match &r {
                Some(r) => &ce + r,
                None => ce.shallow_clone(),
            };
            opt.backward_step(&loss);
            ce_acc += ce.detach();
            if let Some(r) = r {
                reg_acc += r.detach();
            }
            stats.steps += 1;
            stats.images_seen += len;
            stats.forward_passes += fw;
            stats.backward_passes += bw;
            start += len;
        }
        progress(epoch + 1, cfg.teacher_epochs);
    }
    stats.final_ce = ce_acc.double_value(&[]) / steps_per_epoch as f64;
    stats.final_reg = reg_acc.double_value(&[]) / steps_per_epoch as f64;
    stats.seconds = t0.elapsed().as_secs_f64();
    Ok(stats)
}

/// Mean per-sample L2 norm of ∇ₓ CE for `images` (float, [0, 1]) in eval mode: how sharp the
/// loss surface is around the data (GUARD should lower it).
pub fn input_gradient_norm(model: &Model, images: &Tensor, labels: &Tensor) -> f64 {
    let x = images.detach().set_requires_grad(true);
    let l = ddbench_plugin_api::ce_sum(&model.forward_t(&x, false), labels);
    let g = Tensor::run_backward(&[l], &[&x], false, false).remove(0);
    g.flatten(1, -1)
        .norm_scalaropt_dim(2.0, [1], false)
        .mean(Kind::Float)
        .double_value(&[])
}
