//! `ddbench report DIR`: rebuilds the leaderboard from `DIR/results.csv` alone — the metrics per
//! seed and over seeds (`summary.csv`), the ε-sweeps (`sweeps.csv`), a Markdown leaderboard
//! (`leaderboard.md`, one table per data set × architecture × IPC, best per column in bold) and
//! the charts (`charts/`).
//!
//! The stages, one file each: `rows` (the recorded rows as the report reads them), `tables`
//! (grouped into tables), `scores` (metrics per seed and over seeds), `data` (what exporters
//! read); then the exporters behind `Exporter`: `markdown`, `summary_csv`, `sweeps`, `figures`
//! (the charts), `grids` (images of saved distilled sets) and `terminal` (the table `ddbench run` prints). A new view of the results is a
//! new exporter.

mod data;
mod figures;
mod grids;
mod markdown;
mod published;
mod rows;
mod scores;
mod summary_csv;
mod sweeps;
mod tables;
mod terminal;

pub use data::{ReportData, TableData};
pub use figures::Charts;
pub use grids::Grids;
pub use markdown::Markdown;
pub use published::{read_published, Published};
pub use scores::{MethodStats, Score};
pub use summary_csv::SummaryCsv;
pub use sweeps::SweepCsv;
pub use tables::{AttackCol, Robust, Seed, TableKey};
pub use terminal::Terminal;

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// One view of a report: writes its files under the report's folder.
pub trait Exporter {
    /// Writes this view of `data` under `dir`; returns the files written (none for the terminal).
    fn export(&self, data: &ReportData, dir: &Path) -> Result<Vec<PathBuf>>;
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A folder holding results.csv (from `ddbench bench` or `ddbench run`).
    pub dir: PathBuf,
    /// Published reference numbers drawn beside ddbench's (default: baselines/published.csv when
    /// it exists; `none` for no reference).
    #[arg(long)]
    pub published: Option<PathBuf>,
    /// Title of the leaderboard (default: the folder's name).
    #[arg(long)]
    pub title: Option<String>,
}

pub fn run(args: &ReportArgs) -> Result<i32> {
    let rep = build_with(&args.dir, args.title.as_deref(), args.published.as_deref())?;
    rep.print();
    Ok(0)
}

/// What `report` wrote.
pub struct Report {
    pub markdown: PathBuf,
    pub summary: PathBuf,
    pub charts: Vec<PathBuf>,
    pub text: String,
}

impl Report {
    pub fn print(&self) {
        println!("{}", self.text);
        println!("leaderboard: {}", self.markdown.display());
        println!(
            "summary (mean, std, 95 % interval per metric): {}",
            self.summary.display()
        );
        for c in &self.charts {
            println!("chart: {}", c.display());
        }
    }
}

/// Builds the report with the default published file (baselines/published.csv if present).
pub fn build(dir: &Path, title: Option<&str>) -> Result<Report> {
    build_with(dir, title, None)
}

/// Reads `dir/results.csv` into the report's data (`None` title: the folder's name).
pub fn read(dir: &Path, title: Option<&str>, published: Option<&Path>) -> Result<ReportData> {
    let source = dir.join("results.csv");
    let recorded = crate::record::read_results(&source)?;
    if recorded.is_empty() {
        bail!("{}: no result rows", source.display());
    }
    let view: Vec<rows::Row> = recorded.iter().map(rows::Row::of).collect();
    rows::refuse_twins(&view, &source)?;
    let published = published::load(published)?;
    let tables = tables::group(&view)
        .into_iter()
        .map(|t| TableData::new(t, &published))
        .collect();
    let title = title.map(String::from).unwrap_or_else(|| {
        dir.file_name()
            .map_or("leaderboard".into(), |s| s.to_string_lossy().into_owned())
    });
    Ok(ReportData {
        title,
        source,
        rows: recorded.into_iter().map(|r| r.row).collect(),
        tables,
    })
}

pub fn build_with(dir: &Path, title: Option<&str>, published: Option<&Path>) -> Result<Report> {
    let data = read(dir, title, published)?;
    let mut charts = Charts.export(&data, dir)?;
    charts.extend(Grids.export(&data, dir)?);
    let markdown = Markdown { charts };
    markdown.export(&data, dir)?;
    SummaryCsv.export(&data, dir)?;
    SweepCsv.export(&data, dir)?;
    Ok(Report {
        markdown: dir.join(Markdown::FILE),
        summary: dir.join(SummaryCsv::FILE),
        text: markdown.render(&data, dir),
        charts: markdown.charts,
    })
}
