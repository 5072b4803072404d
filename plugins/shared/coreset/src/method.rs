//! The method plugins' common body: the feature network, then per class the selection's IPC
//! picks in its feature space; the set is the picked real images with their hard labels.

use crate::features::{embed, feature_net};
use crate::select::{herding, kcenter};
use crate::CoresetConfig;
use ddbench_plugin_api::{DistillInput, Distilled, Host, Method, PluginResult};
use std::marker::PhantomData;
use tch::{Device, Kind, Tensor};

/// What distinguishes `herding` and `kcenter`: the selection on one class's features.
pub trait Selection {
    fn select(features: &Tensor, k: i64) -> Vec<i64>;
}

/// [`herding`](crate::select::herding).
pub struct Herding;
/// [`kcenter`](crate::select::kcenter).
pub struct KCenter;

impl Selection for Herding {
    fn select(features: &Tensor, k: i64) -> Vec<i64> {
        herding(features, k)
    }
}

impl Selection for KCenter {
    fn select(features: &Tensor, k: i64) -> Vec<i64> {
        kcenter(features, k)
    }
}

/// The indices of each class's samples, classes in order; an error naming a class with fewer
/// than `ipc` samples.
pub fn class_members(labels: &[i64], num_classes: i64, ipc: i64) -> PluginResult<Vec<Vec<i64>>> {
    let mut members = vec![Vec::new(); num_classes.max(0) as usize];
    for (i, &l) in labels.iter().enumerate() {
        if let Some(m) = members.get_mut(l as usize) {
            m.push(i as i64);
        }
    }
    for (c, m) in members.iter().enumerate() {
        if (m.len() as i64) < ipc {
            let have = m.len();
            return Err(format!("class {c} has {have} images, fewer than IPC {ipc}").into());
        }
    }
    Ok(members)
}

/// A coreset method with selection `S`.
pub struct Coreset<S>(PhantomData<S>);

impl<S: Selection> Coreset<S> {
    /// The training-set indices of the coreset: per class, `S`'s IPC picks in the feature space
    /// of `input`'s feature network, classes in order, picks in pick order.
    pub fn pick(input: &DistillInput, cfg: &CoresetConfig, host: &Host) -> PluginResult<Vec<i64>> {
        let labels = Vec::<i64>::try_from(input.labels.to_device(Device::Cpu))?;
        let members = class_members(&labels, input.num_classes, input.ipc)?;
        let total = (cfg.feature_epochs + input.num_classes) as u64;
        let epochs = cfg.feature_epochs as u64;
        let (model, _cached) =
            feature_net(input, cfg, host, &mut |e, _| host.progress(e as u64, total))?;
        let mut chosen = Vec::with_capacity((input.ipc * input.num_classes) as usize);
        for (c, m) in members.iter().enumerate() {
            let idx = Tensor::from_slice(m).to_device(input.images.device());
            let features = embed(&model, &input.images.index_select(0, &idx));
            chosen.extend(
                S::select(&features, input.ipc)
                    .into_iter()
                    .map(|p| m[p as usize]),
            );
            host.progress(epochs + c as u64 + 1, total);
        }
        Ok(chosen)
    }
}

impl<S: Selection> Method for Coreset<S> {
    type Config = CoresetConfig;
    fn distill(input: &DistillInput, cfg: &CoresetConfig, host: &Host) -> PluginResult<Distilled> {
        let idx = Self::pick(input, cfg, host)?;
        let idx = Tensor::from_slice(&idx).to_device(input.images.device());
        Ok(Distilled {
            images: input.images.index_select(0, &idx).to_kind(Kind::Float) / 255.0,
            labels: input.labels.index_select(0, &idx),
            soft_labels: None,
            hints: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::testing::TestHost;

    /// 3 classes × 12 uint8 images 1×8×8, the class a bright row; a cache folder.
    fn input(cache: &std::path::Path, ipc: i64) -> DistillInput {
        let labels = Tensor::arange(36, (Kind::Int64, Device::Cpu)).remainder(3);
        let noise = Tensor::randint(60, [36, 1, 8, 8], (Kind::Int64, Device::Cpu));
        let band = labels
            .view([36, 1, 1, 1])
            .eq_tensor(&(Tensor::arange(8, (Kind::Int64, Device::Cpu)).view([1, 1, 8, 1]) / 2));
        let images = (noise + band.to_kind(Kind::Int64) * 180).to_kind(Kind::Uint8);
        DistillInput {
            images,
            labels,
            num_classes: 3,
            image_shape: [1, 8, 8],
            dataset: "bands".into(),
            dataset_hash: "feed".into(),
            ipc,
            seed: 5,
            device: Device::Cpu,
            cache_dir: cache.to_path_buf(),
        }
    }

    fn tiny() -> CoresetConfig {
        CoresetConfig {
            feature_epochs: 2,
            feature_width: 4,
            feature_batch: 8,
            ..CoresetConfig::default()
        }
    }

    #[test]
    fn sets_are_real_images_per_class_and_share_one_cached_network() {
        tch::manual_seed(0);
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().to_path_buf();
        let (inp, host) = (input(&cache, 4), TestHost::new());
        let set = Coreset::<Herding>::distill(&inp, &tiny(), &host.host()).unwrap();
        let idx = Coreset::<Herding>::pick(&inp, &tiny(), &host.host()).unwrap();
        assert_eq!(idx.len(), 12);
        let want = Tensor::from_slice(&idx);
        assert!(set
            .images
            .equal(&(inp.images.index_select(0, &want).to_kind(Kind::Float) / 255.0)));
        let classes = Vec::<i64>::try_from(&set.labels).unwrap();
        assert_eq!(classes, [[0; 4], [1; 4], [2; 4]].concat());
        assert!(host.logs().iter().any(|l| l.contains("from the cache")));
        // kcenter reuses herding's network: one file in the cache, every call a cache hit now
        let k = Coreset::<KCenter>::pick(&inp, &tiny(), &host.host()).unwrap();
        // per class: IPC distinct images of the class, the first one herding's first pick
        for c in 0..3 {
            let mut picks = k[c * 4..(c + 1) * 4].to_vec();
            assert_eq!(picks[0], idx[c * 4], "class {c}: {k:?} vs {idx:?}");
            assert!(picks.iter().all(|&i| i % 3 == c as i64), "{k:?}");
            picks.sort();
            picks.dedup();
            assert_eq!(picks.len(), 4, "{k:?}");
        }
        let files = std::fs::read_dir(cache.join("coreset")).unwrap().count();
        assert_eq!(files, 1);
        let trained = host
            .logs()
            .iter()
            .filter(|l| l.starts_with("training"))
            .count();
        assert_eq!(trained, 1, "{:?}", host.logs());
    }
}
