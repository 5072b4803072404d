//! What every exporter reads: the rows, and per table the methods' per-seed numbers, their
//! statistics and the published references that apply.

use super::published::{Published, UNKNOWN};
use super::scores::MethodStats;
use super::tables::{AttackCol, Methods, Table, TableKey};
use crate::record::ResultRow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// One table of the leaderboard, ready to print or draw.
pub struct TableData {
    pub key: TableKey,
    /// Robust-accuracy columns in order (empty for a clean-only table).
    pub columns: Vec<AttackCol>,
    /// Per method label, its students by seed.
    pub seeds: Methods,
    /// Per method label (in the order of `seeds`), its scores over seeds.
    pub methods: Vec<MethodStats>,
    /// Per method name: the protocol ids its cells ran under (`published::protocol_id`).
    pub protocols: BTreeMap<String, BTreeSet<String>>,
    /// Published references drawn beside this table: same data set, arch, IPC (`full`: any)
    /// and protocol id.
    pub published: Vec<Published>,
    /// Published references of this data set, arch and IPC left out: their protocol differs.
    pub left_out: usize,
}

/// Whether a published figure is drawn: its protocol is known and is one its method's cells ran
/// under, or, for a method not run here, one of the table's cells'.
fn same_protocol(protocols: &BTreeMap<String, BTreeSet<String>>, p: &Published) -> bool {
    if p.protocol == UNKNOWN {
        return false;
    }
    match protocols.get(&p.method) {
        Some(ids) => ids.contains(&p.protocol),
        None => protocols.values().any(|ids| ids.contains(&p.protocol)),
    }
}

impl TableData {
    pub fn new(table: Table, published: &[Published]) -> TableData {
        let methods = table
            .methods
            .iter()
            .map(|(m, seeds)| MethodStats::of(m, seeds, &table.columns))
            .collect();
        let (published, left): (Vec<Published>, Vec<Published>) = published
            .iter()
            .filter(|p| p.applies(&table.key))
            .cloned()
            .partition(|p| same_protocol(&table.protocols, p));
        TableData {
            published,
            left_out: left.len(),
            protocols: table.protocols,
            key: table.key,
            columns: table.columns,
            seeds: table.methods,
            methods,
        }
    }

    /// The metrics' names and whether higher is better, in column order.
    pub fn metric_names(&self) -> Vec<(String, bool)> {
        self.methods[0]
            .scores
            .iter()
            .map(|s| (s.name.clone(), s.higher_better))
            .collect()
    }

    /// The protocol ids of the table's cells, in order.
    pub fn protocol_ids(&self) -> Vec<&str> {
        let ids: BTreeSet<&str> = self
            .protocols
            .values()
            .flatten()
            .map(|s| s.as_str())
            .collect();
        ids.into_iter().collect()
    }

    /// File-name stem of the table's charts.
    pub fn stem(&self) -> String {
        let k = &self.key;
        format!("{}_{}_ipc{}", k.dataset, k.arch, k.ipc)
    }
}

/// A report: its title, the records it was built from, and its tables.
pub struct ReportData {
    pub title: String,
    /// The results.csv read.
    pub source: PathBuf,
    pub rows: Vec<ResultRow>,
    pub tables: Vec<TableData>,
}
