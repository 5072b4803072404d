//! A cell's unfinished work, kept in the run's folder for a rerun (a requeued Slurm task, a run
//! stopped by SIGUSR1, killed, or out of time): its distilled set, its student in training and
//! each attack's finished batches (`OUT/checkpoints/{distilled,students,attacks}/`), named by
//! the hash of every input that made them — the student's cell key for the first two, the row's
//! key for an attack — so a rerun with other inputs never picks them up. They go once the cell's
//! rows are all recorded.

use super::grid::Cell;
use super::RunConfig;
use crate::cell_key::CellKey;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where one cell's checkpoints are.
pub struct CellFiles {
    pub distilled: PathBuf,
    pub student: PathBuf,
    attacks: PathBuf,
    /// The hashes of the cell's row keys (its attack checkpoints).
    rows: Vec<String>,
}

/// The key of a cell's student: every input of its rows but the attack.
pub fn student_key(cell: &Cell) -> Option<CellKey> {
    let first = &cell.rows.first()?.key;
    Some(CellKey {
        attack: None,
        ..first.clone()
    })
}

impl CellFiles {
    pub fn of(out: &Path, cell: &Cell) -> CellFiles {
        let dir = out.join("checkpoints");
        let hash = student_key(cell).map_or_else(|| cell.label().replace(' ', "-"), |k| k.hash());
        CellFiles {
            distilled: dir.join("distilled").join(format!("{hash}.pt")),
            student: dir.join("students").join(format!("{hash}.ckpt.pt")),
            attacks: dir.join("attacks"),
            rows: cell.rows.iter().map(|r| r.key.hash()).collect(),
        }
    }

    /// The checkpoint of the attack row whose key hashes to `row_hash`.
    pub fn attack(&self, row_hash: &str) -> PathBuf {
        self.attacks.join(format!("{row_hash}.ckpt.pt"))
    }

    /// Removes every checkpoint of the cell (those that exist); what cannot be removed is said.
    pub fn remove(&self, warn: &dyn Fn(&str)) {
        let attacks = self.rows.iter().map(|h| self.attack(h));
        for f in [self.distilled.clone(), self.student.clone()]
            .into_iter()
            .chain(attacks)
        {
            match std::fs::remove_file(&f) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    warn(&format!("could not remove checkpoint {}: {e}", f.display()))
                }
                _ => {}
            }
        }
    }
}

/// Where the students of `cells` (a method and IPC's seeds, `--batch-students`) keep their
/// checkpoint while they train together.
pub fn group_student(out: &Path, cells: &[&Cell]) -> PathBuf {
    use sha2::{Digest, Sha256};
    let keys: Vec<String> = cells
        .iter()
        .map(|c| student_key(c).map_or_else(|| c.label(), |k| k.hash()))
        .collect();
    let key = &hex::encode(Sha256::digest(keys.join(",")))[..16];
    out.join("checkpoints")
        .join("students")
        .join(format!("group-{key}.ckpt.pt"))
}

/// Removes the cells' checkpoints once every one of them is `done` (recorded).
pub fn remove_when_done(
    out: &Path,
    cells: &[&Cell],
    done: &dyn Fn(&Cell) -> bool,
    warn: &dyn Fn(&str),
) {
    for c in cells.iter().filter(|c| done(c)) {
        CellFiles::of(out, c).remove(warn);
    }
    if cells.iter().all(|c| done(c)) {
        let _ = std::fs::remove_file(group_student(out, cells));
    }
}

/// How often a training or an attack saves itself (at an epoch's or a batch's end).
pub fn interval(cfg: &RunConfig) -> Duration {
    Duration::from_secs_f64(cfg.checkpoint_every.max(0.0))
}

pub use ddbench_nn::resume::write_whole;
