//! The charts of a report (`charts/`): per table, clean vs robust accuracy bars, worst-case
//! robust accuracy against ε and one ε-sweep per attack run at several ε (`sweeps`); per data
//! set × architecture, accuracy against compute.

use super::data::{ReportData, TableData};
use super::sweeps;
use super::Exporter;
use crate::charts::{self, BarGroup, Curve, ParetoPoint};
use crate::metrics::{self, Stat};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct Charts;

/// The points of one accuracy-vs-compute chart, and whether its tables had attacks.
#[derive(Default)]
struct Panel {
    points: Vec<ParetoPoint>,
    has_attacks: bool,
}

impl Exporter for Charts {
    fn export(&self, data: &ReportData, dir: &Path) -> Result<Vec<PathBuf>> {
        let charts_dir = dir.join("charts");
        std::fs::create_dir_all(&charts_dir)
            .with_context(|| format!("creating {}", charts_dir.display()))?;
        let mut paths = Vec::new();
        let mut panels: BTreeMap<(String, String), Panel> = BTreeMap::new();
        for t in &data.tables {
            paths.extend(bars(t, &charts_dir)?);
            paths.extend(curve(t, &charts_dir)?);
            paths.extend(sweep_charts(t, &charts_dir)?);
            let panel = panels
                .entry((t.key.dataset.clone(), t.key.arch.clone()))
                .or_default();
            panel.has_attacks |= !t.columns.is_empty();
            add_pareto_points(t, &mut panel.points);
        }
        for ((ds, arch), panel) in &panels {
            let what = if panel.has_attacks {
                "worst-case robust"
            } else {
                "clean"
            };
            paths.extend(charts::pareto(
                &charts_dir.join(format!("pareto_{ds}_{arch}")),
                &format!("{ds}, {arch}: {what} accuracy vs compute"),
                if panel.has_attacks {
                    "worst-case robust accuracy at the largest ε (%)"
                } else {
                    "clean accuracy (%)"
                },
                &panel.points,
            )?);
        }
        Ok(paths)
    }
}

/// The bar series: clean, then each attack (and norm) at its largest ε; and the metric names
/// of the robust ones.
fn bar_series(t: &TableData) -> (Vec<String>, Vec<String>) {
    let mut series = vec!["clean".to_string()];
    let mut metrics = Vec::new();
    for c in &t.columns {
        let last = t
            .columns
            .iter()
            .rfind(|d| d.attack == c.attack && d.norm == c.norm)
            .unwrap();
        if last == c {
            series.push(format!("{} ε={}", c.attack, c.eps));
            metrics.push(format!("{} {} %", c.attack, c.eps));
        }
    }
    (series, metrics)
}

/// One group of bars per method, with its published figures; then one per published method
/// that was not run here.
fn bar_groups(t: &TableData, series: &[String], metrics: &[String]) -> Vec<BarGroup> {
    let mut groups: Vec<BarGroup> = t
        .methods
        .iter()
        .map(|m| {
            let mut bars = vec![m.get("clean %").unwrap()];
            bars.extend(metrics.iter().map(|b| m.get(b).unwrap()));
            let base = m.method.trim_end_matches(" (whole set)");
            let published = t
                .published
                .iter()
                .filter(|p| p.method == base)
                .filter_map(|p| match p.metric.as_str() {
                    "clean_acc" => Some((0, p.value)),
                    "pgd_acc" => series
                        .iter()
                        .position(|s| s.starts_with("pgd "))
                        .map(|i| (i, p.value)),
                    _ => None,
                })
                .collect();
            BarGroup {
                label: m.method.clone(),
                bars,
                published,
            }
        })
        .collect();
    let mut extra: BTreeMap<String, Vec<(usize, f64)>> = BTreeMap::new();
    for p in &t.published {
        let ran = |m: &str| m.trim_end_matches(" (whole set)") == p.method;
        if !t.methods.iter().any(|m| ran(&m.method)) && p.metric == "clean_acc" {
            extra
                .entry(p.method.clone())
                .or_default()
                .push((0, p.value));
        }
    }
    let none = Stat {
        mean: f64::NAN,
        std: f64::NAN,
        ci95: f64::NAN,
        n: 0,
    };
    for (label, published) in extra {
        groups.push(BarGroup {
            label,
            bars: vec![none; series.len()],
            published,
        });
    }
    groups
}

/// Clean and robust accuracy at the largest ε of each attack, per method.
fn bars(t: &TableData, charts_dir: &Path) -> Result<Vec<PathBuf>> {
    let (series, metrics) = bar_series(t);
    let k = &t.key;
    charts::bars(
        &charts_dir.join(format!("bars_{}", t.stem())),
        &format!(
            "{}, {}, IPC {}: clean vs robust accuracy",
            k.dataset, k.arch, k.ipc
        ),
        &series,
        &bar_groups(t, &series, &metrics),
        &format!("published, protocol {}", t.protocol_ids().join(", ")),
    )
}

/// A method's worst-case robust accuracy over seeds per ε of `norm` (ε 0: subset clean).
fn worst_curve(label: &str, seeds: &BTreeMap<u64, super::tables::Seed>, norm: &str) -> Curve {
    let mut by_eps: BTreeMap<i64, (f64, Vec<f64>)> = BTreeMap::new();
    by_eps.insert(0, (0.0, seeds.values().map(|s| s.sub_clean).collect()));
    for s in seeds.values() {
        let mut worst: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        for (k, r) in &s.robust {
            if k.norm == norm {
                let w = worst
                    .entry((r.eps * 1e6).round() as i64)
                    .or_insert((r.eps, f64::INFINITY));
                w.1 = w.1.min(r.acc);
            }
        }
        for (k, (e, a)) in worst {
            by_eps.entry(k).or_insert((e, Vec::new())).1.push(a);
        }
    }
    Curve {
        label: label.to_string(),
        points: by_eps
            .into_values()
            .map(|(e, v)| {
                let x = if norm == "linf" { e * 255.0 } else { e };
                (x, metrics::stat(&v))
            })
            .collect(),
    }
}

/// The x-axis of a robust-accuracy-vs-ε chart of `norm`, and ε in its units.
fn eps_axis(norm: &str) -> (&'static str, f64) {
    if norm == "linf" {
        ("ε (L∞, in 1/255 grey levels)", 255.0)
    } else {
        ("ε (L2, pixel units)", 1.0)
    }
}

/// One chart per ε-sweep of the table: the attack's robust accuracy against ε, one line per
/// method, from the subset's clean accuracy at ε = 0.
fn sweep_charts(t: &TableData, charts_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for s in sweeps::sweeps(t) {
        let (xdesc, unit) = eps_axis(&s.norm);
        let curves: Vec<Curve> = s
            .lines
            .iter()
            .map(|l| Curve {
                label: l.method.clone(),
                points: l.points.iter().map(|(e, _, st)| (e * unit, *st)).collect(),
            })
            .collect();
        let k = &t.key;
        paths.extend(charts::curves(
            &charts_dir.join(s.stem(t)),
            &format!(
                "{}, {}, IPC {}: {} ({}) vs ε",
                k.dataset, k.arch, k.ipc, s.attack, s.norm
            ),
            xdesc,
            &curves,
        )?);
    }
    Ok(paths)
}

/// Worst-case robust accuracy against ε, one line per method (the first norm's columns).
fn curve(t: &TableData, charts_dir: &Path) -> Result<Vec<PathBuf>> {
    let Some(norm) = t.columns.first().map(|c| c.norm.as_str()) else {
        return Ok(Vec::new());
    };
    let curves: Vec<Curve> = t
        .seeds
        .iter()
        .map(|(m, seeds)| worst_curve(m, seeds, norm))
        .collect();
    let (xdesc, _) = eps_axis(norm);
    let k = &t.key;
    charts::curves(
        &charts_dir.join(format!("curve_{}", t.stem())),
        &format!(
            "{}, {}, IPC {}: worst-case robust accuracy vs ε",
            k.dataset, k.arch, k.ipc
        ),
        xdesc,
        &curves,
    )
}

/// The table's methods on the accuracy-vs-compute chart of its data set and architecture.
fn add_pareto_points(t: &TableData, pts: &mut Vec<ParetoPoint>) {
    for m in &t.methods {
        let cost = ["distil s", "train s", "attack s"]
            .iter()
            .filter_map(|n| m.get(n))
            .map(|s| s.mean)
            .filter(|v| v.is_finite())
            .sum::<f64>();
        let acc = m.get("worst %").or_else(|| m.get("clean %")).unwrap();
        // a whole-set method sits in every IPC's table: one point for it, not one per IPC
        let label = if m.method.ends_with(" (whole set)") {
            m.method.clone()
        } else {
            format!("{}, IPC {}", m.method, t.key.ipc)
        };
        if !pts.iter().any(|p| p.label == label) {
            pts.push(ParetoPoint { label, cost, acc });
        }
    }
}
