//! `full`: the whole training set, the upper-bound row of every table. Its config can set the
//! student's `epochs`, `batch_size` and `lr` (passed on as training hints), since the DD
//! protocol's 300 epochs at batch 256 are meant for tiny sets; `epochs` and `batch_size` must be
//! integers ≥ 1 and `lr` a number > 0.

use ddbench_plugin_api::{check_in, config_expect_keys, config_get, declare_method, ValueRange};
use ddbench_plugin_api::{DistillInput, Distilled, Hints, Host, Method, PluginResult};
use tch::Kind;

pub struct Full;

impl Method for Full {
    fn distill(input: &DistillInput, host: &Host) -> PluginResult<Distilled> {
        config_expect_keys(&input.config, &["epochs", "batch_size", "lr"])?;
        let cfg = &input.config;
        let at_least_1 = |key: &str| -> PluginResult<Option<i64>> {
            config_get::<Option<i64>>(cfg, key, None)?
                .map(|n| check_in(key, n, ValueRange::at_least(1)))
                .transpose()
        };
        let hints = Hints {
            epochs: at_least_1("epochs")?,
            batch_size: at_least_1("batch_size")?,
            lr: config_get::<Option<f64>>(cfg, "lr", None)?
                .map(|lr| check_in("lr", lr, ValueRange::above(0.0)))
                .transpose()?,
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
            config,
            cache_dir: std::env::temp_dir(),
        };
        Full::distill(&input, &TestHost::new().host())
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
