//! Test fixture: a method plugin that misbehaves on purpose (`{"mode": "panic" | "bad-labels" | "nan"}`).

use ddbench_plugin_api::{declare_method, DistillInput, Distilled, Host, Method, PluginResult};
use tch::Kind;

pub struct Panicky;

/// How to misbehave.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PanickyConfig {
    mode: String,
}

impl Default for PanickyConfig {
    fn default() -> Self {
        PanickyConfig {
            mode: "panic".into(),
        }
    }
}

impl ddbench_plugin_api::PluginConfig for PanickyConfig {}

impl Method for Panicky {
    type Config = PanickyConfig;
    fn distill(input: &DistillInput, cfg: &PanickyConfig, _host: &Host) -> PluginResult<Distilled> {
        let mode = &cfg.mode;
        let images = input.images.narrow(0, 0, 10).to_kind(Kind::Float) / 255.0;
        let labels = input.labels.narrow(0, 0, 10);
        match mode.as_str() {
            "panic" => panic!("deliberate panic inside distill"),
            "bad-labels" => Ok(Distilled {
                images,
                labels: labels + 1000,
                soft_labels: None,
                hints: None,
            }),
            "nan" => Ok(Distilled {
                images: images * f64::NAN,
                labels,
                soft_labels: None,
                hints: None,
            }),
            other => Err(format!("unknown mode {other}").into()),
        }
    }
}

declare_method!(
    Panicky,
    name = "panicky",
    version = "0.0.1",
    description = "test fixture: panics or returns garbage"
);
