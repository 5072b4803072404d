//! Rows that are no longer this leaderboard's — of cells not in it, forced to rerun, or whose
//! inputs changed — leave `results.csv` for `stale.csv` (never mixed in, never lost), and the
//! folders of forced cells are cleared.

use super::records::{Rec, Records};
use crate::leaderboard::Cell;
use crate::output::Ui;
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::path::Path;

/// The folders of the cells `--force` names (by id or folder); an unknown name is an error.
pub fn forced(cells: &[Cell], force: &[String], file: &Path) -> Result<Vec<String>> {
    for f in force {
        if !cells.iter().any(|c| &c.id == f || &c.folder() == f) {
            bail!(
                "--force {f}: no such cell in {} (cells look like {})",
                file.display(),
                cells.first().map_or("", |c| c.id.as_str())
            );
        }
    }
    Ok(cells
        .iter()
        .filter(|c| force.iter().any(|f| &c.id == f || &c.folder() == f))
        .map(|c| c.folder())
        .collect())
}

/// Moves the rows of `records` that are not live (cell and hash in `cells`) or are `forced` to
/// `out/stale.csv`, then removes the forced cells' folders.
pub fn set_aside(
    records: &mut Records,
    cells: &[Cell],
    forced: &[String],
    out: &Path,
    ui: &Ui,
) -> Result<()> {
    let live: HashSet<(String, String)> =
        cells.iter().map(|c| (c.folder(), c.hash.clone())).collect();
    let (keep, stale): (Vec<Rec>, Vec<Rec>) = records.rows.drain(..).partition(|r| {
        live.contains(&(r.lead.cell.clone(), r.lead.cell_hash.clone()))
            && !forced.contains(&r.lead.cell)
    });
    records.rows = keep;
    if !stale.is_empty() {
        let path = out.join("stale.csv");
        let mut old = Records::open(&path, &|_| {})?;
        let n = stale.len();
        old.rows.extend(stale);
        old.save()?;
        ui.log(&format!(
            "{n} row(s) of cells not in this leaderboard, forced or with changed inputs moved to {}",
            path.display()
        ));
        records.save()?;
    }
    for f in forced {
        let d = out.join("cells").join(f);
        if d.exists() {
            std::fs::remove_dir_all(&d).with_context(|| format!("removing {}", d.display()))?;
        }
    }
    Ok(())
}
