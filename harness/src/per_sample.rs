//! `per_sample.csv` beside `results.csv`: one line per attacked point of every finished attack
//! row (cell key columns, test index, label, clean and adversarial predictions, perturbation
//! norm). Appended whole per row and fsynced; on open, lines of rows that never reached
//! `results.csv` (an interrupted run) and a torn last line are dropped, so a rerun adds no twins.

use crate::record::{cell_key, row_id, write_atomic};
use crate::sanity::Sample;
use anyhow::{bail, Context, Result};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One attacked point of one result row.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SampleRow {
    pub dataset: String,
    pub method: String,
    pub ipc: i64,
    pub arch: String,
    pub seed: u64,
    pub attack: String,
    pub norm: String,
    pub eps: f64,
    /// Index in the test set.
    pub index: i64,
    pub label: i64,
    pub clean_pred: i64,
    pub adv_pred: i64,
    /// Norm of the perturbation actually used, in the threat model's norm.
    pub pert_norm: f64,
    /// The `key_hash` of the result row (empty in files of a ddbench without cell keys).
    #[serde(default)]
    pub key_hash: String,
}

impl SampleRow {
    /// The id of the result row this point belongs to (`ResultRow::id`).
    pub fn id(&self) -> String {
        row_id(
            &cell_key(
                &self.dataset,
                &self.method,
                self.ipc,
                &self.arch,
                self.seed,
                &self.attack,
                &self.norm,
                self.eps,
            ),
            &self.key_hash,
        )
    }

    pub fn sample(&self) -> Sample {
        Sample {
            index: self.index,
            label: self.label,
            clean_pred: self.clean_pred,
            adv_pred: self.adv_pred,
        }
    }
}

/// Every line of a per-sample file, parsed (a torn last line comes back as an error).
fn read_rows(path: &Path) -> Result<Vec<csv::Result<SampleRow>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(csv::Reader::from_reader(text.as_bytes())
        .deserialize()
        .collect())
}

/// Moves the lines of the rows `ids` names from `from` to the end of `to` (`stale.csv`'s
/// companion when a forced rerun sets rows aside); returns how many lines moved.
pub fn move_rows(from: &Path, to: &Path, ids: &HashSet<String>) -> Result<usize> {
    if !from.exists() || ids.is_empty() {
        return Ok(0);
    }
    let moving: Vec<SampleRow> = read_rows(from)?
        .into_iter()
        .filter_map(|r| r.ok())
        .filter(|r| ids.contains(&r.id()))
        .collect();
    let mut dest = PerSampleFile::open(to, |_| true)?;
    for chunk in moving.chunk_by(|a, b| a.id() == b.id()) {
        dest.append(chunk)?;
    }
    Ok(moving.len())
}

/// The per-sample file of a run folder; only the set of row ids it holds stays in memory.
pub struct PerSampleFile {
    pub path: PathBuf,
    keys: HashSet<String>,
}

impl PerSampleFile {
    /// Opens `path` (none yet is fine), keeping the lines whose row id `recorded` accepts.
    pub fn open(path: &Path, recorded: impl Fn(&str) -> bool) -> Result<PerSampleFile> {
        let mut keys = HashSet::new();
        if path.exists() {
            let records = read_rows(path)?;
            let last = records.len();
            let mut kept = Vec::new();
            for (i, r) in records.into_iter().enumerate() {
                match r {
                    Ok(row) if recorded(&row.id()) => kept.push(row),
                    Ok(_) => {}
                    // a crash mid-append leaves at most a torn last line
                    Err(_) if i + 1 == last => {}
                    Err(e) => bail!(
                        "{}: line {} does not match the per-sample format ({e}; move the file away to start afresh)",
                        path.display(),
                        i + 2
                    ),
                }
            }
            if kept.len() != last {
                let mut w = csv::Writer::from_writer(Vec::new());
                for r in &kept {
                    w.serialize(r)?;
                }
                write_atomic(
                    path,
                    &w.into_inner().context("serialising per-sample rows")?,
                )?;
            }
            keys = kept.iter().map(|r| r.id()).collect();
        }
        Ok(PerSampleFile {
            path: path.to_path_buf(),
            keys,
        })
    }

    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// Appends the points of one result row (all with the same id) in one write, then fsyncs;
    /// an id already in the file is not written again.
    pub fn append(&mut self, rows: &[SampleRow]) -> Result<()> {
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let key = first.id();
        if self.keys.contains(&key) {
            return Ok(());
        }
        let new = !self.path.exists() || std::fs::metadata(&self.path)?.len() == 0;
        let mut w = csv::WriterBuilder::new()
            .has_headers(new)
            .from_writer(Vec::new());
        for r in rows {
            w.serialize(r)?;
        }
        let bytes = w.into_inner().context("serialising per-sample rows")?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .with_context(|| format!("appending to {}", self.path.display()))?;
        self.keys.insert(key);
        Ok(())
    }

    /// The stored points of the given row ids, by id (for a cell a rerun finishes).
    pub fn load(&self, wanted: &[String]) -> Result<HashMap<String, Vec<Sample>>> {
        let mut out: HashMap<String, Vec<Sample>> = HashMap::new();
        if !wanted.iter().any(|k| self.keys.contains(k)) {
            return Ok(out);
        }
        let mut rd = csv::Reader::from_path(&self.path)
            .with_context(|| format!("reading {}", self.path.display()))?;
        for r in rd.deserialize::<SampleRow>() {
            let r = r.with_context(|| format!("reading {}", self.path.display()))?;
            let k = r.id();
            if wanted.contains(&k) {
                out.entry(k).or_default().push(r.sample());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(attack: &str, n: i64) -> Vec<SampleRow> {
        (0..n)
            .map(|i| SampleRow {
                dataset: "d".into(),
                method: "m".into(),
                ipc: 10,
                arch: "convnet".into(),
                seed: 0,
                attack: attack.into(),
                norm: "l2".into(),
                eps: f64::INFINITY,
                index: 7 * i,
                label: i % 10,
                clean_pred: i % 10,
                adv_pred: (i + 1) % 10,
                pert_norm: 0.25 * i as f64,
                key_hash: "h".into(),
            })
            .collect()
    }

    #[test]
    fn appends_reload_skip_twins_and_drop_unrecorded_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("per_sample.csv");
        let mut f = PerSampleFile::open(&p, |_| true).unwrap();
        f.append(&rows("cw", 3)).unwrap();
        f.append(&rows("deepfool", 2)).unwrap();
        f.append(&rows("cw", 3)).unwrap(); // already there: not written again
        let cw_key = rows("cw", 1)[0].id();
        let g = PerSampleFile::open(&p, |_| true).unwrap();
        let loaded = g.load(std::slice::from_ref(&cw_key)).unwrap();
        let want: Vec<Sample> = rows("cw", 3).iter().map(|r| r.sample()).collect();
        assert_eq!(loaded[&cw_key], want);
        let all = csv::Reader::from_path(&p)
            .unwrap()
            .deserialize::<SampleRow>()
            .count();
        assert_eq!(all, 5);
        // an interrupted run: the deepfool row never reached results.csv, and a torn line
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.extend_from_slice(b"d,m,10,convnet,0,cw,l2,inf,99,");
        std::fs::write(&p, bytes).unwrap();
        let h = PerSampleFile::open(&p, |k| k == cw_key).unwrap();
        assert!(h.contains(&cw_key) && !h.contains(&rows("deepfool", 1)[0].id()));
        let back: Vec<SampleRow> = csv::Reader::from_path(&p)
            .unwrap()
            .deserialize()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            back,
            rows("cw", 3),
            "infinite eps and norms survive the round trip"
        );
    }

    #[test]
    fn a_broken_middle_line_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("per_sample.csv");
        let mut f = PerSampleFile::open(&p, |_| true).unwrap();
        f.append(&rows("cw", 3)).unwrap();
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replacen(",7,", ",x,", 1);
        std::fs::write(&p, text).unwrap();
        let e = format!("{:#}", PerSampleFile::open(&p, |_| true).err().unwrap());
        assert!(e.contains("per_sample.csv: line 3"), "{e}");
    }
}
