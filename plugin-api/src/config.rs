//! Reading a plugin's JSON config: optional keys with defaults, the set of known keys, and numeric
//! settings that must lie in a range (integers and finite floats alike, through one generic path).
//!
//! ```text
//! use ddbench_plugin_api::{config_get_in, config_get_min, ValueRange};
//! let cfg = serde_json::json!({"steps": -5, "rho": 0.5});
//! let err = config_get_min(&cfg, "steps", 10i64, 1).unwrap_err();
//! assert_eq!(err.0, "config 'steps' = -5: expected an integer ≥ 1");
//! let rho: f64 = config_get_in(&cfg, "rho", 0.75, ValueRange::left_open(0.0, 1.0)).unwrap();
//! assert_eq!(rho, 0.5);
//! ```

use crate::{PluginError, PluginResult};
use std::fmt;
use std::ops::Bound;

/// Reads `key` from a JSON config object, falling back to `default` when absent; a present key
/// of the wrong type is an error naming the key.
pub fn config_get<T: serde::de::DeserializeOwned>(
    config: &serde_json::Value,
    key: &str,
    default: T,
) -> PluginResult<T> {
    match config.get(key) {
        None | Some(serde_json::Value::Null) => Ok(default),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| PluginError(format!("config key '{key}': {e} (got {v})"))),
    }
}

/// Checks that a JSON config names only known keys (a typo must not silently fall back to a default).
pub fn config_expect_keys(config: &serde_json::Value, known: &[&str]) -> PluginResult<()> {
    match config {
        serde_json::Value::Object(map) => {
            for k in map.keys() {
                if !known.contains(&k.as_str()) {
                    return Err(PluginError(format!(
                        "unknown config key '{k}' (known: {})",
                        known.join(", ")
                    )));
                }
            }
            Ok(())
        }
        other => Err(PluginError(format!(
            "config must be a JSON object, got {other}"
        ))),
    }
}

/// A number type a ranged setting can have: the integers (always finite) and the floats
/// (NaN and ±inf are refused whatever the range).
pub trait ConfigNumber:
    serde::de::DeserializeOwned + PartialOrd + Copy + fmt::Display + fmt::Debug
{
    /// How the expected value is described in messages: "an integer", "a finite number".
    const WHAT: &'static str;
    /// False for NaN and ±inf.
    fn is_finite_number(self) -> bool;
    /// The value as a message shows it (long floats with an exponent).
    fn shown(self) -> String {
        self.to_string()
    }
}

macro_rules! config_integers {
    ($($t:ty),*) => {$(
        impl ConfigNumber for $t {
            const WHAT: &'static str = "an integer";
            fn is_finite_number(self) -> bool {
                true
            }
        }
    )*};
}
config_integers!(i32, i64, u32, u64, usize);

macro_rules! config_floats {
    ($($t:ty),*) => {$(
        impl ConfigNumber for $t {
            const WHAT: &'static str = "a finite number";
            fn is_finite_number(self) -> bool {
                self.is_finite()
            }
            fn shown(self) -> String {
                let plain = self.to_string();
                let sci = format!("{self:e}");
                if plain.len() > 12 && sci.len() < plain.len() { sci } else { plain }
            }
        }
    )*};
}
config_floats!(f32, f64);

/// The values a numeric setting may take: each end closed (≤), open (<) or absent.
/// `ValueRange::at_least(1)` is `≥ 1`, `ValueRange::above(0.0)` is `> 0`, `ValueRange::closed(0.0, 1.0)` is
/// `[0, 1]`, `ValueRange::left_open(0.0, 1.0)` is `(0, 1]`, `ValueRange::open(0.0, 1.0)` is `(0, 1)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueRange<T> {
    pub low: Bound<T>,
    pub high: Bound<T>,
}

impl<T: ConfigNumber> ValueRange<T> {
    /// `[min, ∞)`.
    pub fn at_least(min: T) -> Self {
        ValueRange {
            low: Bound::Included(min),
            high: Bound::Unbounded,
        }
    }
    /// `(min, ∞)`.
    pub fn above(min: T) -> Self {
        ValueRange {
            low: Bound::Excluded(min),
            high: Bound::Unbounded,
        }
    }
    /// `[low, high]`.
    pub fn closed(low: T, high: T) -> Self {
        ValueRange {
            low: Bound::Included(low),
            high: Bound::Included(high),
        }
    }
    /// `(low, high)`.
    pub fn open(low: T, high: T) -> Self {
        ValueRange {
            low: Bound::Excluded(low),
            high: Bound::Excluded(high),
        }
    }
    /// `(low, high]`.
    pub fn left_open(low: T, high: T) -> Self {
        ValueRange {
            low: Bound::Excluded(low),
            high: Bound::Included(high),
        }
    }
    /// `[low, high)`.
    pub fn right_open(low: T, high: T) -> Self {
        ValueRange {
            low: Bound::Included(low),
            high: Bound::Excluded(high),
        }
    }

    /// Whether `v` is finite and inside the range.
    pub fn contains(&self, v: T) -> bool {
        let above_low = match self.low {
            Bound::Included(l) => v >= l,
            Bound::Excluded(l) => v > l,
            Bound::Unbounded => true,
        };
        let below_high = match self.high {
            Bound::Included(h) => v <= h,
            Bound::Excluded(h) => v < h,
            Bound::Unbounded => true,
        };
        v.is_finite_number() && above_low && below_high
    }
}

/// `≥ 1`, `> 0`, `≤ 5`, `in (0, 1]`, `any value` — the range as messages show it.
impl<T: ConfigNumber> fmt::Display for ValueRange<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.low, self.high) {
            (Bound::Unbounded, Bound::Unbounded) => write!(f, "of any value"),
            (Bound::Included(l), Bound::Unbounded) => write!(f, "≥ {}", l.shown()),
            (Bound::Excluded(l), Bound::Unbounded) => write!(f, "> {}", l.shown()),
            (Bound::Unbounded, Bound::Included(h)) => write!(f, "≤ {}", h.shown()),
            (Bound::Unbounded, Bound::Excluded(h)) => write!(f, "< {}", h.shown()),
            (low, high) => {
                let (open, l) = match low {
                    Bound::Included(l) => ('[', l),
                    Bound::Excluded(l) => ('(', l),
                    Bound::Unbounded => unreachable!("matched above"),
                };
                let (close, h) = match high {
                    Bound::Included(h) => (']', h),
                    Bound::Excluded(h) => (')', h),
                    Bound::Unbounded => unreachable!("matched above"),
                };
                write!(f, "in {open}{}, {}{close}", l.shown(), h.shown())
            }
        }
    }
}

/// Returns `value` if it lies in `range` (and is finite), else an error naming the setting, the
/// value and the range: `config 'steps' = -5: expected an integer ≥ 1`. For settings that do
/// not come through [`config_get_in`] (e.g. a config deserialised into a struct).
pub fn check_in<T: ConfigNumber>(key: &str, value: T, range: ValueRange<T>) -> PluginResult<T> {
    if range.contains(value) {
        Ok(value)
    } else {
        Err(PluginError(format!(
            "config '{key}' = {}: expected {} {range}",
            value.shown(),
            T::WHAT
        )))
    }
}

/// [`config_get`] for a numeric setting that must lie in `range` (and be finite); the default
/// is checked too. `config_get_in(cfg, "p_init", 0.8, ValueRange::left_open(0.0, 1.0))`.
pub fn config_get_in<T: ConfigNumber>(
    config: &serde_json::Value,
    key: &str,
    default: T,
    range: ValueRange<T>,
) -> PluginResult<T> {
    check_in(key, config_get(config, key, default)?, range)
}

/// [`config_get_in`] with the range `≥ min`: `config_get_min(cfg, "steps", 10, 1)`.
pub fn config_get_min<T: ConfigNumber>(
    config: &serde_json::Value,
    key: &str,
    default: T,
    min: T,
) -> PluginResult<T> {
    config_get_in(config, key, default, ValueRange::at_least(min))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err<T: std::fmt::Debug>(r: PluginResult<T>) -> String {
        r.expect_err("should be refused").0
    }

    #[test]
    fn integer_minimum_accepts_the_default_and_values_at_or_above() {
        let cfg = json!({"steps": 1, "restarts": 7});
        assert_eq!(config_get_min(&cfg, "steps", 10i64, 1).unwrap(), 1);
        assert_eq!(config_get_min(&cfg, "restarts", 1i64, 1).unwrap(), 7);
        assert_eq!(config_get_min(&cfg, "absent", 10i64, 1).unwrap(), 10);
        assert_eq!(
            config_get_min(&json!({"n": null}), "n", 3u64, 1).unwrap(),
            3
        );
    }

    #[test]
    fn integer_minimum_refuses_below_with_key_value_and_range() {
        let cfg = json!({"steps": -5, "n_queries": 0});
        assert_eq!(
            err(config_get_min(&cfg, "steps", 10i64, 1)),
            "config 'steps' = -5: expected an integer ≥ 1"
        );
        assert_eq!(
            err(config_get_min(&cfg, "n_queries", 5000i64, 1)),
            "config 'n_queries' = 0: expected an integer ≥ 1"
        );
        // a bad default is a bug, refused the same way
        assert!(err(config_get_min(&json!({}), "steps", 0i64, 1)).contains("= 0"));
    }

    #[test]
    fn wrong_types_are_still_refused_by_the_reader() {
        let cfg = json!({"steps": 2.5, "alpha": "big", "n": -1});
        assert!(err(config_get_min(&cfg, "steps", 10i64, 1)).contains("config key 'steps'"));
        assert!(err(config_get_min(&cfg, "alpha", 0.1, 0.0)).contains("config key 'alpha'"));
        // an unsigned setting given a negative number
        assert!(err(config_get_min(&cfg, "n", 1u64, 1)).contains("config key 'n'"));
    }

    #[test]
    fn float_ranges_open_and_closed() {
        let cfg = json!({"zero": 0.0, "one": 1, "half": 0.5, "big": 1.5, "neg": -1e-3});
        let unit_lo_open = ValueRange::left_open(0.0, 1.0);
        assert_eq!(config_get_in(&cfg, "one", 0.8, unit_lo_open).unwrap(), 1.0);
        assert_eq!(config_get_in(&cfg, "half", 0.8, unit_lo_open).unwrap(), 0.5);
        assert_eq!(
            err(config_get_in(&cfg, "zero", 0.8, unit_lo_open)),
            "config 'zero' = 0: expected a finite number in (0, 1]"
        );
        assert_eq!(
            err(config_get_in(&cfg, "big", 0.75, ValueRange::open(0.0, 1.0))),
            "config 'big' = 1.5: expected a finite number in (0, 1)"
        );
        assert!(config_get_in(&cfg, "one", 0.75, ValueRange::open(0.0, 1.0)).is_err());
        assert_eq!(
            config_get_in(&cfg, "zero", 0.1, ValueRange::closed(0.0, 1.0)).unwrap(),
            0.0
        );
        assert!(config_get_in(&cfg, "one", 0.1, ValueRange::right_open(0.0, 1.0)).is_err());
        assert_eq!(config_get_min(&cfg, "zero", 1.0, 0.0).unwrap(), 0.0);
        assert_eq!(
            err(config_get_min(&cfg, "neg", 0.02, 0.0)),
            "config 'neg' = -0.001: expected a finite number ≥ 0"
        );
        assert_eq!(
            err(config_get_in(&cfg, "zero", 0.01, ValueRange::above(0.0))),
            "config 'zero' = 0: expected a finite number > 0"
        );
    }

    #[test]
    fn nan_and_infinities_are_refused_whatever_the_range() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(!ValueRange::above(0.0).contains(v));
            assert!(!ValueRange::at_least(f64::MIN).contains(v));
            let any = ValueRange {
                low: Bound::Unbounded,
                high: Bound::Unbounded,
            };
            assert!(!any.contains(v), "{v}");
            assert!(any.contains(1e300));
        }
        assert_eq!(
            err(check_in("lr", f64::NAN, ValueRange::above(0.0))),
            "config 'lr' = NaN: expected a finite number > 0"
        );
        assert_eq!(
            err(check_in("c", f64::INFINITY, ValueRange::above(0.0))),
            "config 'c' = inf: expected a finite number > 0"
        );
        assert!(check_in("x", f32::NAN, ValueRange::closed(0.0f32, 1.0)).is_err());
    }

    #[test]
    fn json_cannot_smuggle_in_an_infinity() {
        // serde_json refuses overflowing literals rather than parsing them as inf ...
        assert!(serde_json::from_str::<serde_json::Value>(r#"{"c": 1e400}"#).is_err());
        // ... and turns non-finite floats into null, i.e. "absent": the default
        let cfg = json!({ "c": f64::INFINITY });
        assert_eq!(
            config_get_in(&cfg, "c", 1.0, ValueRange::above(0.0)).unwrap(),
            1.0
        );
    }

    #[test]
    fn ranges_print_as_messages_show_them() {
        assert_eq!(ValueRange::at_least(1i64).to_string(), "≥ 1");
        assert_eq!(ValueRange::above(0.0).to_string(), "> 0");
        assert_eq!(ValueRange::closed(0.0, 1.0).to_string(), "in [0, 1]");
        assert_eq!(ValueRange::right_open(1i64, 10).to_string(), "in [1, 10)");
        assert_eq!(ValueRange::above(1e-12).to_string(), "> 1e-12");
        let below = ValueRange {
            low: Bound::Unbounded,
            high: Bound::Excluded(5i64),
        };
        assert_eq!(below.to_string(), "< 5");
        assert_eq!(
            err(check_in("k", 7i64, below)),
            "config 'k' = 7: expected an integer < 5"
        );
    }
}
