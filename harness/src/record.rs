//! Results on disk: the CSV of result rows (rewritten atomically after every finished row, so
//! an interruption loses nothing) and the JSON manifest beside it.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One result row: a (dataset, method, ipc, arch, seed, attack, norm, eps) cell.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResultRow {
    pub dataset: String,
    pub method: String,
    pub method_version: String,
    /// Images per class of the distilled set (for `full`, the training set's own count).
    pub ipc: i64,
    pub arch: String,
    pub seed: u64,
    /// Attack plugin name, or `none` for a clean-only row.
    pub attack: String,
    pub attack_version: String,
    /// `linf`, `l2`, or empty for `none`.
    pub norm: String,
    /// ε in pixel units ([0, 1] scale).
    pub eps: f64,
    /// Clean accuracy (%) on the whole test set.
    pub clean_acc: f64,
    /// Clean accuracy (%) on the attacked subset.
    pub subset_clean_acc: f64,
    /// Robust accuracy (%) on the attacked subset (a point counts only if clean and adversarial
    /// predictions are both right).
    pub robust_acc: f64,
    pub n_test: i64,
    pub n_attack: i64,
    pub distilled_images: i64,
    pub train_epochs: i64,
    pub distill_s: f64,
    pub train_s: f64,
    pub attack_s: f64,
    pub forward_calls: u64,
    pub backward_calls: u64,
    /// Student protocol: `dd` or `soft-label`.
    #[serde(default)]
    pub protocol: String,
    /// For methods with a teacher: its regularizer (`none`, `guard`, `pgd-at`), what training it
    /// cost (seconds, forward / backward passes of one batch each; a cached teacher reports the
    /// figures of the run that trained it), its clean % on the test set and PGD-10 % on the subset.
    #[serde(default)]
    pub teacher_regularizer: String,
    #[serde(default)]
    pub teacher_s: f64,
    #[serde(default)]
    pub teacher_forward: u64,
    #[serde(default)]
    pub teacher_backward: u64,
    #[serde(default)]
    pub teacher_clean_acc: f64,
    #[serde(default)]
    pub teacher_pgd_acc: f64,
    /// Perturbation actually used, in the threat model's norm, over the attacked points: mean
    /// and max; and over the points the attack turned from right to wrong: median and mean
    /// (NaN when there are none, and for `none` rows). See harness/RECORDS.md.
    #[serde(default)]
    pub pert_mean: f64,
    #[serde(default)]
    pub pert_max: f64,
    #[serde(default)]
    pub pert_median_success: f64,
    #[serde(default)]
    pub pert_mean_success: f64,
    /// The attack's JSON config as passed (`{}`: the plugin's defaults).
    #[serde(default)]
    pub attack_config: String,
    /// Sanity-check flags (`sanity.rs`), semicolon-separated; empty when all checks pass.
    #[serde(default)]
    pub flags: String,
    /// Peak memory of the run's device so far (MiB; `device_memory.rs`): CPU, the process's peak
    /// resident set; CUDA, device memory in use beyond what was in use when the run started.
    #[serde(default = "nan")]
    pub peak_device_mib: f64,
}

fn nan() -> f64 {
    f64::NAN
}

impl ResultRow {
    /// The identity of the cell; a rerun skips rows whose key is already recorded.
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

/// The CSV of a run folder, held in memory and rewritten whole on every change.
pub struct ResultsFile {
    pub path: PathBuf,
    pub rows: Vec<ResultRow>,
}

impl ResultsFile {
    /// Opens `path`, reading the rows already there (none if it does not exist).
    pub fn open(path: &Path) -> Result<ResultsFile> {
        let mut rows = Vec::new();
        if path.exists() {
            let mut rd = csv::Reader::from_path(path)
                .with_context(|| format!("reading {}", path.display()))?;
            for (i, r) in rd.deserialize().enumerate() {
                rows.push(r.with_context(|| {
                    format!("{}: row {} does not match the results format (move the file away to start afresh)", path.display(), i + 2)
                })?);
            }
        }
        Ok(ResultsFile {
            path: path.to_path_buf(),
            rows,
        })
    }

    pub fn contains(&self, key: &str) -> bool {
        self.rows.iter().any(|r| r.key() == key)
    }

    /// Sets the `flags` of the rows whose key `flags_of` maps to a value, rewriting the file
    /// (atomically) if any changed.
    pub fn set_flags(&mut self, flags_of: impl Fn(&str) -> Option<String>) -> Result<()> {
        let mut changed = false;
        for r in &mut self.rows {
            if let Some(f) = flags_of(&r.key()) {
                changed |= r.flags != f;
                r.flags = f;
            }
        }
        if !changed {
            return Ok(());
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in &self.rows {
            w.serialize(r)?;
        }
        write_atomic(&self.path, &w.into_inner().context("serialising results")?)
    }

    /// Adds a row and rewrites the file atomically (write, fsync, rename).
    pub fn push(&mut self, row: ResultRow) -> Result<()> {
        self.rows.push(row);
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in &self.rows {
            w.serialize(r)?;
        }
        write_atomic(&self.path, &w.into_inner().context("serialising results")?)
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out")
    ));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seed: u64) -> ResultRow {
        ResultRow {
            dataset: "d".into(),
            method: "m".into(),
            method_version: "1".into(),
            ipc: 10,
            arch: "convnet".into(),
            seed,
            attack: "pgd".into(),
            attack_version: "1".into(),
            norm: "linf".into(),
            eps: 8.0 / 255.0,
            clean_acc: 50.0,
            subset_clean_acc: 51.0,
            robust_acc: 10.0,
            n_test: 100,
            n_attack: 10,
            distilled_images: 100,
            train_epochs: 3,
            distill_s: 0.1,
            train_s: 1.0,
            attack_s: 0.5,
            forward_calls: 11,
            backward_calls: 10,
            protocol: "dd".into(),
            teacher_regularizer: "guard".into(),
            teacher_s: 2.5,
            teacher_forward: 40,
            teacher_backward: 30,
            teacher_clean_acc: 90.0,
            teacher_pgd_acc: 20.0,
            pert_mean: 0.02,
            pert_max: 8.0 / 255.0,
            pert_median_success: 8.0 / 255.0,
            pert_mean_success: 0.03,
            attack_config: r#"{"steps":20}"#.into(),
            flags: String::new(),
            peak_device_mib: 512.5,
        }
    }

    #[test]
    fn rows_survive_a_reopen_and_keys_find_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("results.csv");
        let mut f = ResultsFile::open(&p).unwrap();
        f.push(row(0)).unwrap();
        f.push(row(1)).unwrap();
        let g = ResultsFile::open(&p).unwrap();
        assert_eq!(g.rows, vec![row(0), row(1)]);
        assert!(g.contains(&row(1).key()));
        assert!(!g.contains(&row(2).key()));
        assert!(!dir.path().join(".results.csv.tmp").exists());
    }

    #[test]
    fn flags_are_written_and_rows_of_the_old_format_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("results.csv");
        let mut f = ResultsFile::open(&p).unwrap();
        f.push(row(0)).unwrap();
        f.push(row(1)).unwrap();
        let k1 = row(1).key();
        f.set_flags(|k| (k == k1).then(|| "eps_not_monotone".to_string()))
            .unwrap();
        let g = ResultsFile::open(&p).unwrap();
        assert_eq!(g.rows[0].flags, "");
        assert_eq!(g.rows[1].flags, "eps_not_monotone");
        // a CSV written before the perturbation / config / flags columns existed
        let text = std::fs::read_to_string(&p).unwrap();
        let old: String = text
            .lines()
            .map(|l| l.split(',').take(29).collect::<Vec<_>>().join(",") + "\n")
            .collect();
        assert!(
            old.starts_with("dataset,") && old.lines().next().unwrap().ends_with("teacher_pgd_acc")
        );
        std::fs::write(&p, old).unwrap();
        let h = ResultsFile::open(&p).unwrap();
        assert_eq!(h.rows.len(), 2);
        assert_eq!((h.rows[1].flags.as_str(), h.rows[1].pert_max), ("", 0.0));
        assert!(
            h.rows[1].peak_device_mib.is_nan(),
            "a missing peak is unknown, not 0"
        );
    }

    #[test]
    fn a_foreign_csv_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("results.csv");
        std::fs::write(&p, "a,b\n1,2\n").unwrap();
        let e = format!("{:#}", ResultsFile::open(&p).err().unwrap());
        assert!(e.contains("results.csv: row 2"), "{e}");
    }
}
