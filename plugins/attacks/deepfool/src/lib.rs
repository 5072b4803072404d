//! `deepfool`: DeepFool (Moosavi-Dezfooli et al. 2016), L2, as torchattacks.DeepFool (steps 50,
//! overshoot 0.02), batched: each step takes, for the points still classified correctly, the
//! gradients of every class logit (one host forward + backward per class) and steps to the
//! nearest linearised decision boundary, times (1 + overshoot). A point keeps its final example
//! if it is misclassified and its L2 norm is ≤ ε, else the clean image comes back; `--eps inf`
//! (with `"bound": false` for clarity) is the unbounded attack.

use ddbench_plugin_api::{check_bound, check_in, declare_attack, keep_within_eps};
use ddbench_plugin_api::{Attack, AttackInput, Host, Norm, PluginConfig, PluginResult, ValueRange};
use tch::{Kind, Tensor};

pub struct DeepFool;

/// `deepfool`'s settings (torchattacks.DeepFool's names and defaults, and `bound`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeepFoolConfig {
    /// Steps towards the nearest linearised boundary (≥ 1); stops early once all are fooled.
    pub steps: i64,
    /// Each step is lengthened by the factor 1 + overshoot (≥ 0).
    pub overshoot: f64,
    /// Bounded by the threat model's ε; `false` (the unbounded attack) needs `--eps inf`.
    pub bound: bool,
}

impl Default for DeepFoolConfig {
    fn default() -> Self {
        DeepFoolConfig {
            steps: 50,
            overshoot: 0.02,
            bound: true,
        }
    }
}

impl PluginConfig for DeepFoolConfig {
    fn validate(&self) -> PluginResult<()> {
        check_in("steps", self.steps, ValueRange::at_least(1))?;
        check_in("overshoot", self.overshoot, ValueRange::at_least(0.0))?;
        Ok(())
    }
}

impl Attack for DeepFool {
    type Config = DeepFoolConfig;
    fn attack(input: &AttackInput, cfg: &DeepFoolConfig, host: &Host) -> PluginResult<Tensor> {
        let (steps, overshoot) = (cfg.steps, cfg.overshoot);
        check_bound(cfg.bound, input.eps, "deepfool")?;
        if input.norm != Norm::L2 {
            return Err("deepfool is an L2 attack: run it with --norm l2".into());
        }
        let (x, y) = (&input.images, &input.labels);
        let nc = input.model.num_classes();
        let mut adv = x.copy();
        for step in 0..steps {
            // the points still classified correctly (one sync per step: DeepFool stops early)
            let right = input.model.predict(&adv)?.argmax(1, false).eq_tensor(y);
            let idx = right.nonzero().view([-1]);
            let n = idx.size()[0];
            if n == 0 {
                break;
            }
            let (xa, ya) = (adv.index_select(0, &idx), y.index_select(0, &idx));
            let mut logits = None;
            let mut grads = Vec::with_capacity(nc as usize);
            for k in 0..nc {
                let (l, g) = input
                    .model
                    .value_and_grad(&xa, |l| l.select(1, k).sum(Kind::Float))?;
                logits.get_or_insert(l);
                grads.push(g.flatten(1, -1));
            }
            let f = logits.expect("at least one class").to_kind(Kind::Float);
            let jac = Tensor::stack(&grads, 1); // [n, C, D]
            let f0 = f.gather(1, &ya.view([-1, 1]), false); // [n, 1]
            let d = jac.size()[2];
            let w0 = jac.gather(1, &ya.view([-1, 1, 1]).expand([n, 1, d], false), false);
            let f_prime = (&f - f0).abs(); // [n, C]
            let w_prime = &jac - w0; // [n, C, D]
            let w_norm = w_prime.norm_scalaropt_dim(2.0, [2], false); // [n, C]
            let dist = (&f_prime / &w_norm).scatter_value(1, &ya.view([-1, 1]), f64::INFINITY);
            let hat = dist.argmin(1, true); // [n, 1]
            let f_hat = f_prime.gather(1, &hat, false); // [n, 1]
            let n_hat = w_norm.gather(1, &hat, false);
            let w_hat = w_prime
                .gather(1, &hat.view([-1, 1, 1]).expand([n, 1, d], false), false)
                .squeeze_dim(1); // [n, D]

            // no boundary direction (every class has the same gradient, e.g. a flat model):
            // no step, where the reference divides 0 by 0 and returns NaN images
            let scale = (&f_hat / n_hat.square()).where_self(&n_hat.gt(0.0), &f_hat.zeros_like());
            let delta = w_hat * scale;
            let step_adv = (&xa + delta.view_as(&xa) * (1.0 + overshoot)).clamp(0.0, 1.0);
            adv = adv.index_copy(0, &idx, &step_adv);
            host.progress((step + 1) as u64, steps as u64);
        }
        let wrong = input.model.predict(&adv)?.argmax(1, false).ne_tensor(y);
        Ok(keep_within_eps(&adv, x, &wrong, Norm::L2, input.eps))
    }
}

declare_attack!(
    DeepFool,
    name = "deepfool",
    version = "0.1.0",
    description = "DeepFool, L2 (torchattacks.DeepFool), epsilon-bounded unless --eps inf"
);

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::serde_json::json;
    use ddbench_plugin_api::testing::check_preflight;

    ddbench_plugin_api::refused_up_front_test!(DeepFool, Norm::L2, 0.5, [
        ({"steps": 0}, "config 'steps' = 0: expected an integer ≥ 1"),
        ({"overshoot": -0.02}, "config 'overshoot' = -0.02: expected a finite number ≥ 0"),
    ]);

    #[test]
    fn runs_on_two_images_of_any_shape_and_any_model() {
        check_preflight::<DeepFool>(10, Norm::L2, 0.5, json!({"steps": 10})).unwrap();
        check_preflight::<DeepFool>(
            10,
            Norm::L2,
            f64::INFINITY,
            json!({"steps": 10, "bound": false}),
        )
        .unwrap();
    }
}
