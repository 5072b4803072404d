//! Reading a results.csv — `ddbench run`'s, or `ddbench bench`'s with the cell's columns in
//! front — as typed rows, by column name.

use super::{lenient, ResultRow};
use anyhow::{Context, Result};
use std::path::Path;

/// The columns `ddbench bench` puts in front of `ddbench run`'s own: the cell a row belongs to.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BenchLead {
    /// The cell's folder under `cells/`.
    #[serde(default)]
    pub cell: String,
    /// `dataset/label/ipcN|all/arch/seedS[/norm]`.
    #[serde(default)]
    pub cell_id: String,
    #[serde(default)]
    pub cell_hash: String,
    /// Wall time of the cell's run (seconds; NaN when unknown).
    #[serde(default = "nan", deserialize_with = "lenient::real")]
    pub cell_wall_s: f64,
    /// Peak resident memory of the cell's process (MiB; NaN when unknown).
    #[serde(default = "nan", deserialize_with = "lenient::real")]
    pub peak_rss_mib: f64,
}

fn nan() -> f64 {
    f64::NAN
}

impl BenchLead {
    /// The lead columns, in the order bench writes them.
    pub const COLUMNS: [&'static str; 5] = [
        "cell",
        "cell_id",
        "cell_hash",
        "cell_wall_s",
        "peak_rss_mib",
    ];

    /// The method's label in the cell id (`full`, or a leaderboard's own name for a method).
    pub fn label(&self) -> Option<&str> {
        self.cell_id.split('/').nth(1)
    }

    /// Whether the cell ran once for all IPCs of its data set (`…/all/…` in its id).
    pub fn all_ipc(&self) -> bool {
        self.cell_id.split('/').nth(2) == Some("all")
    }
}

/// One row of a results.csv: bench's lead columns where the file has any, and `run`'s row.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub lead: Option<BenchLead>,
    pub row: ResultRow,
}

/// The rows of the results.csv at `path`.
pub fn read_results(path: &Path) -> Result<Vec<Recorded>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_results(&bytes, path)
}

/// The rows of results.csv text (`origin` names it in errors): each row by column name, so the
/// columns may come in any order and the ones a row type does not know are skipped.
pub fn parse_results(bytes: &[u8], origin: &Path) -> Result<Vec<Recorded>> {
    let mut rd = csv::Reader::from_reader(bytes);
    let headers = rd
        .headers()
        .with_context(|| format!("reading {}", origin.display()))?
        .clone();
    let has_lead = headers.iter().any(|h| BenchLead::COLUMNS.contains(&h));
    let mut out = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let at = || format!("{}: line {}", origin.display(), i + 2);
        let rec = rec.with_context(at)?;
        let row: ResultRow = rec.deserialize(Some(&headers)).with_context(at)?;
        let lead = match has_lead {
            true => Some(rec.deserialize(Some(&headers)).with_context(at)?),
            false => None,
        };
        out.push(Recorded { lead, row });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_rows_carry_their_lead_and_run_rows_none() {
        let head = "cell,cell_id,cell_hash,cell_wall_s,peak_rss_mib,dataset,method,ipc,arch,seed,attack,norm,eps,clean_acc,subset_clean_acc,robust_acc,distill_s,train_s,attack_s,forward_calls,backward_calls";
        let text = format!("{head}\nc-1,d/full/all/convnet/seed0,1,2.5,,d,full,500,convnet,0,pgd,linf,0.03,80,81,,1,2,3,10,10\n");
        let got = parse_results(text.as_bytes(), Path::new("r.csv")).unwrap();
        let lead = got[0].lead.as_ref().unwrap();
        assert_eq!((lead.label(), lead.all_ipc()), (Some("full"), true));
        assert_eq!(lead.cell_wall_s, 2.5);
        assert!(lead.peak_rss_mib.is_nan(), "an empty number is unknown");
        let row = &got[0].row;
        assert_eq!((row.ipc, row.seed, row.forward_calls), (500, 0, 10));
        assert!(row.robust_acc.is_nan() && row.peak_device_mib.is_nan());
        assert_eq!((row.method_version.as_str(), row.n_test), ("", 0));

        let run = &text[text.find("dataset").unwrap()..]
            .replace("c-1,d/full/all/convnet/seed0,1,2.5,,", "");
        let got = parse_results(run.as_bytes(), Path::new("r.csv")).unwrap();
        assert_eq!(got[0].lead, None);
        assert_eq!(got[0].row.method, "full");
    }

    #[test]
    fn a_bad_number_is_named_with_its_line() {
        let text = "dataset,method,ipc,arch,seed,attack,norm,eps,clean_acc,subset_clean_acc,robust_acc,distill_s,train_s,attack_s,forward_calls,backward_calls\nd,m,10,a,0,pgd,linf,x,1,1,1,1,1,1,1,1\n";
        let e = format!(
            "{:#}",
            parse_results(text.as_bytes(), Path::new("r.csv")).unwrap_err()
        );
        assert!(
            e.contains("r.csv: line 2") && e.contains("'x' is not a number"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            parse_results(b"a,b\n1,2\n", Path::new("r.csv")).unwrap_err()
        );
        assert!(e.contains("missing field `dataset`"), "{e}");
    }
}
