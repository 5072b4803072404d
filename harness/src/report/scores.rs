//! The metrics of a table's columns: per seed (clean, each attack column, worst case, AUC, the
//! composite scores, cost), then their statistics over seeds per method.

use super::tables::{AttackCol, Seed};
use crate::metrics::{self, Stat};
use std::collections::BTreeMap;

/// One metric's value for each seed of a method.
pub struct PerSeed {
    pub name: String,
    pub higher_better: bool,
    pub values: Vec<f64>,
}

/// One metric over a method's seeds.
#[derive(Clone, Debug)]
pub struct Score {
    pub name: String,
    pub higher_better: bool,
    pub stat: Stat,
}

/// A method's line of a table: its label, number of seeds and scores (in column order).
#[derive(Clone, Debug)]
pub struct MethodStats {
    pub method: String,
    pub seeds: usize,
    pub scores: Vec<Score>,
}

impl MethodStats {
    pub fn of(method: &str, seeds: &BTreeMap<u64, Seed>, cols: &[AttackCol]) -> MethodStats {
        MethodStats {
            method: method.to_string(),
            seeds: seeds.len(),
            scores: per_seed(seeds, cols)
                .into_iter()
                .map(|m| Score {
                    stat: metrics::stat(&m.values),
                    name: m.name,
                    higher_better: m.higher_better,
                })
                .collect(),
        }
    }

    /// The statistics of the metric called `name`.
    pub fn get(&self, name: &str) -> Option<Stat> {
        self.scores.iter().find(|s| s.name == name).map(|s| s.stat)
    }
}

/// Worst robust accuracy over attacks per ε of `norm`, as (ε, accuracy) by increasing ε.
fn worst_curve(s: &Seed, norm: &str) -> Vec<(f64, f64)> {
    let mut by_eps: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (k, r) in &s.robust {
        if k.norm == norm {
            let w = by_eps
                .entry(k.eps.clone())
                .or_insert((r.eps, f64::INFINITY));
            w.1 = w.1.min(r.acc);
        }
    }
    let mut v: Vec<(f64, f64)> = by_eps.into_values().collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

fn accs(s: &Seed) -> Vec<f64> {
    s.robust.values().map(|r| r.acc).collect()
}

fn times(s: &Seed) -> Vec<f64> {
    s.robust.values().map(|r| r.seconds).collect()
}

/// Every metric of the table for each seed: clean; per attack column; with attacks, the worst
/// case at the largest ε of the first norm, its AUC over ε, RR, AE, CREI and I-RR; the cost.
pub fn per_seed(seeds: &BTreeMap<u64, Seed>, cols: &[AttackCol]) -> Vec<PerSeed> {
    let mut m: Vec<PerSeed> = Vec::new();
    let mut put = |name: &str, higher_better: bool, f: &dyn Fn(&Seed) -> f64| {
        m.push(PerSeed {
            name: name.to_string(),
            higher_better,
            values: seeds.values().map(f).collect(),
        });
    };
    put("clean %", true, &|s| s.clean);
    for k in cols {
        put(&format!("{} {} %", k.attack, k.eps), true, &|s| {
            s.robust.get(k).map_or(f64::NAN, |r| r.acc)
        });
    }
    if let Some(first) = cols.first() {
        let norm = first.norm.as_str();
        put("worst %", true, &|s| {
            worst_curve(s, norm).last().map_or(f64::NAN, |p| p.1)
        });
        put("AUC %", true, &|s| {
            metrics::auc(s.sub_clean, &worst_curve(s, norm))
        });
        put("RR", true, &|s| metrics::beard_rr(s.sub_clean, &accs(s)));
        put("AE", true, &|s| metrics::beard_ae(0.0, &times(s)));
        put("CREI", true, &|s| {
            metrics::crei(
                metrics::beard_rr(s.sub_clean, &accs(s)),
                metrics::beard_ae(0.0, &times(s)),
            )
        });
        put("I-RR", true, &|s| metrics::rome_irr(s.sub_clean, &accs(s)));
    }
    put("distil s", false, &|s| s.distill_s);
    put("train s", false, &|s| s.train_s);
    if !cols.is_empty() {
        put("attack s", false, &|s| times(s).iter().sum());
        put("passes", false, &|s| s.passes);
    }
    put("peak MiB", false, &|s| s.mem);
    m
}
