//! ε-sweeps: per table, each attack column group (attack label and norm) that ran at two or more
//! ε, as one line per method from the subset's clean accuracy at ε = 0 to its largest ε — the
//! small-radius differences (GUARD reports at 1/255) that the worst-case curve at the table's
//! largest ε hides. Drawn as `charts/sweep_<attack>_<norm>_<table>` and written to `sweeps.csv`.

use super::data::{ReportData, TableData};
use super::tables::Seed;
use super::Exporter;
use crate::metrics::{self, Stat};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One method's points of one sweep: (ε as a number, ε as printed, statistic over seeds).
pub struct SweepLine {
    pub method: String,
    pub points: Vec<(f64, String, Stat)>,
}

/// The sweep of one attack column group in one table.
pub struct Sweep {
    pub attack: String,
    pub norm: String,
    pub lines: Vec<SweepLine>,
}

impl Sweep {
    /// File-name stem of its chart (`sweep_pgd100-sweep_linf_cifar10_resnet18_ipc10`).
    pub fn stem(&self, t: &TableData) -> String {
        format!("sweep_{}_{}_{}", self.attack, self.norm, t.stem())
    }
}

/// The (attack, norm) groups of a table's columns with at least two distinct ε.
fn swept(t: &TableData) -> Vec<(String, String)> {
    let mut n: BTreeMap<(String, String), usize> = BTreeMap::new();
    for c in &t.columns {
        *n.entry((c.attack.clone(), c.norm.clone())).or_default() += 1;
    }
    n.into_iter()
        .filter(|(_, k)| *k >= 2)
        .map(|(g, _)| g)
        .collect()
}

/// One method's line: ε = 0 is each seed's subset clean accuracy under this attack's rows, then
/// robust accuracy per ε of the attack over the seeds that have it.
fn line(method: &str, seeds: &BTreeMap<u64, Seed>, attack: &str, norm: &str) -> SweepLine {
    let mut by_eps: BTreeMap<i64, (f64, String, Vec<f64>)> = BTreeMap::new();
    let mut clean = Vec::new();
    for s in seeds.values() {
        let mine: Vec<_> = s
            .robust
            .iter()
            .filter(|(k, _)| k.attack == attack && k.norm == norm)
            .collect();
        if let Some((_, r)) = mine.first() {
            clean.push(r.sub_clean);
        }
        for (k, r) in mine {
            by_eps
                .entry((r.eps * 1e6).round() as i64)
                .or_insert_with(|| (r.eps, k.eps.clone(), Vec::new()))
                .2
                .push(r.acc);
        }
    }
    let mut points = vec![(0.0, "0".to_string(), metrics::stat(&clean))];
    points.extend(
        by_eps
            .into_values()
            .map(|(e, text, v)| (e, text, metrics::stat(&v))),
    );
    SweepLine {
        method: method.to_string(),
        points,
    }
}

/// The table's sweeps, one line per method that ran the attack.
pub fn sweeps(t: &TableData) -> Vec<Sweep> {
    swept(t)
        .into_iter()
        .map(|(attack, norm)| Sweep {
            lines: t
                .seeds
                .iter()
                .map(|(m, seeds)| line(m, seeds, &attack, &norm))
                .filter(|l| l.points.len() > 1)
                .collect(),
            attack,
            norm,
        })
        .collect()
}

/// `sweeps.csv`: one row per table, attack, method and ε (ε 0: the subset's clean accuracy).
pub struct SweepCsv;

impl SweepCsv {
    pub const FILE: &'static str = "sweeps.csv";

    pub fn render(&self, data: &ReportData) -> Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "dataset",
            "arch",
            "ipc",
            "attack",
            "norm",
            "method",
            "eps",
            "eps_value",
            "n",
            "mean",
            "std",
        ])?;
        for t in &data.tables {
            let k = &t.key;
            for s in sweeps(t) {
                for l in &s.lines {
                    for (e, text, st) in &l.points {
                        w.write_record([
                            &k.dataset,
                            &k.arch,
                            &k.ipc.to_string(),
                            &s.attack,
                            &s.norm,
                            &l.method,
                            text,
                            &format!("{e:.8}"),
                            &st.n.to_string(),
                            &format!("{:.4}", st.mean),
                            &format!("{:.4}", st.std),
                        ])?;
                    }
                }
            }
        }
        w.into_inner().context("serialising sweeps")
    }
}

impl Exporter for SweepCsv {
    /// Writes `sweeps.csv` when some table swept an attack over ε; otherwise removes it.
    fn export(&self, data: &ReportData, dir: &Path) -> Result<Vec<PathBuf>> {
        let path = dir.join(Self::FILE);
        if data.tables.iter().all(|t| swept(t).is_empty()) {
            // a sweeps.csv of an earlier report of this folder no longer holds
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing {}", path.display()))
                }
                _ => return Ok(Vec::new()),
            }
        }
        crate::record::write_atomic(&path, &self.render(data)?)?;
        Ok(vec![path])
    }
}
