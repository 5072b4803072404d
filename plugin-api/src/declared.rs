//! A plugin's declared configuration: one typed struct per plugin, parsed from the JSON the user
//! gives, checked, and resolved (every setting, defaults filled in) for the host to record.
//!
//! ```text
//! #[derive(serde::Serialize, serde::Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct PgdConfig { steps: i64, alpha: f64 }
//! impl Default for PgdConfig { fn default() -> Self { PgdConfig { steps: 10, alpha: 2.0 / 255.0 } } }
//! impl PluginConfig for PgdConfig {
//!     fn validate(&self) -> PluginResult<()> {
//!         check_in("steps", self.steps, ValueRange::at_least(1))?;
//!         check_in("alpha", self.alpha, ValueRange::above(0.0)).map(drop)
//!     }
//! }
//! ```

use crate::{PluginError, PluginResult};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The configuration a plugin declares: a serde struct marked `#[serde(default,
/// deny_unknown_fields)]` whose `Default` holds the defaults, so that an unknown key or a value
/// of the wrong type is refused by parsing, and `validate` checks ranges (see `check_in`).
/// The host resolves every config of a run through it before any work starts and records the
/// resolved value (`serde_json::to_value` of the parsed struct) with every number.
pub trait PluginConfig: Serialize + DeserializeOwned + Default {
    /// Fills in what the settings point at but do not hold (the content hash of a file they
    /// name, ...) so that the resolved config identifies every input; runs before `validate`.
    /// It must be a fixed point (resolving a resolved config changes nothing) and may refuse
    /// (a pinned hash that no longer matches). The default does nothing.
    fn resolve(&mut self) -> PluginResult<()> {
        Ok(())
    }

    /// Checks the settings' ranges and their consistency (not the threat model: that comes per
    /// call). The default checks nothing.
    fn validate(&self) -> PluginResult<()> {
        Ok(())
    }

    /// Refuses keys the type parses but this plugin has no use for (plugins sharing one config
    /// type: a key of another plugin's part is an error, not a setting without effect), before
    /// parsing. The default refuses none.
    fn refuse_keys(_keys: &serde_json::Map<String, serde_json::Value>) -> PluginResult<()> {
        Ok(())
    }
}

/// The configuration of a plugin without settings: only `{}` is accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

impl PluginConfig for NoConfig {}

/// Parses and checks a JSON config (`null` or `{}`: every default). The error names the key:
/// `config key 'steps': invalid type: string "ten", expected i64`,
/// `config: unknown field 'stpes', expected one of 'alpha', 'steps'`.
pub fn parse_config<C: PluginConfig>(json: &serde_json::Value) -> PluginResult<C> {
    let json = match json {
        serde_json::Value::Null => serde_json::json!({}),
        serde_json::Value::Object(_) => json.clone(),
        other => {
            return Err(PluginError(format!(
                "config must be a JSON object, got {other}"
            )))
        }
    };
    if let serde_json::Value::Object(keys) = &json {
        C::refuse_keys(keys)?;
    }
    let mut config: C = serde_path_to_error::deserialize(json).map_err(|e| {
        let inner = e.inner().to_string().replace('`', "'");
        // an unknown key's path is the key itself, which the message names already
        match e.path().to_string().as_str() {
            _ if inner.starts_with("unknown field") => PluginError(format!("config: {inner}")),
            "." => PluginError(format!("config: {inner}")),
            key => PluginError(format!("config key '{key}': {inner}")),
        }
    })?;
    config.resolve()?;
    config.validate()?;
    Ok(config)
}

/// [`parse_config`], then the config as the host records it: every setting, defaults filled in.
pub fn resolve_config<C: PluginConfig>(
    json: &serde_json::Value,
) -> PluginResult<serde_json::Value> {
    let config: C = parse_config(json)?;
    Ok(serde_json::to_value(&config)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check_in, ValueRange};
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Steps {
        steps: i64,
        alpha: f64,
        random_start: bool,
    }

    impl Default for Steps {
        fn default() -> Self {
            Steps {
                steps: 10,
                alpha: 0.5,
                random_start: true,
            }
        }
    }

    impl PluginConfig for Steps {
        fn validate(&self) -> PluginResult<()> {
            check_in("steps", self.steps, ValueRange::at_least(1))?;
            check_in("alpha", self.alpha, ValueRange::above(0.0)).map(drop)
        }
    }

    fn err(json: serde_json::Value) -> String {
        parse_config::<Steps>(&json).expect_err("refused").0
    }

    #[test]
    fn defaults_fill_what_is_not_given() {
        let all = json!({"steps": 10, "alpha": 0.5, "random_start": true});
        assert_eq!(resolve_config::<Steps>(&json!({})).unwrap(), all);
        assert_eq!(
            resolve_config::<Steps>(&serde_json::Value::Null).unwrap(),
            all
        );
        let some = resolve_config::<Steps>(&json!({"steps": 3})).unwrap();
        assert_eq!(
            some,
            json!({"steps": 3, "alpha": 0.5, "random_start": true})
        );
        // resolving a resolved config changes nothing
        assert_eq!(resolve_config::<Steps>(&some).unwrap(), some);
    }

    #[test]
    fn unknown_keys_wrong_types_and_ranges_are_refused_naming_the_key() {
        assert_eq!(
            err(json!({"stpes": 3})),
            "config: unknown field 'stpes', expected one of 'steps', 'alpha', 'random_start'"
        );
        assert_eq!(
            err(json!({"steps": "ten"})),
            "config key 'steps': invalid type: string \"ten\", expected i64"
        );
        assert_eq!(
            err(json!({"random_start": 1})),
            "config key 'random_start': invalid type: integer `1`, expected a boolean"
                .replace('`', "'")
        );
        assert_eq!(
            err(json!({"steps": 0})),
            "config 'steps' = 0: expected an integer ≥ 1"
        );
        assert_eq!(
            err(json!([1, 2])),
            "config must be a JSON object, got [1,2]"
        );
    }

    #[test]
    fn a_plugin_without_settings_takes_only_an_empty_object() {
        assert_eq!(resolve_config::<NoConfig>(&json!({})).unwrap(), json!({}));
        let e = parse_config::<NoConfig>(&json!({"steps": 1}))
            .unwrap_err()
            .0;
        assert!(e.starts_with("config: unknown field 'steps'"), "{e}");
    }
}
