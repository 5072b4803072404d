//! Training and evaluation loops on device-resident tensors: seeded shuffles, index-select
//! batches, on-device augmentation, and no host synchronisation inside the step loop.

use crate::augment::Augment;
use crate::model::Model;
use crate::resume::{Checkpoints, Resume, TrainError};
use ddbench_torch_shim::optim::{Algorithm, Kernels, Optimizer};
use tch::{Device, Kind, Tensor};

/// The DD evaluation protocol's student training (SGD, momentum 0.9, weight decay 5e-4,
/// lr 0.01 decayed ×0.1 at half the epochs, batch 256, random crop + flip; or DSA, as the
/// published DC/DSA/DM/MTT figures, with 1,000 epochs).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub epochs: i64,
    pub batch_size: i64,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Crop padding in pixels (0 disables the crop).
    pub crop_pad: i64,
    pub flip: bool,
    /// Which augmentation (`crop_pad` and `flip` apply to `crop-flip`).
    #[serde(default)]
    pub augment: Augment,
    /// Optimiser steps as one fused multi-tensor kernel (`Kernels::Fused`) instead of libtorch's
    /// per-parameter loop: the same update, rounded differently (other numbers, so keyed; absent
    /// from keys when false, as before it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fused_optimizer: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 300,
            batch_size: 256,
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 5e-4,
            crop_pad: 4,
            flip: true,
            augment: Augment::CropFlip,
            fused_optimizer: false,
        }
    }
}

/// What a training run cost.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainStats {
    pub steps: i64,
    pub images_seen: i64,
    /// Mean training loss over the last epoch (read once at the end).
    pub final_loss: f64,
    /// Seconds spent training, earlier sessions of a resumed training included (set at the end
    /// by the resumable loops).
    pub seconds: f64,
}

/// Trains `model` on `images` (float `[N, C, H, W]` in [0, 1], on the model's device) with hard
/// `labels` (int64 `[N]`) or soft labels (float `[N, K]`, rows summing to one; KL / soft CE).
/// `on_epoch(done, total)` is called after each epoch.
pub fn train_classifier(
    model: &mut Model,
    images: &Tensor,
    labels: &Tensor,
    cfg: &TrainConfig,
    on_epoch: &mut dyn FnMut(i64, i64),
) -> Result<TrainStats, TrainError> {
    train_resumable(model, images, labels, cfg, None, on_epoch)
}

/// [`train_classifier`], saving itself as `resume` says and starting from its file when there is
/// one ([`crate::resume`]): the weights it ends with are those of an uninterrupted training.
pub fn train_resumable(
    model: &mut Model,
    images: &Tensor,
    labels: &Tensor,
    cfg: &TrainConfig,
    resume: Option<&Resume>,
    on_epoch: &mut dyn FnMut(i64, i64),
) -> Result<TrainStats, TrainError> {
    let n = images.size()[0];
    let dev = model.device();
    let mut opt = optimizer(model.vs.trainable_variables(), cfg)?;
    let (mut ck, mut p) = Checkpoints::open(resume, &model.vs, &mut opt, None)?;
    let soft = labels.dim() == 2;
    // The ×0.1 decay comes at half of the steps (= half of the epochs, as in the DD code, when
    // there are two or more; mid-epoch for a one-epoch run instead of before the first step).
    let steps_per_epoch = (n + cfg.batch_size - 1) / cfg.batch_size;
    let decay_step = steps_per_epoch * cfg.epochs / 2;
    if p.stats.steps > decay_step {
        opt.set_lr(cfg.lr * 0.1);
    }
    for epoch in p.epoch..cfg.epochs {
        let mut epoch_loss = EpochLoss::new(dev);
        for idx in shuffled_batches(n, cfg.batch_size, dev) {
            if p.stats.steps == decay_step {
                opt.set_lr(cfg.lr * 0.1);
            }
            let x = cfg
                .augment
                .apply(&images.index_select(0, &idx), cfg.crop_pad, cfg.flip);
            let logits = model.forward_t(&x, true);
            let y = labels.index_select(0, &idx);
            let loss = if soft {
                -(logits.log_softmax(-1, Kind::Float) * y)
                    .sum_dim_intlist(-1, false, Kind::Float)
                    .mean(Kind::Float)
            } else {
                logits.log_softmax(-1, Kind::Float).nll_loss(&y)
            };
            opt.backward_step(&loss)?;
            epoch_loss.add(&loss);
            p.stats.steps += 1;
            p.stats.images_seen += idx.size()[0];
        }
        p.epoch = epoch + 1;
        ck.epoch_done(&mut p, cfg.epochs, &epoch_loss, &model.vs, &opt, None)?;
        on_epoch(epoch + 1, cfg.epochs);
    }
    Ok(p.stats)
}

/// The protocol's optimiser over `params` (its kernels as `cfg` says).
pub fn optimizer(params: Vec<Tensor>, cfg: &TrainConfig) -> Result<Optimizer, String> {
    let kernels = Kernels::fused_if(cfg.fused_optimizer);
    Optimizer::new(params, cfg.lr, sgd(cfg), kernels)
}

/// The protocol's optimiser settings: SGD with the config's momentum and weight decay (as tch's
/// `nn::sgd(momentum, 0, weight_decay, false)`).
fn sgd(cfg: &TrainConfig) -> Algorithm {
    Algorithm::Sgd {
        momentum: cfg.momentum,
        dampening: 0.0,
        weight_decay: cfg.weight_decay,
        nesterov: false,
    }
}

/// Index tensors of one shuffled epoch over `n` samples, in batches of `batch_size` (the last
/// one may be short); the permutation is drawn on `device`.
pub fn shuffled_batches(n: i64, batch_size: i64, device: Device) -> impl Iterator<Item = Tensor> {
    let perm = Tensor::randperm(n, (Kind::Int64, device));
    (0..n)
        .step_by(batch_size.max(1) as usize)
        .map(move |s| perm.narrow(0, s, batch_size.min(n - s)))
}

/// An epoch's mean loss, summed on the device and read once (no per-step host sync).
pub struct EpochLoss {
    sum: Tensor,
    batches: i64,
}

impl EpochLoss {
    pub fn new(device: Device) -> Self {
        EpochLoss {
            sum: Tensor::zeros([], (Kind::Float, device)),
            batches: 0,
        }
    }

    pub fn add(&mut self, loss: &Tensor) {
        self.sum += loss.detach().to_kind(Kind::Float);
        self.batches += 1;
    }

    /// The mean (one host read); 0 for an empty epoch.
    pub fn mean(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.sum.double_value(&[]) / self.batches as f64
        }
    }
}

/// Predicted classes for `images` (float or uint8 `[N, C, H, W]`), in eval mode, in batches.
pub fn predict(model: &Model, images: &Tensor, batch_size: i64) -> Tensor {
    let _guard = tch::no_grad_guard();
    let n = images.size()[0];
    let mut preds = Vec::new();
    let mut start = 0;
    while start < n {
        let len = batch_size.min(n - start);
        let mut x = images.narrow(0, start, len).to_device(model.device());
        if x.kind() == Kind::Uint8 {
            x = x.to_kind(Kind::Float) / 255.0;
        }
        preds.push(model.forward_t(&x, false).argmax(-1, false));
        start += len;
    }
    Tensor::cat(&preds, 0)
}

/// Fraction of `images` classified as `labels` (one host read at the end).
pub fn accuracy(model: &Model, images: &Tensor, labels: &Tensor, batch_size: i64) -> f64 {
    let preds = predict(model, images, batch_size);
    preds
        .eq_tensor(&labels.to_device(preds.device()))
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelSpec;
    use tch::Device;

    /// 4 classes told apart by which image quadrant is bright (so no flips in training).
    fn quadrants(n: i64) -> (Tensor, Tensor) {
        let y = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(4);
        let x = Tensor::rand([n, 1, 16, 16], (Kind::Float, Device::Cpu)) * 0.3;
        for i in 0..n {
            let c = i % 4;
            let _ = x
                .get(i)
                .narrow(1, (c / 2) * 8, 8)
                .narrow(2, (c % 2) * 8, 8)
                .fill_(0.9);
        }
        (x, y)
    }

    fn small_model() -> Model {
        let mut spec = ModelSpec::convnet([1, 16, 16], 4, vec![0.3], vec![0.3]);
        spec.width = 8;
        spec.depth = 2;
        Model::new(&spec, Device::Cpu)
    }

    #[test]
    fn learns_a_separable_task_with_hard_and_soft_labels() {
        tch::manual_seed(0);
        let (x, y) = quadrants(64);
        let (xt, yt) = quadrants(40);
        let cfg = TrainConfig {
            epochs: 30,
            batch_size: 16,
            lr: 0.05,
            crop_pad: 1,
            flip: false,
            ..Default::default()
        };
        let mut m = small_model();
        let before = accuracy(&m, &xt, &yt, 100);
        let stats = train_classifier(&mut m, &x, &y, &cfg, &mut |_, _| {}).unwrap();
        assert_eq!((stats.steps, stats.images_seen), (30 * 4, 30 * 64));
        let after = accuracy(&m, &xt, &yt, 100);
        assert!(
            after > 0.95 && after > before,
            "accuracy {before} → {after}"
        );
        // soft labels (one-hot rows) train the same way
        let mut m = small_model();
        train_classifier(
            &mut m,
            &x,
            &y.one_hot(4).to_kind(Kind::Float),
            &cfg,
            &mut |_, _| {},
        )
        .unwrap();
        assert!(accuracy(&m, &xt, &yt, 7) > 0.95);
    }
}
