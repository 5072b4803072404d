//! `summary.csv`: per table, method and metric the number of seeds, mean, std and the 95 %
//! Student-t interval.

use super::data::ReportData;
use super::Exporter;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub struct SummaryCsv;

impl SummaryCsv {
    pub const FILE: &'static str = "summary.csv";

    pub fn render(&self, data: &ReportData) -> Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "dataset",
            "arch",
            "ipc",
            "method",
            "metric",
            "n",
            "mean",
            "std",
            "ci95_low",
            "ci95_high",
        ])?;
        for t in &data.tables {
            let k = &t.key;
            for m in &t.methods {
                for s in &m.scores {
                    let st = &s.stat;
                    let (lo, hi) = (st.mean - st.ci95, st.mean + st.ci95);
                    w.write_record([
                        &k.dataset,
                        &k.arch,
                        &k.ipc.to_string(),
                        &m.method,
                        &s.name,
                        &st.n.to_string(),
                        &format!("{:.4}", st.mean),
                        &format!("{:.4}", st.std),
                        &format!("{lo:.4}"),
                        &format!("{hi:.4}"),
                    ])?;
                }
            }
        }
        w.into_inner().context("serialising summary")
    }
}

impl Exporter for SummaryCsv {
    fn export(&self, data: &ReportData, dir: &Path) -> Result<Vec<PathBuf>> {
        let path = dir.join(Self::FILE);
        crate::record::write_atomic(&path, &self.render(data)?)?;
        Ok(vec![path])
    }
}
