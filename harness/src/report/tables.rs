//! Grouping rows into the leaderboard's tables: one per data set × architecture × IPC, holding
//! each method's students (one per seed) and the table's attack columns in order.

use super::published::protocol_id;
use super::rows::Row;
use std::collections::{BTreeMap, BTreeSet};

/// A table of the leaderboard.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableKey {
    pub dataset: String,
    pub arch: String,
    pub ipc: i64,
}

/// A column of robust accuracy: one attack (its label) at one ε.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AttackCol {
    pub attack: String,
    pub norm: String,
    /// ε as printed (`rows::eps_text`).
    pub eps: String,
}

/// Robust accuracy of one student under one attack column.
#[derive(Clone, Copy, Debug)]
pub struct Robust {
    pub eps: f64,
    pub acc: f64,
    /// Clean accuracy on the attacked subset, as the attack's row recorded it.
    pub sub_clean: f64,
    /// Seconds the attack took.
    pub seconds: f64,
}

/// The numbers of one student (a method's seed in one table).
#[derive(Default, Debug)]
pub struct Seed {
    pub clean: f64,
    pub sub_clean: f64,
    pub robust: BTreeMap<AttackCol, Robust>,
    pub distill_s: f64,
    pub train_s: f64,
    pub passes: f64,
    pub mem: f64,
}

/// Per method label: its students by seed.
pub type Methods = BTreeMap<String, BTreeMap<u64, Seed>>;

/// A table's rows grouped: methods and attack columns (by attack, norm, then ε).
pub struct Table {
    pub key: TableKey,
    pub methods: Methods,
    pub columns: Vec<AttackCol>,
    /// Per method (its name, without ` (whole set)`): the protocol ids its rows ran under
    /// (`published::protocol_id`).
    pub protocols: BTreeMap<String, BTreeSet<String>>,
}

/// Columns sort by attack, norm, then ε as an integer number of 1e-6 units.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct ColumnOrder {
    attack: String,
    norm: String,
    micro: i64,
    eps: String,
}

impl Seed {
    fn add(&mut self, row: &Row) {
        let r = row.r;
        self.clean = r.clean_acc;
        self.sub_clean = r.subset_clean_acc;
        self.distill_s = r.distill_s;
        self.train_s = r.train_s;
        // rows carry the peak so far: the seed's peak is their largest
        self.mem = [self.mem, row.mem_mib]
            .into_iter()
            .filter(|v| v.is_finite() && *v > 0.0)
            .fold(f64::NAN, f64::max);
        if row.attack != "none" {
            let robust = Robust {
                eps: r.eps,
                acc: r.robust_acc,
                sub_clean: r.subset_clean_acc,
                seconds: r.attack_s,
            };
            self.robust.insert(column(row), robust);
            self.passes += row.passes();
        }
    }
}

fn column(row: &Row) -> AttackCol {
    AttackCol {
        attack: row.attack.clone(),
        norm: row.r.norm.clone(),
        eps: row.eps_text(),
    }
}

/// The IPCs of the tables whose method ran for one IPC, per (data set, arch): where a whole-set
/// method's rows go.
fn ipcs(rows: &[Row]) -> BTreeMap<(String, String), BTreeSet<i64>> {
    let mut ipcs: BTreeMap<(String, String), BTreeSet<i64>> = BTreeMap::new();
    for row in rows.iter().filter(|r| !r.all_ipc) {
        ipcs.entry((row.r.dataset.clone(), row.r.arch.clone()))
            .or_default()
            .insert(row.r.ipc);
    }
    ipcs
}

/// The tables, in order of (data set, arch, IPC).
pub fn group(rows: &[Row]) -> Vec<Table> {
    let ipcs = ipcs(rows);
    let mut tables: BTreeMap<TableKey, Methods> = BTreeMap::new();
    let mut columns: BTreeMap<TableKey, BTreeSet<ColumnOrder>> = BTreeMap::new();
    let mut protocols: BTreeMap<TableKey, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for row in rows {
        let r = row.r;
        let targets: Vec<i64> = match ipcs.get(&(r.dataset.clone(), r.arch.clone())) {
            Some(s) if row.all_ipc => s.iter().copied().collect(),
            _ => vec![r.ipc],
        };
        let label = if row.all_ipc {
            format!("{} (whole set)", row.method)
        } else {
            row.method.clone()
        };
        for ipc in targets {
            let key = TableKey {
                dataset: r.dataset.clone(),
                arch: r.arch.clone(),
                ipc,
            };
            protocols
                .entry(key.clone())
                .or_default()
                .entry(row.method.clone())
                .or_default()
                .insert(protocol_id(r));
            let methods = tables.entry(key.clone()).or_default();
            methods
                .entry(label.clone())
                .or_default()
                .entry(r.seed)
                .or_default()
                .add(row);
            if row.attack != "none" {
                let c = column(row);
                columns.entry(key).or_default().insert(ColumnOrder {
                    micro: (r.eps * 1e6).round() as i64,
                    attack: c.attack,
                    norm: c.norm,
                    eps: c.eps,
                });
            }
        }
    }
    tables
        .into_iter()
        .map(|(key, methods)| Table {
            columns: columns.remove(&key).map_or(Vec::new(), |s| {
                s.into_iter()
                    .map(|c| AttackCol {
                        attack: c.attack,
                        norm: c.norm,
                        eps: c.eps,
                    })
                    .collect()
            }),
            protocols: protocols.remove(&key).unwrap_or_default(),
            key,
            methods,
        })
        .collect()
}
