//! `random`: IPC images per class drawn uniformly without replacement, seeded — the baseline
//! every distillation method must beat. The draw is made on the host so it is the same on every device.

use ddbench_nn::rng::pick_per_class;
use ddbench_plugin_api::NoConfig;
use ddbench_plugin_api::{declare_method, DistillInput, Distilled, Host, Method, PluginResult};
use tch::{Kind, Tensor};

pub struct Random;

/// Indices of `ipc` images per class, classes in order, each class's draw a seeded shuffle.
pub fn pick(labels: &[i64], num_classes: i64, ipc: i64, seed: u64) -> PluginResult<Vec<i64>> {
    let per_class = pick_per_class(labels, num_classes, |_| ipc as usize, seed);
    for (c, m) in per_class.iter().enumerate() {
        if (m.len() as i64) < ipc {
            let have = labels.iter().filter(|&&l| l == c as i64).count();
            return Err(format!("class {c} has {have} images, fewer than IPC {ipc}").into());
        }
    }
    Ok(per_class.concat())
}

impl Method for Random {
    type Config = NoConfig;
    fn distill(input: &DistillInput, _: &NoConfig, host: &Host) -> PluginResult<Distilled> {
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
