//! Before any expensive work: every attack of the run is called once, with its config, norm and
//! each ε, on two test images and a tiny untrained model. A setting the plugin refuses (a
//! negative step count, an unknown key, a norm it does not support) is reported then, not after
//! the first student has trained. A plugin that is broken (it panics, or returns what the host
//! refuses) is left to the run, which reports it per cell and goes on with the others.

use crate::plugin::{self, Plugin};
use anyhow::{bail, Result};
use ddbench_nn::{Model, ModelSpec, NormKind};
use ddbench_plugin_api::Norm;
use std::collections::BTreeMap;
use tch::{Device, Tensor};

/// Calls each attack on `x`, `y` (a couple of pixel-space test images) for every ε; the error
/// names the attack, the ε and what the plugin said.
pub fn check_attacks(
    attacks: &[Plugin],
    configs: &BTreeMap<String, serde_json::Value>,
    norm: Norm,
    eps: &[f64],
    x: &Tensor,
    y: &Tensor,
    num_classes: i64,
) -> Result<()> {
    if attacks.is_empty() {
        return Ok(());
    }
    let shape = [x.size()[1], x.size()[2], x.size()[3]];
    let c = shape[0] as usize;
    let mut spec = ModelSpec::convnet(shape, num_classes, vec![0.5; c], vec![0.25; c]);
    spec.width = 4;
    spec.depth = 1;
    spec.norm = NormKind::None;
    let model = Model::new(&spec, Device::Cpu);
    let (x, y) = (x.to_device(Device::Cpu), y.to_device(Device::Cpu));
    let empty = serde_json::json!({});
    for a in attacks {
        let config = configs.get(&a.name).unwrap_or(&empty);
        for &e in eps {
            match plugin::run_attack(a, &model, &x, &y, norm, e, 0, config, &|_| {}) {
                // a broken plugin is the run's business: reported per cell, the others go on
                Err(why) if why.refused => bail!(
                    "attack '{}' refuses its settings (config {config}, norm {}, eps {e}): {why}",
                    a.name,
                    crate::threat::norm_name(norm)
                ),
                _ => {}
            }
        }
    }
    Ok(())
}
