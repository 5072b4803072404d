//! `apgd-t`: targeted APGD with the targeted DLR loss, one run per target class (the top-k
//! non-true classes by clean logits) on the points still robust; torchattacks.APGDT's parameter
//! names and defaults (steps 10, n_restarts 1, rho 0.75, n_classes 10 → 9 target classes).

use ddbench_attacks::apgd::{self, ApgdConfig};
use ddbench_attacks::losses::Loss;
use ddbench_attacks::plugin::{expect_keys_and_targets, run_targeted_and_log};
use ddbench_plugin_api::{config_get, declare_attack};
use ddbench_plugin_api::{Attack, AttackInput, Host, PluginResult};
use tch::Tensor;

pub struct ApgdT;

impl Attack for ApgdT {
    fn attack(input: &AttackInput, host: &Host) -> PluginResult<Tensor> {
        let cfg = &input.config;
        expect_keys_and_targets(input, &["steps", "n_restarts", "rho"])?;
        let c = ApgdConfig {
            steps: config_get(cfg, "steps", 10)?,
            n_restarts: config_get(cfg, "n_restarts", 1)?,
            rho: config_get(cfg, "rho", 0.75)?,
            loss: Loss::Dlr,
        };
        c.validate()?;
        let summary = format!("apgd-t: steps={} n_restarts={}", c.steps, c.n_restarts);
        run_targeted_and_log(input, host, &summary, apgd::run_targeted, &c)
    }
}

declare_attack!(
    ApgdT,
    name = "apgd-t",
    version = "0.1.0",
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
    }
}
