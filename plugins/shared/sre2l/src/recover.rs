//! Recover: synthesise images from noise so that the teacher classifies them as their target
//! class while every BatchNorm layer sees batch statistics close to its running statistics
//! (official SRe2L / GUARD CIFAR code: Adam β = (0.5, 0.9), lr 0.25 cosine, r_bn 0.01 with the
//! first BN layer ×10, a random roll of 0..=jitter pixels each iteration — no flip unless `flip`
//! is set, as the official non-CDA path — inputs clipped to the valid pixel range).

use crate::Sre2lConfig;
use ddbench_nn::bn_capture::capture;
use ddbench_nn::rng::HostRng;
use ddbench_nn::Model;
use std::f64::consts::PI;
use tch::nn::OptimizerConfig;
use tch::{nn, Kind, Tensor};

/// The BatchNorm-statistics term: Σ_l w_l (‖σ²_l − σ²_run‖₂ + ‖μ_l − μ_run‖₂), w_0 = `first`.
pub fn bn_loss(stats: &[ddbench_nn::bn_capture::BnStats], first: f64) -> Tensor {
    let mut total: Option<Tensor> = None;
    for (i, s) in stats.iter().enumerate() {
        let w = if i == 0 { first } else { 1.0 };
        let term = ((&s.running_var - &s.var).norm() + (&s.running_mean - &s.mean).norm()) * w;
        total = Some(match total {
            Some(t) => t + term,
            None => term,
        });
    }
    total.expect("the teacher has no BatchNorm layer: recovery needs one")
}

/// Recovers `ipc` images per class with the (frozen) teacher. Returns float images in [0, 1]
/// and their labels, class-interleaved per batch as in the official code.
pub fn recover(
    teacher: &Model,
    ipc: i64,
    cfg: &Sre2lConfig,
    seed: u64,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<(Tensor, Tensor), tch::TchError> {
    let spec = &teacher.spec;
    let dev = teacher.device();
    let k = spec.num_classes;
    let c = spec.in_channels;
    let (mean, std) = spec.channel_stats();
    let (mean, std) = (mean.to(dev), std.to(dev));
    // bounds of the normalised inputs that map to pixels in [0, 1]
    let (lo, hi) = ((-&mean) / &std, (1.0 - &mean) / &std);
    let mut rng = HostRng::new(seed ^ 0x5EED_2EC0);
    let _rng = ddbench_plugin_api::SeedScope::new(seed);
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let mut start = 0;
    while start < ipc {
        let per = cfg.ipc_per_batch.min(ipc - start);
        let targets = Tensor::arange(k, (Kind::Int64, dev)).repeat([per]);
        let vs = nn::VarStore::new(dev);
        let z = vs.root().var(
            "inputs",
            &[per * k, c, spec.height, spec.width_px],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        );
        let mut opt = nn::Adam {
            beta1: 0.5,
            beta2: 0.9,
            wd: 0.0,
            eps: 1e-8,
            amsgrad: false,
        }
        .build(&vs, cfg.recover_lr)?;
        for it in 0..cfg.iterations {
            opt.set_lr(
                0.5 * cfg.recover_lr * (1.0 + (PI * it as f64 / cfg.iterations as f64).cos()),
            );
            let (dx, dy) = (rng.range_i64(0, cfg.jitter), rng.range_i64(0, cfg.jitter));
            let mut x = (&z * &std + &mean).roll([dx, dy], [2, 3]);
            if cfg.flip && rng.below(2) == 1 {
                x = x.flip([3]);
            }
            let (logits, stats) = capture(|| teacher.forward_t(&x, false));
            let loss = logits.log_softmax(-1, Kind::Float).nll_loss(&targets)
                + bn_loss(&stats, cfg.first_bn_multiplier) * cfg.r_bn;
            opt.backward_step(&loss);
            tch::no_grad(|| {
                let clipped = z.maximum(&lo).minimum(&hi);
                let mut zz = z.shallow_clone();
                zz.copy_(&clipped);
            });
        }
        images.push(tch::no_grad(|| (&z * &std + &mean).clamp(0.0, 1.0)));
        labels.push(targets);
        start += per;
        progress(start, ipc);
    }
    Ok((Tensor::cat(&images, 0), Tensor::cat(&labels, 0)))
}
