//! `mim`: the momentum iterative method (Dong et al. 2018), L∞, as torchattacks.MIFGSM: the
//! gradient is divided by its per-sample mean absolute value (L1 normalisation), accumulated with
//! `decay`, and its sign taken (alpha 2/255, steps 10, decay 1.0).

use ddbench_plugin_api::{ce_sum, check_in, declare_attack, project};
use ddbench_plugin_api::{Attack, AttackInput, Host, Norm, PluginConfig, PluginResult, ValueRange};
use tch::{Kind, Tensor};

pub struct Mim;

/// `mim`'s settings (torchattacks.MIFGSM's names and defaults).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MimConfig {
    /// Step size in pixel units (> 0).
    pub alpha: f64,
    /// Gradient steps (≥ 1).
    pub steps: i64,
    /// Momentum decay factor (≥ 0; 0 is I-FGSM with L1-normalised gradients).
    pub decay: f64,
}

impl Default for MimConfig {
    fn default() -> Self {
        MimConfig {
            alpha: 2.0 / 255.0,
            steps: 10,
            decay: 1.0,
        }
    }
}

impl PluginConfig for MimConfig {
    fn validate(&self) -> PluginResult<()> {
        check_in("alpha", self.alpha, ValueRange::above(0.0))?;
        check_in("steps", self.steps, ValueRange::at_least(1))?;
        check_in("decay", self.decay, ValueRange::at_least(0.0))?;
        Ok(())
    }
}

impl Attack for Mim {
    type Config = MimConfig;
    fn attack(input: &AttackInput, cfg: &MimConfig, _host: &Host) -> PluginResult<Tensor> {
        let (alpha, steps, decay) = (cfg.alpha, cfg.steps, cfg.decay);
        if input.norm != Norm::Linf {
            return Err("mim is an L-infinity attack".into());
        }
        let (x, y, eps) = (&input.images, &input.labels, input.eps);
        let mut adv = x.copy();
        let mut momentum = Tensor::zeros_like(x);
        for _ in 0..steps {
            let (_, g) = input.model.value_and_grad(&adv, |l| ce_sum(l, y))?;
            let l1 = g.abs().mean_dim([1i64, 2, 3].as_slice(), true, Kind::Float);
            momentum = &g / l1 + momentum * decay;
            adv = project(&(adv + momentum.sign() * alpha), x, Norm::Linf, eps);
        }
        Ok(adv)
    }
}

declare_attack!(
    Mim,
    name = "mim",
    version = "0.1.0",
    description = "MIM / MI-FGSM, L-infinity (torchattacks.MIFGSM)"
);

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::serde_json::json;
    use ddbench_plugin_api::testing::check_preflight;

    ddbench_plugin_api::refused_up_front_test!(Mim, Norm::Linf, 8.0 / 255.0, [
        ({"steps": 0}, "config 'steps' = 0: expected an integer ≥ 1"),
        ({"alpha": 0}, "config 'alpha' = 0: expected a finite number > 0"),
        ({"decay": -0.5}, "config 'decay' = -0.5: expected a finite number ≥ 0"),
    ]);

    #[test]
    fn runs_on_two_images_of_any_shape_and_any_model() {
        check_preflight::<Mim>(10, Norm::Linf, 8.0 / 255.0, json!({})).unwrap();
        check_preflight::<Mim>(10, Norm::Linf, 8.0 / 255.0, json!({"decay": 0})).unwrap();
    }
}
