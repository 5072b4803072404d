//! `results.csv` of a bench folder: typed rows (the cell a row belongs to, then `run`'s own
//! `ResultRow`), rewritten whole (write, fsync, rename) after every cell by one writer.

use crate::leaderboard::Cell;
use crate::record::{parse_results, read_whole_lines, write_atomic, ResultRow, ResultsFile};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub use crate::record::BenchLead;

/// Columns bench puts in front of `ddbench run`'s own.
pub const LEAD_COLUMNS: [&str; 5] = BenchLead::COLUMNS;

/// How bench writes a `BenchLead` (its columns, in their order).
#[derive(Serialize)]
struct LeadOut<'a> {
    cell: &'a str,
    cell_id: &'a str,
    cell_hash: &'a str,
    cell_wall_s: f64,
    peak_rss_mib: f64,
}

impl<'a> From<&'a BenchLead> for LeadOut<'a> {
    fn from(l: &'a BenchLead) -> LeadOut<'a> {
        LeadOut {
            cell: &l.cell,
            cell_id: &l.cell_id,
            cell_hash: &l.cell_hash,
            cell_wall_s: l.cell_wall_s,
            peak_rss_mib: l.peak_rss_mib,
        }
    }
}

/// One recorded row: its cell and `run`'s row.
#[derive(Clone, Debug, PartialEq)]
pub struct Rec {
    pub lead: BenchLead,
    pub row: ResultRow,
}

/// The records of a bench folder.
pub struct Records {
    pub path: PathBuf,
    pub rows: Vec<Rec>,
}

impl Records {
    /// Reads the records; a torn last line (no newline at the end) is dropped with a warning, a
    /// CSV that is not bench's is refused, rows of an older ddbench get the newer columns'
    /// defaults.
    pub fn open(path: &Path, warn: &dyn Fn(&str)) -> Result<Records> {
        let mut r = Records {
            path: path.to_path_buf(),
            rows: Vec::new(),
        };
        if !path.exists() {
            return Ok(r);
        }
        let bytes = read_whole_lines(path, warn)?;
        let mut rd = csv::ReaderBuilder::new().from_reader(bytes.as_slice());
        let head = rd.headers()?.clone();
        if head.is_empty() {
            return Ok(r);
        }
        let n = LEAD_COLUMNS.len();
        if head.len() < n || head.iter().take(n).ne(LEAD_COLUMNS) {
            bail!(
                "{}: not a `ddbench bench` results file (its first columns must be {}); move it away or use another --out",
                path.display(),
                LEAD_COLUMNS.join(",")
            );
        }
        r.rows = parse_results(&bytes, path)?
            .into_iter()
            .map(|rec| Rec {
                lead: rec.lead.unwrap_or_default(),
                row: rec.row,
            })
            .collect();
        Ok(r)
    }

    /// Rewrites the file whole (write, fsync, rename).
    pub fn save(&self) -> Result<()> {
        write_atomic(&self.path, &csv_of(&self.rows)?)
    }

    /// Rows recorded for `cell` under its current hash.
    pub fn count(&self, cell: &Cell) -> usize {
        let folder = cell.folder();
        self.rows
            .iter()
            .filter(|r| r.lead.cell == folder && r.lead.cell_hash == cell.hash)
            .count()
    }

    /// Replaces `cell`'s rows by the wanted rows of its `run` output (`cells/<folder>/results.csv`);
    /// how many it took.
    pub fn merge(
        &mut self,
        cell: &Cell,
        run_csv: &Path,
        wall_s: f64,
        rss_mib: f64,
    ) -> Result<usize> {
        if !run_csv.exists() {
            return Ok(0);
        }
        let run = ResultsFile::open(run_csv, &|_| {})?;
        let lead = BenchLead {
            cell: cell.folder(),
            cell_id: cell.id.clone(),
            cell_hash: cell.hash.clone(),
            cell_wall_s: round(wall_s, 1e3),
            peak_rss_mib: round(rss_mib, 1e1),
        };
        self.rows.retain(|r| r.lead.cell != lead.cell);
        let before = self.rows.len();
        self.rows.extend(run.rows.into_iter().filter_map(|row| {
            labelled(cell, row).map(|row| Rec {
                lead: lead.clone(),
                row,
            })
        }));
        Ok(self.rows.len() - before)
    }
}

/// `row` with its attack's label, if it is one `cell` asks for (its seed; a `none` row when it
/// asks for no attack). A cell runs each attack plugin once, so (plugin, norm, ε) finds its label.
fn labelled(cell: &Cell, mut row: ResultRow) -> Option<ResultRow> {
    if row.seed != cell.seed {
        return None; // a seed-mate's row (`group`)
    }
    if cell.wanted.is_empty() {
        return (row.attack == "none").then_some(row);
    }
    let w = cell
        .wanted
        .iter()
        .find(|w| w.attack == row.attack && w.norm == row.norm && (w.eps - row.eps).abs() < 1e-9)?;
    row.attack_label = w.label.clone();
    Some(row)
}

/// `x` rounded to `1 / per` (what the CSV needs of a clock or memory figure).
fn round(x: f64, per: f64) -> f64 {
    (x * per).round() / per
}

/// The CSV text of `rows`, header first (the lead columns alone when there are no rows).
fn csv_of(rows: &[Rec]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    if rows.is_empty() {
        w.write_record(LEAD_COLUMNS)?;
    }
    for r in rows {
        w.serialize((LeadOut::from(&r.lead), &r.row))?;
    }
    w.into_inner().context("serialising results")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaderboard::Wanted;

    fn fgsm(eps: f64) -> Wanted {
        Wanted {
            attack: "fgsm".into(),
            label: String::new(),
            norm: "linf".into(),
            eps,
        }
    }

    fn cell() -> Cell {
        Cell {
            id: "new/cell".into(),
            hash: "h1".into(),
            dataset: "d".into(),
            method: "m".into(),
            label: "m".into(),
            seed: 0,
            args: Vec::new(),
            wanted: vec![fgsm(0.2)],
        }
    }

    /// A run's results.csv with one row per (attack, eps).
    fn run_csv(path: &Path, rows: &[(&str, f64)]) {
        let text = "dataset,method,method_version,ipc,arch,seed,attack,attack_version,norm,eps,clean_acc,subset_clean_acc,robust_acc,n_test,n_attack,distilled_images,train_epochs,distill_s,train_s,attack_s,forward_calls,backward_calls\n";
        let body: String = rows
            .iter()
            .map(|(a, e)| format!("d,m,1,10,convnet,0,{a},1,linf,{e},50.0,51.0,10.0,100,40,100,3,0.1,1.0,0.5,11,10\n"))
            .collect();
        std::fs::write(path, format!("{text}{body}")).unwrap();
        // what `run` writes today: every column
        let full = ResultsFile::open(path, &|_| {}).unwrap().rows;
        std::fs::write(path, crate::record::rows_csv(&full).unwrap()).unwrap();
    }

    #[test]
    fn rows_of_an_older_version_get_the_new_columns_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        let lead = LEAD_COLUMNS.join(",");
        // a bench file of a ddbench before the flags / memory / key columns
        std::fs::write(
            &path,
            format!("{lead},dataset,method,method_version,ipc,arch,seed,attack,attack_version,norm,eps,clean_acc,subset_clean_acc,robust_acc,n_test,n_attack,distilled_images,train_epochs,distill_s,train_s,attack_s,forward_calls,backward_calls\nold,a/b,h0,1.000,2.0,d,m,1,10,convnet,0,pgd,1,linf,0.1,50.0,51.0,10.0,100,40,100,3,0.1,1.0,0.5,11,10\n"),
        )
        .unwrap();
        let mut recs = Records::open(&path, &|_| {}).unwrap();
        assert_eq!(recs.rows[0].row.flags, "");
        assert_eq!(recs.rows[0].row.key_hash, "");
        let run = dir.path().join("run.csv");
        run_csv(&run, &[("fgsm", 0.2), ("fgsm", 0.3)]);
        assert_eq!(recs.merge(&cell(), &run, 1.0, 2.0).unwrap(), 1);
        recs.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let head = text.lines().next().unwrap();
        assert!(
            head.starts_with(&lead)
                && head.ends_with(
                    ",flags,peak_device_mib,key_hash,attack_label,method_config,augment,whitening,distilled_min,distilled_max"
                )
        );
        let back = Records::open(&path, &|_| {}).unwrap();
        assert_eq!(back.rows.len(), 2);
        assert_eq!(back.rows[0].row.attack, "pgd");
        assert_eq!(back.rows[0].row.flags, "");
        assert_eq!(back.rows[0].row.method_config, "");
        assert!(back.rows[0].row.distilled_min.is_nan());
        assert_eq!(back.rows[1].lead.cell, cell().folder());
        assert_eq!(back.count(&cell()), 1);
        // a run CSV of another format is still refused, naming the file
        std::fs::write(&run, "attack,eps,norm\nfgsm,0.2,linf\n").unwrap();
        let err = format!("{:#}", recs.merge(&cell(), &run, 1.0, 2.0).unwrap_err());
        assert!(err.contains("run.csv"), "{err}");
    }

    #[test]
    fn rows_rewritten_typed_keep_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run.csv");
        run_csv(&run, &[("fgsm", 0.2), ("fgsm", 8.0 / 255.0)]);
        let path = dir.path().join("results.csv");
        let mut recs = Records::open(&path, &|_| {}).unwrap();
        let mut c = cell();
        c.wanted.push(fgsm(8.0 / 255.0));
        assert_eq!(recs.merge(&c, &run, 12.3456, 345.67).unwrap(), 2);
        recs.save().unwrap();
        let first = std::fs::read(&path).unwrap();
        Records::open(&path, &|_| {}).unwrap().save().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), first);
        let text = String::from_utf8(first).unwrap();
        assert!(text.contains(",12.346,345.7,"), "{text}");
        let run_text = std::fs::read_to_string(&run).unwrap();
        for (line, run_line) in text.lines().skip(1).zip(run_text.lines().skip(1)) {
            assert!(line.ends_with(run_line), "{line} / {run_line}");
        }
    }

    #[test]
    fn a_labelled_attack_gives_its_rows_its_label() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run.csv");
        run_csv(&run, &[("fgsm", 0.2), ("fgsm", 0.3)]);
        let mut recs = Records::open(&dir.path().join("results.csv"), &|_| {}).unwrap();
        let mut c = cell();
        c.wanted = vec![Wanted {
            label: "fgsm-b".into(),
            ..fgsm(0.3)
        }];
        assert_eq!(recs.merge(&c, &run, 1.0, 2.0).unwrap(), 1);
        let row = &recs.rows[0].row;
        assert_eq!((row.eps, row.attack_label.as_str()), (0.3, "fgsm-b"));
        assert_eq!(row.attack_label(), "fgsm-b");
        recs.save().unwrap();
        let back = Records::open(&recs.path, &|_| {}).unwrap();
        assert_eq!(back.rows[0].row.attack_label, "fgsm-b");
    }

    #[test]
    fn a_foreign_csv_is_refused_with_its_name_and_the_first_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        let err = format!("{:#}", Records::open(&path, &|_| {}).err().unwrap());
        assert!(
            err.contains("results.csv") && err.contains(&LEAD_COLUMNS.join(",")),
            "{err}"
        );
    }
}
