//! A flavour's config: the shared [`Sre2lConfig`] without the other flavours' regularizer keys.
//! `sre2l` refuses GUARD's and adversarial training's keys, `guard` the latter, `sre2l-at` the
//! former — a setting without effect is an error naming the method it belongs to — and the
//! resolved config that keys a row holds only the keys that shape it.

use crate::method::Flavour;
use crate::Sre2lConfig;
use ddbench_plugin_api::{PluginConfig, PluginError, PluginResult};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::marker::PhantomData;

/// GUARD's regularizer (`guard` only).
pub const GUARD_KEYS: &[&str] = &["guard_shared_pass", "variant", "h", "lambda", "beta"];
/// PGD adversarial training of the teacher (`sre2l-at` only).
pub const AT_KEYS: &[&str] = &["at_eps", "at_alpha", "at_steps"];

/// The config of flavour `F`.
pub struct FlavourConfig<F> {
    pub inner: Sre2lConfig,
    flavour: PhantomData<F>,
}

impl<F> FlavourConfig<F> {
    pub fn new(inner: Sre2lConfig) -> Self {
        FlavourConfig {
            inner,
            flavour: PhantomData,
        }
    }
}

impl<F> Default for FlavourConfig<F> {
    fn default() -> Self {
        Self::new(Sre2lConfig::default())
    }
}

impl<'de, F> Deserialize<'de> for FlavourConfig<F> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Sre2lConfig::deserialize(d).map(Self::new)
    }
}

impl<F: Flavour> Serialize for FlavourConfig<F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(&self.inner).map_err(serde::ser::Error::custom)?;
        if let Some(m) = v.as_object_mut() {
            for key in F::FOREIGN.iter().flat_map(|(_, keys)| keys.iter()) {
                m.remove(*key);
            }
        }
        v.serialize(s)
    }
}

impl<F: Flavour> PluginConfig for FlavourConfig<F> {
    fn resolve(&mut self) -> PluginResult<()> {
        self.inner.resolve()
    }

    fn validate(&self) -> PluginResult<()> {
        self.inner.validate()
    }

    fn refuse_keys(keys: &serde_json::Map<String, serde_json::Value>) -> PluginResult<()> {
        for (owner, foreign) in F::FOREIGN {
            if let Some(k) = foreign.iter().find(|k| keys.contains_key(**k)) {
                return Err(PluginError(format!(
                    "config key '{k}': a setting of {owner}'s teacher, which {} does not train \
                     (its regularizer keys: {})",
                    F::METHOD,
                    foreign.join(", ")
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Guard, Plain, Sre2lAt};
    use ddbench_plugin_api::{parse_config, resolve_config};
    use serde_json::json;

    fn refused<F: Flavour>(v: serde_json::Value) -> String {
        parse_config::<FlavourConfig<F>>(&v).err().unwrap().0
    }

    #[test]
    fn each_flavour_refuses_the_others_regularizer_keys() {
        assert_eq!(
            refused::<Plain>(json!({"lambda": 10})),
            "config key 'lambda': a setting of guard's teacher, which sre2l does not train \
             (its regularizer keys: guard_shared_pass, variant, h, lambda, beta)"
        );
        assert!(refused::<Plain>(json!({"at_steps": 3})).starts_with(
            "config key 'at_steps': a setting of sre2l-at's teacher, which sre2l does not train"
        ));
        assert!(refused::<Guard>(json!({"at_eps": 0.1})).contains("which guard does not train"));
        assert!(refused::<Sre2lAt>(json!({"guard_shared_pass": true}))
            .contains("which sre2l-at does not train"));
        // each keeps its own, and the shared keys
        parse_config::<FlavourConfig<Guard>>(&json!({"lambda": 10, "iterations": 5})).unwrap();
        parse_config::<FlavourConfig<Sre2lAt>>(&json!({"at_steps": 3, "r_bn": 0.1})).unwrap();
        // the shared type's own checks still name the key
        assert!(refused::<Guard>(json!({"iterations": 1.5}))
            .starts_with("config key 'iterations': invalid type: floating point"));
    }

    #[test]
    fn the_resolved_config_holds_only_the_flavours_keys() {
        let keys = |v: serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        let plain = keys(resolve_config::<FlavourConfig<Plain>>(&json!({})).unwrap());
        let guard = keys(resolve_config::<FlavourConfig<Guard>>(&json!({})).unwrap());
        let at = keys(resolve_config::<FlavourConfig<Sre2lAt>>(&json!({})).unwrap());
        for k in GUARD_KEYS.iter().chain(AT_KEYS) {
            assert!(!plain.iter().any(|p| p == k), "sre2l resolves {k}");
        }
        // guard_shared_pass is absent when false in every flavour
        for k in ["variant", "h", "lambda", "beta"] {
            assert!(
                guard.iter().any(|g| g == k) && !at.iter().any(|a| a == k),
                "{k}"
            );
        }
        for k in AT_KEYS {
            assert!(
                at.iter().any(|a| a == k) && !guard.iter().any(|g| g == k),
                "{k}"
            );
        }
        assert!(
            plain.iter().any(|p| p == "iterations") && plain.iter().any(|p| p == "temperature")
        );
        // a fixed point: the resolved config parses back to itself
        let g = resolve_config::<FlavourConfig<Guard>>(&json!({"lambda": 10})).unwrap();
        assert_eq!(resolve_config::<FlavourConfig<Guard>>(&g).unwrap(), g);
    }
}
