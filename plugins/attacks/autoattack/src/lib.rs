//! `autoattack`: the AutoAttack ensemble (APGD-CE, APGD-T, FAB-T, Square, each on the points
//! still robust; per point the first success). `version`: "standard" (the reference: 100
//! iterations for APGD/FAB, 5000 Square queries; the default) or "fast" (torchattacks.AutoAttack's
//! defaults: 10 iterations). The version is logged on every run. L∞ and L2.

use ddbench_attacks::autoattack::{self, AutoAttackConfig, Version};
use ddbench_attacks::targets::resolve_count;
use ddbench_plugin_api::{config_expect_keys, config_get, declare_attack};
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
        let k = resolve_count(
            config_get(cfg, "n_target_classes", None)?,
            config_get(cfg, "n_classes", None)?,
            input.model.num_classes(),
        )?;
        let mut c = AutoAttackConfig::new(version, k);
        c.steps = config_get(cfg, "steps", c.steps)?;
        c.n_queries = config_get(cfg, "n_queries", c.n_queries)?;
        let (x, y) = (&input.images, &input.labels);
        tch::manual_seed(input.seed as i64);
        let out = autoattack::run(
            &input.model,
            x,
            y,
            input.norm,
            input.eps,
            &c,
            input.seed,
            &|m| host.log(m),
        )?;
        Ok(out.adv)
    }
}

declare_attack!(
    AutoAttack,
    name = "autoattack",
    version = "0.1.0",
    description = "AutoAttack (apgd-ce, apgd-t, fab-t, square), L-infinity and L2; config version=standard (default, 100 it.) or fast (10 it.), logged per run"
);
