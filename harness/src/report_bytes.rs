//! The report, byte for byte: `leaderboard.md`, `summary.csv`, `sweeps.csv`, the charts (by SHA-256) and the
//! terminal table (`summary::table`) rebuilt from fixed records (`tests/fixtures/report/<case>/
//! results.csv`) equal the files stored beside them under `expected/`. The Markdown names the
//! records it was built from: the temporary folder is written `DIR` there.
//!
//! Cases: `bench` (the reference demo's records, with bench's lead columns), `run` (the same rows
//! as `ddbench run` writes them: no lead columns, `full` in its own IPC table) and `mixed` (a
//! hand-made table with only the columns the report reads: three seeds, a whole-set method, two
//! norms, AutoAttack's version, a clean-only method and data set, NaN and empty values).
//!
//! `DDBENCH_REGEN_FIXTURES=1` rewrites the expected files (then review their diff).

use crate::record::{read_results, rows_csv, Recorded, ResultsFile};
use crate::report::Terminal;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/report")
}

/// `got` against `expected/<name>` of `case` (or writes it when regenerating).
fn same(case: &str, name: &str, got: &str) {
    let path = fixtures().join(case).join("expected").join(name);
    if std::env::var_os("DDBENCH_REGEN_FIXTURES").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (DDBENCH_REGEN_FIXTURES=1 writes it)",
            path.display()
        )
    });
    assert!(
        got == want,
        "{case}/{name} differs from {}:\n--- expected\n{want}\n--- got\n{got}",
        path.display()
    );
}

/// Builds the report of `case` in a temporary folder and compares what it wrote.
fn check(case: &str, title: &str, terminal: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(case);
    std::fs::create_dir(&dir).unwrap();
    let records = dir.join("results.csv");
    std::fs::copy(fixtures().join(case).join("results.csv"), &records).unwrap();
    let published = fixtures().join("published.csv");
    let rep = crate::report::build_with(&dir, Some(title), Some(&published)).unwrap();

    let md = std::fs::read_to_string(&rep.markdown).unwrap();
    assert_eq!(rep.markdown, dir.join("leaderboard.md"));
    assert_eq!(md, rep.text, "the printed text is the file's");
    same(
        case,
        "leaderboard.md",
        &md.replace(&dir.display().to_string(), "DIR"),
    );
    assert_eq!(rep.summary, dir.join("summary.csv"));
    same(
        case,
        "summary.csv",
        &std::fs::read_to_string(&rep.summary).unwrap(),
    );

    // sweeps.csv: written only where an attack ran at several ε, and then as expected
    let sweeps = std::fs::read_to_string(dir.join("sweeps.csv")).ok();
    let want_sweeps = fixtures().join(case).join("expected/sweeps.csv").exists();
    match sweeps {
        Some(s) => same(case, "sweeps.csv", &s),
        None => assert!(!want_sweeps, "{case}: no sweeps.csv written"),
    }

    let mut charts = String::new();
    for c in &rep.charts {
        let hash = hex::encode(Sha256::digest(std::fs::read(c).unwrap()));
        let rel = c.strip_prefix(&dir).unwrap();
        charts.push_str(&format!("{hash}  {}\n", rel.display()));
    }
    same(case, "charts.sha256", &charts);

    if terminal {
        let rows = ResultsFile::open(&records, &|_| {}).unwrap().rows;
        same(case, "terminal.md", &crate::summary::table(&rows));
        // the report reads the rows `run` reads, and its terminal exporter prints that table
        let data = crate::report::read(&dir, Some(title), Some(&published)).unwrap();
        assert_eq!(rows_csv(&data.rows).unwrap(), rows_csv(&rows).unwrap());
        assert_eq!(Terminal.render(&data), crate::summary::table(&rows));
        let in_a_cell = |r: &Recorded| r.lead.as_ref().is_some_and(|l| !l.cell_id.is_empty());
        let recorded = read_results(&records).unwrap();
        assert!(recorded.iter().all(|r| in_a_cell(r) == (case == "bench")));
    }
}

#[test]
fn the_report_of_bench_records_is_byte_identical() {
    check(
        "bench",
        "demo: Fashion-MNIST, ConvNet-3 (cut-down CPU protocol)",
        true,
    );
}

#[test]
fn the_report_of_run_records_is_byte_identical() {
    check("run", "run records", true);
}

#[test]
fn the_report_of_a_hand_made_table_is_byte_identical() {
    check("mixed", "mixed", false);
}
