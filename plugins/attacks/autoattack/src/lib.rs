//! `autoattack`: the AutoAttack ensemble (APGD-CE, APGD-T, FAB-T, Square, each on the points
//! still robust; per point the first success). `version`: "standard" (the reference: 100
//! iterations for APGD/FAB, 5000 Square queries; the default) or "fast" (torchattacks.AutoAttack's
//! defaults: 10 iterations). The version is logged on every run. L∞ and L2. As the reference
//! code runs them by default: APGD's step-size checkpoints (`schedule`: "reference" or "paper")
//! and Square's windows (`windows`: "per-batch" or "per-image"), logged too.

use ddbench_attacks::apgd::Schedule;
use ddbench_attacks::autoattack::{self, AutoAttackConfig as EnsembleParams, Version};
use ddbench_attacks::plugin::Targets;
use ddbench_attacks::square::Windows;
use ddbench_attacks::Problem;
use ddbench_plugin_api::{check_in, declare_attack, PluginConfig, ValueRange};
use ddbench_plugin_api::{Attack, AttackInput, Host, PluginResult};
use tch::Tensor;

pub struct AutoAttack;

/// `autoattack`'s settings: the version, and overrides of its iteration counts.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoAttackConfig {
    /// "standard" (100 APGD/FAB iterations, the reference) or "fast" (10, torchattacks').
    pub version: String,
    /// torchattacks' name: the model's class count, for classes − 1 targets (not with the below).
    pub n_classes: Option<i64>,
    /// Target classes of APGD-T and FAB-T, in 1..=classes − 1 (absent: 9, capped at classes − 1).
    pub n_target_classes: Option<i64>,
    /// APGD and FAB iterations (≥ 1; absent: the version's).
    pub steps: Option<i64>,
    /// Square's queries (≥ 1).
    pub n_queries: i64,
    /// APGD-CE's and APGD-T's step-size checkpoints: "reference" (as the reference code) or
    /// "paper" (the paper's real-valued schedule).
    pub schedule: String,
    /// Square's windows: "per-batch" (as the reference code) or "per-image".
    pub windows: String,
}

impl Default for AutoAttackConfig {
    fn default() -> Self {
        AutoAttackConfig {
            version: "standard".into(),
            n_classes: None,
            n_target_classes: None,
            steps: None,
            n_queries: 5000,
            schedule: "reference".into(),
            windows: "per-batch".into(),
        }
    }
}

impl AutoAttackConfig {
    /// The ensemble's parameters for `k` target classes.
    pub fn ensemble(&self, k: i64) -> PluginResult<EnsembleParams> {
        let mut c = EnsembleParams::new(Version::parse(&self.version)?, k);
        c.steps = self.steps.unwrap_or(c.steps);
        c.n_queries = self.n_queries;
        c.schedule = Schedule::parse(&self.schedule)?;
        c.windows = Windows::parse(&self.windows)?;
        Ok(c)
    }
}

impl PluginConfig for AutoAttackConfig {
    fn validate(&self) -> PluginResult<()> {
        Version::parse(&self.version)?;
        Schedule::parse(&self.schedule)?;
        Windows::parse(&self.windows)?;
        if let Some(steps) = self.steps {
            check_in("steps", steps, ValueRange::at_least(1))?;
        }
        check_in("n_queries", self.n_queries, ValueRange::at_least(1))?;
        Ok(())
    }
}

impl Attack for AutoAttack {
    type Config = AutoAttackConfig;
    fn attack(input: &AttackInput, cfg: &AutoAttackConfig, host: &Host) -> PluginResult<Tensor> {
        let targets = Targets {
            n_target_classes: cfg.n_target_classes,
            n_classes: cfg.n_classes,
        };
        let c = cfg.ensemble(targets.count(&input.model)?)?;
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
    version = "0.2.0",
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
        ({"schedule": "exact"}, "config key 'schedule': expected \"reference\" or \"paper\", got \"exact\""),
        ({"windows": "shared"}, "config key 'windows': expected \"per-batch\" or \"per-image\", got \"shared\""),
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
