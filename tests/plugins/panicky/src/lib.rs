//! Test fixture: a method plugin that misbehaves on purpose (`{"mode": "panic" | "bad-labels" | "nan"}`).

use ddbench_plugin_api::{
    config_get, declare_method, DistillInput, Distilled, Host, Method, PluginResult,
};
use tch::Kind;

pub struct Panicky;

impl Method for Panicky {
    fn distill(input: &DistillInput, _host: &Host) -> PluginResult<Distilled> {
        let mode: String = config_get(&input.config, "mode", "panic".to_string())?;
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
