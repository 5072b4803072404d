//! `random`: IPC images per class drawn uniformly without replacement, seeded — the baseline
//! every distillation method must beat. The draw is made on the host so it is the same on every device.

use ddbench_plugin_api::{declare_method, DistillInput, Distilled, Host, Method, PluginResult};
use tch::{Kind, Tensor};

pub struct Random;

/// SplitMix64: a tiny seeded generator, identical on every platform.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Indices of `ipc` images per class, classes in order, each class's draw a seeded shuffle.
pub fn pick(labels: &[i64], num_classes: i64, ipc: i64, seed: u64) -> PluginResult<Vec<i64>> {
    let mut rng = seed ^ 0xD1B5_4A32_D192_ED03;
    let mut out = Vec::with_capacity((num_classes * ipc) as usize);
    for c in 0..num_classes {
        let mut members: Vec<i64> = labels
            .iter()
            .enumerate()
            .filter(|(_, &l)| l == c)
            .map(|(i, _)| i as i64)
            .collect();
        if (members.len() as i64) < ipc {
            return Err(format!(
                "class {c} has {} images, fewer than IPC {ipc}",
                members.len()
            )
            .into());
        }
        for i in 0..ipc as usize {
            let j = i + (splitmix(&mut rng) % (members.len() - i) as u64) as usize;
            members.swap(i, j);
        }
        out.extend_from_slice(&members[..ipc as usize]);
    }
    Ok(out)
}

impl Method for Random {
    fn distill(input: &DistillInput, host: &Host) -> PluginResult<Distilled> {
        ddbench_plugin_api::config_expect_keys(&input.config, &[])?;
        let labels: Vec<i64> = Vec::<i64>::try_from(input.labels.to_device(tch::Device::Cpu))?;
        let idx = pick(&labels, input.num_classes, input.ipc, input.seed)?;
        let idx = Tensor::from_slice(&idx).to_device(input.images.device());
        host.progress(1, 1);
        Ok(Distilled {
            images: input.images.index_select(0, &idx).to_kind(Kind::Float) / 255.0,
            labels: input.labels.index_select(0, &idx),
            soft_labels: None,
            hints: None,
        })
    }
}

declare_method!(
    Random,
    name = "random",
    version = "0.1.0",
    description = "class-balanced seeded random subset (IPC images per class)"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_ipc_per_class_without_repeats_and_depends_on_seed() {
        let labels: Vec<i64> = (0..300).map(|i| i % 3).collect();
        let a = pick(&labels, 3, 10, 1).unwrap();
        assert_eq!(a.len(), 30);
        for (k, &i) in a.iter().enumerate() {
            assert_eq!(labels[i as usize], k as i64 / 10);
        }
        let mut u = a.clone();
        u.sort();
        u.dedup();
        assert_eq!(u.len(), 30);
        assert_eq!(a, pick(&labels, 3, 10, 1).unwrap());
        assert_ne!(a, pick(&labels, 3, 10, 2).unwrap());
        assert!(pick(&labels, 3, 101, 1)
            .unwrap_err()
            .0
            .contains("class 0 has 100 images"));
    }
}
