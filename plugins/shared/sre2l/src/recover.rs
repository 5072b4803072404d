//! Recover: synthesise images from noise so that the teacher classifies them as their target
//! class while every BatchNorm layer sees batch statistics close to its running statistics
//! (official SRe2L / GUARD CIFAR code: Adam β = (0.5, 0.9), lr 0.25 cosine, r_bn 0.01 with the
//! first BN layer ×10, a random roll of 0..=jitter pixels each iteration — no flip unless `flip`
//! is set, as the official non-CDA path — inputs clipped to the valid pixel range).

use crate::Sre2lConfig;
use ddbench_nn::bn_capture::capture;
use ddbench_nn::resume::{StopOnUsr1, STOPPED};
use ddbench_nn::rng::HostRng;
use ddbench_nn::Model;
use std::f64::consts::PI;
use std::path::Path;
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
) -> Result<(Tensor, Tensor), String> {
    recover_resumable(teacher, ipc, cfg, seed, None, progress)
}

/// [`recover`] that survives a kill when given a checkpoint file: after every recovered batch
/// the batches so far are saved there (whole: written aside, then renamed), a later call with
/// the same file starts after them, and SIGUSR1 stops it once a batch is saved (an error
/// starting with [`crate::squeeze::STOPPED`]). The file goes when recovery ends. A resumed
/// recovery gives the very images an uninterrupted one gives: the skipped batches' random
/// draws (the noise the images start from, the jitter offsets) are drawn again and dropped.
pub fn recover_resumable(
    teacher: &Model,
    ipc: i64,
    cfg: &Sre2lConfig,
    seed: u64,
    ckpt: Option<&Path>,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<(Tensor, Tensor), String> {
    let mut saved = match ckpt.filter(|c| c.exists()) {
        Some(c) => load(c)?,
        None => Vec::new(),
    }
    .into_iter();
    let stop = ckpt.map(|_| StopOnUsr1::install());
    let k = teacher.spec.num_classes;
    let mut rng = HostRng::new(seed ^ 0x5EED_2EC0);
    let _rng = ddbench_plugin_api::SeedScope::new(seed);
    let mut batches: Vec<(Tensor, Tensor)> = Vec::new();
    let mut start = 0;
    while start < ipc {
        let per = cfg.ipc_per_batch.min(ipc - start);
        let batch = match saved.next() {
            Some(b) if b.0.size()[0] == per * k => {
                skip_draws(teacher, per, cfg, &mut rng);
                b
            }
            Some(_) => {
                return Err(format!(
                    "{}: batch sizes differ from this recovery's",
                    shown(ckpt)
                ))
            }
            None => recover_batch(teacher, per, cfg, &mut rng).map_err(|e| e.to_string())?,
        };
        batches.push(batch);
        start += per;
        if let Some(c) = ckpt {
            save(c, &batches)?;
        }
        progress(start, ipc);
        if stop.as_ref().is_some_and(|s| s.asked()) && start < ipc {
            return Err(format!(
                "{STOPPED} after recovering {start}/{ipc} images per class (checkpoint {})",
                shown(ckpt)
            ));
        }
    }
    if let Some(c) = ckpt {
        std::fs::remove_file(c).ok();
    }
    let (images, labels): (Vec<Tensor>, Vec<Tensor>) = batches.into_iter().unzip();
    Ok((Tensor::cat(&images, 0), Tensor::cat(&labels, 0)))
}

fn shown(ckpt: Option<&Path>) -> String {
    ckpt.map_or(String::new(), |c| c.display().to_string())
}

/// The starting noise of a batch of `per` images per class, from libtorch's generator.
fn noise(teacher: &Model, per: i64) -> Tensor {
    let s = &teacher.spec;
    Tensor::randn(
        [per * s.num_classes, s.in_channels, s.height, s.width_px],
        (Kind::Float, teacher.device()),
    )
}

/// What [`recover_batch`] draws, drawn and dropped (for a batch read from a checkpoint).
fn skip_draws(teacher: &Model, per: i64, cfg: &Sre2lConfig, rng: &mut HostRng) {
    let _ = noise(teacher, per);
    for _ in 0..cfg.iterations {
        rng.range_i64(0, cfg.jitter);
        rng.range_i64(0, cfg.jitter);
        if cfg.flip {
            rng.below(2);
        }
    }
}

/// One batch: `per` images per class optimised from noise; (images in [0, 1], labels).
fn recover_batch(
    teacher: &Model,
    per: i64,
    cfg: &Sre2lConfig,
    rng: &mut HostRng,
) -> Result<(Tensor, Tensor), tch::TchError> {
    let spec = &teacher.spec;
    let dev = teacher.device();
    let (mean, std) = spec.channel_stats();
    let (mean, std) = (mean.to(dev), std.to(dev));
    // bounds of the normalised inputs that map to pixels in [0, 1]
    let (lo, hi) = ((-&mean) / &std, (1.0 - &mean) / &std);
    let targets = Tensor::arange(spec.num_classes, (Kind::Int64, dev)).repeat([per]);
    let vs = nn::VarStore::new(dev);
    let z = vs.root().var_copy("inputs", &noise(teacher, per));
    let mut opt = nn::Adam {
        beta1: 0.5,
        beta2: 0.9,
        wd: 0.0,
        eps: 1e-8,
        amsgrad: false,
    }
    .build(&vs, cfg.recover_lr)?;
    for it in 0..cfg.iterations {
        opt.set_lr(0.5 * cfg.recover_lr * (1.0 + (PI * it as f64 / cfg.iterations as f64).cos()));
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
    let images = tch::no_grad(|| (&z * &std + &mean).clamp(0.0, 1.0));
    Ok((images, targets))
}

/// Saves the recovered batches (images and labels, on the CPU) to `file`, whole.
fn save(file: &Path, batches: &[(Tensor, Tensor)]) -> Result<(), String> {
    let mut named = Vec::new();
    for (i, (x, y)) in batches.iter().enumerate() {
        named.push((format!("images.{i}"), x.to_device(tch::Device::Cpu)));
        named.push((format!("labels.{i}"), y.to_device(tch::Device::Cpu)));
    }
    ddbench_nn::resume::write_whole(file, &named)
}

/// The batches a checkpoint holds, in order.
fn load(file: &Path) -> Result<Vec<(Tensor, Tensor)>, String> {
    let all = Tensor::load_multi(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let find = |name: String| {
        all.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.shallow_clone())
    };
    let mut out = Vec::new();
    while let (Some(x), Some(y)) = (
        find(format!("images.{}", out.len())),
        find(format!("labels.{}", out.len())),
    ) {
        out.push((x, y));
    }
    Ok(out)
}
