//! The Markdown leaderboard (`leaderboard.md`): one table per data set × architecture × IPC,
//! mean ± std over seeds, the best mean per column in bold, the published references and links
//! to the charts.

use super::data::{ReportData, TableData};
use super::Exporter;
use crate::metrics::Stat;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The leaderboard, linking the charts drawn for it.
pub struct Markdown {
    pub charts: Vec<PathBuf>,
}

impl Markdown {
    pub const FILE: &'static str = "leaderboard.md";

    /// The leaderboard's text (chart links relative to `dir`).
    pub fn render(&self, data: &ReportData, dir: &Path) -> String {
        let mut md = preamble(data);
        for t in &data.tables {
            md.push_str(&table(t));
        }
        md.push_str("\nCharts:\n\n");
        for c in self
            .charts
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
        {
            let rel = c.strip_prefix(dir).unwrap_or(c);
            md.push_str(&format!("- [{}]({})\n", rel.display(), rel.display()));
        }
        md
    }
}

impl Exporter for Markdown {
    fn export(&self, data: &ReportData, dir: &Path) -> Result<Vec<PathBuf>> {
        let path = dir.join(Self::FILE);
        crate::record::write_atomic(&path, self.render(data, dir).as_bytes())?;
        Ok(vec![path])
    }
}

fn preamble(data: &ReportData) -> String {
    format!("# {}\n\nBuilt by `ddbench report` from `{}` ({} rows). Accuracies in %, mean ± std over seeds (95 % Student-t intervals in `summary.csv`); best per column in **bold**. Robust accuracy on the attacked subset; *worst* = worst case over attacks at the largest ε; *AUC* = normalised area under the worst-case robust-accuracy-vs-ε curve (from clean accuracy at ε = 0); RR, AE, CREI (BEARD) and I-RR (ROME) over all attacks and ε of a seed — see the README for definitions and weaknesses. Cost: seconds, forward + backward passes of the attacks, peak memory of the run's device (CPU: resident memory of the cell's process; CUDA: device memory used beyond the CUDA context). An attack run at two or more ε is also drawn against ε per method (`charts/sweep_*`, figures in `sweeps.csv`).\n", data.title, data.source.display(), data.rows.len())
}

/// A statistic as the table prints it: 2 decimals for accuracies and scores, 1 for seconds, none
/// for passes and memory; ± std where there is more than one seed.
fn fmt(s: &Stat, name: &str) -> String {
    if s.mean.is_nan() {
        return "–".into();
    }
    let whole = name == "passes" || name == "peak MiB";
    let d = if whole {
        0
    } else if name.ends_with(" s") {
        1
    } else {
        2
    };
    if s.n > 1 && !whole {
        format!("{:.d$} ± {:.d$}", s.mean, s.std)
    } else {
        format!("{:.d$}", s.mean)
    }
}

/// The best mean per column (highest or lowest as the metric wants; infinite when none).
fn bests(t: &TableData) -> Vec<f64> {
    t.metric_names()
        .iter()
        .enumerate()
        .map(|(j, (_, higher_better))| {
            let vals = t
                .methods
                .iter()
                .map(|m| m.scores[j].stat.mean)
                .filter(|v| v.is_finite());
            if *higher_better {
                vals.fold(f64::NEG_INFINITY, f64::max)
            } else {
                vals.fold(f64::INFINITY, f64::min)
            }
        })
        .collect()
}

/// Whether `s` prints as the best mean `best` (ties included).
fn is_best(s: &Stat, best: f64, name: &str) -> bool {
    s.mean.is_finite()
        && fmt(&Stat { n: 1, ..*s }, name)
            == fmt(
                &Stat {
                    mean: best,
                    n: 1,
                    ..*s
                },
                name,
            )
}

fn table(t: &TableData) -> String {
    let k = &t.key;
    let names = t.metric_names();
    let mut md = format!(
        "\n## {}, {}, IPC {}\n\n| method | seeds |",
        k.dataset, k.arch, k.ipc
    );
    for (n, _) in &names {
        md.push_str(&format!(" {n} |"));
    }
    md.push_str("\n|---|---:|");
    md.push_str(&"---:|".repeat(names.len()));
    md.push('\n');
    let best = bests(t);
    for m in &t.methods {
        md.push_str(&format!("| {} | {} |", m.method, m.seeds));
        for (j, s) in m.scores.iter().enumerate() {
            let cell = fmt(&s.stat, &s.name);
            // bold the best mean when more than one method competes
            if t.methods.len() > 1 && is_best(&s.stat, best[j], &s.name) {
                md.push_str(&format!(" **{cell}** |"));
            } else {
                md.push_str(&format!(" {cell} |"));
            }
        }
        md.push('\n');
    }
    if !t.published.is_empty() {
        md.push_str("\nPublished (not measured here):\n\n");
        for p in &t.published {
            md.push_str(&format!(
                "- {} {}: {} — {}\n",
                p.method, p.metric, p.value, p.source
            ));
        }
    }
    md.push_str(&protocol_note(t));
    md
}

/// Which protocol the published markers are for, and how many published rows of this data set,
/// arch and IPC were left out for another protocol (nothing when there are none of either).
pub fn protocol_note(t: &TableData) -> String {
    if t.published.is_empty() && t.left_out == 0 {
        return String::new();
    }
    let left = match t.left_out {
        0 => "none left out for another protocol".to_string(),
        1 => "1 published row left out: its protocol differs".to_string(),
        n => format!("{n} published rows left out: their protocol differs"),
    };
    format!(
        "\nPublished markers are for protocol {} only; {left}.\n",
        t.protocol_ids().join(", ")
    )
}
