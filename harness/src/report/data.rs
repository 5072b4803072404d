//! What every exporter reads: the rows, and per table the methods' per-seed numbers, their
//! statistics and the published references that apply.

use super::published::Published;
use super::scores::MethodStats;
use super::tables::{AttackCol, Methods, Table, TableKey};
use crate::record::ResultRow;
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
    /// Published references for this table.
    pub published: Vec<Published>,
}

impl TableData {
    pub fn new(table: Table, published: &[Published]) -> TableData {
        let methods = table
            .methods
            .iter()
            .map(|(m, seeds)| MethodStats::of(m, seeds, &table.columns))
            .collect();
        TableData {
            published: published
                .iter()
                .filter(|p| p.applies(&table.key))
                .cloned()
                .collect(),
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
