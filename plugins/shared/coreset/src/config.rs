//! The configuration shared by `herding` and `kcenter`: how the feature network is trained.

use ddbench_plugin_api::{check_in, PluginConfig, PluginResult, ValueRange};

/// Every key is optional. The feature network is a ConvNet-3 (instance norm, the DD evaluation
/// network) trained with the DD protocol's optimiser (SGD, momentum 0.9, weight decay 5e-4, lr
/// ×0.1 at half the epochs, random crop + flip); the defaults suit a GPU and still run on a CPU.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoresetConfig {
    /// Epochs of the feature network over its training images.
    pub feature_epochs: i64,
    /// ConvNet width (channels per block); 128 is the DD ConvNet-3.
    pub feature_width: i64,
    /// Train the feature network on this many images per class (a pick seeded with the run's
    /// seed) instead of the whole training set.
    pub feature_subset: Option<i64>,
    pub feature_batch: i64,
    pub feature_lr: f64,
}

impl Default for CoresetConfig {
    fn default() -> Self {
        CoresetConfig {
            feature_epochs: 20,
            feature_width: 128,
            feature_subset: None,
            feature_batch: 256,
            feature_lr: 0.01,
        }
    }
}

impl PluginConfig for CoresetConfig {
    /// Counts and sizes ≥ 1, the learning rate > 0 (finite).
    fn validate(&self) -> PluginResult<()> {
        let at_least_one = ValueRange::at_least(1);
        check_in("feature_epochs", self.feature_epochs, at_least_one)?;
        check_in("feature_width", self.feature_width, at_least_one)?;
        if let Some(per_class) = self.feature_subset {
            check_in("feature_subset", per_class, at_least_one)?;
        }
        check_in("feature_batch", self.feature_batch, at_least_one)?;
        check_in("feature_lr", self.feature_lr, ValueRange::above(0.0)).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::{parse_config, resolve_config};
    use serde_json::json;

    #[test]
    fn defaults_resolve_and_bad_values_are_refused_naming_the_key() {
        let all = resolve_config::<CoresetConfig>(&json!({})).unwrap();
        assert_eq!(
            all,
            json!({"feature_epochs": 20, "feature_width": 128, "feature_subset": null,
                   "feature_batch": 256, "feature_lr": 0.01})
        );
        let err = |j| parse_config::<CoresetConfig>(&j).unwrap_err().0;
        assert_eq!(
            err(json!({"feature_epochs": 0})),
            "config 'feature_epochs' = 0: expected an integer ≥ 1"
        );
        assert!(err(json!({"feature_subset": 0})).contains("'feature_subset' = 0"));
        assert!(err(json!({"feature_lr": 0.0})).contains("'feature_lr'"));
        assert!(err(json!({"epochs": 3})).starts_with("config: unknown field 'epochs'"));
    }
}
