//! Published reference numbers (baselines/published.csv), listed and drawn beside ddbench's own.

use super::tables::TableKey;
use anyhow::{Context, Result};
use std::path::Path;

/// A published reference number (baselines/published.csv).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Published {
    pub dataset: String,
    pub method: String,
    pub ipc: i64,
    pub arch: String,
    pub metric: String,
    pub value: f64,
    pub note: String,
}

impl Published {
    /// Whether it belongs beside `table` (a whole-set figure, `full`, beside every IPC).
    pub fn applies(&self, table: &TableKey) -> bool {
        self.dataset == table.dataset
            && self.arch == table.arch
            && (self.ipc == table.ipc || self.method == "full")
    }
}

pub fn read_published(path: &Path) -> Result<Vec<Published>> {
    let mut rd =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    rd.deserialize()
        .enumerate()
        .map(|(i, r)| r.with_context(|| format!("{}: line {}", path.display(), i + 2)))
        .collect()
}

/// The reference numbers `--published` asks for: that file, none for `none`, and by default
/// baselines/published.csv where it exists.
pub fn load(published: Option<&Path>) -> Result<Vec<Published>> {
    match published {
        Some(p) if p == Path::new("none") => Ok(Vec::new()),
        Some(p) => read_published(p),
        None => {
            let p = Path::new("baselines/published.csv");
            if p.exists() {
                read_published(p)
            } else {
                Ok(Vec::new())
            }
        }
    }
}
