//! `apgd-ce`: APGD (Croce & Hein 2020) with torchattacks.APGD's parameter names and defaults
//! (steps 10, n_restarts 1, rho 0.75, loss "ce"; `loss: "dlr"` gives APGD-DLR). L∞ and L2.
//! `schedule`: "reference" (default: the step-size checkpoints as the reference code computes
//! them) or "paper" (the paper's real-valued schedule, ddbench's form before 0.2.0).

use ddbench_attacks::apgd::{self, ApgdConfig, Schedule};
use ddbench_attacks::losses::Loss;
use ddbench_attacks::plugin::run_and_log;
use ddbench_plugin_api::{declare_attack, PluginConfig};
use ddbench_plugin_api::{Attack, AttackInput, Host, PluginResult};
use tch::Tensor;

pub struct ApgdCe;

/// `apgd-ce`'s settings (torchattacks.APGD's names and defaults).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApgdCeConfig {
    /// Iterations per restart (≥ 1).
    pub steps: i64,
    /// Restarts (≥ 1), each from a random start.
    pub n_restarts: i64,
    /// Fraction of improving steps below which the step size halves at a checkpoint, in (0, 1].
    pub rho: f64,
    /// The loss ascended: "ce" (APGD-CE) or "dlr" (APGD-DLR).
    pub loss: String,
    /// The step-size checkpoints: "reference" (as fra31/auto-attack and torchattacks compute
    /// them) or "paper" (the paper's real-valued schedule).
    pub schedule: String,
}

impl Default for ApgdCeConfig {
    fn default() -> Self {
        ApgdCeConfig {
            steps: 10,
            n_restarts: 1,
            rho: 0.75,
            loss: "ce".into(),
            schedule: "reference".into(),
        }
    }
}

impl ApgdCeConfig {
    /// The algorithm's parameters (the loss named by `loss`).
    pub fn apgd(&self) -> PluginResult<ApgdConfig> {
        Ok(ApgdConfig {
            steps: self.steps,
            n_restarts: self.n_restarts,
            rho: self.rho,
            loss: Loss::parse(&self.loss)?,
            schedule: Schedule::parse(&self.schedule)?,
        })
    }
}

impl PluginConfig for ApgdCeConfig {
    fn validate(&self) -> PluginResult<()> {
        self.apgd()?.validate()
    }
}

impl Attack for ApgdCe {
    type Config = ApgdCeConfig;
    fn attack(input: &AttackInput, cfg: &ApgdCeConfig, host: &Host) -> PluginResult<Tensor> {
        let c = cfg.apgd()?;
        let summary = format!(
            "apgd-ce: loss={:?} steps={} n_restarts={} schedule={}",
            c.loss,
            c.steps,
            c.n_restarts,
            c.schedule.name()
        );
        run_and_log(input, host, &summary, |p, _, out| {
            apgd::run(p, &c, None, out)
        })
    }
}

declare_attack!(
    ApgdCe,
    name = "apgd-ce",
    version = "0.2.0",
    description = "APGD-CE, L-infinity and L2 (torchattacks.APGD; loss=dlr for APGD-DLR)"
);

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::serde_json::json;
    use ddbench_plugin_api::testing::check_preflight;
    use ddbench_plugin_api::Norm;

    ddbench_plugin_api::refused_up_front_test!(ApgdCe, Norm::Linf, 8.0 / 255.0, [
        ({"rho": 1.5}, "config 'rho' = 1.5: expected a finite number in (0, 1]"),
        ({"rho": 0}, "config 'rho' = 0: expected a finite number in (0, 1]"),
        ({"steps": 0}, "config 'steps' = 0: expected an integer ≥ 1"),
        ({"n_restarts": -1}, "config 'n_restarts' = -1: expected an integer ≥ 1"),
        ({"loss": "cw"}, "config key 'loss': expected \"ce\" or \"dlr\", got \"cw\""),
        ({"schedule": "linear"}, "config key 'schedule': expected \"reference\" or \"paper\", got \"linear\""),
    ]);

    #[test]
    fn runs_on_two_images_of_any_shape_and_any_model() {
        check_preflight::<ApgdCe>(10, Norm::Linf, 1.0 / 255.0, json!({})).unwrap();
        check_preflight::<ApgdCe>(10, Norm::L2, 0.1, json!({})).unwrap();
        check_preflight::<ApgdCe>(10, Norm::Linf, 1.0 / 255.0, json!({"loss": "dlr"})).unwrap();
        check_preflight::<ApgdCe>(10, Norm::L2, 0.1, json!({"loss": "dlr", "n_restarts": 2}))
            .unwrap();
        check_preflight::<ApgdCe>(10, Norm::Linf, 1.0 / 255.0, json!({"schedule": "paper"}))
            .unwrap();
    }
}
