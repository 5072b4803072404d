//! The evaluation stage: clean accuracy of a student (whole test set and attacked subset), then
//! each attack at each ε on the attacked subset, batch by batch, with per-sample outcomes.

use super::subset::AttackSubset;
use super::train::Student;
use super::Ctx;
use crate::plugin::{self, Plugin};
use crate::sanity::Sample;
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

/// Everything one batch of an attack gave.
struct Batches {
    robust: Vec<Tensor>,
    adv_pred: Vec<Tensor>,
    pert: Vec<Tensor>,
    /// The adversarial images, when they are to be saved.
    adversarial: Vec<Tensor>,
    forward: u64,
    backward: u64,
}

/// Runs `attack` at `eps` on the subset; an attack error is the row's failure.
pub fn attack(
    ctx: &Ctx,
    student: &Student,
    clean: &CleanEval,
    attack: &Plugin,
    eps: f64,
    seed: u64,
    label: &str,
) -> Result<AttackRun, String> {
    let t = Instant::now();
    let b = run_batches(ctx, student, attack, eps, seed, label)?;
    let correct = Tensor::cat(&b.robust, 0).logical_and(&clean.subset_correct);
    let host = |t: Tensor, k: Kind| t.to_kind(k).to_device(tch::Device::Cpu);
    let adv_pred = Vec::<i64>::try_from(host(Tensor::cat(&b.adv_pred, 0), Kind::Int64))
        .map_err(|e| e.to_string())?;
    let pert = Vec::<f64>::try_from(host(Tensor::cat(&b.pert, 0), Kind::Double))
        .map_err(|e| e.to_string())?;
    Ok(AttackRun {
        robust_acc: pct(&correct),
        seconds: t.elapsed().as_secs_f64(),
        forward_calls: b.forward,
        backward_calls: b.backward,
        samples: samples(ctx.subset, clean, &adv_pred),
        pert,
        adversarial: (!b.adversarial.is_empty()).then(|| Tensor::cat(&b.adversarial, 0)),
    })
}

fn run_batches(
    ctx: &Ctx,
    student: &Student,
    attack: &Plugin,
    eps: f64,
    seed: u64,
    label: &str,
) -> Result<Batches, String> {
    let (cfg, sub) = (ctx.cfg, ctx.subset);
    let conf = super::RunConfig::config_of(&cfg.attack_config, &attack.name);
    let n = sub.len() as i64;
    let nb = (n + cfg.attack_batch - 1) / cfg.attack_batch;
    let bar = ctx.ui.bar(nb as u64, "attack");
    bar.set_message(format!("{} eps {eps:.4} on {label}", attack.name));
    let mut out = Batches {
        robust: Vec::new(),
        adv_pred: Vec::new(),
        pert: Vec::new(),
        adversarial: Vec::new(),
        forward: 0,
        backward: 0,
    };
    for i in 0..nb {
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
            seed * 1_000_003 + i as u64,
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
    }
    bar.finish_and_clear();
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
