//! Numeric settings that must lie in a range (integers and finite floats alike, through one
//! generic path), for a declared config's `PluginConfig::validate`.
//!
//! ```text
//! use ddbench_plugin_api::{check_in, ValueRange};
//! let err = check_in("steps", -5i64, ValueRange::at_least(1)).unwrap_err();
//! assert_eq!(err.0, "config 'steps' = -5: expected an integer ≥ 1");
//! assert_eq!(check_in("rho", 0.5, ValueRange::left_open(0.0, 1.0)).unwrap(), 0.5);
//! ```

use crate::{PluginError, PluginResult};
use std::fmt;
use std::ops::Bound;

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
/// value and the range: `config 'steps' = -5: expected an integer ≥ 1`.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn err<T: std::fmt::Debug>(r: PluginResult<T>) -> String {
        r.expect_err("should be refused").0
    }

    #[test]
    fn integer_minimum_accepts_values_at_or_above_and_refuses_below() {
        assert_eq!(check_in("steps", 1i64, ValueRange::at_least(1)).unwrap(), 1);
        assert_eq!(
            check_in("restarts", 7u64, ValueRange::at_least(1)).unwrap(),
            7
        );
        assert_eq!(
            err(check_in("steps", -5i64, ValueRange::at_least(1))),
            "config 'steps' = -5: expected an integer ≥ 1"
        );
        assert_eq!(
            err(check_in("n_queries", 0usize, ValueRange::at_least(1))),
            "config 'n_queries' = 0: expected an integer ≥ 1"
        );
    }

    #[test]
    fn float_ranges_open_and_closed() {
        let unit_lo_open = ValueRange::left_open(0.0, 1.0);
        assert_eq!(check_in("one", 1.0, unit_lo_open).unwrap(), 1.0);
        assert_eq!(check_in("half", 0.5, unit_lo_open).unwrap(), 0.5);
        assert_eq!(
            err(check_in("zero", 0.0, unit_lo_open)),
            "config 'zero' = 0: expected a finite number in (0, 1]"
        );
        assert_eq!(
            err(check_in("big", 1.5, ValueRange::open(0.0, 1.0))),
            "config 'big' = 1.5: expected a finite number in (0, 1)"
        );
        assert!(check_in("one", 1.0, ValueRange::open(0.0, 1.0)).is_err());
        assert_eq!(
            check_in("zero", 0.0, ValueRange::closed(0.0, 1.0)).unwrap(),
            0.0
        );
        assert!(check_in("one", 1.0, ValueRange::right_open(0.0, 1.0)).is_err());
        assert_eq!(
            err(check_in("neg", -1e-3, ValueRange::at_least(0.0))),
            "config 'neg' = -0.001: expected a finite number ≥ 0"
        );
        assert_eq!(
            err(check_in("zero", 0.0, ValueRange::above(0.0))),
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
        // serde_json refuses overflowing literals rather than parsing them as inf
        assert!(serde_json::from_str::<serde_json::Value>(r#"{"c": 1e400}"#).is_err());
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
