//! Results on disk: the typed result row, the CSV of result rows (`file`: rewritten atomically
//! after every finished row, so an interruption loses nothing) and reading any results.csv —
//! `ddbench run`'s or `ddbench bench`'s, whose rows lead with the cell's columns — as typed rows
//! (`read`).

mod file;
mod lenient;
mod read;
#[cfg(test)]
mod tests;

pub use file::{read_whole_lines, rows_csv, write_atomic, ResultsFile};
pub use read::{parse_results, read_results, BenchLead, Recorded};

/// One result row: a (dataset, method, ipc, arch, seed, attack, norm, eps) cell.
///
/// Read leniently (`lenient`): an empty number is unknown (NaN; 0 for a count), and the columns
/// the report does not need may be missing (hand-made tables, older records).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResultRow {
    pub dataset: String,
    pub method: String,
    #[serde(default)]
    pub method_version: String,
    /// Images per class of the distilled set (for `full`, the training set's own count).
    #[serde(deserialize_with = "lenient::count")]
    pub ipc: i64,
    pub arch: String,
    #[serde(deserialize_with = "lenient::count")]
    pub seed: u64,
    /// Attack plugin name, or `none` for a clean-only row.
    pub attack: String,
    #[serde(default)]
    pub attack_version: String,
    /// `linf`, `l2`, or empty for `none`.
    pub norm: String,
    /// ε in pixel units ([0, 1] scale).
    #[serde(deserialize_with = "lenient::real")]
    pub eps: f64,
    /// Clean accuracy (%) on the whole test set.
    #[serde(deserialize_with = "lenient::real")]
    pub clean_acc: f64,
    /// Clean accuracy (%) on the attacked subset.
    #[serde(deserialize_with = "lenient::real")]
    pub subset_clean_acc: f64,
    /// Robust accuracy (%) on the attacked subset (a point counts only if clean and adversarial
    /// predictions are both right).
    #[serde(deserialize_with = "lenient::real")]
    pub robust_acc: f64,
    #[serde(default, deserialize_with = "lenient::count")]
    pub n_test: i64,
    #[serde(default, deserialize_with = "lenient::count")]
    pub n_attack: i64,
    #[serde(default, deserialize_with = "lenient::count")]
    pub distilled_images: i64,
    #[serde(default, deserialize_with = "lenient::count")]
    pub train_epochs: i64,
    #[serde(deserialize_with = "lenient::real")]
    pub distill_s: f64,
    #[serde(deserialize_with = "lenient::real")]
    pub train_s: f64,
    #[serde(deserialize_with = "lenient::real")]
    pub attack_s: f64,
    #[serde(deserialize_with = "lenient::count")]
    pub forward_calls: u64,
    #[serde(deserialize_with = "lenient::count")]
    pub backward_calls: u64,
    /// Student protocol: `dd` or `soft-label`.
    #[serde(default)]
    pub protocol: String,
    /// For methods with a teacher: its regularizer (`none`, `guard`, `pgd-at`), what training it
    /// cost (seconds, forward / backward passes of one batch each; a cached teacher reports the
    /// figures of the run that trained it), its clean % on the test set and PGD-10 % on the subset.
    #[serde(default)]
    pub teacher_regularizer: String,
    #[serde(default, deserialize_with = "lenient::real")]
    pub teacher_s: f64,
    #[serde(default, deserialize_with = "lenient::count")]
    pub teacher_forward: u64,
    #[serde(default, deserialize_with = "lenient::count")]
    pub teacher_backward: u64,
    #[serde(default, deserialize_with = "lenient::real")]
    pub teacher_clean_acc: f64,
    #[serde(default, deserialize_with = "lenient::real")]
    pub teacher_pgd_acc: f64,
    /// Perturbation actually used, in the threat model's norm, over the attacked points: mean
    /// and max; and over the points the attack turned from right to wrong: median and mean
    /// (NaN when there are none, and for `none` rows). See harness/RECORDS.md.
    #[serde(default, deserialize_with = "lenient::real")]
    pub pert_mean: f64,
    #[serde(default, deserialize_with = "lenient::real")]
    pub pert_max: f64,
    #[serde(default, deserialize_with = "lenient::real")]
    pub pert_median_success: f64,
    #[serde(default, deserialize_with = "lenient::real")]
    pub pert_mean_success: f64,
    /// The attack's resolved JSON config: every setting, defaults filled in (rows written before
    /// plugins declared their configuration: the config as passed, `{}` for the defaults).
    #[serde(default)]
    pub attack_config: String,
    /// Sanity-check flags (`sanity.rs`), semicolon-separated; empty when all checks pass.
    #[serde(default)]
    pub flags: String,
    /// Peak memory of the run's device so far (MiB; `device_memory.rs`): CPU, the process's peak
    /// resident set; CUDA, device memory in use beyond what was in use when the run started.
    #[serde(default = "nan", deserialize_with = "lenient::real")]
    pub peak_device_mib: f64,
    /// Hash of the row's `CellKey` (every input that made it; `cell_key.rs`). Empty in rows of
    /// a ddbench that had no cell key: such rows are never reused.
    #[serde(default)]
    pub key_hash: String,
    /// The attack's label in a leaderboard file that runs one plugin under several configs
    /// (`ddbench bench` sets it); empty: none, the row is shown under `attack`.
    #[serde(default)]
    pub attack_label: String,
    /// The method's resolved JSON config: every setting, defaults filled in (empty in rows
    /// written before plugins declared their configuration).
    #[serde(default)]
    pub method_config: String,
    /// The DD protocol's student augmentation (`crop-flip`, `dsa`, `none`; empty in older rows,
    /// which trained with `crop-flip`) and the students' input whitening (`none`, or `zca:` and
    /// the layer's hash; empty in older rows: none).
    #[serde(default)]
    pub augment: String,
    #[serde(default)]
    pub whitening: String,
    /// The smallest and largest pixel value of the distilled training images (they may lie
    /// outside [0, 1]: methods that optimise unconstrained pixels; NaN in older rows).
    #[serde(default = "nan", deserialize_with = "lenient::real")]
    pub distilled_min: f64,
    #[serde(default = "nan", deserialize_with = "lenient::real")]
    pub distilled_max: f64,
}

fn nan() -> f64 {
    f64::NAN
}

impl ResultRow {
    /// The row's id (`row_id`): what per-sample lines point at.
    pub fn id(&self) -> String {
        row_id(&self.key(), &self.key_hash)
    }

    /// The row's slot in a results folder (data set, method, IPC, arch, seed, attack, norm, ε):
    /// at most one row per slot; whether it may be reused is `key_hash`'s business.
    pub fn key(&self) -> String {
        cell_key(
            &self.dataset,
            &self.method,
            self.ipc,
            &self.arch,
            self.seed,
            &self.attack,
            &self.norm,
            self.eps,
        )
    }

    /// The attack's name in tables and charts: its leaderboard label when it has one, else
    /// `attack_label` of its plugin and config.
    pub fn attack_label(&self) -> String {
        if self.attack_label.is_empty() {
            attack_label(&self.attack, &self.attack_config)
        } else {
            self.attack_label.clone()
        }
    }
}

/// A row's id: its slot and its key hash (two rows with one id have the same inputs).
pub fn row_id(slot: &str, key_hash: &str) -> String {
    format!("{slot}#{key_hash}")
}

#[allow(clippy::too_many_arguments)]
pub fn cell_key(
    dataset: &str,
    method: &str,
    ipc: i64,
    arch: &str,
    seed: u64,
    attack: &str,
    norm: &str,
    eps: f64,
) -> String {
    format!("{dataset}|{method}|{ipc}|{arch}|{seed}|{attack}|{norm}|{eps:.6}")
}

/// An attack's name in tables and charts: with the `version` of its config where one was given
/// (`autoattack (fast)`), so rows of different versions never share a column.
pub fn attack_label(name: &str, config: &str) -> String {
    let version = serde_json::from_str::<serde_json::Value>(config)
        .ok()
        .and_then(|c| c.get("version")?.as_str().map(String::from));
    match version {
        Some(v) => format!("{name} ({v})"),
        None => name.to_string(),
    }
}
