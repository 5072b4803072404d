//! The feature space: a ConvNet-3 trained on the real training set (the DC paper's coreset
//! baselines select in the feature space of a ConvNet trained on the whole training set), read at
//! its penultimate layer (`Model::embed_t`, the official `ConvNet.embed`). The trained network
//! is cached under `cache_dir/coreset/` by a hash of (data set hash, network, training settings,
//! seed), so `herding` and `kcenter` at every IPC share one network per run seed.

use crate::CoresetConfig;
use ddbench_nn::rng::pick_per_class;
use ddbench_nn::{Model, ModelSpec, TrainConfig};
use ddbench_plugin_api::{DistillInput, Host, PluginResult, SeedScope};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Images per forward pass when reading features.
pub const EMBED_BATCH: i64 = 512;

/// The feature network of this data set and config: a ConvNet-3 of `feature_width` channels
/// (instance norm), normalised with the training set's channel statistics.
pub fn spec(input: &DistillInput, cfg: &CoresetConfig) -> ModelSpec {
    let (mean, std) = ddbench_nn::channel_stats(&input.images);
    let mut spec = ModelSpec::convnet(input.image_shape, input.num_classes, mean, std);
    spec.width = cfg.feature_width;
    spec
}

/// The cache key: every input of the trained weights (v 2: instance norm on group-norm kernels).
pub fn cache_key(dataset_hash: &str, spec: &ModelSpec, cfg: &CoresetConfig, seed: u64) -> String {
    let text = serde_json::json!({
        "data": dataset_hash, "spec": spec, "train": cfg, "seed": seed, "v": 2
    })
    .to_string();
    hex::encode(Sha256::digest(text.as_bytes()))[..24].to_string()
}

pub fn weights_path(cache_dir: &Path, key: &str) -> PathBuf {
    cache_dir.join("coreset").join(format!("{key}.safetensors"))
}

/// The DD protocol's training with the config's epochs, batch and learning rate.
fn train_config(cfg: &CoresetConfig) -> TrainConfig {
    TrainConfig {
        epochs: cfg.feature_epochs,
        batch_size: cfg.feature_batch,
        lr: cfg.feature_lr,
        ..TrainConfig::default()
    }
}

/// The training images of the feature network: all, or `feature_subset` per class (seeded).
fn training_set(input: &DistillInput, cfg: &CoresetConfig) -> PluginResult<(Tensor, Tensor)> {
    let Some(per) = cfg.feature_subset else {
        return Ok((input.images.shallow_clone(), input.labels.shallow_clone()));
    };
    let labels = Vec::<i64>::try_from(input.labels.to_device(Device::Cpu))?;
    let idx = pick_per_class(&labels, input.num_classes, |_| per as usize, input.seed).concat();
    let idx = Tensor::from_slice(&idx).to_device(input.images.device());
    Ok((
        input.images.index_select(0, &idx),
        input.labels.index_select(0, &idx),
    ))
}

/// Writes the weights atomically (a temporary file, then a rename).
fn store(vs: &tch::nn::VarStore, path: &Path) -> PluginResult<()> {
    let dir = path.parent().expect("a cache folder");
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let name = path.file_name().expect("a file name").to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp.safetensors", std::process::id()));
    vs.save(&tmp)
        .map_err(|e| format!("saving the feature network to {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("renaming to {}: {e}", path.display()))?;
    Ok(())
}

/// The feature network, from the cache or trained (seeded with the call's seed) and cached;
/// `true` if it came from the cache. `on_epoch(done, total)` after each training epoch.
pub fn feature_net(
    input: &DistillInput,
    cfg: &CoresetConfig,
    host: &Host,
    on_epoch: &mut dyn FnMut(i64, i64),
) -> PluginResult<(Model, bool)> {
    let spec = spec(input, cfg);
    let key = cache_key(&input.dataset_hash, &spec, cfg, input.seed);
    let path = weights_path(&input.cache_dir, &key);
    let _rng = SeedScope::new(input.seed);
    let mut model = Model::new(&spec, input.device);
    if path.exists() {
        model
            .vs
            .load(&path)
            .map_err(|e| format!("loading the feature network {}: {e}", path.display()))?;
        host.log(&format!("feature network {key} from the cache"));
        return Ok((model, true));
    }
    let (images, labels) = training_set(input, cfg)?;
    host.log(&format!(
        "training the feature network (ConvNet-3, width {}, {} images, {} epochs)",
        spec.width,
        images.size()[0],
        cfg.feature_epochs
    ));
    let x = images.to_kind(Kind::Float) / 255.0;
    ddbench_nn::train_classifier(&mut model, &x, &labels, &train_config(cfg), on_epoch)?;
    store(&model.vs, &path)?;
    Ok((model, false))
}

/// Penultimate-layer features of uint8 images `[m, C, H, W]` (on the model's device), float32
/// `[m, D]`, in batches of [`EMBED_BATCH`], in eval mode, without gradients or host reads.
pub fn embed(model: &Model, images: &Tensor) -> Tensor {
    let _no_grad = tch::no_grad_guard();
    let n = images.size()[0];
    let parts: Vec<Tensor> = (0..n)
        .step_by(EMBED_BATCH as usize)
        .map(|s| {
            let x = images
                .narrow(0, s, EMBED_BATCH.min(n - s))
                .to_kind(Kind::Float)
                / 255.0;
            model.embed_t(&x, false)
        })
        .collect();
    Tensor::cat(&parts, 0)
}
