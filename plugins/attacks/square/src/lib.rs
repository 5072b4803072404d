//! `square`: the Square attack, L∞ and L2, with torchattacks.Square's parameter names and defaults (n_queries 5000, n_restarts 1,
//! p_init 0.8, margin loss, rescaled schedule). Forward passes only. `windows`: "per-batch"
//! (default: one window place and sign pattern per batch and query, as the reference code
//! draws them) or "per-image" (each image its own, ddbench's form before 0.2.0).

use ddbench_attacks::plugin::run_and_log;
use ddbench_attacks::square::{self, SquareConfig as SquareParams, Windows};
use ddbench_plugin_api::{declare_attack, PluginConfig};
use ddbench_plugin_api::{Attack, AttackInput, Host, PluginResult};
use tch::Tensor;

pub struct Square;

/// `square`'s settings (torchattacks.Square's names and defaults).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SquareConfig {
    /// Model queries per restart (≥ 1); the square-size schedule is rescaled to it.
    pub n_queries: i64,
    /// Restarts (≥ 1) on the points still robust.
    pub n_restarts: i64,
    /// The first squares' fraction of the image, in (0, 1].
    pub p_init: f64,
    /// Where the squares go: "per-batch" (one place and sign pattern for the batch at each
    /// query, as the reference code) or "per-image" (each image its own).
    pub windows: String,
}

impl Default for SquareConfig {
    fn default() -> Self {
        SquareConfig {
            n_queries: 5000,
            n_restarts: 1,
            p_init: 0.8,
            windows: "per-batch".into(),
        }
    }
}

impl SquareConfig {
    /// The algorithm's parameters.
    pub fn square(&self) -> PluginResult<SquareParams> {
        Ok(SquareParams {
            n_queries: self.n_queries,
            n_restarts: self.n_restarts,
            p_init: self.p_init,
            windows: Windows::parse(&self.windows)?,
        })
    }
}

impl PluginConfig for SquareConfig {
    fn validate(&self) -> PluginResult<()> {
        self.square()?.validate()
    }
}

impl Attack for Square {
    type Config = SquareConfig;
    fn attack(input: &AttackInput, cfg: &SquareConfig, host: &Host) -> PluginResult<Tensor> {
        let c = cfg.square()?;
        let summary = format!(
            "square: n_queries={} n_restarts={} p_init={} windows={}",
            c.n_queries,
            c.n_restarts,
            c.p_init,
            c.windows.name()
        );
        run_and_log(input, host, &summary, |p, _, out| square::run(p, &c, out))
    }
}

declare_attack!(
    Square,
    name = "square",
    version = "0.2.0",
    description = "Square attack, L-infinity and L2 (torchattacks.Square)"
);

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::serde_json::json;
    use ddbench_plugin_api::testing::check_preflight;
    use ddbench_plugin_api::Norm;

    ddbench_plugin_api::refused_up_front_test!(Square, Norm::Linf, 8.0 / 255.0, [
        ({"n_queries": 0}, "config 'n_queries' = 0: expected an integer ≥ 1"),
        ({"n_restarts": 0}, "config 'n_restarts' = 0: expected an integer ≥ 1"),
        ({"p_init": 0}, "config 'p_init' = 0: expected a finite number in (0, 1]"),
        ({"p_init": 1.5}, "config 'p_init' = 1.5: expected a finite number in (0, 1]"),
        ({"windows": "batch"}, "config key 'windows': expected \"per-batch\" or \"per-image\", got \"batch\""),
    ]);

    #[test]
    fn runs_on_two_images_of_any_shape_and_any_model() {
        check_preflight::<Square>(10, Norm::Linf, 1.0 / 255.0, json!({"n_queries": 100})).unwrap();
        check_preflight::<Square>(10, Norm::L2, 0.1, json!({"n_queries": 100})).unwrap();
        check_preflight::<Square>(10, Norm::L2, 2.0, json!({"n_queries": 100, "p_init": 1}))
            .unwrap();
        for windows in ["per-batch", "per-image"] {
            for (norm, eps) in [(Norm::Linf, 1.0 / 255.0), (Norm::L2, 0.1)] {
                let cfg = json!({"n_queries": 50, "windows": windows});
                check_preflight::<Square>(10, norm, eps, cfg).unwrap();
            }
        }
    }
}
