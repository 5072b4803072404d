//! `pgdl2`: projected gradient descent under the L2 norm, as torchattacks.PGDL2: steps along the
//! per-sample L2-normalised gradient (alpha 0.2, steps 10), random start uniform in the ball's
//! radius along a Gaussian direction. ε comes from the threat model (RobustBench's CIFAR L2
//! convention is 0.5; torchattacks' default is 1.0).

use ddbench_plugin_api::{ce_sum, config_expect_keys, config_get, declare_attack, project};
use ddbench_plugin_api::{config_get_in, config_get_min, per_image_norm, ValueRange};
use ddbench_plugin_api::{Attack, AttackInput, Host, Norm, PluginResult};
use tch::{Kind, Tensor};

pub struct PgdL2;

impl Attack for PgdL2 {
    fn attack(input: &AttackInput, _host: &Host) -> PluginResult<Tensor> {
        let cfg = &input.config;
        config_expect_keys(cfg, &["alpha", "steps", "random_start"])?;
        let alpha: f64 = config_get_in(cfg, "alpha", 0.2, ValueRange::above(0.0))?;
        let steps: i64 = config_get_min(cfg, "steps", 10, 1)?;
        let random_start: bool = config_get(cfg, "random_start", true)?;
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
