//! `fgsm`: the fast gradient sign method (Goodfellow et al. 2015), one L∞ step of size ε in
//! pixel space, as torchattacks.FGSM.

use ddbench_plugin_api::{ce_sum, declare_attack};
use ddbench_plugin_api::{Attack, AttackInput, Host, NoConfig, Norm, PluginResult};
use tch::Tensor;

pub struct Fgsm;

impl Attack for Fgsm {
    type Config = NoConfig;
    fn attack(input: &AttackInput, _: &NoConfig, _host: &Host) -> PluginResult<Tensor> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::serde_json::json;
    use ddbench_plugin_api::testing::{check_preflight, refused_up_front};

    #[test]
    fn has_no_settings() {
        let msg =
            refused_up_front::<Fgsm>([2, 1, 28, 28], 10, Norm::Linf, 0.1, json!({"steps": 1}));
        assert!(msg.contains("unknown field 'steps'"), "{msg}");
    }

    #[test]
    fn runs_on_two_images_of_any_shape_and_any_model() {
        check_preflight::<Fgsm>(10, Norm::Linf, 8.0 / 255.0, json!({})).unwrap();
    }
}
