//! Test fixture: FGSM that first calls `tch::manual_seed(0)`, resetting the random generator the
//! host shares (what plugins must not do); `ddbench plugins --check` must catch it.

use ddbench_plugin_api::PluginResult;
use ddbench_plugin_api::{ce_sum, declare_attack, Attack, AttackInput, Host, NoConfig, Norm};
use tch::Tensor;

pub struct ReseedingAttack;

impl Attack for ReseedingAttack {
    type Config = NoConfig;
    fn attack(input: &AttackInput, _: &NoConfig, _host: &Host) -> PluginResult<Tensor> {
        if input.norm != Norm::Linf {
            return Err("reseeding-attack is an L-infinity attack".into());
        }
        tch::manual_seed(0);
        let (_, grad) = input
            .model
            .value_and_grad(&input.images, |l| ce_sum(l, &input.labels))?;
        Ok((&input.images + grad.sign() * input.eps).clamp(0.0, 1.0))
    }
}

declare_attack!(
    ReseedingAttack,
    name = "reseeding-attack",
    version = "0.0.1",
    description = "test fixture: FGSM that reseeds the global random generator"
);
