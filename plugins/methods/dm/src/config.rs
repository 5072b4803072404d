//! DM's settings, with the official `main_DM.py` defaults.

use ddbench_nn::dsa::parse_strategy;
use ddbench_plugin_api::{check_in, PluginConfig, PluginError, PluginResult, ValueRange};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DmConfig {
    /// Outer iterations (`--Iteration`, official 20000), each with a fresh random network.
    pub iterations: i64,
    /// SGD on the synthetic images (`--lr_img` 1.0, momentum 0.5 as `optimizer_img`).
    pub lr_img: f64,
    pub momentum: f64,
    /// Real images per class per iteration (`--batch_real` 256).
    pub batch_real: i64,
    /// `real` (official default: random real images of the class) or `noise` (standard normal
    /// in the normalised space).
    pub init: String,
    /// DSA strategy (`--dsa_strategy`), `none` for no augmentation.
    pub dsa_strategy: String,
    /// The random ConvNet (official `ConvNet`: width 128, depth 3, instance norm).
    pub net_width: i64,
    pub net_depth: i64,
}

impl Default for DmConfig {
    fn default() -> Self {
        DmConfig {
            iterations: 20000,
            lr_img: 1.0,
            momentum: 0.5,
            batch_real: 256,
            init: "real".into(),
            dsa_strategy: "color_crop_cutout_flip_scale_rotate".into(),
            net_width: 128,
            net_depth: 3,
        }
    }
}

impl PluginConfig for DmConfig {
    fn validate(&self) -> PluginResult<()> {
        let at_least_one = ValueRange::at_least(1);
        check_in("iterations", self.iterations, ValueRange::at_least(0))?;
        check_in("lr_img", self.lr_img, ValueRange::above(0.0))?;
        check_in("momentum", self.momentum, ValueRange::right_open(0.0, 1.0))?;
        check_in("batch_real", self.batch_real, at_least_one)?;
        check_in("net_width", self.net_width, at_least_one)?;
        check_in("net_depth", self.net_depth, at_least_one)?;
        if !matches!(self.init.as_str(), "real" | "noise") {
            let init = &self.init;
            return Err(PluginError(format!(
                "config 'init' = {init:?}: expected \"real\" or \"noise\""
            )));
        }
        parse_strategy(&self.dsa_strategy)
            .map_err(|e| PluginError(format!("config 'dsa_strategy': {e}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::parse_config;
    use ddbench_plugin_api::serde_json::json;

    #[test]
    fn official_defaults_and_refusals() {
        let d: DmConfig = parse_config(&json!({})).unwrap();
        assert_eq!(
            (d.iterations, d.lr_img, d.momentum, d.batch_real),
            (20000, 1.0, 0.5, 256)
        );
        let err = |j| parse_config::<DmConfig>(&j).unwrap_err().0;
        assert!(err(json!({"init": "zeros"})).contains("'init'"));
        assert!(err(json!({"dsa_strategy": "color_blur"})).contains("unknown DSA group"));
        assert!(err(json!({"momentum": 1.0})).contains("'momentum'"));
        assert!(parse_config::<DmConfig>(&json!({"dsa_strategy": "none"})).is_ok());
    }
}
