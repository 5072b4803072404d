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
    /// Hash of the row's `CellKey` (every input that made it; `cell_key.rs`). Empty in rows of
    /// a ddbench that had no cell key: such rows are never reused.
    #[serde(default)]
    pub key_hash: String,
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

/// The CSV of a run folder, held in memory and rewritten whole on every change.
pub struct ResultsFile {
    pub path: PathBuf,
    pub rows: Vec<ResultRow>,
}

impl ResultsFile {
    /// Opens `path`, reading the rows already there (none if it does not exist); a torn last
    /// line (no newline at its end) is dropped with a warning, so its row is computed again.
    pub fn open(path: &Path, warn: &dyn Fn(&str)) -> Result<ResultsFile> {
        let mut rows = Vec::new();
        if path.exists() {
            let bytes = read_whole_lines(path, warn)?;
            let mut rd = csv::Reader::from_reader(bytes.as_slice());
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

    /// Whether a row with this id (slot and key hash) is recorded.
    pub fn contains(&self, id: &str) -> bool {
        self.rows.iter().any(|r| r.id() == id)
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
        self.save()
    }

    /// Adds a row and rewrites the file atomically (write, fsync, rename).
    pub fn push(&mut self, row: ResultRow) -> Result<()> {
        self.rows.push(row);
        self.save()
    }

    /// Takes the rows `stale` picks out of the file (rewriting it) and returns them.
    pub fn take(&mut self, stale: impl Fn(&ResultRow) -> bool) -> Result<Vec<ResultRow>> {
        let (out, keep): (Vec<ResultRow>, Vec<ResultRow>) =
            self.rows.drain(..).partition(|r| stale(r));
        self.rows = keep;
        if !out.is_empty() {
            self.save()?;
        }
        Ok(out)
    }

    fn save(&self) -> Result<()> {
        write_atomic(&self.path, &rows_csv(&self.rows)?)
    }
}

/// The CSV text of `rows`, header first.
pub fn rows_csv(rows: &[ResultRow]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    w.into_inner().context("serialising results")
}

/// The bytes of `path` up to its last newline: a torn last line (a copy or write cut short) is
/// dropped and `warn` says so.
pub fn read_whole_lines(path: &Path, warn: &dyn Fn(&str)) -> Result<Vec<u8>> {
    let mut bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        warn(&format!(
            "{}: dropping a torn last line ({} bytes without a newline)",
            path.display(),
            bytes.len() - keep
        ));
        bytes.truncate(keep);
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` through a uniquely named temporary file in the same folder, fsync
/// and a rename: readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("out")
        ))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path)
        .map(|_| ())
        .with_context(|| format!("renaming a temporary file to {}", path.display()))
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
            key_hash: "0123456789abcdef".into(),
        }
    }

    #[test]
    fn rows_survive_a_reopen_and_keys_find_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("results.csv");
        let mut f = ResultsFile::open(&p, &|_| {}).unwrap();
        f.push(row(0)).unwrap();
        f.push(row(1)).unwrap();
        let g = ResultsFile::open(&p, &|_| {}).unwrap();
        assert_eq!(g.rows, vec![row(0), row(1)]);
        assert!(g.contains(&row(1).id()));
        assert!(!g.contains(&row(2).id()));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn flags_are_written_and_rows_of_the_old_format_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("results.csv");
        let mut f = ResultsFile::open(&p, &|_| {}).unwrap();
        f.push(row(0)).unwrap();
        f.push(row(1)).unwrap();
        let k1 = row(1).key();
        f.set_flags(|k| (k == k1).then(|| "eps_not_monotone".to_string()))
            .unwrap();
        let g = ResultsFile::open(&p, &|_| {}).unwrap();
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
        let h = ResultsFile::open(&p, &|_| {}).unwrap();
        assert_eq!(h.rows.len(), 2);
        assert_eq!((h.rows[1].flags.as_str(), h.rows[1].pert_max), ("", 0.0));
        assert!(
            h.rows[1].peak_device_mib.is_nan(),
            "a missing peak is unknown, not 0"
        );
        assert_eq!(
            h.rows[1].key_hash, "",
            "an old row has no key: never reused"
        );
    }

    #[test]
    fn a_foreign_csv_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("results.csv");
        std::fs::write(&p, "a,b\n1,2\n").unwrap();
        let e = format!("{:#}", ResultsFile::open(&p, &|_| {}).err().unwrap());
        assert!(e.contains("results.csv: row 2"), "{e}");
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_every_whole_row_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("results.csv");
        let mut f = ResultsFile::open(&p, &|_| {}).unwrap();
        for seed in 0..3 {
            f.push(row(seed)).unwrap();
        }
        let text = std::fs::read(&p).unwrap();
        std::fs::write(&p, &text[..text.len() - 20]).unwrap();
        let warned = std::cell::RefCell::new(String::new());
        let g = ResultsFile::open(&p, &|m| warned.borrow_mut().push_str(m)).unwrap();
        assert_eq!(g.rows.iter().map(|r| r.seed).collect::<Vec<_>>(), [0, 1]);
        assert!(
            warned.borrow().contains("torn last line"),
            "{}",
            warned.borrow()
        );
    }
}
