//! `pgd`: projected gradient descent (Madry et al. 2018), L∞, with torchattacks.PGD's parameter
//! names and defaults (alpha 2/255, steps 10, random_start true) and restarts that keep, per
//! sample, the first adversarial example found.

use ddbench_plugin_api::{ce_sum, check_in, declare_attack, project, PluginConfig, ValueRange};
use ddbench_plugin_api::{Attack, AttackInput, Host, Norm, PluginResult};
use tch::{Kind, Tensor};

pub struct Pgd;

/// `pgd`'s settings (torchattacks.PGD's names and defaults).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PgdConfig {
    /// Step size in pixel units (> 0).
    pub alpha: f64,
    /// Gradient steps per restart (≥ 1).
    pub steps: i64,
    /// Start each restart at a uniform random point of the ε-ball (else at the clean image).
    pub random_start: bool,
    /// Restarts (≥ 1); per sample the first adversarial example found is kept.
    pub restarts: i64,
}

impl Default for PgdConfig {
    fn default() -> Self {
        PgdConfig {
            alpha: 2.0 / 255.0,
            steps: 10,
            random_start: true,
            restarts: 1,
        }
    }
}

impl PluginConfig for PgdConfig {
    fn validate(&self) -> PluginResult<()> {
        check_in("alpha", self.alpha, ValueRange::above(0.0))?;
        check_in("steps", self.steps, ValueRange::at_least(1))?;
        check_in("restarts", self.restarts, ValueRange::at_least(1))?;
        Ok(())
    }
}

impl Attack for Pgd {
    type Config = PgdConfig;
    fn attack(input: &AttackInput, cfg: &PgdConfig, host: &Host) -> PluginResult<Tensor> {
        let (alpha, steps, random_start, restarts) =
            (cfg.alpha, cfg.steps, cfg.random_start, cfg.restarts);
        if input.norm != Norm::Linf {
            return Err("pgd is the L-infinity attack; use pgdl2 for L2".into());
        }
        let (x, y, eps) = (&input.images, &input.labels, input.eps);
        let _rng = ddbench_plugin_api::SeedScope::new(input.seed);
        let mut best = x.copy();
        let mut fooled = Tensor::zeros([x.size()[0]], (Kind::Bool, x.device()));
        for r in 0..restarts {
            let mut adv = if random_start {
                (x + Tensor::empty_like(x).uniform_(-eps, eps)).clamp(0.0, 1.0)
            } else {
                x.copy()
            };
            for _ in 0..steps {
                let (_, grad) = input.model.value_and_grad(&adv, |l| ce_sum(l, y))?;
                adv = project(&(adv + grad.sign() * alpha), x, Norm::Linf, eps);
            }
            if r + 1 == restarts {
                // the last try: a point no earlier restart fooled keeps this iterate whether it
                // fools the model or not, so no prediction is needed (torchattacks' one-restart
                // PGD makes none)
                best = best.where_self(&fooled.view([-1, 1, 1, 1]), &adv);
                host.progress(restarts as u64, restarts as u64);
                break;
            }
            let wrong = input.model.predict(&adv)?.argmax(-1, false).ne_tensor(y);
            let take = wrong.logical_and(&fooled.logical_not()).view([-1, 1, 1, 1]);
            best = adv.where_self(&take, &best);
            // points no restart has fooled yet keep the latest iterate (the strongest try so far)
            let keep_latest = wrong.logical_or(&fooled).logical_not().view([-1, 1, 1, 1]);
            best = adv.where_self(&keep_latest, &best);
            fooled = fooled.logical_or(&wrong);
            host.progress((r + 1) as u64, restarts as u64);
        }
        Ok(best)
    }
}

declare_attack!(
    Pgd,
    name = "pgd",
    // 0.2.0: the last restart makes no prediction (one forward pass per image fewer in the cost
    // columns; the same adversarial images)
    version = "0.2.0",
    description = "PGD, L-infinity (torchattacks.PGD)"
);

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::serde_json::json;
    use ddbench_plugin_api::testing::check_preflight;

    ddbench_plugin_api::refused_up_front_test!(Pgd, Norm::Linf, 8.0 / 255.0, [
        ({"steps": -5}, "config 'steps' = -5: expected an integer ≥ 1"),
        ({"restarts": 0}, "config 'restarts' = 0: expected an integer ≥ 1"),
        ({"alpha": 0.0}, "config 'alpha' = 0: expected a finite number > 0"),
    ]);

    #[test]
    fn the_resolved_config_has_every_default_and_unknown_keys_are_refused() {
        let resolved = ddbench_plugin_api::resolve_config::<PgdConfig>(&json!({})).unwrap();
        let defaults =
            json!({"alpha": 2.0 / 255.0, "steps": 10, "random_start": true, "restarts": 1});
        assert_eq!(resolved, defaults);
        let e = ddbench_plugin_api::parse_config::<PgdConfig>(&json!({"stpes": 3})).unwrap_err();
        let known = "expected one of 'alpha', 'steps', 'random_start', 'restarts'";
        assert!(e.0.starts_with("config"), "{}", e.0);
        assert!(
            e.0.ends_with(&format!("unknown field 'stpes', {known}")),
            "{}",
            e.0
        );
        let e =
            ddbench_plugin_api::parse_config::<PgdConfig>(&json!({"steps": "ten"})).unwrap_err();
        assert_eq!(
            e.0,
            "config key 'steps': invalid type: string \"ten\", expected i64"
        );
    }

    #[test]
    fn runs_on_two_images_of_any_shape_and_any_model() {
        check_preflight::<Pgd>(
            10,
            Norm::Linf,
            8.0 / 255.0,
            json!({"steps": 3, "restarts": 2}),
        )
        .unwrap();
        check_preflight::<Pgd>(10, Norm::Linf, 8.0 / 255.0, json!({"random_start": false}))
            .unwrap();
    }
}
