//! `herding`: per class, greedily pick the images whose running mean best matches the class
//! mean (Welling 2009, in pixel space) — a classic coreset baseline of dataset distillation.

use ddbench_plugin_api::{declare_method, PluginConfig};
use ddbench_plugin_api::{DistillInput, Distilled, Host, Method, PluginResult};
use tch::{Kind, Tensor};

pub struct Herding;

/// The method's settings: every key optional, unknown keys refused.
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HerdingConfig {
    /// Log a line per class.
    pub verbose: bool,
}

impl PluginConfig for HerdingConfig {}

/// Indices (into `feats`, `[n, d]`) of `k` herded samples.
fn herd(feats: &Tensor, k: i64) -> Vec<i64> {
    let mean = feats.mean_dim(0, true, Kind::Float);
    let mut sum = Tensor::zeros_like(&mean);
    let taken = Tensor::zeros([feats.size()[0]], (Kind::Bool, feats.device()));
    let mut picked = Vec::new();
    for t in 1..=k {
        // distance between the class mean and the mean after adding each candidate
        let dist = ((&sum + feats) / t as f64 - &mean)
            .square()
            .sum_dim_intlist(1, false, Kind::Float);
        let i = dist
            .masked_fill(&taken, f64::INFINITY)
            .argmin(0, false)
            .int64_value(&[]);
        sum += feats.get(i).unsqueeze(0);
        let _ = taken.get(i).fill_(1);
        picked.push(i);
    }
    picked
}

impl Method for Herding {
    type Config = HerdingConfig;
    fn distill(input: &DistillInput, cfg: &HerdingConfig, host: &Host) -> PluginResult<Distilled> {
        let verbose = cfg.verbose;
        let x = input.images.to_kind(Kind::Float) / 255.0;
        let mut chosen = Vec::new();
        for c in 0..input.num_classes {
            let members = input.labels.eq(c).nonzero().squeeze_dim(1);
            if members.size()[0] < input.ipc {
                return Err(format!("class {c} has fewer than {} images", input.ipc).into());
            }
            let feats = x.index_select(0, &members).flatten(1, -1);
            for i in herd(&feats, input.ipc) {
                chosen.push(members.int64_value(&[i]));
            }
            host.progress(c as u64 + 1, input.num_classes as u64);
            if verbose {
                host.log(&format!("class {c}: {} images herded", input.ipc));
            }
        }
        let idx = Tensor::from_slice(&chosen).to_device(x.device());
        Ok(Distilled {
            images: x.index_select(0, &idx),
            labels: input.labels.index_select(0, &idx),
            soft_labels: None,
            hints: None,
        })
    }
}

declare_method!(
    Herding,
    name = "herding",
    version = "0.1.0",
    description = "herding coreset in pixel space"
);
