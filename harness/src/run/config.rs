//! What a run is asked (`RunConfig`, from the command line or a leaderboard cell) and what it
//! hands back (`RunSummary`).

use crate::data::{source, NormalizationChoice};
use crate::device::DeviceChoice;
use crate::record::ResultRow;
use crate::student::Protocol;
use crate::threat::norm_name;
use ddbench_nn::soft_label::SoftLabelConfig;
use ddbench_nn::{Arch, NormKind, TrainConfig};
use ddbench_plugin_api::Norm;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything a run needs, as parsed from the command line.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunConfig {
    pub dataset: source::DatasetKind,
    pub data_dir: Option<PathBuf>,
    /// The models' per-channel normalisation (`data::normalization`).
    pub normalization: NormalizationChoice,
    pub methods: Vec<String>,
    pub ipcs: Vec<i64>,
    pub arch: Arch,
    pub width: i64,
    pub depth: i64,
    pub norm_layer: NormKind,
    /// The students' input whitening (`--whitening zca`: MTT / DATM's CIFAR evaluation).
    pub whitening: crate::whitening::Whitening,
    pub seeds: u64,
    /// The first seed: seeds run `first_seed..first_seed + seeds` (`ddbench bench` runs one per cell).
    pub first_seed: u64,
    /// The seeds' students of a method and IPC trained together (`ddbench_nn::batched`).
    #[serde(default)]
    pub batch_students: bool,
    /// The students trained under bf16 autocast (`--bf16-students`; after setup: whether the
    /// device can, `setup::bf16_students`).
    #[serde(default)]
    pub bf16_students: bool,
    pub attacks: Vec<String>,
    /// ε values; `None` means each norm's default (8/255 for L∞, 0.5 for L2).
    pub eps: Option<Vec<f64>>,
    #[serde(serialize_with = "ser_norm")]
    pub norm: Norm,
    pub n_attack: usize,
    pub train: TrainConfig,
    /// Student protocol: `auto` (soft-label when the method hands over a teacher), `dd`, `soft-label`.
    pub protocol: Protocol,
    pub soft: SoftLabelConfig,
    pub method_config: BTreeMap<String, serde_json::Value>,
    pub attack_config: BTreeMap<String, serde_json::Value>,
    pub out: PathBuf,
    /// Where methods cache expensive artefacts (teachers), shared by runs.
    pub cache_dir: PathBuf,
    #[serde(skip)]
    pub device: DeviceChoice,
    pub plugin_dirs: Vec<PathBuf>,
    pub eval_batch: i64,
    pub attack_batch: i64,
    pub quiet: bool,
    /// Move recorded rows made with other inputs to `stale.csv` instead of refusing.
    pub force: bool,
    /// Artefacts written beside the rows (`export.rs`); outputs, not part of any key.
    pub save: super::SaveOptions,
    /// Where progress events go (`events.rs`): a pipe `ddbench bench` opened for this run.
    #[serde(skip)]
    pub events_fd: Option<i32>,
    /// Seconds between two saves of a student in training or an attack under way (at an epoch's
    /// or a batch's end; 0: every one); SIGUSR1 saves at once. Results do not depend on it.
    pub checkpoint_every: f64,
}

fn ser_norm<S: serde::Serializer>(n: &Norm, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(norm_name(*n))
}

/// What a finished run produced.
pub struct RunSummary {
    /// Test images attacked (what the split could give of `--n-attack`).
    pub n_attacked: usize,
    pub results: PathBuf,
    pub manifest: PathBuf,
    pub rows: Vec<ResultRow>,
    pub failures: Vec<String>,
}

impl RunConfig {
    pub fn norm_layer_name(&self) -> &'static str {
        match self.norm_layer {
            NormKind::Instance => "instancenorm",
            NormKind::Batch => "batchnorm",
            NormKind::None => "no-norm",
        }
    }

    /// The seeds each (method, IPC) runs.
    pub fn seed_range(&self) -> std::ops::Range<u64> {
        self.first_seed..self.first_seed + self.seeds
    }

    /// The ε values asked, or the norm's default (8/255 for L∞, 0.5 for L2).
    pub fn eps_list(&self) -> Vec<f64> {
        self.eps.clone().unwrap_or_else(|| {
            vec![if self.norm == Norm::Linf {
                8.0 / 255.0
            } else {
                0.5
            }]
        })
    }

    /// The config given for plugin `name` in `configs` (`{}`: its defaults).
    pub fn config_of(
        configs: &BTreeMap<String, serde_json::Value>,
        name: &str,
    ) -> serde_json::Value {
        configs
            .get(name)
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}))
    }
}
