//! `fab-t`: the targeted FAB attack as AutoAttack runs it (one run per top-k target class on
//! the points still robust; a point counts only if FAB's smallest adversarial point is within ε),
//! with torchattacks.FAB's parameter names and defaults (steps 10, n_restarts 1, alpha_max 0.1,
//! eta 1.05, beta 0.9, n_classes 10 → 9 target classes). Only `multi_targeted: true` exists here.

use ddbench_attacks::fab::{self, FabConfig};
use ddbench_attacks::plugin::{run_targeted_and_log, Targets};
use ddbench_plugin_api::{declare_attack, PluginConfig};
use ddbench_plugin_api::{Attack, AttackInput, Host, PluginResult};
use tch::Tensor;

pub struct FabT;

/// `fab-t`'s settings (torchattacks.FAB's names and defaults).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FabTConfig {
    /// Iterations per restart and target class (≥ 1).
    pub steps: i64,
    /// Restarts per target class (≥ 1); those after the first start at random.
    pub n_restarts: i64,
    /// Largest weight of the step from the clean point, in [0, 1].
    pub alpha_max: f64,
    /// Extrapolation factor of the step (≥ 1).
    pub eta: f64,
    /// Backward step towards the clean point after a success, in (0, 1].
    pub beta: f64,
    /// Must be true: only the targeted FAB of AutoAttack is implemented.
    pub multi_targeted: bool,
    /// Target classes, in 1..=classes − 1 (absent: 9, capped at classes − 1).
    pub n_target_classes: Option<i64>,
    /// torchattacks' name: the model's class count, for classes − 1 targets (not with the above).
    pub n_classes: Option<i64>,
}

impl Default for FabTConfig {
    fn default() -> Self {
        FabTConfig {
            steps: 10,
            n_restarts: 1,
            alpha_max: 0.1,
            eta: 1.05,
            beta: 0.9,
            multi_targeted: true,
            n_target_classes: None,
            n_classes: None,
        }
    }
}

impl FabTConfig {
    /// The algorithm's parameters.
    pub fn fab(&self) -> FabConfig {
        FabConfig {
            steps: self.steps,
            n_restarts: self.n_restarts,
            alpha_max: self.alpha_max,
            eta: self.eta,
            beta: self.beta,
        }
    }
}

impl PluginConfig for FabTConfig {
    fn validate(&self) -> PluginResult<()> {
        if !self.multi_targeted {
            return Err("config key 'multi_targeted': fab-t is the targeted FAB of AutoAttack; the untargeted FAB is not implemented".into());
        }
        self.fab().validate()
    }
}

impl Attack for FabT {
    type Config = FabTConfig;
    fn attack(input: &AttackInput, cfg: &FabTConfig, host: &Host) -> PluginResult<Tensor> {
        let c = cfg.fab();
        let targets = Targets {
            n_target_classes: cfg.n_target_classes,
            n_classes: cfg.n_classes,
        };
        let summary = format!("fab-t: steps={} n_restarts={}", c.steps, c.n_restarts);
        run_targeted_and_log(input, host, &summary, fab::run_targeted, &c, targets)
    }
}

declare_attack!(
    FabT,
    name = "fab-t",
    version = "0.1.0",
    description = "FAB-T (targeted FAB as in AutoAttack), L-infinity and L2 (torchattacks.FAB, multi_targeted)"
);

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::serde_json::json;
    use ddbench_plugin_api::testing::check_preflight;
    use ddbench_plugin_api::Norm;

    ddbench_plugin_api::refused_up_front_test!(FabT, Norm::Linf, 8.0 / 255.0, [
        ({"steps": 0}, "config 'steps' = 0: expected an integer ≥ 1"),
        ({"n_restarts": 0}, "config 'n_restarts' = 0: expected an integer ≥ 1"),
        ({"alpha_max": 1.1}, "config 'alpha_max' = 1.1: expected a finite number in [0, 1]"),
        ({"eta": 0.5}, "config 'eta' = 0.5: expected a finite number ≥ 1"),
        ({"beta": 0}, "config 'beta' = 0: expected a finite number in (0, 1]"),
        ({"n_target_classes": 12}, "config 'n_target_classes' = 12: expected an integer in [1, 9]"),
        ({"multi_targeted": false}, "config key 'multi_targeted': fab-t is the targeted FAB of AutoAttack; the untargeted FAB is not implemented"),
    ]);

    #[test]
    fn runs_on_two_images_of_any_shape_and_any_model() {
        check_preflight::<FabT>(10, Norm::Linf, 1.0 / 255.0, json!({"n_restarts": 2})).unwrap();
        check_preflight::<FabT>(10, Norm::L2, 0.1, json!({})).unwrap();
        check_preflight::<FabT>(10, Norm::Linf, 0.3, json!({})).unwrap();
    }
}
