//! `full`: the whole training set, the upper-bound row of every table. Its config can set the
//! student's `epochs`, `batch_size` and `lr` (passed on as training hints), since the DD
//! protocol's 300 epochs at batch 256 are meant for tiny sets.

use ddbench_plugin_api::serde_json;
use ddbench_plugin_api::{config_expect_keys, config_get, declare_method};
use ddbench_plugin_api::{DistillInput, Distilled, Host, Method, PluginResult};
use tch::Kind;

pub struct Full;

impl Method for Full {
    fn distill(input: &DistillInput, host: &Host) -> PluginResult<Distilled> {
        config_expect_keys(&input.config, &["epochs", "batch_size", "lr"])?;
        let mut hints = serde_json::Map::new();
        for key in ["epochs", "batch_size", "lr"] {
            let v: Option<serde_json::Value> = config_get(&input.config, key, None)?;
            if let Some(v) = v {
                hints.insert(key.to_string(), v);
            }
        }
        host.progress(1, 1);
        Ok(Distilled {
            images: input.images.to_kind(Kind::Float) / 255.0,
            labels: input.labels.shallow_clone(),
            soft_labels: None,
            hints: (!hints.is_empty()).then_some(serde_json::Value::Object(hints)),
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
