//! `full`: the whole training set, the upper-bound row of every table. Its config can set the
//! student's epochs (`{"epochs": N}`), since the DD protocol's 300 epochs are meant for tiny sets.

use ddbench_plugin_api::{config_expect_keys, config_get, declare_method};
use ddbench_plugin_api::{DistillInput, Distilled, Host, Method, PluginResult};
use tch::Kind;

pub struct Full;

impl Method for Full {
    fn distill(input: &DistillInput, host: &Host) -> PluginResult<Distilled> {
        config_expect_keys(&input.config, &["epochs"])?;
        let epochs: Option<i64> = config_get(&input.config, "epochs", None)?;
        host.progress(1, 1);
        Ok(Distilled {
            images: input.images.to_kind(Kind::Float) / 255.0,
            labels: input.labels.shallow_clone(),
            soft_labels: None,
            hints: epochs.map(|e| ddbench_plugin_api::serde_json::json!({ "epochs": e })),
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
