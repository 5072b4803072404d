//! The JSON configuration shared by the SRe2L family, with the official CIFAR defaults.

use ddbench_nn::{Arch, NormKind};

/// Every key is optional; defaults follow the official SRe2L / GUARD CIFAR scripts.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sre2lConfig {
    // --- squeeze: the teacher ---
    /// `resnet18` (official) or `convnet` (then with BatchNorm, which recovery needs).
    pub teacher_arch: Arch,
    pub teacher_width: i64,
    pub teacher_depth: i64,
    pub teacher_epochs: i64,
    pub teacher_batch: i64,
    pub teacher_lr: f64,
    pub teacher_momentum: f64,
    pub teacher_weight_decay: f64,
    /// After training, recompute the BatchNorm running statistics as the plain average over the
    /// (unaugmented) training set with the final weights (not in the official code: without it,
    /// short GUARD squeezes leave running statistics that no longer fit the weights).
    pub bn_recalibration: bool,
    /// Seed of the teacher (not the run's seed: every run seed reuses one cached teacher).
    pub teacher_seed: u64,
    /// Train the teacher on this many images per class (seeded pick) instead of all.
    pub teacher_subset: Option<i64>,
    // --- regularizers (guard / sre2l-at) ---
    /// GUARD variant: `cifar` (official CIFAR script), `simplified` (ImageNet-scale), `cure`.
    pub variant: String,
    /// Step length of z, in units of the data set's normalised inputs (as the official code).
    pub h: f64,
    /// Weight of the curvature term (`cifar`, `cure`).
    pub lambda: f64,
    /// Weight of the `simplified` term.
    pub beta: f64,
    /// Adversarial training (sre2l-at): L∞ radius, step and steps, in [0, 1] pixel space.
    pub at_eps: f64,
    pub at_alpha: f64,
    pub at_steps: i64,
    // --- recover ---
    pub iterations: i64,
    pub recover_lr: f64,
    pub r_bn: f64,
    pub first_bn_multiplier: f64,
    pub jitter: i64,
    /// Random horizontal flips during recovery (the official CIFAR code has none outside CDA).
    pub flip: bool,
    /// IPC indices recovered together in one batch (official: 1, i.e. one image per class).
    pub ipc_per_batch: i64,
    // --- relabel (used by the harness's soft-label protocol) ---
    pub temperature: f64,
}

impl Default for Sre2lConfig {
    fn default() -> Self {
        Sre2lConfig {
            teacher_arch: Arch::Resnet18,
            teacher_width: 128,
            teacher_depth: 3,
            teacher_epochs: 200,
            teacher_batch: 128,
            teacher_lr: 0.1,
            teacher_momentum: 0.9,
            teacher_weight_decay: 5e-4,
            bn_recalibration: true,
            teacher_seed: 0,
            teacher_subset: None,
            variant: "cifar".into(),
            h: 3.0,
            lambda: 100.0,
            beta: 1e-4,
            at_eps: 8.0 / 255.0,
            at_alpha: 2.0 / 255.0,
            at_steps: 10,
            iterations: 1000,
            recover_lr: 0.25,
            r_bn: 0.01,
            first_bn_multiplier: 10.0,
            jitter: 4,
            flip: false,
            ipc_per_batch: 1,
            temperature: 30.0,
        }
    }
}

impl Sre2lConfig {
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let cfg: Sre2lConfig =
            serde_json::from_value(v.clone()).map_err(|e| format!("config: {e}"))?;
        if cfg.teacher_epochs < 1
            || cfg.teacher_batch < 1
            || cfg.iterations < 1
            || cfg.ipc_per_batch < 1
        {
            return Err(
                "config: teacher_epochs, teacher_batch, iterations and ipc_per_batch must be ≥ 1"
                    .into(),
            );
        }
        Ok(cfg)
    }

    /// The norm layer of a ConvNet teacher: BatchNorm (recovery matches BatchNorm statistics).
    pub fn teacher_norm(&self) -> NormKind {
        NormKind::Batch
    }

    /// The part of the config that determines the teacher (its cache key).
    pub fn squeeze_part(&self, regularizer: &str) -> serde_json::Value {
        let mut v = serde_json::json!({
            "arch": self.teacher_arch, "width": self.teacher_width, "depth": self.teacher_depth,
            "epochs": self.teacher_epochs, "batch": self.teacher_batch, "lr": self.teacher_lr,
            "momentum": self.teacher_momentum, "weight_decay": self.teacher_weight_decay,
            "seed": self.teacher_seed, "subset": self.teacher_subset, "regularizer": regularizer,
            "bn_recalibration": self.bn_recalibration,
        });
        match regularizer {
            "guard" => {
                v["variant"] = self.variant.clone().into();
                v["h"] = self.h.into();
                v["lambda"] = self.lambda.into();
                v["beta"] = self.beta.into();
            }
            "pgd-at" => {
                v["at_eps"] = self.at_eps.into();
                v["at_alpha"] = self.at_alpha.into();
                v["at_steps"] = self.at_steps.into();
            }
            _ => {}
        }
        v
    }
}
