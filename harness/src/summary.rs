//! The table printed at the end of a run: mean ± std over seeds per (method, IPC, attack, ε).

use crate::record::ResultRow;
use std::collections::BTreeMap;

/// (dataset, method, ipc, arch, attack, norm, eps) — one line of the table.
type GroupKey = (String, String, i64, String, String, String, String);

/// Mean and sample standard deviation (0 for a single value).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let s = if v.len() > 1 {
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (m, s)
}

/// A Markdown table of the rows, one line per (dataset, method, ipc, arch, attack, norm, ε).
pub fn table(rows: &[ResultRow]) -> String {
    let mut groups: BTreeMap<GroupKey, Vec<&ResultRow>> = BTreeMap::new();
    for r in rows {
        let eps = if r.attack == "none" {
            "-".to_string()
        } else {
            format!("{:.4}", r.eps)
        };
        groups
            .entry((
                r.dataset.clone(),
                r.method.clone(),
                r.ipc,
                r.arch.clone(),
                crate::report::attack_label(&r.attack, &r.attack_config),
                r.norm.clone(),
                eps,
            ))
            .or_default()
            .push(r);
    }
    let mut out = String::from(
        "| dataset | method | ipc | arch | epochs | attack | eps | seeds | clean acc % | robust acc % | train s | attack s |\n|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for ((ds, m, ipc, arch, atk, norm, eps), g) in groups {
        let (c, cs) = mean_std(&g.iter().map(|r| r.clean_acc).collect::<Vec<_>>());
        let robust = if atk == "none" {
            "-".to_string()
        } else {
            let (r, rs) = mean_std(&g.iter().map(|r| r.robust_acc).collect::<Vec<_>>());
            format!("{r:.2} ± {rs:.2}")
        };
        let (ts, _) = mean_std(&g.iter().map(|r| r.train_s).collect::<Vec<_>>());
        let (atks, _) = mean_std(&g.iter().map(|r| r.attack_s).collect::<Vec<_>>());
        let eps = if norm.is_empty() {
            eps
        } else {
            format!("{eps} ({norm})")
        };
        out.push_str(&format!(
            "| {ds} | {m} | {ipc} | {arch} | {} | {atk} | {eps} | {} | {c:.2} ± {cs:.2} | {robust} | {ts:.1} | {atks:.1} |\n",
            g[0].train_epochs,
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
