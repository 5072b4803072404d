//! Which recorded rows a rerun may reuse. A row is reused only when its cell key (every input
//! that made it) equals the one asked for now; a row in the same slot with another key, or any
//! row made under another shared protocol (data, student, attacked subset), is a conflict: the
//! run refuses, naming the differing fields, unless `--force` sets those rows aside in
//! `stale.csv` (their per-sample lines in `stale_per_sample.csv`) to be computed anew.

use super::manifest::{Manifest, RunFacts};
use crate::cell_key::{CellKey, SharedKey};
use crate::per_sample;
use crate::record::{ResultRow, ResultsFile};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// A recorded row that may not be reused, and why.
#[derive(Debug)]
pub struct Conflict {
    pub row: ResultRow,
    /// The differing fields (`student.dd.epochs: 2 → 30`), or why the row's inputs are unknown.
    pub why: Vec<String>,
}

/// The keys of the rows a folder's manifest describes (`keys` and `stale_keys`), by hash; an
/// unreadable or missing manifest describes nothing.
pub fn recorded_keys(manifest: &Path) -> BTreeMap<String, CellKey> {
    let Ok(m) = Manifest::<RunFacts>::load(manifest) else {
        return BTreeMap::new();
    };
    m.body.keys.into_iter().chain(m.body.stale_keys).collect()
}

/// The rows of `rows` that may not stay beside what is asked now: `wanted` maps each slot of
/// this run (`ResultRow::key`) to its key; `shared` is this run's shared part.
pub fn conflicts(
    rows: &[ResultRow],
    known: &BTreeMap<String, CellKey>,
    wanted: &HashMap<String, CellKey>,
    shared: &SharedKey,
) -> Vec<Conflict> {
    let unknown = |r: &ResultRow| {
        if r.key_hash.is_empty() {
            vec!["recorded without a cell key (an older ddbench): its inputs are unknown".into()]
        } else {
            vec![format!(
                "its key {} is not in manifest.json: its inputs are unknown",
                r.key_hash
            )]
        }
    };
    rows.iter()
        .filter_map(|r| {
            let why = match (wanted.get(&r.key()), known.get(&r.key_hash)) {
                (Some(w), _) if w.hash() == r.key_hash => return None,
                (Some(w), Some(k)) => k.differences(w),
                (None, Some(k)) if k.shared == *shared => return None,
                (None, Some(k)) => crate::cell_key::differences(
                    &serde_json::json!({ "shared": k.shared }),
                    &serde_json::json!({ "shared": shared }),
                ),
                (_, None) => unknown(r),
            };
            Some(Conflict {
                row: r.clone(),
                why,
            })
        })
        .collect()
}

/// The refusal: which rows, which fields, and the two ways out.
pub fn refusal(out: &Path, found: &[Conflict]) -> String {
    const SHOWN: usize = 5;
    let mut lines = vec![format!(
        "{} holds {} row(s) made with other inputs than this run's, which would be mixed with its own:",
        out.display(),
        found.len()
    )];
    for c in found.iter().take(SHOWN) {
        let r = &c.row;
        lines.push(format!(
            "  {} {} ipc {} {} seed {} {} {} {:.4}: {}",
            r.dataset,
            r.method,
            r.ipc,
            r.arch,
            r.seed,
            r.attack,
            r.norm,
            r.eps,
            c.why.join("; ")
        ));
    }
    if found.len() > SHOWN {
        lines.push(format!("  … and {} more", found.len() - SHOWN));
    }
    lines.push(format!(
        "Use another --out to keep both, or --force to move those rows to {} and compute them anew.",
        out.join("stale.csv").display()
    ));
    lines.join("\n")
}

/// Refuses (without `force`) or moves the conflicting rows of `results` to `stale.csv` and their
/// per-sample lines to `stale_per_sample.csv`; returns the keys of the rows moved.
pub fn settle(
    out: &Path,
    results: &mut ResultsFile,
    found: Vec<Conflict>,
    force: bool,
) -> Result<Vec<String>> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    if !force {
        bail!("{}", refusal(out, &found));
    }
    let ids: HashSet<String> = found.iter().map(|c| c.row.id()).collect();
    per_sample::move_rows(
        &out.join("per_sample.csv"),
        &out.join("stale_per_sample.csv"),
        &ids,
    )?;
    let moved = results.take(|r| ids.contains(&r.id()))?;
    let mut stale = ResultsFile::open(&out.join("stale.csv"), &|_| {})?;
    for r in &moved {
        stale.push(r.clone())?;
    }
    Ok(moved.into_iter().map(|r| r.key_hash).collect())
}
