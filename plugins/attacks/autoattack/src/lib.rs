//! `autoattack`: the AutoAttack ensemble (APGD-CE, APGD-T, FAB-T, Square, each on the points
//! still robust; per point the first success). `version`: "standard" (the reference: 100
//! iterations for APGD/FAB, 5000 Square queries; the default) or "fast" (torchattacks.AutoAttack's
//! defaults: 10 iterations). The version is logged on every run. L∞ and L2.

use ddbench_attacks::autoattack::{self, AutoAttackConfig, Version};
use ddbench_attacks::plugin::target_count;
use ddbench_attacks::Problem;
use ddbench_plugin_api::{config_expect_keys, config_get, config_get_min, declare_attack};
use ddbench_plugin_api::{Attack, AttackInput, Host, PluginResult};
use tch::Tensor;

pub struct AutoAttack;

impl Attack for AutoAttack {
    fn attack(input: &AttackInput, host: &Host) -> PluginResult<Tensor> {
        let cfg = &input.config;
        config_expect_keys(
            cfg,
            &[
                "version",
                "n_classes",
                "n_target_classes",
                "steps",
                "n_queries",
            ],
        )?;
        let version = Version::parse(&config_get(cfg, "version", "standard".to_string())?)?;
        let mut c = AutoAttackConfig::new(version, target_count(input)?);
        c.steps = config_get_min(cfg, "steps", c.steps, 1)?;
        c.n_queries = config_get_min(cfg, "n_queries", c.n_queries, 1)?;
        c.validate()?;
        let _rng = ddbench_plugin_api::SeedScope::new(input.seed);
        let p = Problem::of(input);
        let out = autoattack::run(&p, &c, input.seed, &|m| host.log(m))?;
        Ok(out.adv)
    }
}

declare_attack!(
    AutoAttack,
    name = "autoattack",
    version = "0.1.0",
    description = "AutoAttack (apgd-ce, apgd-t, fab-t, square), L-infinity and L2; config version=standard (default, 100 it.) or fast (10 it.), logged per run"
);

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::serde_json::json;
    use ddbench_plugin_api::testing::{check_preflight, refused_up_front, run_attack};
    use ddbench_plugin_api::Norm;

    ddbench_plugin_api::refused_up_front_test!(AutoAttack, Norm::Linf, 8.0 / 255.0, [
        ({"n_queries": 0}, "config 'n_queries' = 0: expected an integer ≥ 1"),
        ({"steps": -1}, "config 'steps' = -1: expected an integer ≥ 1"),
        ({"n_target_classes": 0}, "config 'n_target_classes' = 0: expected an integer in [1, 9]"),
    ]);

    #[test]
    fn other_settings_are_refused_before_any_model_call() {
        let cfg = json!({"version": "quick"});
        let msg = refused_up_front::<AutoAttack>([2, 1, 28, 28], 10, Norm::Linf, 8.0 / 255.0, cfg);
        assert!(msg.contains("'version'"), "{msg}");
        // Square, the last component, cannot attack 4×4 images under L2: refused up front
        let msg = refused_up_front::<AutoAttack>([2, 1, 4, 4], 10, Norm::L2, 0.5, json!({}));
        assert!(msg.contains("at least 5×5"), "{msg}");
    }

    #[test]
    fn runs_on_two_images_of_any_shape_and_any_model() {
        // a tiny ε keeps the points robust, so every component runs
        for (norm, eps) in [(Norm::Linf, 1e-4), (Norm::L2, 1e-3), (Norm::Linf, 0.3)] {
            let cfg = json!({"version": "fast", "n_queries": 200});
            check_preflight::<AutoAttack>(10, norm, eps, cfg).unwrap();
        }
        let run = run_attack::<AutoAttack>([2, 1, 28, 28], 10, Norm::Linf, 1e-4, json!({}));
        run.check().unwrap();
        assert!(run.logs[0].contains("version=standard"), "{:?}", run.logs);
        assert!(
            run.logs.last().unwrap().contains("after square"),
            "{:?}",
            run.logs
        );
    }
}
