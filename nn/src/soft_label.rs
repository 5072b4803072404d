//! The soft-label student protocol of SRe2L / GUARD on CIFAR: AdamW (lr 1e-3, weight decay
//! 0.01, cosine per epoch), batch 128, random crop + flip and mixup on the device, and the
//! teacher relabelling every augmented batch online; loss = batch-mean KL(teacher_T ‖ student_T)
//! at temperature T, with no T² factor (as the official code).

use crate::augment::crop_flip;
use crate::model::Model;
use crate::resume::{Checkpoints, Resume, TrainError};
use crate::rng::HostRng;
use crate::train::{shuffled_batches, EpochLoss, TrainStats};
use ddbench_torch_shim::optim::{Algorithm, Kernels, Optimizer};
use std::f64::consts::PI;
use tch::{Kind, Tensor};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SoftLabelConfig {
    pub epochs: i64,
    pub batch_size: i64,
    pub lr: f64,
    pub weight_decay: f64,
    pub temperature: f64,
    /// Mixup Beta(α, α); 0 disables mixup.
    pub mixup_alpha: f64,
    pub crop_pad: i64,
    /// AdamW steps as one fused multi-tensor kernel (as `TrainConfig::fused_optimizer`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fused_optimizer: bool,
}

impl Default for SoftLabelConfig {
    fn default() -> Self {
        SoftLabelConfig {
            epochs: 400,
            batch_size: 128,
            lr: 1e-3,
            weight_decay: 0.01,
            temperature: 30.0,
            mixup_alpha: 0.8,
            crop_pad: 4,
            fused_optimizer: false,
        }
    }
}

/// Batch-mean KL(softmax(t/T) ‖ softmax(s/T)) = Σ p (log p − log q) / B.
pub fn kl_soft(student_logits: &Tensor, teacher_logits: &Tensor, temperature: f64) -> Tensor {
    let logq = (student_logits / temperature).log_softmax(-1, Kind::Float);
    let logp = (teacher_logits / temperature).log_softmax(-1, Kind::Float);
    let b = student_logits.size()[0] as f64;
    (logp.exp() * (logp - logq)).sum(Kind::Float) / b
}

/// Trains `student` on `images` (float `[N, C, H, W]` in [0, 1]) relabelled online by `teacher`,
/// saving itself as `resume` says and starting from its file when there is one
/// ([`crate::resume`]).
pub fn train_with_teacher(
    student: &mut Model,
    teacher: &Model,
    images: &Tensor,
    cfg: &SoftLabelConfig,
    seed: u64,
    resume: Option<&Resume>,
    on_epoch: &mut dyn FnMut(i64, i64),
) -> Result<TrainStats, TrainError> {
    let n = images.size()[0];
    let dev = student.device();
    let adamw = Algorithm::AdamW {
        beta1: 0.9,
        beta2: 0.999,
        weight_decay: cfg.weight_decay,
    };
    let kernels = Kernels::fused_if(cfg.fused_optimizer);
    let mut opt = Optimizer::new(student.vs.trainable_variables(), cfg.lr, adamw, kernels)?;
    let mut rng = HostRng::new(seed ^ 0x50F7_1ABE);
    let (mut ck, mut p) = Checkpoints::open(resume, &student.vs, &mut opt, Some(&mut rng))?;
    for epoch in p.epoch..cfg.epochs {
        opt.set_lr(0.5 * cfg.lr * (1.0 + (PI * epoch as f64 / cfg.epochs as f64).cos()));
        let mut epoch_loss = EpochLoss::new(dev);
        for idx in shuffled_batches(n, cfg.batch_size, dev) {
            let len = idx.size()[0];
            let mut x = crop_flip(&images.index_select(0, &idx), cfg.crop_pad, true);
            if cfg.mixup_alpha > 0.0 {
                let lam = rng.beta(cfg.mixup_alpha, cfg.mixup_alpha);
                let partner = x.index_select(0, &Tensor::randperm(len, (Kind::Int64, dev)));
                x = &x * lam + partner * (1.0 - lam);
            }
            let t = tch::no_grad(|| teacher.forward_t(&x, false));
            let loss = kl_soft(&student.forward_t(&x, true), &t, cfg.temperature);
            opt.backward_step(&loss)?;
            epoch_loss.add(&loss);
            p.stats.steps += 1;
            p.stats.images_seen += len;
        }
        p.epoch = epoch + 1;
        let vs = &student.vs;
        ck.epoch_done(&mut p, cfg.epochs, &epoch_loss, vs, &opt, Some(&rng))?;
        on_epoch(epoch + 1, cfg.epochs);
    }
    Ok(p.stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn kl_is_zero_for_equal_logits_and_matches_the_definition() {
        let s = Tensor::randn([4, 5], (Kind::Float, Device::Cpu));
        assert!(kl_soft(&s, &s, 3.0).double_value(&[]).abs() < 1e-6);
        let t = Tensor::randn([4, 5], (Kind::Float, Device::Cpu));
        let p = (&t / 3.0).softmax(-1, Kind::Float);
        let q = (&s / 3.0).softmax(-1, Kind::Float);
        let by_hand = (&p * (p.log() - q.log()))
            .sum(Kind::Float)
            .double_value(&[])
            / 4.0;
        assert!((kl_soft(&s, &t, 3.0).double_value(&[]) - by_hand).abs() < 1e-5);
    }
}
