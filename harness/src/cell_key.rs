//! The identity of a result row: every input that decides its numbers, as one typed key.
//! `run`, `bench` and `report` share it; a row is reused only when its key is the same, and a
//! key that differs is named field by field. See harness/RECORDS.md ("The cell key").

use crate::data::{DeviceDataset, Normalization};
use crate::student::Protocol;
use ddbench_nn::soft_label::SoftLabelConfig;
use ddbench_nn::{Arch, NormKind, TrainConfig};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Everything that made one result row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellKey {
    /// Inputs every row of a results folder shares (data, student model and protocol, attacked
    /// subset): one folder, one protocol.
    pub shared: SharedKey,
    pub method: PluginKey,
    pub ipc: i64,
    pub seed: u64,
    /// `None` for the clean-only row of a run without attacks.
    pub attack: Option<AttackKey>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedKey {
    pub data: DataKey,
    pub model: ModelKey,
    pub student: StudentKey,
    pub evaluation: EvalKey,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataKey {
    pub name: String,
    /// SHA-256 of both splits' pixels and labels (`data::resident::content_hash`).
    pub sha256: String,
    /// The split accuracy is measured on.
    pub split: String,
    pub normalization: Normalization,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelKey {
    pub arch: Arch,
    pub width: i64,
    pub depth: i64,
    pub norm_layer: NormKind,
    /// The students' input whitening (`none` in keys of a ddbench before it).
    #[serde(default)]
    pub whitening: crate::whitening::Whitening,
    /// The kernels instance norm runs on ([`ddbench_nn::convnet::INSTANCE_NORM_KERNEL`]), for
    /// instance-norm students only. Absent from keys of a ddbench that ran it on batch-norm
    /// kernels (before 2026-12-02): the same function rounded otherwise, so other rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_kernel: Option<String>,
}

impl ModelKey {
    pub fn new(
        arch: Arch,
        width: i64,
        depth: i64,
        norm_layer: NormKind,
        whitening: crate::whitening::Whitening,
    ) -> ModelKey {
        let norm_kernel = (norm_layer == NormKind::Instance)
            .then(|| ddbench_nn::convnet::INSTANCE_NORM_KERNEL.to_string());
        ModelKey {
            arch,
            width,
            depth,
            norm_layer,
            whitening,
            norm_kernel,
        }
    }
}

/// The student protocol as asked (a method's hints are a function of the method's key).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudentKey {
    pub protocol: String,
    pub dd: TrainConfig,
    pub soft_label: SoftLabelConfig,
    /// DD students trained together with their seed-mates (`--batch-students`): other draws
    /// than one-by-one students, so other rows. Absent from keys when false (as before it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batched: bool,
    /// Students trained under bfloat16 autocast (`--bf16-students`, where the device computes
    /// bf16): other numbers than float32 students. Absent from keys when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bf16: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalKey {
    /// Test images asked for (the row's `n_attack` is what the split could give).
    pub n_attack: usize,
    /// Seed of the class-stratified attacked subset.
    pub subset_seed: u64,
    /// Images per attack call: attacks seed their random starts per batch.
    pub attack_batch: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginKey {
    pub name: String,
    pub version: String,
    /// The config as the plugin resolved it: every setting, defaults filled in (keys of a
    /// ddbench before declared configurations: as passed).
    pub config: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackKey {
    pub plugin: PluginKey,
    pub norm: String,
    pub eps: f64,
}

impl SharedKey {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        data: &DeviceDataset,
        arch: Arch,
        width: i64,
        depth: i64,
        norm_layer: NormKind,
        whitening: crate::whitening::Whitening,
        protocol: Protocol,
        dd: &TrainConfig,
        soft_label: &SoftLabelConfig,
        evaluation: EvalKey,
    ) -> SharedKey {
        SharedKey {
            data: DataKey {
                name: data.name.clone(),
                sha256: data.hash.clone(),
                split: "test".into(),
                normalization: data.normalization.clone(),
            },
            model: ModelKey::new(arch, width, depth, norm_layer, whitening),
            student: StudentKey {
                protocol: serde_json::to_value(protocol)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                dd: dd.clone(),
                soft_label: soft_label.clone(),
                batched: false,
                bf16: false,
            },
            evaluation,
        }
    }
}

/// SHA-256 (first 16 hex digits) of a value's canonical JSON (object keys sorted).
pub fn short_hash<T: Serialize>(v: &T) -> String {
    let canonical = serde_json::to_value(v).unwrap_or_default().to_string();
    hex::encode(Sha256::digest(canonical.as_bytes()))[..16].to_string()
}

impl CellKey {
    /// The key's hash, stored in every row as `key_hash`.
    pub fn hash(&self) -> String {
        short_hash(self)
    }

    /// The fields where `self` (the recorded row) and `new` (what is asked now) differ, as
    /// `student.dd.epochs: 2 → 30`.
    pub fn differences(&self, new: &CellKey) -> Vec<String> {
        differences(
            &serde_json::to_value(self).unwrap_or_default(),
            &serde_json::to_value(new).unwrap_or_default(),
        )
    }
}

/// Leaf-by-leaf differences of two JSON values, by dotted path.
pub fn differences(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let (a, b) = (leaves(old), leaves(new));
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    let none = "(none)".to_string();
    paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| {
            format!(
                "{p}: {} → {}",
                a.get(p).unwrap_or(&none),
                b.get(p).unwrap_or(&none)
            )
        })
        .collect()
}

fn leaves(v: &serde_json::Value) -> BTreeMap<String, String> {
    fn walk(v: &serde_json::Value, path: &str, out: &mut BTreeMap<String, String>) {
        match v {
            serde_json::Value::Object(m) if !m.is_empty() => {
                for (k, x) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(x, &p, out);
                }
            }
            _ => {
                out.insert(path.to_string(), v.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(v, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CellKey {
        CellKey {
            shared: SharedKey {
                data: DataKey {
                    name: "fashion-mnist".into(),
                    sha256: "ab".repeat(32),
                    split: "test".into(),
                    normalization: Normalization {
                        name: "fashion-mnist".into(),
                        mean: vec![0.2861],
                        std: vec![0.353],
                    },
                },
                model: ModelKey::new(
                    Arch::Convnet,
                    16,
                    3,
                    NormKind::Instance,
                    crate::whitening::Whitening::None,
                ),
                student: StudentKey {
                    protocol: "auto".into(),
                    dd: TrainConfig::default(),
                    soft_label: SoftLabelConfig::default(),
                    batched: false,
                    bf16: false,
                },
                evaluation: EvalKey {
                    n_attack: 50,
                    subset_seed: 0,
                    attack_batch: 500,
                },
            },
            method: PluginKey {
                name: "random".into(),
                version: "0.1.0".into(),
                config: serde_json::json!({}),
            },
            ipc: 10,
            seed: 0,
            attack: Some(AttackKey {
                plugin: PluginKey {
                    name: "pgd".into(),
                    version: "0.1.0".into(),
                    config: serde_json::json!({"steps": 10, "alpha": 0.01}),
                },
                norm: "linf".into(),
                eps: 8.0 / 255.0,
            }),
        }
    }

    #[test]
    fn every_input_moves_the_hash_and_is_named() {
        let k = key();
        assert_eq!(k.hash(), key().hash());
        assert_eq!(k.hash().len(), 16);
        // config key order does not matter
        let mut same = key();
        same.attack.as_mut().unwrap().plugin.config =
            serde_json::from_str(r#"{"alpha": 0.01, "steps": 10}"#).unwrap();
        assert_eq!(k.hash(), same.hash());
        let mut w = key();
        w.shared.model.width = 64;
        w.shared.student.dd.epochs = 30;
        w.shared.evaluation.n_attack = 500;
        w.attack.as_mut().unwrap().plugin.config = serde_json::json!({"steps": 50, "alpha": 0.01});
        assert_ne!(k.hash(), w.hash());
        assert_eq!(
            k.differences(&w),
            [
                "attack.plugin.config.steps: 10 → 50",
                "shared.evaluation.n_attack: 50 → 500",
                "shared.model.width: 16 → 64",
                "shared.student.dd.epochs: 300 → 30",
            ]
        );
        let mut d = key();
        d.shared.data.sha256 = "cd".repeat(32);
        d.shared.data.normalization.name = "data".into();
        assert_ne!(k.hash(), d.hash());
        assert_eq!(k.differences(&d).len(), 2);
        let mut v = key();
        v.method.version = "0.2.0".into();
        assert_eq!(k.differences(&v), ["method.version: \"0.1.0\" → \"0.2.0\""]);
    }

    #[test]
    fn fused_optimiser_steps_are_other_rows_and_off_leaves_keys_as_before() {
        let k = key();
        let text = serde_json::to_string(&k).unwrap();
        assert!(!text.contains("fused"), "{text}");
        let mut f = key();
        f.shared.student.dd.fused_optimizer = true;
        f.shared.student.soft_label.fused_optimizer = true;
        assert_ne!(k.hash(), f.hash());
        assert_eq!(
            k.differences(&f),
            [
                "shared.student.dd.fused_optimizer: (none) → true",
                "shared.student.soft_label.fused_optimizer: (none) → true",
            ]
        );
    }

    #[test]
    fn instance_norm_keys_name_their_kernels_and_older_keys_differ() {
        let k = key();
        assert_eq!(k.shared.model.norm_kernel.as_deref(), Some("group_norm"));
        // a key written before the field: the batch-norm kernels' rows are other rows
        let mut text = serde_json::to_value(&k).unwrap();
        text["shared"]["model"]
            .as_object_mut()
            .unwrap()
            .remove("norm_kernel");
        let old: CellKey = serde_json::from_value(text).unwrap();
        assert_ne!(k.hash(), old.hash());
        assert_eq!(
            old.differences(&k),
            ["shared.model.norm_kernel: (none) → \"group_norm\""]
        );
        // other norm layers have no such kernels: their keys are as before
        let bn = ModelKey::new(
            Arch::Resnet18,
            64,
            18,
            NormKind::Batch,
            crate::whitening::Whitening::None,
        );
        let text = serde_json::to_string(&bn).unwrap();
        assert!(!text.contains("norm_kernel"), "{text}");
    }
}
