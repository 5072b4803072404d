//! The terminal table (`summary::table`, the one `ddbench run` prints at its end): mean ± std
//! over seeds per (data set, method, IPC, arch, attack, ε) of the rows as recorded.

use super::data::ReportData;
use super::Exporter;
use anyhow::Result;
use std::path::{Path, PathBuf};

pub struct Terminal;

impl Terminal {
    pub fn render(&self, data: &ReportData) -> String {
        crate::summary::table(&data.rows)
    }
}

impl Exporter for Terminal {
    /// Prints the table; writes no file.
    fn export(&self, data: &ReportData, _dir: &Path) -> Result<Vec<PathBuf>> {
        println!("{}", self.render(data));
        Ok(Vec::new())
    }
}
