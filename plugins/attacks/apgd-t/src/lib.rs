//! `apgd-t`: targeted APGD with the targeted DLR loss, one run per target class (the top-k
//! non-true classes by clean logits) on the points still robust; torchattacks.APGDT's parameter
//! names and defaults (steps 10, n_restarts 1, rho 0.75, n_classes 10 → 9 target classes).
//! `schedule`: "reference" (default: the step-size checkpoints as the reference code computes
//! them) or "paper" (the paper's real-valued schedule, ddbench's form before 0.2.0).

use ddbench_attacks::apgd::{self, ApgdConfig, Schedule};
use ddbench_attacks::losses::Loss;
use ddbench_attacks::plugin::{run_targeted_and_log, Targets};
use ddbench_plugin_api::{declare_attack, PluginConfig};
use ddbench_plugin_api::{Attack, AttackInput, Host, PluginResult};
use tch::Tensor;

pub struct ApgdT;

/// `apgd-t`'s settings (torchattacks.APGDT's names and defaults).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApgdTConfig {
    /// Iterations per restart and target class (≥ 1).
    pub steps: i64,
    /// Restarts per target class (≥ 1), each from a random start.
    pub n_restarts: i64,
    /// Fraction of improving steps below which the step size halves at a checkpoint, in (0, 1].
    pub rho: f64,
    /// Target classes, in 1..=classes − 1 (absent: 9, capped at classes − 1).
    pub n_target_classes: Option<i64>,
    /// torchattacks' name: the model's class count, for classes − 1 targets (not with the above).
    pub n_classes: Option<i64>,
    /// The step-size checkpoints: "reference" (as fra31/auto-attack and torchattacks compute
    /// them) or "paper" (the paper's real-valued schedule).
    pub schedule: String,
}

impl Default for ApgdTConfig {
    fn default() -> Self {
        ApgdTConfig {
            steps: 10,
            n_restarts: 1,
            rho: 0.75,
            n_target_classes: None,
            n_classes: None,
            schedule: "reference".into(),
        }
    }
}

impl ApgdTConfig {
    /// The algorithm's parameters (targeted DLR loss).
    pub fn apgd(&self) -> PluginResult<ApgdConfig> {
        Ok(ApgdConfig {
            steps: self.steps,
            n_restarts: self.n_restarts,
            rho: self.rho,
            loss: Loss::Dlr,
            schedule: Schedule::parse(&self.schedule)?,
        })
    }
}

impl PluginConfig for ApgdTConfig {
    fn validate(&self) -> PluginResult<()> {
        self.apgd()?.validate()
    }
}

impl Attack for ApgdT {
    type Config = ApgdTConfig;
    fn attack(input: &AttackInput, cfg: &ApgdTConfig, host: &Host) -> PluginResult<Tensor> {
        let c = cfg.apgd()?;
        let targets = Targets {
            n_target_classes: cfg.n_target_classes,
            n_classes: cfg.n_classes,
        };
        let summary = format!(
            "apgd-t: steps={} n_restarts={} schedule={}",
            c.steps,
            c.n_restarts,
            c.schedule.name()
        );
        run_targeted_and_log(input, host, &summary, apgd::run_targeted, &c, targets)
    }
}

declare_attack!(
    ApgdT,
    name = "apgd-t",
    version = "0.2.0",
    description =
        "APGD-T (targeted DLR, top-k target classes), L-infinity and L2 (torchattacks.APGDT)"
);

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::serde_json::json;
    use ddbench_plugin_api::testing::{check_preflight, refused_up_front};
    use ddbench_plugin_api::Norm;

    ddbench_plugin_api::refused_up_front_test!(ApgdT, Norm::Linf, 8.0 / 255.0, [
        ({"rho": 1.5}, "config 'rho' = 1.5: expected a finite number in (0, 1]"),
        ({"steps": -5}, "config 'steps' = -5: expected an integer ≥ 1"),
        ({"n_target_classes": 0}, "config 'n_target_classes' = 0: expected an integer in [1, 9]"),
        ({"n_target_classes": 10}, "config 'n_target_classes' = 10: expected an integer in [1, 9]"),
        ({"schedule": "Paper"}, "config key 'schedule': expected \"reference\" or \"paper\", got \"Paper\""),
    ]);

    #[test]
    fn other_settings_are_refused_before_any_model_call() {
        let cfg = json!({"n_classes": 11});
        let msg = refused_up_front::<ApgdT>([2, 1, 28, 28], 10, Norm::Linf, 8.0 / 255.0, cfg);
        assert!(msg.contains("'n_classes' is 11"), "{msg}");
    }

    #[test]
    fn runs_on_two_images_of_any_shape_and_any_model() {
        check_preflight::<ApgdT>(10, Norm::Linf, 1.0 / 255.0, json!({})).unwrap();
        check_preflight::<ApgdT>(10, Norm::L2, 0.1, json!({"n_target_classes": 2})).unwrap();
        check_preflight::<ApgdT>(10, Norm::Linf, 1.0 / 255.0, json!({"schedule": "paper"}))
            .unwrap();
    }
}
