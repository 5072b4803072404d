//! The table printed at the end of a run: mean ± std over seeds per (method, IPC, attack, ε).

pub use crate::metrics::mean_std;
use crate::record::ResultRow;
use std::collections::BTreeMap;

/// One line of the table (fields in sort order).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Line {
    dataset: String,
    method: String,
    ipc: i64,
    arch: String,
    attack: String,
    norm: String,
    /// ε as printed (`-` for a clean-only row).
    eps: String,
}

impl Line {
    fn of(r: &ResultRow) -> Line {
        Line {
            dataset: r.dataset.clone(),
            method: r.method.clone(),
            ipc: r.ipc,
            arch: r.arch.clone(),
            attack: r.attack_label(),
            norm: r.norm.clone(),
            eps: if r.attack == "none" {
                "-".to_string()
            } else {
                format!("{:.4}", r.eps)
            },
        }
    }
}

/// A Markdown table of the rows, one line per (dataset, method, ipc, arch, attack, norm, ε).
pub fn table(rows: &[ResultRow]) -> String {
    let mut groups: BTreeMap<Line, Vec<&ResultRow>> = BTreeMap::new();
    for r in rows {
        groups.entry(Line::of(r)).or_default().push(r);
    }
    let mut out = String::from(
        "| dataset | method | ipc | arch | epochs | attack | eps | seeds | clean acc % | robust acc % | train s | attack s |\n|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (l, g) in groups {
        let of = |f: fn(&ResultRow) -> f64| mean_std(&g.iter().map(|r| f(r)).collect::<Vec<_>>());
        let (c, cs) = of(|r| r.clean_acc);
        let robust = if l.attack == "none" {
            "-".to_string()
        } else {
            let (r, rs) = of(|r| r.robust_acc);
            format!("{r:.2} ± {rs:.2}")
        };
        let (ts, _) = of(|r| r.train_s);
        let (atks, _) = of(|r| r.attack_s);
        let eps = if l.norm.is_empty() {
            l.eps
        } else {
            format!("{} ({})", l.eps, l.norm)
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {eps} | {} | {c:.2} ± {cs:.2} | {robust} | {ts:.1} | {atks:.1} |\n",
            l.dataset, l.method, l.ipc, l.arch,
            g[0].train_epochs,
            l.attack,
            g.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - 1.290_994_448_7).abs() < 1e-9); // sqrt(5/3)
        assert_eq!(mean_std(&[7.0]), (7.0, 0.0));
    }
}
