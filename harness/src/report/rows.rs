//! A recorded row as the report reads it — the method's label (from bench's cell id where there
//! is one), whether it ran once for all IPCs, the attack's label, the memory figure — and the
//! check that no two rows claim one table entry.

use crate::record::{Recorded, ResultRow};
use anyhow::{bail, Result};
use std::collections::BTreeSet;
use std::path::Path;

/// One result row, as the report needs it.
pub struct Row<'a> {
    pub r: &'a ResultRow,
    /// The method's label: bench's name for it (the cell id's), else the row's method.
    pub method: String,
    /// The method ran once for all IPCs (`full`): shown in every IPC table of its data set.
    pub all_ipc: bool,
    /// The attack's label (`record::attack_label`).
    pub attack: String,
    /// The run's device memory where recorded (CPU: the same process's peak RSS), else the peak
    /// RSS bench measured for the cell (older records); NaN when neither is known.
    pub mem_mib: f64,
}

impl<'a> Row<'a> {
    pub fn of(rec: &'a Recorded) -> Row<'a> {
        let r = &rec.row;
        let lead = rec.lead.as_ref();
        let mem_mib = if r.peak_device_mib.is_finite() {
            r.peak_device_mib
        } else {
            lead.map_or(f64::NAN, |l| l.peak_rss_mib)
        };
        Row {
            r,
            method: lead
                .and_then(|l| l.label())
                .unwrap_or(&r.method)
                .to_string(),
            all_ipc: lead.is_some_and(|l| l.all_ipc()),
            attack: r.attack_label(),
            mem_mib,
        }
    }

    /// Forward and backward passes of the row's attack.
    pub fn passes(&self) -> f64 {
        self.r.forward_calls as f64 + self.r.backward_calls as f64
    }

    /// ε as the report prints it (`eps_text`).
    pub fn eps_text(&self) -> String {
        eps_text(&self.r.norm, self.r.eps)
    }
}

/// ε as a fraction of 255 grey levels for L∞ where it is a whole or half level (`8/255`,
/// `0.5/255`), else three decimals.
pub fn eps_text(norm: &str, eps: f64) -> String {
    let k = eps * 255.0;
    let half = (k * 2.0).round() / 2.0;
    if norm == "linf" && (k - half).abs() < 1e-6 {
        format!("{half}/255")
    } else {
        format!("{eps:.3}")
    }
}

/// A table entry: (data set, arch, IPC, method, seed, attack, norm, ε).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Slot<'a> {
    dataset: &'a str,
    arch: &'a str,
    ipc: i64,
    method: &'a str,
    seed: u64,
    attack: &'a str,
    norm: &'a str,
    eps: String,
}

/// Two rows for one table entry would silently replace each other: such a file (two runs' CSVs
/// pasted together, say) is refused.
pub fn refuse_twins(rows: &[Row], path: &Path) -> Result<()> {
    let mut seen = BTreeSet::new();
    for row in rows {
        let slot = Slot {
            dataset: &row.r.dataset,
            arch: &row.r.arch,
            ipc: row.r.ipc,
            method: &row.method,
            seed: row.r.seed,
            attack: &row.attack,
            norm: &row.r.norm,
            eps: row.eps_text(),
        };
        if seen.contains(&slot) {
            bail!(
                "{}: two rows for {} {} ipc {} {} seed {} {} {} {}: rows of different runs are never mixed (keep one, or report each folder on its own)",
                path.display(),
                slot.dataset,
                slot.arch,
                slot.ipc,
                slot.method,
                slot.seed,
                slot.attack,
                slot.norm,
                slot.eps
            );
        }
        seen.insert(slot);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::eps_text;

    #[test]
    fn eps_prints_whole_and_half_grey_levels_as_fractions() {
        assert_eq!(eps_text("linf", 8.0 / 255.0), "8/255");
        assert_eq!(eps_text("linf", 0.5 / 255.0), "0.5/255");
        assert_eq!(eps_text("linf", 0.3 / 255.0), "0.001");
        assert_eq!(eps_text("l2", 0.5), "0.500");
    }
}
