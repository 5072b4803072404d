//! `fab-t`: the targeted FAB attack as AutoAttack runs it (one run per top-k target class on
//! the points still robust; a point counts only if FAB's smallest adversarial point is within ε),
//! with torchattacks.FAB's parameter names and defaults (steps 10, n_restarts 1, alpha_max 0.1,
//! eta 1.05, beta 0.9, n_classes 10 → 9 target classes). Only `multi_targeted: true` exists here.

use ddbench_attacks::fab::{self, FabConfig};
use ddbench_attacks::plugin::{expect_keys_and_targets, run_targeted_and_log};
use ddbench_plugin_api::{config_get, declare_attack};
use ddbench_plugin_api::{Attack, AttackInput, Host, PluginResult};
use tch::Tensor;

pub struct FabT;

impl Attack for FabT {
    fn attack(input: &AttackInput, host: &Host) -> PluginResult<Tensor> {
        let cfg = &input.config;
        let own = [
            "steps",
            "n_restarts",
            "alpha_max",
            "eta",
            "beta",
            "multi_targeted",
        ];
        expect_keys_and_targets(input, &own)?;
        if !config_get(cfg, "multi_targeted", true)? {
            return Err("config key 'multi_targeted': fab-t is the targeted FAB of AutoAttack; the untargeted FAB is not implemented".into());
        }
        let c = FabConfig {
            steps: config_get(cfg, "steps", 10)?,
            n_restarts: config_get(cfg, "n_restarts", 1)?,
            alpha_max: config_get(cfg, "alpha_max", 0.1)?,
            eta: config_get(cfg, "eta", 1.05)?,
            beta: config_get(cfg, "beta", 0.9)?,
        };
        c.validate()?;
        let summary = format!("fab-t: steps={} n_restarts={}", c.steps, c.n_restarts);
        run_targeted_and_log(input, host, &summary, fab::run_targeted, &c)
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
    ]);

    #[test]
    fn runs_on_two_images_of_any_shape_and_any_model() {
        check_preflight::<FabT>(10, Norm::Linf, 1.0 / 255.0, json!({"n_restarts": 2})).unwrap();
        check_preflight::<FabT>(10, Norm::L2, 0.1, json!({})).unwrap();
        check_preflight::<FabT>(10, Norm::Linf, 0.3, json!({})).unwrap();
    }
}
