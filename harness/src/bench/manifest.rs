//! The bench folder's `manifest.json`: the common header of `run::manifest::Manifest` with a
//! `BenchBody` — the leaderboard, the data hashes and every cell's state — rewritten after
//! every cell. The cells' own manifests are read typed (`RunFacts`).

use super::child::Ended;
use super::records::Records;
use crate::leaderboard::{Cell, Loaded};
use crate::run::manifest::{Manifest, PluginEntry, RunFacts, State};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The leaderboard file a bench ran, whole.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeaderboardEntry {
    pub path: PathBuf,
    pub title: String,
    pub sha256: String,
    pub text: String,
}

/// Where a cell stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellState {
    Recorded,
    Failed,
    Pending,
}

/// How a cell's last `ddbench run` of this bench ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    pub exit_code: Option<i32>,
    pub wall_s: f64,
    pub peak_rss_mib: f64,
    pub rows: usize,
    /// Why it recorded less than asked (the child's last failure event, or its exit code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One cell of the leaderboard.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellEntry {
    pub id: String,
    pub folder: String,
    pub hash: String,
    pub state: CellState,
    pub rows: usize,
    pub expected_rows: usize,
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
    /// The failures the cell's own manifest lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

/// `ddbench bench`'s part of the manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchBody {
    pub jobs: usize,
    pub leaderboard: LeaderboardEntry,
    pub datasets_sha256: BTreeMap<String, String>,
    pub cells: Vec<CellEntry>,
}

/// What stays the same across a bench's manifest writes.
pub struct Writer<'a> {
    pub out: &'a Path,
    pub command: String,
    pub cells: &'a [Cell],
    pub plugins: Vec<PluginEntry>,
    pub jobs: usize,
    pub leaderboard: LeaderboardEntry,
    pub data: &'a BTreeMap<String, String>,
}

impl LeaderboardEntry {
    pub fn of(lb: &Loaded) -> LeaderboardEntry {
        LeaderboardEntry {
            path: lb.path.clone(),
            title: lb.title.clone(),
            sha256: hex::encode(Sha256::digest(lb.text.as_bytes())),
            text: lb.text.clone(),
        }
    }
}

/// A cell's own manifest (`cells/<folder>/manifest.json`), if it has a readable one.
pub fn of_cell(cell_dir: &Path) -> Option<Manifest<RunFacts>> {
    Manifest::load(&cell_dir.join("manifest.json")).ok()
}

impl Writer<'_> {
    /// Writes `manifest.json` in `state`, with each cell's rows in `records` and the last runs
    /// of this bench (by cell index).
    pub fn write(
        &self,
        records: &Records,
        runs: &BTreeMap<usize, LastRun>,
        state: State,
    ) -> Result<()> {
        let mut device = None;
        let mut cells = Vec::with_capacity(self.cells.len());
        for (i, c) in self.cells.iter().enumerate() {
            let own = of_cell(&self.out.join("cells").join(c.folder()));
            device = device.or_else(|| own.as_ref().and_then(|m| m.device.clone()));
            let failures = own.map(|m| m.body.failures).unwrap_or_default();
            cells.push(entry(c, records.count(c), runs.get(&i).cloned(), failures));
        }
        let body = BenchBody {
            jobs: self.jobs,
            leaderboard: self.leaderboard.clone(),
            datasets_sha256: self.data.clone(),
            cells,
        };
        let mut m = Manifest::new(&self.command, state, device, body);
        m.plugins = self.plugins.clone();
        m.save(&self.out.join("manifest.json"))
    }
}

fn entry(c: &Cell, rows: usize, last_run: Option<LastRun>, failures: Vec<String>) -> CellEntry {
    let state = if rows >= c.expected_rows() {
        CellState::Recorded
    } else if last_run.is_some() {
        CellState::Failed
    } else {
        CellState::Pending
    };
    CellEntry {
        id: c.id.clone(),
        folder: c.folder(),
        hash: c.hash.clone(),
        state,
        rows,
        expected_rows: c.expected_rows(),
        command: format!("ddbench {}", c.args.join(" ")),
        last_run,
        failures,
    }
}

impl LastRun {
    /// The last run of a cell that ended as `e` with `rows` taken, and `why` when it fell short.
    pub fn of(e: &Ended, rows: usize, why: Option<String>) -> LastRun {
        LastRun {
            exit_code: e.code,
            wall_s: e.wall_s,
            peak_rss_mib: e.rss_mib,
            rows,
            reason: why,
        }
    }
}
