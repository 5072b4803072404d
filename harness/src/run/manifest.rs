//! `manifest.json`: one typed `Manifest` for `run` and `bench` — what every reader of a results
//! folder may rely on (ddbench and libtorch versions, the command, its state, the device, the
//! plugins) — with a body of the command's own (`RunBody`, `bench`'s `BenchBody`).

use crate::cell_key::CellKey;
use crate::data::Normalization;
use crate::plugin::Plugin;
use crate::record::write_atomic;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How far the command got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    #[serde(rename = "running")]
    Running,
    #[serde(rename = "finished")]
    Finished,
    #[serde(rename = "finished with failures")]
    FinishedWithFailures,
}

impl State {
    /// `Finished`, or `FinishedWithFailures` when there were any.
    pub fn finished(failures: usize) -> State {
        if failures == 0 {
            State::Finished
        } else {
            State::FinishedWithFailures
        }
    }
}

/// A plugin a command loaded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginEntry {
    pub name: String,
    pub kind: String,
    pub version: String,
    pub path: PathBuf,
}

impl PluginEntry {
    pub fn of(p: &Plugin) -> PluginEntry {
        PluginEntry {
            name: p.name.clone(),
            kind: p.kind.to_string(),
            version: p.version.clone(),
            path: p.path.clone(),
        }
    }
}

/// The manifest of a results folder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest<B> {
    pub ddbench: String,
    pub libtorch: String,
    /// The plugin ABI version this ddbench speaks.
    #[serde(default)]
    pub abi: u32,
    pub command: String,
    pub state: State,
    /// The device the cells ran on (`bench`: as its first recorded cell says; none before).
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub plugins: Vec<PluginEntry>,
    #[serde(flatten)]
    pub body: B,
}

impl<B> Manifest<B> {
    /// A manifest of this ddbench for `command` in `state`.
    pub fn new(command: &str, state: State, device: Option<String>, body: B) -> Manifest<B> {
        Manifest {
            ddbench: env!("CARGO_PKG_VERSION").into(),
            libtorch: ddbench_plugin_api::abi::TORCH_VERSION.into(),
            abi: ddbench_plugin_api::abi::ABI_VERSION,
            command: command.into(),
            state,
            device,
            plugins: Vec::new(),
            body,
        }
    }
}

impl<B: Serialize> Manifest<B> {
    /// Writes the manifest (write, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, serde_json::to_string_pretty(self)?.as_bytes())
    }
}

impl<B: for<'de> Deserialize<'de>> Manifest<B> {
    /// Reads a manifest; what the body type does not name is ignored.
    pub fn load(path: &Path) -> Result<Manifest<B>> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a manifest", path.display()))
    }
}

/// The data set a run used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetEntry {
    pub name: String,
    pub sha256: String,
    #[serde(default)]
    pub shape: [i64; 3],
    #[serde(default)]
    pub classes: i64,
    #[serde(default)]
    pub train: i64,
    #[serde(default)]
    pub test: i64,
    #[serde(default)]
    pub normalization: Option<Normalization>,
}

/// Test images asked for the attacked subset, and how many the split gave.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NAttack {
    pub asked: usize,
    pub attacked: usize,
}

/// A teacher a method handed over, evaluated once: clean % (test set), PGD-10 8/255 % (subset).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeacherEval {
    pub clean_acc: f64,
    pub pgd10_8_255_acc: f64,
}

/// `ddbench run`'s part of the manifest.
#[derive(Clone, Debug, Serialize)]
pub struct RunBody<'a> {
    pub config: &'a crate::run::RunConfig,
    pub dataset: DatasetEntry,
    pub n_attack: NAttack,
    /// The key of every recorded row, by its `key_hash`.
    pub keys: BTreeMap<String, CellKey>,
    /// The keys of rows set aside in `stale.csv`.
    pub stale_keys: BTreeMap<String, CellKey>,
    pub failures: Vec<String>,
    /// Teachers by weights file.
    pub teachers: BTreeMap<String, TeacherEval>,
}

/// What readers of a run's manifest use (`bench`, reruns): the rest is ignored.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RunFacts {
    pub dataset: Option<DatasetEntry>,
    #[serde(default)]
    pub keys: BTreeMap<String, CellKey>,
    #[serde(default)]
    pub stale_keys: BTreeMap<String, CellKey>,
    #[serde(default)]
    pub failures: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_names_its_state_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("manifest.json");
        let body = RunFacts {
            dataset: Some(DatasetEntry {
                name: "fashion-mnist".into(),
                sha256: "ab".repeat(32),
                shape: [1, 28, 28],
                classes: 10,
                train: 60000,
                test: 10000,
                normalization: None,
            }),
            failures: vec!["random ipc 1 seed 0: boom".into()],
            ..Default::default()
        };
        let m = Manifest::new("ddbench run", State::finished(1), Some("cpu".into()), ());
        let text = serde_json::to_value(&m).unwrap();
        assert_eq!(text["state"], "finished with failures");
        assert_eq!(text["libtorch"], ddbench_plugin_api::abi::TORCH_VERSION);
        // a reader sees the body fields it names, whatever else is there
        let mut v = text.as_object().unwrap().clone();
        v.insert(
            "dataset".into(),
            serde_json::to_value(&body.dataset).unwrap(),
        );
        v.insert("failures".into(), serde_json::json!(body.failures));
        v.insert("something_newer".into(), serde_json::json!({"x": 1}));
        std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
        let back: Manifest<RunFacts> = Manifest::load(&p).unwrap();
        assert_eq!(back.state, State::FinishedWithFailures);
        assert_eq!(back.body.dataset, body.dataset);
        assert_eq!(back.body.failures, body.failures);
        assert_eq!(back.device.as_deref(), Some("cpu"));
    }

    #[test]
    fn an_unreadable_manifest_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("manifest.json");
        std::fs::write(&p, "{not json").unwrap();
        let e = Manifest::<RunFacts>::load(&p).unwrap_err();
        assert!(format!("{e:#}").contains("manifest.json"), "{e:#}");
    }
}
