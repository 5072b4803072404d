//! Squeeze: train the teacher on the training set (official CIFAR recipe: SGD lr 0.1, momentum
//! 0.9, weight decay 5e-4, cosine annealing per epoch, batch 128, random crop + flip), with the
//! flavour's regularizer added to the cross-entropy; then (by default, a ddbench addition) the
//! BatchNorm running statistics are recomputed on the final weights.

use crate::checkpoint::{self, Progress};
use crate::regularizer::{
    ce_input_grad, curvature, guard_step, guard_term_shared, passes_per_step, pgd_examples,
    Regularizer,
};
use crate::{teacher_sgd, Sre2lConfig};
use ddbench_nn::augment::crop_flip;
use ddbench_nn::resume::StopOnUsr1;
use ddbench_nn::train::{shuffled_batches, EpochLoss};
use ddbench_nn::Model;
use ddbench_plugin_api::{per_sample_norm, Norm};
use std::collections::HashMap;
use std::f64::consts::PI;
use std::path::Path;
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
) -> Result<SqueezeStats, String> {
    train_teacher_resumable(model, images, labels, cfg, reg, None, progress).map(|(s, _)| s)
}

/// Why a resumable training ended early (the words every stop begins with).
pub use ddbench_nn::resume::STOPPED;

/// [`train_teacher`], saving a checkpoint to `ckpt` after every epoch and starting from the one
/// there; with the sessions (`[from, to)` epochs of each process that trained it). SIGUSR1 stops
/// it after the next saved epoch with an error starting [`STOPPED`].
pub fn train_teacher_resumable(
    model: &mut Model,
    images: &Tensor,
    labels: &Tensor,
    cfg: &Sre2lConfig,
    reg: &Regularizer,
    ckpt: Option<&Path>,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<(SqueezeStats, Vec<[i64; 2]>), String> {
    let t0 = std::time::Instant::now();
    let vars = model.vs.variables();
    let mut momentum = HashMap::new();
    let mut p = match ckpt.filter(|c| c.exists()) {
        Some(c) => checkpoint::load(c, &vars, &mut momentum)?,
        None => Progress::default(),
    };
    let from = p.epoch;
    let seconds_before = p.stats.seconds;
    let stop = ckpt.map(|_| StopOnUsr1::install());
    let std = pixel_std(model);
    while p.epoch < cfg.teacher_epochs {
        let lr =
            0.5 * cfg.teacher_lr * (1.0 + (PI * p.epoch as f64 / cfg.teacher_epochs as f64).cos());
        tch::manual_seed(checkpoint::epoch_seed(cfg.teacher_seed, p.epoch));
        let (ce, r) = epoch(
            model,
            images,
            labels,
            cfg,
            reg,
            &std,
            lr,
            &vars,
            &mut momentum,
            &mut p.stats,
        )?;
        (p.stats.final_ce, p.stats.final_reg) = (ce, r);
        p.epoch += 1;
        p.stats.seconds = seconds_before + t0.elapsed().as_secs_f64();
        progress(p.epoch, cfg.teacher_epochs);
        if let Some(c) = ckpt {
            let mut sessions = p.sessions.clone();
            sessions.push([from, p.epoch]);
            let saving = Progress {
                sessions,
                ..p.clone()
            };
            checkpoint::save(c, &vars, &momentum, &saving)?;
            if stop.as_ref().is_some_and(|s| s.asked()) && p.epoch < cfg.teacher_epochs {
                return Err(format!(
                    "{STOPPED} after teacher epoch {}/{} (checkpoint {})",
                    p.epoch,
                    cfg.teacher_epochs,
                    c.display()
                ));
            }
        }
    }
    p.sessions.push([from, p.epoch]);
    let n = images.size()[0];
    if cfg.bn_recalibration {
        let forward = |v: &Tensor| model.forward_t(&(v.to_kind(Kind::Float) / 255.0), true);
        ddbench_nn::bn_capture::recalibrate(forward, images, cfg.teacher_batch);
        p.stats.forward_passes += ((n + cfg.teacher_batch - 1) / cfg.teacher_batch) as u64;
    }
    p.stats.seconds = seconds_before + t0.elapsed().as_secs_f64();
    Ok((p.stats, p.sessions))
}

/// One epoch at learning rate `lr`; the epoch's mean cross-entropy and regularizer.
#[allow(clippy::too_many_arguments)]
fn epoch(
    model: &Model,
    images: &Tensor,
    labels: &Tensor,
    cfg: &Sre2lConfig,
    reg: &Regularizer,
    std: &Tensor,
    lr: f64,
    vars: &HashMap<String, Tensor>,
    momentum: &mut HashMap<String, Tensor>,
    stats: &mut SqueezeStats,
) -> Result<(f64, f64), String> {
    let dev = model.device();
    let (fw, bw) = passes_per_step(reg);
    let (mut ce_loss, mut reg_loss) = (EpochLoss::new(dev), EpochLoss::new(dev));
    for idx in shuffled_batches(images.size()[0], cfg.teacher_batch, dev) {
        let x = images.index_select(0, &idx).to_kind(Kind::Float) / 255.0;
        let x = crop_flip(&x, 4, true);
        let y = labels.index_select(0, &idx);
        let (ce, r) = teacher_step(model, &x, &y, reg, std, lr, vars, momentum, cfg)?;
        ce_loss.add(&ce);
        if let Some(r) = r {
            reg_loss.add(&r);
        }
        stats.steps += 1;
        stats.images_seen += idx.size()[0];
        stats.forward_passes += fw;
        stats.backward_passes += bw;
    }
    Ok((ce_loss.mean(), reg_loss.mean()))
}

/// The per-channel σ of `model`'s normalisation, shaped `[1, C, 1, 1]` on its device (GUARD's
/// steps are taken in normalised units).
pub fn pixel_std(model: &Model) -> Tensor {
    Tensor::from_slice(&model.spec.std)
        .to_kind(Kind::Float)
        .view([1, -1, 1, 1])
        .to(model.device())
}

/// One teacher step on the (augmented) batch `x`, `y`: gradients zeroed, the cross-entropy and
/// `reg`'s term back-propagated, SGD at `lr` (`vars` by name, their `momentum` buffers). Returns
/// the batch's cross-entropy and term, on the device. Self-contained (nothing read on the host,
/// gradients zeroed here), so it can be captured as a CUDA graph and replayed.
#[allow(clippy::too_many_arguments)]
pub fn teacher_step(
    model: &Model,
    x: &Tensor,
    y: &Tensor,
    reg: &Regularizer,
    std: &Tensor,
    lr: f64,
    vars: &HashMap<String, Tensor>,
    momentum: &mut HashMap<String, Tensor>,
    cfg: &Sre2lConfig,
) -> Result<(Tensor, Option<Tensor>), String> {
    let (ce, r) = batch_loss(model, x, y, reg, std);
    for v in vars.values() {
        v.shallow_clone().zero_grad();
    }
    match &r {
        Some(r) => (&ce + r).backward(),
        None => ce.backward(),
    }
    teacher_sgd::step(vars, momentum, lr, cfg)?;
    Ok((ce, r))
}

/// The cross-entropy of a batch and the regularizer's term.
fn batch_loss(
    model: &Model,
    x: &Tensor,
    y: &Tensor,
    reg: &Regularizer,
    std: &Tensor,
) -> (Tensor, Option<Tensor>) {
    let eval = |v: &Tensor| model.forward_t(v, false);
    let ce_of = |v: &Tensor| {
        model
            .forward_t(v, true)
            .log_softmax(-1, Kind::Float)
            .nll_loss(y)
    };
    match reg {
        Regularizer::None => (ce_of(x), None),
        Regularizer::Guard {
            variant,
            h,
            lambda,
            beta,
            shared_pass,
        } => {
            let (v, h, l, b) = (*variant, *h, *lambda, *beta);
            let r = if *shared_pass {
                guard_term_shared(&eval, x, y, std, v, h, l, b)
            } else {
                let z = guard_step(&eval, x, y, std, v, h);
                curvature(&eval, x, y, &z, std, v, l, b)
            };
            (ce_of(x), Some(r))
        }
        Regularizer::PgdAt { eps, alpha, steps } => (
            ce_of(&pgd_examples(&eval, x, y, *eps, *alpha, *steps)),
            None,
        ),
    }
}

/// Mean per-sample L2 norm of ∇ₓ CE for `images` (float, [0, 1]) in eval mode: how sharp the
/// loss surface is around the data (GUARD should lower it).
pub fn input_gradient_norm(model: &Model, images: &Tensor, labels: &Tensor) -> f64 {
    let g = ce_input_grad(&|v: &Tensor| model.forward_t(v, false), images, labels);
    per_sample_norm(&g, Norm::L2)
        .mean(Kind::Float)
        .double_value(&[])
}
