//! The CSV of a run folder (`ResultsFile`), and writing any file atomically.

use super::ResultRow;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The CSV of a run folder, held in memory and rewritten whole on every change.
pub struct ResultsFile {
    pub path: PathBuf,
    pub rows: Vec<ResultRow>,
}

impl ResultsFile {
    /// Opens `path`, reading the rows already there (none if it does not exist); a torn last
    /// line (no newline at its end) is dropped with a warning, so its row is computed again.
    pub fn open(path: &Path, warn: &dyn Fn(&str)) -> Result<ResultsFile> {
        let mut rows = Vec::new();
        if path.exists() {
            let bytes = read_whole_lines(path, warn)?;
            let mut rd = csv::Reader::from_reader(bytes.as_slice());
            for (i, r) in rd.deserialize().enumerate() {
                rows.push(r.with_context(|| {
                    format!("{}: row {} does not match the results format (move the file away to start afresh)", path.display(), i + 2)
                })?);
            }
        }
        Ok(ResultsFile {
            path: path.to_path_buf(),
            rows,
        })
    }

    /// Whether a row with this id (slot and key hash) is recorded.
    pub fn contains(&self, id: &str) -> bool {
        self.rows.iter().any(|r| r.id() == id)
    }

    /// Sets the `flags` of the rows whose key `flags_of` maps to a value, rewriting the file
    /// (atomically) if any changed.
    pub fn set_flags(&mut self, flags_of: impl Fn(&str) -> Option<String>) -> Result<()> {
        let mut changed = false;
        for r in &mut self.rows {
            if let Some(f) = flags_of(&r.key()) {
                changed |= r.flags != f;
                r.flags = f;
            }
        }
        if !changed {
            return Ok(());
        }
        self.save()
    }

    /// Adds a row and rewrites the file atomically (write, fsync, rename).
    pub fn push(&mut self, row: ResultRow) -> Result<()> {
        self.rows.push(row);
        self.save()
    }

    /// Takes the rows `stale` picks out of the file (rewriting it) and returns them.
    pub fn take(&mut self, stale: impl Fn(&ResultRow) -> bool) -> Result<Vec<ResultRow>> {
        let (out, keep): (Vec<ResultRow>, Vec<ResultRow>) =
            self.rows.drain(..).partition(|r| stale(r));
        self.rows = keep;
        if !out.is_empty() {
            self.save()?;
        }
        Ok(out)
    }

    fn save(&self) -> Result<()> {
        write_atomic(&self.path, &rows_csv(&self.rows)?)
    }
}

/// The CSV text of `rows`, header first.
pub fn rows_csv(rows: &[ResultRow]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    w.into_inner().context("serialising results")
}

/// The bytes of `path` up to its last newline: a torn last line (a copy or write cut short) is
/// dropped and `warn` says so.
pub fn read_whole_lines(path: &Path, warn: &dyn Fn(&str)) -> Result<Vec<u8>> {
    let mut bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        warn(&format!(
            "{}: dropping a torn last line ({} bytes without a newline)",
            path.display(),
            bytes.len() - keep
        ));
        bytes.truncate(keep);
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` through a uniquely named temporary file in the same folder, fsync
/// and a rename: readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("out")
        ))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path)
        .map(|_| ())
        .with_context(|| format!("renaming a temporary file to {}", path.display()))
}
