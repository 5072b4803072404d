//! What a method hands to student training beside its images: typed training hints, sent to
//! the host as one JSON object (the ABI's `set_hints`) and read back into the same type there.

use ddbench_nn::ModelSpec;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Training hints for the student of one distilled set. Every field is optional; a host reading
/// hints of a newer plugin ignores fields it does not know.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Hints {
    /// DD protocol: epochs, batch size and learning rate for this set (e.g. `full`'s config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// The protocol the method was designed for (`soft-label`); informative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Soft-label protocol: the distillation temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// The teacher that relabels batches under the soft-label protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<TeacherHint>,
}

/// A trained teacher on disk and what training it cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeacherHint {
    /// Its weights (`tch` VarStore format).
    pub weights: PathBuf,
    /// The model that loads them.
    pub spec: ModelSpec,
    /// How it was trained: `none`, `guard`, `pgd-at`.
    #[serde(default)]
    pub regularizer: String,
    /// Whether the weights came from the cache (the cost fields are then the training run's).
    #[serde(default)]
    pub cached: bool,
    #[serde(default)]
    pub seconds: f64,
    #[serde(default)]
    pub forward_passes: u64,
    #[serde(default)]
    pub backward_passes: u64,
    #[serde(default)]
    pub images_seen: i64,
}

impl Hints {
    /// Whether no field is set (nothing to send).
    pub fn is_empty(&self) -> bool {
        self == &Hints::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_fields_stay_off_the_wire_and_unknown_ones_are_ignored() {
        let h = Hints {
            epochs: Some(2),
            lr: Some(1.0),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"epochs":2,"lr":1.0}"#
        );
        let back: Hints = serde_json::from_str(r#"{"epochs":2,"lr":1.0,"newer":true}"#).unwrap();
        assert_eq!(back, h);
        assert!(Hints::default().is_empty() && !h.is_empty());
    }

    #[test]
    fn a_mistyped_hint_is_an_error_naming_it() {
        let e = serde_json::from_str::<Hints>(r#"{"epochs":"two"}"#).unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
    }
}
