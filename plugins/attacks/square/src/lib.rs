//! `square`: the Square attack, L∞ and L2, with torchattacks.Square's parameter names and defaults (n_queries 5000, n_restarts 1,
//! p_init 0.8, margin loss, rescaled schedule). Forward passes only.

use ddbench_attacks::plugin::run_and_log;
use ddbench_attacks::square::{self, SquareConfig};
use ddbench_plugin_api::{config_expect_keys, config_get, declare_attack};
use ddbench_plugin_api::{Attack, AttackInput, Host, PluginResult};
use tch::Tensor;

pub struct Square;

impl Attack for Square {
    fn attack(input: &AttackInput, host: &Host) -> PluginResult<Tensor> {
        let cfg = &input.config;
        config_expect_keys(cfg, &["n_queries", "n_restarts", "p_init"])?;
        let c = SquareConfig {
            n_queries: config_get(cfg, "n_queries", 5000)?,
            n_restarts: config_get(cfg, "n_restarts", 1)?,
            p_init: config_get(cfg, "p_init", 0.8)?,
        };
        c.validate()?;
        let summary = format!(
            "square: n_queries={} n_restarts={} p_init={}",
            c.n_queries, c.n_restarts, c.p_init
        );
        run_and_log(input, host, &summary, |p, _, out| square::run(p, &c, out))
    }
}

declare_attack!(
    Square,
    name = "square",
    version = "0.1.0",
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
    ]);

    #[test]
    fn runs_on_two_images_of_any_shape_and_any_model() {
        check_preflight::<Square>(10, Norm::Linf, 1.0 / 255.0, json!({"n_queries": 100})).unwrap();
        check_preflight::<Square>(10, Norm::L2, 0.1, json!({"n_queries": 100})).unwrap();
        check_preflight::<Square>(10, Norm::L2, 2.0, json!({"n_queries": 100, "p_init": 1}))
            .unwrap();
    }
}
