//! `cw`: Carlini & Wagner's L2 attack as torchattacks.CW (c 1, kappa 0, steps 50, lr 0.01):
//! Adam on a tanh-space variable, loss ‖x'−x‖² + c·max(Z_t − max_{i≠t} Z_i, −κ), keeping per
//! sample the smallest-L2 misclassified iterate, with torchattacks' early stop (every steps/10
//! steps, stop when the batch's total loss rose). The host's ε bounds the result: a point keeps
//! its example only if its L2 norm is ≤ ε, else the clean image comes back; `--eps inf` (with
//! `"bound": false` for clarity) is the unbounded attack.

use ddbench_plugin_api::{check_bound, check_in, declare_attack, keep_within_eps};
use ddbench_plugin_api::{Attack, AttackInput, Host, Norm, PluginConfig, PluginResult, ValueRange};
use tch::{Kind, Tensor};

pub struct Cw;

/// `cw`'s settings (torchattacks.CW's names and defaults, and `bound`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CwConfig {
    /// Weight of the misclassification term against the squared L2 distance (> 0).
    pub c: f64,
    /// Confidence margin κ (≥ 0).
    pub kappa: f64,
    /// Adam steps (≥ 1).
    pub steps: i64,
    /// Adam learning rate (> 0).
    pub lr: f64,
    /// Bounded by the threat model's ε; `false` (the unbounded attack) needs `--eps inf`.
    pub bound: bool,
}

impl Default for CwConfig {
    fn default() -> Self {
        CwConfig {
            c: 1.0,
            kappa: 0.0,
            steps: 50,
            lr: 0.01,
            bound: true,
        }
    }
}

impl PluginConfig for CwConfig {
    fn validate(&self) -> PluginResult<()> {
        check_in("c", self.c, ValueRange::above(0.0))?;
        check_in("kappa", self.kappa, ValueRange::at_least(0.0))?;
        check_in("steps", self.steps, ValueRange::at_least(1))?;
        check_in("lr", self.lr, ValueRange::above(0.0))?;
        Ok(())
    }
}

/// Carlini's box mapping: pixels exactly at 0 or 1 map to a large finite w, not ±inf, so they
/// stay movable (torchattacks maps them to ±inf, which freezes them; see the README table).
const TANH_SCALE: f64 = 1.0 - 1e-6;

/// CW's f for untargeted attacks: max(Z_t − max_{i≠t} Z_i, −κ), per sample.
fn margin(logits: &Tensor, y: &Tensor, kappa: f64) -> Tensor {
    let onehot = logits.zeros_like().scatter_value(1, &y.view([-1, 1]), 1.0);
    let real = (logits * &onehot).sum_dim_intlist(1, false, Kind::Float);
    let other = logits
        .masked_fill(&onehot.to_kind(Kind::Bool), f64::NEG_INFINITY)
        .amax([1], false);
    (real - other).clamp_min(-kappa)
}

impl Attack for Cw {
    type Config = CwConfig;
    fn attack(input: &AttackInput, cfg: &CwConfig, host: &Host) -> PluginResult<Tensor> {
        let (c, kappa, steps, lr) = (cfg.c, cfg.kappa, cfg.steps, cfg.lr);
        check_bound(cfg.bound, input.eps, "cw")?;
        if input.norm != Norm::L2 {
            return Err("cw is an L2 attack: run it with --norm l2".into());
        }
        let (x, y) = (&input.images, &input.labels);
        let b = x.size()[0];
        let mut w = ((x * 2.0 - 1.0) * TANH_SCALE).atanh();
        let (mut m, mut v) = (w.zeros_like(), w.zeros_like());
        let (beta1, beta2, adam_eps) = (0.9f64, 0.999f64, 1e-8);
        let mut best = x.copy();
        let mut best_l2 = Tensor::full([b], 1e10, (Kind::Float, x.device()));
        let mut found = Tensor::zeros([b], (Kind::Bool, x.device()));
        let mut prev_cost = 1e10;
        let check_every = (steps / 10).max(1);
        for step in 0..steps {
            let t = w.tanh();
            let adv = (&t + 1.0) * 0.5;
            let diff = &adv - x;
            let l2 = diff
                .square()
                .flatten(1, -1)
                .sum_dim_intlist(1, false, Kind::Float);
            let (logits, g_f) = input
                .model
                .value_and_grad(&adv, |l| margin(l, y, kappa).sum(Kind::Float) * c)?;
            // d cost / d adv = 2 (adv − x) + c ∂f/∂adv; d adv / d w = (1 − tanh²) / 2
            let grad: Tensor = (diff * 2.0 + g_f) * (t.square().neg() + 1.0) * 0.5;
            // success and best-so-far bookkeeping on this step's iterate, as torchattacks
            let wrong = logits.argmax(1, false).ne_tensor(y);
            let better = wrong.logical_and(&best_l2.gt_tensor(&l2));
            best_l2 = l2.where_self(&better, &best_l2);
            best = adv.where_self(&better.view([-1, 1, 1, 1]), &best);
            found = found.logical_or(&better);
            // Adam (torch.optim.Adam defaults: betas 0.9, 0.999, eps 1e-8)
            let k = (step + 1) as f64;
            m = &m * beta1 + &grad * (1.0 - beta1);
            v = &v * beta2 + grad.square() * (1.0 - beta2);
            let denom = (&v / (1.0 - beta2.powf(k))).sqrt() + adam_eps;
            w = &w - (&m / denom) * (lr / (1.0 - beta1.powf(k)));
            if step % check_every == 0 {
                // torchattacks' early stop: the batch's total cost (one sync every steps/10)
                let cost = (l2.sum(Kind::Float) + margin(&logits, y, kappa).sum(Kind::Float) * c)
                    .double_value(&[]);
                if cost > prev_cost {
                    break;
                }
                prev_cost = cost;
                host.progress((step + 1) as u64, steps as u64);
            }
        }
        Ok(keep_within_eps(&best, x, &found, Norm::L2, input.eps))
    }
}

declare_attack!(
    Cw,
    name = "cw",
    version = "0.1.0",
    description = "Carlini & Wagner L2 (torchattacks.CW), epsilon-bounded unless --eps inf"
);

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::serde_json::json;
    use ddbench_plugin_api::testing::check_preflight;

    ddbench_plugin_api::refused_up_front_test!(Cw, Norm::L2, 0.5, [
        ({"c": -1}, "config 'c' = -1: expected a finite number > 0"),
        ({"c": 0}, "config 'c' = 0: expected a finite number > 0"),
        ({"kappa": -0.1}, "config 'kappa' = -0.1: expected a finite number ≥ 0"),
        ({"steps": 0}, "config 'steps' = 0: expected an integer ≥ 1"),
        ({"lr": 0}, "config 'lr' = 0: expected a finite number > 0"),
    ]);

    #[test]
    fn runs_on_two_images_of_any_shape_and_any_model() {
        check_preflight::<Cw>(10, Norm::L2, 0.5, json!({"steps": 10, "lr": 0.1})).unwrap();
        check_preflight::<Cw>(
            10,
            Norm::L2,
            f64::INFINITY,
            json!({"steps": 10, "lr": 0.1, "bound": false}),
        )
        .unwrap();
    }
}
