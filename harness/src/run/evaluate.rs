//! The evaluation stage: clean accuracy of a student (whole test set and attacked subset), then
//! each attack at each ε on the attacked subset, batch by batch, with per-sample outcomes.

use super::attack_resume::AttackSaver;
use super::subset::AttackSubset;
use super::train::Student;
use super::Ctx;
use crate::plugin::{self, Plugin};
use crate::sanity::Sample;
use std::path::PathBuf;
use std::time::Instant;
use tch::{Kind, Tensor};

/// Accuracy (%) of a boolean / 0-1 tensor.
pub fn pct(correct: &Tensor) -> f64 {
    100.0
        * correct
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[])
}

/// A student's clean predictions.
pub struct CleanEval {
    /// Accuracy (%) on the whole test set.
    pub acc: f64,
    /// Accuracy (%) on the attacked subset.
    pub subset_acc: f64,
    /// Per subset image: whether the clean prediction is right (on the device).
    pub subset_correct: Tensor,
    /// Per subset image: the clean prediction.
    pub subset_pred: Vec<i64>,
}

pub fn clean(ctx: &Ctx, student: &Student) -> Result<CleanEval, String> {
    let (m, data, b) = (&student.model, ctx.data, ctx.cfg.eval_batch);
    let acc = 100.0 * ddbench_nn::accuracy(m, &data.test_images, &data.test_labels, b);
    let pred = ddbench_nn::predict(m, &ctx.subset.x, b);
    let subset_correct = pred.eq_tensor(&ctx.subset.y);
    let subset_pred =
        Vec::<i64>::try_from(pred.to_device(tch::Device::Cpu)).map_err(|e| e.to_string())?;
    Ok(CleanEval {
        acc,
        subset_acc: pct(&subset_correct),
        subset_correct,
        subset_pred,
    })
}

/// One attack at one ε on the attacked subset.
pub struct AttackRun {
    /// Robust accuracy (%): clean and adversarial predictions both right.
    pub robust_acc: f64,
    pub seconds: f64,
    pub forward_calls: u64,
    pub backward_calls: u64,
    /// Per subset image: label, clean and adversarial predictions.
    pub samples: Vec<Sample>,
    /// Per subset image: the perturbation's norm in the threat model's norm.
    pub pert: Vec<f64>,
    /// The adversarial images of the subset, kept for `--save-adversarial` only.
    pub adversarial: Option<Tensor>,
}

/// Everything the batches of an attack gave so far.
#[derive(Default)]
pub(super) struct Batches {
    pub robust: Vec<Tensor>,
    pub adv_pred: Vec<Tensor>,
    pub pert: Vec<Tensor>,
    /// The adversarial images, when they are to be saved.
    pub adversarial: Vec<Tensor>,
    pub forward: u64,
    pub backward: u64,
    /// Seconds spent by earlier sessions (a resumed attack).
    pub earlier_seconds: f64,
}

/// One attack row to compute: the attack at `eps`, the cell's seed and label, and where its
/// finished batches are kept for a rerun (none: nothing kept).
pub struct AttackJob<'a> {
    pub attack: &'a Plugin,
    pub eps: f64,
    pub seed: u64,
    pub label: &'a str,
    pub resume: Option<PathBuf>,
}

/// Runs the job's attack on the subset; an attack error is the row's failure, and so is a stop
/// (SIGUSR1), once the batches done are saved.
pub fn attack(
    ctx: &Ctx,
    student: &Student,
    clean: &CleanEval,
    job: &AttackJob,
) -> Result<AttackRun, String> {
    let t = Instant::now();
    let b = run_batches(ctx, student, job)?;
    let correct = Tensor::cat(&b.robust, 0).logical_and(&clean.subset_correct);
    let host = |t: Tensor, k: Kind| t.to_kind(k).to_device(tch::Device::Cpu);
    let adv_pred = Vec::<i64>::try_from(host(Tensor::cat(&b.adv_pred, 0), Kind::Int64))
        .map_err(|e| e.to_string())?;
    let pert = Vec::<f64>::try_from(host(Tensor::cat(&b.pert, 0), Kind::Double))
        .map_err(|e| e.to_string())?;
    Ok(AttackRun {
        robust_acc: pct(&correct),
        seconds: b.earlier_seconds + t.elapsed().as_secs_f64(),
        forward_calls: b.forward,
        backward_calls: b.backward,
        samples: samples(ctx.subset, clean, &adv_pred),
        pert,
        adversarial: (!b.adversarial.is_empty()).then(|| Tensor::cat(&b.adversarial, 0)),
    })
}

fn run_batches(ctx: &Ctx, student: &Student, job: &AttackJob) -> Result<Batches, String> {
    let (cfg, sub, attack, eps) = (ctx.cfg, ctx.subset, job.attack, job.eps);
    let conf = super::RunConfig::config_of(&cfg.attack_config, &attack.name);
    let n = sub.len() as i64;
    let nb = (n + cfg.attack_batch - 1) / cfg.attack_batch;
    let started = Instant::now();
    let mut saver = job.resume.as_ref().map(|f| AttackSaver::new(f, ctx));
    let (mut out, first) = match &saver {
        Some(s) => s.load(cfg.save.adversarial, nb)?,
        None => (Batches::default(), 0),
    };
    if first > 0 {
        ctx.ui.log(&format!(
            "{}: {} eps {eps:.4}: resuming after batch {first}/{nb}",
            job.label, attack.name
        ));
    }
    let bar = ctx.ui.bar(nb as u64, "attack");
    bar.set_message(format!("{} eps {eps:.4} on {}", attack.name, job.label));
    bar.set_position(first as u64);
    for i in first..nb {
        let start = i * cfg.attack_batch;
        let len = cfg.attack_batch.min(n - start);
        let (x, y) = (sub.x.narrow(0, start, len), sub.y.narrow(0, start, len));
        let o = plugin::run_attack(
            attack,
            &student.model,
            &x,
            &y,
            cfg.norm,
            eps,
            job.seed * 1_000_003 + i as u64,
            &conf,
            &|m| ctx.ui.log(&format!("[{}] {m}", attack.name)),
        );
        let o = o.map_err(|e| {
            bar.finish_and_clear();
            e.to_string()
        })?;
        out.forward += o.forward_calls;
        out.backward += o.backward_calls;
        let p = ddbench_nn::predict(&student.model, &o.adversarial, cfg.eval_batch);
        out.robust.push(p.eq_tensor(&y));
        out.adv_pred.push(p);
        let delta = &o.adversarial - &x;
        out.pert
            .push(ddbench_plugin_api::per_sample_norm(&delta, cfg.norm));
        if cfg.save.adversarial {
            out.adversarial.push(o.adversarial);
        }
        bar.inc(1);
        if let Some(s) = saver.as_mut() {
            let seconds = out.earlier_seconds + started.elapsed().as_secs_f64();
            if let Err(e) = s.after_batch(&out, i + 1, nb, seconds) {
                bar.finish_and_clear();
                return Err(e);
            }
        }
    }
    bar.finish_and_clear();
    if let Some(s) = saver {
        s.remove();
    }
    Ok(out)
}

fn samples(sub: &AttackSubset, clean: &CleanEval, adv_pred: &[i64]) -> Vec<Sample> {
    (0..sub.len())
        .map(|i| Sample {
            index: sub.indices[i],
            label: sub.labels[i],
            clean_pred: clean.subset_pred[i],
            adv_pred: adv_pred[i],
        })
        .collect()
}
