//! The JSON configuration shared by the SRe2L family, with the official CIFAR defaults.

use crate::regularizer::GuardVariant;
use ddbench_nn::{Arch, NormKind};
use ddbench_plugin_api::{check_in, PluginConfig, PluginError, PluginResult, ValueRange};

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
    /// The teacher's SGD steps as one fused multi-tensor kernel (as PyTorch's `fused=True`)
    /// instead of a few kernels per variable: the same update, rounded differently, so another
    /// teacher (in its cache key when true; absent from resolved configs when false, as before it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub teacher_fused_sgd: bool,
    /// After training, recompute the BatchNorm running statistics as the plain average over the
    /// (unaugmented) training set with the final weights (not in the official code: without it,
    /// short GUARD squeezes leave running statistics that no longer fit the weights).
    pub bn_recalibration: bool,
    /// Seed of the teacher (not the run's seed: every run seed reuses one cached teacher).
    pub teacher_seed: u64,
    /// Train the teacher on this many images per class (seeded pick) instead of all.
    pub teacher_subset: Option<i64>,
    // --- regularizers (guard / sre2l-at) ---
    /// GUARD: one clean forward and input gradient serve both ĝ and the curvature term (one
    /// forward and one input backward fewer per step than the official code): the same term,
    /// rounded differently, so another teacher (`shared_pass` in its cache key when true;
    /// absent from resolved configs when false, as before it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub guard_shared_pass: bool,
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
            teacher_fused_sgd: false,
            bn_recalibration: true,
            teacher_seed: 0,
            teacher_subset: None,
            guard_shared_pass: false,
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

impl PluginConfig for Sre2lConfig {
    /// Checks every setting's range (floats finite), so that a bad value is refused before the
    /// teacher is trained: counts and sizes ≥ 1, learning rates, `h`, `at_alpha` and the
    /// temperature > 0, weights and `jitter` ≥ 0, `teacher_momentum` in [0, 1), `at_eps` in
    /// [0, 1] (pixel space), and `variant` one of GUARD's variants.
    fn validate(&self) -> PluginResult<()> {
        let at_least_one = ValueRange::at_least(1);
        let positive = ValueRange::above(0.0);
        let non_negative = ValueRange::at_least(0.0);
        check_in("teacher_width", self.teacher_width, at_least_one)?;
        check_in("teacher_depth", self.teacher_depth, at_least_one)?;
        check_in("teacher_epochs", self.teacher_epochs, at_least_one)?;
        check_in("teacher_batch", self.teacher_batch, at_least_one)?;
        check_in("teacher_lr", self.teacher_lr, positive)?;
        check_in(
            "teacher_momentum",
            self.teacher_momentum,
            ValueRange::right_open(0.0, 1.0),
        )?;
        check_in(
            "teacher_weight_decay",
            self.teacher_weight_decay,
            non_negative,
        )?;
        if let Some(per_class) = self.teacher_subset {
            check_in("teacher_subset", per_class, at_least_one)?;
        }
        self.variant.parse::<GuardVariant>().map_err(PluginError)?;
        check_in("h", self.h, positive)?;
        check_in("lambda", self.lambda, non_negative)?;
        check_in("beta", self.beta, non_negative)?;
        check_in("at_eps", self.at_eps, ValueRange::closed(0.0, 1.0))?;
        check_in("at_alpha", self.at_alpha, positive)?;
        check_in("at_steps", self.at_steps, at_least_one)?;
        check_in("iterations", self.iterations, at_least_one)?;
        check_in("recover_lr", self.recover_lr, positive)?;
        check_in("r_bn", self.r_bn, non_negative)?;
        check_in(
            "first_bn_multiplier",
            self.first_bn_multiplier,
            non_negative,
        )?;
        check_in("jitter", self.jitter, ValueRange::at_least(0))?;
        check_in("ipc_per_batch", self.ipc_per_batch, at_least_one)?;
        check_in("temperature", self.temperature, positive)?;
        Ok(())
    }
}

impl Sre2lConfig {
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
                if self.guard_shared_pass {
                    v["shared_pass"] = true.into();
                }
            }
            "pgd-at" => {
                v["at_eps"] = self.at_eps.into();
                v["at_alpha"] = self.at_alpha.into();
                v["at_steps"] = self.at_steps.into();
            }
            _ => {}
        }
        if self.teacher_fused_sgd {
            v["fused_sgd"] = true.into();
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::parse_config;
    use serde_json::json;

    fn from_json(v: &serde_json::Value) -> Result<Sre2lConfig, String> {
        parse_config(v).map_err(|e| e.0)
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(from_json(&json!({})).unwrap(), Sre2lConfig::default());
        from_json(&json!({"jitter": 0, "lambda": 0, "teacher_subset": 1})).unwrap();
    }

    #[test]
    fn out_of_range_settings_are_refused_with_key_value_and_range() {
        for (cfg, msg) in [
            (
                json!({"iterations": 0}),
                "config 'iterations' = 0: expected an integer ≥ 1",
            ),
            (
                json!({"recover_lr": -0.25}),
                "config 'recover_lr' = -0.25: expected a finite number > 0",
            ),
            (
                json!({"jitter": -1}),
                "config 'jitter' = -1: expected an integer ≥ 0",
            ),
            (
                json!({"teacher_momentum": 1.0}),
                "config 'teacher_momentum' = 1: expected a finite number in [0, 1)",
            ),
            (
                json!({"teacher_subset": 0}),
                "config 'teacher_subset' = 0: expected an integer ≥ 1",
            ),
            (
                json!({"at_eps": 1.5}),
                "config 'at_eps' = 1.5: expected a finite number in [0, 1]",
            ),
            (
                json!({"temperature": 0}),
                "config 'temperature' = 0: expected a finite number > 0",
            ),
            (
                json!({"variant": "cifra"}),
                "config key 'variant': unknown 'cifra' (cifar, simplified, cure)",
            ),
        ] {
            assert_eq!(from_json(&cfg).unwrap_err(), msg);
        }
        // wrong types and unknown keys are refused by parsing, naming the key
        assert!(from_json(&json!({"iterations": 1.5}))
            .unwrap_err()
            .starts_with("config key 'iterations': invalid type: floating point"));
        assert!(from_json(&json!({"iteration": 10}))
            .unwrap_err()
            .starts_with("config: unknown field 'iteration', expected one of"));
    }

    #[test]
    fn shared_pass_teachers_are_other_guard_teachers_and_off_leaves_the_config_as_before() {
        let plain = Sre2lConfig::default();
        let text = serde_json::to_string(&plain).unwrap();
        assert!(!text.contains("shared_pass"), "{text}");
        let shared = Sre2lConfig {
            guard_shared_pass: true,
            ..Default::default()
        };
        assert!(serde_json::to_string(&shared)
            .unwrap()
            .contains("\"guard_shared_pass\":true"));
        assert_eq!(shared.squeeze_part("guard")["shared_pass"], true);
        assert_ne!(plain.squeeze_part("guard"), shared.squeeze_part("guard"));
        assert!(plain.squeeze_part("guard").get("shared_pass").is_none());
        let back: Sre2lConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, plain);
    }
}
