//! `square`: the Square attack, L∞ and L2, with torchattacks.Square's parameter names and defaults (n_queries 5000, n_restarts 1,
//! p_init 0.8, margin loss, rescaled schedule). Forward passes only.

use ddbench_attacks::square::{self, SquareConfig};
use ddbench_attacks::Outcome;
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
        let (x, y) = (&input.images, &input.labels);
        tch::manual_seed(input.seed as i64);
        let mut out = Outcome::from_clean_logits(x, y, &input.model.predict(x)?);
        square::run(&input.model, x, y, input.norm, input.eps, &c, &mut out)?;
        host.log(&format!(
            "square: n_queries={} n_restarts={} p_init={}: {} of {} robust",
            c.n_queries,
            c.n_restarts,
            c.p_init,
            out.robust_count(),
            x.size()[0]
        ));
        Ok(out.adv)
    }
}

declare_attack!(
    Square,
    name = "square",
    version = "0.1.0",
    description = "Square attack, L-infinity and L2 (torchattacks.Square)"
);
