//! `fgsm`: the fast gradient sign method (Goodfellow et al. 2015), one L∞ step of size ε in
//! pixel space, as torchattacks.FGSM.

use ddbench_plugin_api::{ce_sum, config_expect_keys, declare_attack};
use ddbench_plugin_api::{Attack, AttackInput, Host, Norm, PluginResult};
use tch::Tensor;

pub struct Fgsm;

impl Attack for Fgsm {
    fn attack(input: &AttackInput, _host: &Host) -> PluginResult<Tensor> {
        config_expect_keys(&input.config, &[])?;
        if input.norm != Norm::Linf {
            return Err("fgsm is an L-infinity attack; use pgdl2 for L2".into());
        }
        let (_, grad) = input
            .model
            .value_and_grad(&input.images, |l| ce_sum(l, &input.labels))?;
        Ok((&input.images + grad.sign() * input.eps).clamp(0.0, 1.0))
    }
}

declare_attack!(
    Fgsm,
    name = "fgsm",
    version = "0.1.0",
    description = "FGSM, L-infinity (torchattacks.FGSM)"
);
