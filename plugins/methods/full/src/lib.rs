//! `full`: the whole training set, the upper-bound row of every table. Its config can set the
//! student's `epochs`, `batch_size` and `lr` (passed on as training hints), since the DD
//! protocol's 300 epochs at batch 256 are meant for tiny sets; `epochs` and `batch_size` must be
//! integers ≥ 1 and `lr` a number > 0.

use ddbench_plugin_api::{check_in, declare_method, PluginConfig, ValueRange};
use ddbench_plugin_api::{DistillInput, Distilled, Hints, Host, Method, PluginResult};
use tch::Kind;

pub struct Full;

/// The student's training settings for the whole set; absent (`null`) means the protocol's.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FullConfig {
    /// Student epochs (≥ 1).
    pub epochs: Option<i64>,
    /// Student batch size (≥ 1).
    pub batch_size: Option<i64>,
    /// Student learning rate (> 0).
    pub lr: Option<f64>,
}

impl PluginConfig for FullConfig {
    fn validate(&self) -> PluginResult<()> {
        for (key, n) in [("epochs", self.epochs), ("batch_size", self.batch_size)] {
            n.map(|n| check_in(key, n, ValueRange::at_least(1)))
                .transpose()?;
        }
        self.lr
            .map(|lr| check_in("lr", lr, ValueRange::above(0.0)))
            .transpose()
            .map(drop)
    }
}

impl Method for Full {
    type Config = FullConfig;
    fn distill(input: &DistillInput, cfg: &FullConfig, host: &Host) -> PluginResult<Distilled> {
        let hints = Hints {
            epochs: cfg.epochs,
            batch_size: cfg.batch_size,
            lr: cfg.lr,
            ..Hints::default()
        };
        host.progress(1, 1);
        Ok(Distilled {
            images: input.images.to_kind(Kind::Float) / 255.0,
            labels: input.labels.shallow_clone(),
            soft_labels: None,
            hints: (!hints.is_empty()).then_some(hints),
        })
    }
}

declare_method!(
    Full,
    name = "full",
    version = "0.1.0",
    description = "the whole training set (upper bound)",
    flags = ddbench_plugin_api::abi::FLAG_IGNORES_IPC,
);

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::serde_json::{self, json};
    use ddbench_plugin_api::testing::TestHost;
    use tch::Tensor;

    fn distill(config: serde_json::Value) -> PluginResult<Distilled> {
        let input = DistillInput {
            images: Tensor::zeros([4, 1, 2, 2], (Kind::Uint8, tch::Device::Cpu)),
            labels: Tensor::from_slice(&[0i64, 1, 0, 1]),
            num_classes: 2,
            image_shape: [1, 2, 2],
            dataset: "test".into(),
            dataset_hash: String::new(),
            ipc: 1,
            seed: 0,
            device: tch::Device::Cpu,
            cache_dir: std::env::temp_dir(),
        };
        let cfg: FullConfig = ddbench_plugin_api::parse_config(&config)?;
        Full::distill(&input, &cfg, &TestHost::new().host())
    }

    #[test]
    fn training_hints_are_checked_and_passed_on() {
        let d = distill(json!({"epochs": 2, "lr": 1})).unwrap();
        // what crosses the ABI is the same JSON object as before the hints were typed
        let wire = serde_json::to_value(d.hints.unwrap()).unwrap();
        assert_eq!(wire, json!({"epochs": 2, "lr": 1.0}));
        assert!(distill(json!({})).unwrap().hints.is_none());
        for (cfg, msg) in [
            (
                json!({"epochs": 0}),
                "config 'epochs' = 0: expected an integer ≥ 1",
            ),
            (
                json!({"batch_size": -8}),
                "config 'batch_size' = -8: expected an integer ≥ 1",
            ),
            (
                json!({"lr": 0}),
                "config 'lr' = 0: expected a finite number > 0",
            ),
        ] {
            assert_eq!(distill(cfg).err().unwrap().0, msg);
        }
        assert!(distill(json!({"epochs": 1.5})).is_err());
    }
}
