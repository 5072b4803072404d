//! `pgdl2`: projected gradient descent under the L2 norm, as torchattacks.PGDL2: steps along the
//! per-sample L2-normalised gradient (alpha 0.2, steps 10), random start uniform in the ball's
//! radius along a Gaussian direction. ε comes from the threat model (RobustBench's CIFAR L2
//! convention is 0.5; torchattacks' default is 1.0).

use ddbench_plugin_api::{ce_sum, check_in, declare_attack, per_image_norm, project};
use ddbench_plugin_api::{Attack, AttackInput, Host, Norm, PluginConfig, PluginResult, ValueRange};
use tch::{Kind, Tensor};

pub struct PgdL2;

/// `pgdl2`'s settings (torchattacks.PGDL2's names and defaults).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PgdL2Config {
    /// Step length along the L2-normalised gradient (> 0).
    pub alpha: f64,
    /// Gradient steps (≥ 1).
    pub steps: i64,
    /// Start at a random point of the ε-ball (else at the clean image).
    pub random_start: bool,
}

impl Default for PgdL2Config {
    fn default() -> Self {
        PgdL2Config {
            alpha: 0.2,
            steps: 10,
            random_start: true,
        }
    }
}

impl PluginConfig for PgdL2Config {
    fn validate(&self) -> PluginResult<()> {
        check_in("alpha", self.alpha, ValueRange::above(0.0))?;
        check_in("steps", self.steps, ValueRange::at_least(1))?;
        Ok(())
    }
}

impl Attack for PgdL2 {
    type Config = PgdL2Config;
    fn attack(input: &AttackInput, cfg: &PgdL2Config, _host: &Host) -> PluginResult<Tensor> {
        let (alpha, steps, random_start) = (cfg.alpha, cfg.steps, cfg.random_start);
        if input.norm != Norm::L2 {
            return Err("pgdl2 is the L2 attack: run it with --norm l2".into());
        }
        let (x, y, eps) = (&input.images, &input.labels, input.eps);
        let _rng = ddbench_plugin_api::SeedScope::new(input.seed);
        let mut adv = x.copy();
        if random_start {
            let d = Tensor::randn_like(x);
            let r = Tensor::rand([x.size()[0], 1, 1, 1], (Kind::Float, x.device()));
            let d = &d / per_image_norm(&d, Norm::L2) * r * eps;
            adv = (x + d).clamp(0.0, 1.0);
        }
        for _ in 0..steps {
            let (_, g) = input.model.value_and_grad(&adv, |l| ce_sum(l, y))?;
            let g = &g / (per_image_norm(&g, Norm::L2) + 1e-10);
            adv = project(&(adv + g * alpha), x, Norm::L2, eps);
        }
        Ok(adv)
    }
}

declare_attack!(
    PgdL2,
    name = "pgdl2",
    version = "0.1.0",
    description = "PGD, L2 (torchattacks.PGDL2)"
);

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::serde_json::json;
    use ddbench_plugin_api::testing::check_preflight;

    ddbench_plugin_api::refused_up_front_test!(PgdL2, Norm::L2, 0.5, [
        ({"steps": 0}, "config 'steps' = 0: expected an integer ≥ 1"),
        ({"alpha": -0.2}, "config 'alpha' = -0.2: expected a finite number > 0"),
    ]);

    #[test]
    fn runs_on_two_images_of_any_shape_and_any_model() {
        check_preflight::<PgdL2>(10, Norm::L2, 0.5, json!({})).unwrap();
    }
}
