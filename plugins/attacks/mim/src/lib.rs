//! `mim`: the momentum iterative method (Dong et al. 2018), L∞, as torchattacks.MIFGSM: the
//! gradient is divided by its per-sample mean absolute value (L1 normalisation), accumulated with
//! `decay`, and its sign taken (alpha 2/255, steps 10, decay 1.0). `grad_norm = "batch"` divides
//! by the L1 norm of the whole batch's gradient instead, as GUARD's evaluation code does.

mod grad_norm;

pub use grad_norm::GradNorm;

use ddbench_plugin_api::{ce_sum, check_in, declare_attack, project};
use ddbench_plugin_api::{Attack, AttackInput, Host, Norm, PluginConfig, PluginResult, ValueRange};
use tch::Tensor;

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
    /// What each step's gradient is divided by before it enters the momentum: "per-sample" (its
    /// image's mean |gradient|, torchattacks.MIFGSM) or "batch" (the L1 norm of the whole
    /// batch's gradient, GUARD's `mim_attack`; the result then depends on the attack batch).
    pub grad_norm: String,
}

impl Default for MimConfig {
    fn default() -> Self {
        MimConfig {
            alpha: 2.0 / 255.0,
            steps: 10,
            decay: 1.0,
            grad_norm: GradNorm::PerSample.name().into(),
        }
    }
}

impl PluginConfig for MimConfig {
    fn validate(&self) -> PluginResult<()> {
        check_in("alpha", self.alpha, ValueRange::above(0.0))?;
        check_in("steps", self.steps, ValueRange::at_least(1))?;
        check_in("decay", self.decay, ValueRange::at_least(0.0))?;
        GradNorm::parse(&self.grad_norm)?;
        Ok(())
    }
}

impl Attack for Mim {
    type Config = MimConfig;
    fn attack(input: &AttackInput, cfg: &MimConfig, _host: &Host) -> PluginResult<Tensor> {
        let (alpha, steps, decay) = (cfg.alpha, cfg.steps, cfg.decay);
        let grad_norm = GradNorm::parse(&cfg.grad_norm)?;
        if input.norm != Norm::Linf {
            return Err("mim is an L-infinity attack".into());
        }
        let (x, y, eps) = (&input.images, &input.labels, input.eps);
        let mut adv = x.copy();
        let mut momentum = Tensor::zeros_like(x);
        for _ in 0..steps {
            let (_, g) = input.model.value_and_grad(&adv, |l| ce_sum(l, y))?;
            momentum = grad_norm.apply(&g) + momentum * decay;
            adv = project(&(adv + momentum.sign() * alpha), x, Norm::Linf, eps);
        }
        Ok(adv)
    }
}

declare_attack!(
    Mim,
    name = "mim",
    version = "0.1.0",
    description = "MIM / MI-FGSM, L-infinity (torchattacks.MIFGSM); config grad_norm=per-sample (default) or batch (GUARD's whole-batch L1 normalisation)"
);

#[cfg(test)]
mod tests;
