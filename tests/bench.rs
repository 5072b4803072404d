//! `ddbench bench` end to end on a tiny data set in the IDX layout: `kill -9` in the middle of a
//! run and a rerun give exactly the rows of an uninterrupted `--jobs 2` run (same keys, no
//! duplicates, same numbers); a torn last line is dropped and its cell rerun; `--force` reruns one
//! cell; rows of cells no longer in the file move to stale.csv; one attack plugin under two
//! labelled configs gives both rows (an unlabelled duplicate is refused before anything runs).

use ddbench_tests::{ddbench_bin, ddbench_in, plugin_dir, read_rows, text, write_tiny_idx};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

const LEADERBOARD: &str = r#"
name = "kill test"
ipc = [2, 5]
seeds = 3
[student]
width = 8
epochs = 15
n_attack = 40
[[datasets]]
name = "fashion-mnist"
data_dir = "data"
[[methods]]
name = "random"
[[attacks]]
name = "fgsm"
eps = ["4/255", "8/255"]
"#;

/// Columns that depend on the clock or the process, not on the inputs.
const TIMING: [&str; 6] = [
    "cell_wall_s",
    "peak_rss_mib",
    "peak_device_mib",
    "distill_s",
    "train_s",
    "attack_s",
];

type Row = HashMap<String, String>;

fn key(r: &Row) -> String {
    format!("{}|{}|{}", r["cell"], r["attack"], r["eps"])
}

fn deterministic(rows: &[Row]) -> Vec<Vec<(String, String)>> {
    let mut v: Vec<Vec<(String, String)>> = rows
        .iter()
        .map(|r| {
            let mut kv: Vec<(String, String)> = r
                .iter()
                .filter(|(k, _)| !TIMING.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            kv.sort();
            kv
        })
        .collect();
    v.sort();
    v
}

fn bench(dir: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "bench",
        "lb.toml",
        "--out",
        out,
        "--device",
        "cpu",
        "--quiet",
        "--no-report",
    ];
    args.extend_from_slice(extra);
    ddbench_in(dir, &args)
}

#[test]
fn kill_9_then_rerun_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    write_tiny_idx(&d.join("data"), 200, 60);
    std::fs::write(d.join("lb.toml"), LEADERBOARD).unwrap();

    // the reference: uninterrupted, two cells at once
    let r = bench(d, "full", &["--jobs", "2"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let reference = read_rows(&d.join("full/results.csv"));
    assert_eq!(reference.len(), 6 * 2, "2 IPC × 3 seeds cells × 2 eps");
    // two cells at once share the cores: each child gets half of libtorch's threads
    if std::env::var_os("OMP_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().unwrap().get();
        let share = format!("device: cpu ({} threads)", (cores / 2).max(1));
        for cell in std::fs::read_dir(d.join("full/cells")).unwrap() {
            let log = std::fs::read_to_string(cell.unwrap().path().join("log.txt")).unwrap();
            assert!(log.contains(&share), "{share}: {log}");
        }
    }
    let mut keys: Vec<String> = reference.iter().map(key).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), reference.len(), "duplicate keys");
    let accs: Vec<f64> = reference
        .iter()
        .map(|r| r["clean_acc"].parse().unwrap())
        .collect();
    assert!(
        accs.iter().any(|&a| a > 20.0),
        "students learn nothing: {accs:?}"
    );

    // kill -9 once the first cell is recorded, then rerun
    let mut child = std::process::Command::new(ddbench_bin())
        .current_dir(d)
        .args([
            "bench",
            "lb.toml",
            "--out",
            "killed",
            "--device",
            "cpu",
            "--quiet",
            "--no-report",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let csv = d.join("killed/results.csv");
    let t = Instant::now();
    loop {
        let n = std::fs::read_to_string(&csv).map_or(0, |s| s.lines().count());
        if n >= 3 {
            break; // header + the first cell's two rows
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "no cell finished in 5 minutes"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "bench ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = read_rows(&csv);
    assert!(
        partial.len() < reference.len(),
        "killed too late: {} rows",
        partial.len()
    );
    eprintln!("killed after {} rows", partial.len());
    let r = bench(d, "killed", &[]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let resumed = read_rows(&csv);
    // nothing finished is lost: the rows before the kill are still there, unchanged
    for p in &partial {
        assert!(
            resumed.contains(p),
            "row lost or changed by the rerun: {p:?}"
        );
    }
    assert_eq!(
        deterministic(&resumed),
        deterministic(&reference),
        "kill + rerun differs from the uninterrupted --jobs 2 run"
    );

    // a torn last line: drop the last cell's rows, leave half of one of them without a newline
    let body = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    let last_cell = lines.last().unwrap().split(',').next().unwrap().to_string();
    let kept: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.starts_with(&last_cell))
        .collect();
    let torn = &lines[lines.len() - 1][..40];
    std::fs::write(&csv, format!("{}\n{torn}", kept.join("\n"))).unwrap();
    std::fs::remove_dir_all(d.join("killed/cells").join(&last_cell)).unwrap();
    let r = ddbench_in(
        d,
        &[
            "bench",
            "lb.toml",
            "--out",
            "killed",
            "--device",
            "cpu",
            "--no-report",
        ],
    );
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(
        text(&r).contains("dropping a torn last line"),
        "{}",
        text(&r)
    );
    assert!(
        text(&r).contains("6 cells, 5 already recorded, 1 to run"),
        "{}",
        text(&r)
    );
    assert_eq!(deterministic(&read_rows(&csv)), deterministic(&reference));

    // --force reruns exactly one cell, to the same numbers
    let first = reference[0]["cell_id"].clone();
    let r = ddbench_in(
        d,
        &[
            "bench",
            "lb.toml",
            "--out",
            "killed",
            "--device",
            "cpu",
            "--no-report",
            "--force",
            &first,
        ],
    );
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(
        text(&r).contains("6 cells, 5 already recorded, 1 to run"),
        "{}",
        text(&r)
    );
    assert_eq!(deterministic(&read_rows(&csv)), deterministic(&reference));
    let r = ddbench_in(
        d,
        &[
            "bench",
            "lb.toml",
            "--out",
            "killed",
            "--force",
            "nosuch/cell",
        ],
    );
    assert!(
        text(&r).contains("--force nosuch/cell: no such cell"),
        "{}",
        text(&r)
    );

    // fewer seeds: the third seed's rows leave results.csv for stale.csv, nothing reruns
    std::fs::write(
        d.join("lb.toml"),
        LEADERBOARD.replace("seeds = 3", "seeds = 2"),
    )
    .unwrap();
    let r = ddbench_in(
        d,
        &[
            "bench",
            "lb.toml",
            "--out",
            "killed",
            "--device",
            "cpu",
            "--no-report",
        ],
    );
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(
        text(&r).contains("4 cells, 4 already recorded, 0 to run"),
        "{}",
        text(&r)
    );
    assert_eq!(read_rows(&csv).len(), 8);
    // stale.csv: the 4 rows of the dropped seed, and the 2 old rows of the forced cell
    assert_eq!(read_rows(&d.join("killed/stale.csv")).len(), 6);

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("killed/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["state"], "finished");
    assert_eq!(manifest["libtorch"], "2.11.0");
    assert_eq!(
        manifest["datasets_sha256"]["fashion-mnist"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert!(manifest["command"]
        .as_str()
        .unwrap()
        .contains("bench lb.toml"));
    assert!(manifest["device"].as_str().unwrap().starts_with("cpu"));
}

/// A folder with tiny Fashion-MNIST files in `data/`, and `LEADERBOARD` cut to one IPC, one seed,
/// two epochs and one ε.
fn one_cell_leaderboard() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    write_tiny_idx(&dir.path().join("data"), 200, 60);
    let lb = LEADERBOARD
        .replace("ipc = [2, 5]", "ipc = [2]")
        .replace("seeds = 3", "seeds = 1")
        .replace("epochs = 15", "epochs = 2")
        .replace("eps = [\"4/255\", \"8/255\"]", "eps = [\"8/255\"]");
    (dir, lb)
}

/// A cell whose child fails: bench learns why from the child's events pipe (`Failed.reason`),
/// not from its stderr, and says so in its log line (printed with `--quiet` too) and in the
/// manifest's `cells[].last_run`; the child's stderr goes whole into the cell's log.txt.
#[test]
fn a_failing_cell_reports_the_reason_its_run_sent() {
    let (dir, lb) = one_cell_leaderboard();
    let d = dir.path();
    let lb = lb.replace(
        "[[methods]]\nname = \"random\"",
        "[[methods]]\nname = \"random\"\n[[methods]]\nname = \"panicky\"",
    );
    assert!(lb.contains("panicky") && lb.contains("ipc = [2]"), "{lb}");
    std::fs::write(d.join("lb.toml"), lb).unwrap();
    let plugins = plugin_dir(&["ddtest-panicky"]);
    let r = ddbench_in(
        d,
        &[
            "bench",
            "lb.toml",
            "--out",
            "out",
            "--device",
            "cpu",
            "--no-report",
            "--quiet",
            "--plugin-dir",
            plugins.path().to_str().unwrap(),
        ],
    );
    let t = text(&r);
    assert_eq!(r.status.code(), Some(2), "one cell failed → exit 2:\n{t}");
    // --quiet silences progress, not failures: the cell's line with its reason is printed
    let line = t
        .lines()
        .find(|l| l.contains("failed (exit 2, 0/1 rows): "))
        .unwrap_or_else(|| panic!("no failure line:\n{t}"));
    assert!(line.contains("deliberate panic inside distill"), "{line}");
    let out = d.join("out");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["state"], "finished with failures");
    let cells = m["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{cells:?}");
    let (bad, good): (Vec<_>, Vec<_>) = cells
        .iter()
        .partition(|c| c["id"].as_str().unwrap().contains("panicky"));
    let (bad, good) = (bad[0], good[0]);
    assert_eq!(good["state"], "recorded");
    assert!(good["last_run"].get("reason").is_none(), "{good}");
    assert_eq!(bad["state"], "failed");
    assert_eq!(bad["last_run"]["rows"], 0);
    let reason = bad["last_run"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("method plugin 'panicky' panicked")
            && reason.contains("deliberate panic inside distill"),
        "{reason}"
    );
    assert!(bad["failures"].as_array().unwrap()[0]
        .as_str()
        .unwrap()
        .contains("deliberate panic inside distill"));
    // the child's stderr is in its log.txt
    let folder = bad["folder"].as_str().unwrap();
    let log = std::fs::read_to_string(out.join("cells").join(folder).join("log.txt")).unwrap();
    assert!(log.contains("deliberate panic inside distill"), "{log}");
    assert_eq!(read_rows(&out.join("results.csv")).len(), 1);
}

/// One attack plugin listed twice under one norm with labels and different configs: each
/// variant runs in a child run of its own (a cell `…/seed0/pgd-b` beside `…/seed0`), both rows
/// are recorded with their label and config, and the report has a column for each. The same file
/// without labels is refused when it is read, naming the file, the attack and the fix.
#[test]
fn a_labelled_duplicate_attack_writes_both_rows() {
    let (dir, lb) = one_cell_leaderboard();
    let d = dir.path();
    let lb = lb
        + r#"[[attacks]]
name = "pgd"
label = "pgd-a"
eps = ["8/255"]
config = { steps = 1 }
[[attacks]]
name = "pgd"
label = "pgd-b"
eps = ["8/255"]
config = { steps = 2 }
"#;
    std::fs::write(d.join("lb.toml"), &lb).unwrap();
    let r = ddbench_in(
        d,
        &[
            "bench", "lb.toml", "--out", "out", "--device", "cpu", "--quiet",
        ],
    );
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let rows = read_rows(&d.join("out/results.csv"));
    assert_eq!(rows.len(), 3, "fgsm, pgd-a, pgd-b: {rows:?}");
    let by_label = |l: &str| {
        rows.iter()
            .find(|r| r["attack_label"] == l)
            .unwrap_or_else(|| panic!("no row labelled `{l}`: {rows:?}"))
    };
    let (a, b) = (by_label("pgd-a"), by_label("pgd-b"));
    assert_eq!((a["attack"].as_str(), b["attack"].as_str()), ("pgd", "pgd"));
    // each row records its resolved config: the steps given, the other settings' defaults
    let config = |r: &std::collections::HashMap<String, String>| {
        serde_json::from_str::<serde_json::Value>(&r["attack_config"]).unwrap()
    };
    let (ca, cb) = (config(a), config(b));
    assert_eq!(
        (ca["steps"].as_i64(), cb["steps"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(ca["restarts"], 1, "{ca}");
    assert_eq!(ca["alpha"], cb["alpha"], "{ca} {cb}");
    assert_eq!(a["cell_id"], "fashion-mnist/random/ipc2/convnet/seed0");
    assert_eq!(
        b["cell_id"],
        "fashion-mnist/random/ipc2/convnet/seed0/pgd-b"
    );
    assert_eq!(
        by_label("")["attack"],
        "fgsm",
        "an unlabelled attack keeps no label"
    );
    let md = std::fs::read_to_string(d.join("out/leaderboard.md")).unwrap();
    assert!(md.contains("pgd-a") && md.contains("pgd-b"), "{md}");

    // a second run finds both cells recorded
    let r = ddbench_in(
        d,
        &[
            "bench",
            "lb.toml",
            "--out",
            "out",
            "--device",
            "cpu",
            "--no-report",
        ],
    );
    assert!(
        text(&r).contains("2 cells, 2 already recorded, 0 to run"),
        "{}",
        text(&r)
    );

    // without labels: refused at read time, before any data is read or cell run
    let unlabelled = lb
        .replace("label = \"pgd-a\"\n", "")
        .replace("label = \"pgd-b\"\n", "");
    std::fs::write(d.join("bad.toml"), unlabelled).unwrap();
    let r = ddbench_in(d, &["bench", "bad.toml", "--out", "bad", "--device", "cpu"]);
    let t = text(&r);
    assert_ne!(r.status.code(), Some(0), "{t}");
    assert!(
        t.contains("bad.toml: attack `pgd` is listed twice under norm linf without labels")
            && t.contains("give each variant a distinct `label`"),
        "{t}"
    );
    assert!(!d.join("bad/results.csv").exists());
}
