//! Records you can trust (issue 9), end to end on tiny data sets in the exact IDX layout: a rerun
//! reuses a row only when every input that made it is the same; otherwise it refuses, naming the
//! fields, or with `--force` sets the old rows aside and computes anew; one writer per folder; the
//! attacked subset never crashes; a torn last line is redone; bad settings are refused before
//! any training; `bench` never mixes two data sets.

use ddbench_tests::write_tiny_idx;
use ddbench_tests::{ddbench, ddbench_bin, read_rows, text, tiny_run, with_flag as with};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A quick run of `random` at IPC 5 (width 8, 2 epochs, 20 attacked images, FGSM and PGD).
fn base<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    tiny_run(data, out, "random", "2")
}

/// A tiny IDX data set (200 train / 60 test images) and an empty output folder.
fn tiny_data_and_out() -> (TempDir, TempDir) {
    let data = tempfile::tempdir().unwrap();
    write_tiny_idx(data.path(), 200, 60);
    (data, tempfile::tempdir().unwrap())
}

/// Runs `ddbench ARGS`, which must stop with exit code 1 saying `want`; returns what it said.
fn refused(args: &[&str], want: &str) -> String {
    let r = ddbench(args);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(1), "{args:?} must be refused:\n{t}");
    assert!(t.contains(want), "{args:?}: expected `{want}` in:\n{t}");
    t
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap()
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Every line of a CSV at most once.
fn assert_no_twins(p: &Path) {
    let l = lines(p);
    let mut u = l.clone();
    u.sort();
    u.dedup();
    assert_eq!(u.len(), l.len(), "{} has duplicated lines", p.display());
}

#[test]
fn a_rerun_reuses_only_rows_with_the_same_inputs() {
    let data = tempfile::tempdir().unwrap();
    write_tiny_idx(data.path(), 200, 60);
    let other = tempfile::tempdir().unwrap();
    write_tiny_idx(other.path(), 210, 60);
    let out = tempfile::tempdir().unwrap();
    let (d, o, d2) = (
        data.path().to_str().unwrap(),
        out.path().to_str().unwrap(),
        other.path().to_str().unwrap(),
    );
    let args = base(d, o);
    let first = ddbench(&args);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let rows = read_rows(&out.path().join("results.csv"));
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["key_hash"].len() == 16), "{rows:?}");
    // the manifest describes exactly the rows: one key per row hash
    let keys = manifest(out.path())["keys"].clone();
    for r in &rows {
        assert_eq!(keys[&r["key_hash"]]["shared"]["model"]["width"], 8);
    }

    // the same command: nothing to do, the rows untouched
    let before = std::fs::read(out.path().join("results.csv")).unwrap();
    let again = ddbench(&args);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(
        std::fs::read(out.path().join("results.csv")).unwrap(),
        before
    );
    let verbose: Vec<&str> = args.iter().copied().filter(|a| *a != "--quiet").collect();
    let t = text(&ddbench(&verbose));
    assert!(t.contains("skip random ipc 5 seed 0: already in"), "{t}");

    // each changed input makes the rerun refuse, naming the field, before any training
    let pgd50 = r#"pgd={"steps":50}"#;
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (with(&args, "--width", "16"), "shared.model.width: 8 → 16"),
        (
            with(&args, "--epochs", "3"),
            "shared.student.dd.epochs: 2 → 3",
        ),
        (
            with(&args, "--n-attack", "30"),
            "shared.evaluation.n_attack: 20 → 30",
        ),
        (
            with(&args, "--attack-config", pgd50),
            "attack.plugin.config.steps: 10 → 50",
        ),
        (with(&args, "--data-dir", d2), "shared.data.sha256"),
        (
            with(&args, "--normalization", "data"),
            "shared.data.normalization.name: \"fashion-mnist\" → \"data\"",
        ),
        (
            with(&args, "--soft-epochs", "7"),
            "shared.student.soft_label.epochs: 400 → 7",
        ),
        (
            with(&args, "--attack-batch", "7"),
            "shared.evaluation.attack_batch: 500 → 7",
        ),
        (
            with(&args, "--augment", "dsa"),
            "shared.student.dd.augment: \"crop-flip\" → \"dsa\"",
        ),
        (
            with(&args, "--whitening", "zca"),
            "shared.model.whitening: \"none\" → \"zca\"",
        ),
    ];
    for (changed, field) in &cases {
        let t0 = Instant::now();
        let t = refused(changed, field);
        assert!(t.contains("made with other inputs"), "{t}");
        assert!(t.contains("--force") && t.contains("another --out"), "{t}");
        assert_eq!(
            std::fs::read(out.path().join("results.csv")).unwrap(),
            before,
            "a refusal changes nothing"
        );
        assert!(t0.elapsed() < Duration::from_secs(60));
    }

    // --force: the old rows move to stale.csv (per-sample lines beside them), new ones computed
    let forced = ddbench(&[with(&args, "--width", "16"), vec!["--force"]].concat());
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    let stale = read_rows(&out.path().join("stale.csv"));
    assert_eq!(stale.len(), 2);
    let now = read_rows(&out.path().join("results.csv"));
    assert_eq!(now.len(), 2);
    let m = manifest(out.path());
    assert_eq!(m["config"]["width"], 16);
    for r in &now {
        assert_eq!(m["keys"][&r["key_hash"]]["shared"]["model"]["width"], 16);
        assert!(stale.iter().all(|s| s["key_hash"] != r["key_hash"]));
    }
    for s in &stale {
        assert_eq!(
            m["stale_keys"][&s["key_hash"]]["shared"]["model"]["width"],
            8
        );
    }
    assert_eq!(
        lines(&out.path().join("stale_per_sample.csv")).len(),
        1 + 2 * 20
    );
    assert_eq!(lines(&out.path().join("per_sample.csv")).len(), 1 + 2 * 20);

    // a method's config is part of its rows' keys
    let full = [
        "run",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        d,
        "--out",
        o,
        "--method",
        "full",
        "--width",
        "16",
        "--epochs",
        "2",
        "--n-attack",
        "20",
        "--attacks",
        "fgsm,pgd",
        "--device",
        "cpu",
        "--quiet",
    ];
    let a = ddbench(&[&full[..], &["--method-config", r#"full={"epochs":1}"#]].concat());
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    refused(
        &[&full[..], &["--method-config", r#"full={"epochs":2}"#]].concat(),
        "method.config.epochs: 1 → 2",
    );
}

#[test]
fn a_second_writer_on_a_folder_is_refused_at_once() {
    let (data, out) = tiny_data_and_out();
    let (d, o) = (data.path().to_str().unwrap(), out.path().to_str().unwrap());
    // a long first run: 1,000 epochs of one step
    let long = with(&base(d, o), "--epochs", "1000");
    let mut first = Command::new(ddbench_bin())
        .args(&long)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = out.path().join(".ddbench.lock");
    let pid = first.id().to_string();
    let t0 = Instant::now();
    while std::fs::read_to_string(&lock).map_or(true, |s| s.trim() != pid) {
        assert!(t0.elapsed() < Duration::from_secs(60), "no lock taken");
        std::thread::sleep(Duration::from_millis(20));
    }
    for cmd in [long.clone(), vec!["bench", "x.toml", "--out", o]] {
        let second = ddbench(&cmd);
        let t = text(&second);
        assert_eq!(second.status.code(), Some(1), "{t}");
        assert!(t.contains(&format!("is in use by pid {pid}")), "{t}");
    }
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first run must still be running while the second is refused"
    );
    let status = first.wait().unwrap();
    assert!(status.success());
    assert_eq!(read_rows(&out.path().join("results.csv")).len(), 2);
    assert_no_twins(&out.path().join("results.csv"));
    assert_no_twins(&out.path().join("per_sample.csv"));
    // no temporary file left behind
    for e in std::fs::read_dir(out.path()).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(!name.ends_with(".tmp"), "{name}");
    }
}

/// Rewrites the test labels of a tiny IDX set: class 9 keeps one image, the rest become class 0.
fn starve_class_nine(dir: &Path) {
    let p = dir.join("t10k-labels-idx1-ubyte");
    let mut b = std::fs::read(&p).unwrap();
    let mut kept = false;
    for l in &mut b[8..] {
        if *l == 9 {
            if kept {
                *l = 0;
            }
            kept = true;
        }
    }
    std::fs::write(&p, b).unwrap();
}

#[test]
fn the_attacked_subset_takes_what_the_split_has() {
    let data = tempfile::tempdir().unwrap();
    write_tiny_idx(data.path(), 200, 60);
    starve_class_nine(data.path());
    let out = tempfile::tempdir().unwrap();
    let (d, o) = (data.path().to_str().unwrap(), out.path().to_str().unwrap());
    // 6 per class asked; class 9 has 1 image: 55 attacked
    let args: Vec<&str> = with(&base(d, o), "--n-attack", "60")
        .into_iter()
        .filter(|a| *a != "--quiet")
        .collect();
    let r = ddbench(&args);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(0), "{t}");
    assert!(
        t.contains("the test split gives 55 of the 60 images asked"),
        "{t}"
    );
    let rows = read_rows(&out.path().join("results.csv"));
    assert!(rows.iter().all(|r| r["n_attack"] == "55"), "{rows:?}");
    assert_eq!(lines(&out.path().join("per_sample.csv")).len(), 1 + 2 * 55);
    // more than the whole split: every test image (500 a class asked, each class gives all)
    let big = tempfile::tempdir().unwrap();
    let r = ddbench(&with(
        &base(d, big.path().to_str().unwrap()),
        "--n-attack",
        "5000",
    ));
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let rows = read_rows(&big.path().join("results.csv"));
    assert!(rows.iter().all(|r| r["n_attack"] == "60"), "{rows:?}");
    // zero is refused up front
    refused(
        &with(&base(d, o), "--n-attack", "0"),
        "--n-attack must be ≥ 1",
    );
}

#[test]
fn a_torn_last_line_is_redone_and_every_whole_row_kept() {
    let (data, out) = tiny_data_and_out();
    let (d, o) = (data.path().to_str().unwrap(), out.path().to_str().unwrap());
    let args = with(&base(d, o), "--seeds", "2");
    assert_eq!(ddbench(&args).status.code(), Some(0));
    let csv = out.path().join("results.csv");
    let whole = read_rows(&csv);
    assert_eq!(whole.len(), 4);
    let bytes = std::fs::read(&csv).unwrap();
    std::fs::write(&csv, &bytes[..bytes.len() - 30]).unwrap();
    let verbose: Vec<&str> = args.iter().copied().filter(|a| *a != "--quiet").collect();
    let r = ddbench(&verbose);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(0), "{t}");
    assert!(t.contains("dropping a torn last line"), "{t}");
    // seed 0 was whole: kept, not redone
    assert!(t.contains("skip random ipc 5 seed 0"), "{t}");
    let again = read_rows(&csv);
    assert_eq!(again.len(), 4);
    let pick = |rows: &[std::collections::HashMap<String, String>]| {
        let mut v: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["seed"].clone(),
                    r["attack"].clone(),
                    r["key_hash"].clone(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(pick(&again), pick(&whole));
    assert_no_twins(&csv);
    assert_no_twins(&out.path().join("per_sample.csv"));
    assert_eq!(lines(&out.path().join("per_sample.csv")).len(), 1 + 4 * 20);
}

#[test]
fn bad_settings_are_refused_before_any_training() {
    let (data, out) = tiny_data_and_out();
    let (d, o) = (data.path().to_str().unwrap(), out.path().to_str().unwrap());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            with(&base(d, o), "--eps", "300/255"),
            "whole [0, 1] pixel box",
        ),
        (
            with(&base(d, o), "--attack-config", r#"pgd={"steps": -5}"#),
            "--attack-config pgd={\"steps\":-5}: config 'steps' = -5: expected an integer ≥ 1",
        ),
        (
            with(&base(d, o), "--attack-config", r#"pgd={"stpes": 5}"#),
            "stpes",
        ),
        (
            [with(&base(d, o), "--attacks", "pgd"), vec!["--norm", "l2"]].concat(),
            "attack 'pgd' refuses its settings",
        ),
        // a config for a plugin that is not in the run (a typo) is not silently ignored
        (
            with(&base(d, o), "--attack-config", r#"pgdd={"steps": 5}"#),
            "--attack-config pgdd=…: no plugin 'pgdd' in this run's --attacks",
        ),
        (
            with(&base(d, o), "--method-config", r#"randon={"x": 1}"#),
            "--method-config randon=…: no plugin 'randon' in this run's --method",
        ),
    ];
    for (args, want) in &cases {
        // 100,000 epochs: a refusal after training would not finish in time
        let args = with(args, "--epochs", "100000");
        let t0 = Instant::now();
        refused(&args, want);
        assert!(t0.elapsed() < Duration::from_secs(60), "{args:?}");
        assert!(!out.path().join("results.csv").exists());
    }
}

const LEADERBOARD: &str = r#"
ipc = [2]
seeds = 2
[student]
width = 8
epochs = 2
n_attack = 20
[[datasets]]
name = "fashion-mnist"
data_dir = "data"
[[methods]]
name = "random"
[[attacks]]
name = "fgsm"
eps = ["8/255"]
"#;

#[test]
fn bench_never_mixes_two_data_sets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    write_tiny_idx(&dir.path().join("data"), 200, 60);
    let other = tempfile::tempdir().unwrap();
    write_tiny_idx(other.path(), 210, 60);
    let lb = dir.path().join("lb.toml");
    std::fs::write(&lb, LEADERBOARD).unwrap();
    let out = dir.path().join("out");
    let (l, o) = (lb.to_str().unwrap(), out.to_str().unwrap());
    let bench = |extra: &[&str]| {
        let mut args = vec!["bench", l, "--out", o, "--device", "cpu", "--no-report"];
        args.extend_from_slice(extra);
        ddbench(&args)
    };
    let a = bench(&[]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let first = read_rows(&out.join("results.csv"));
    assert_eq!(first.len(), 2);
    let t = text(&bench(&[]));
    assert!(t.contains("2 cells, 2 already recorded, 0 to run"), "{t}");
    // the same file with another data folder: every cell is new, the old rows set aside
    let b = bench(&["--data-dir", other.path().to_str().unwrap()]);
    let t = text(&b);
    assert_eq!(b.status.code(), Some(0), "{t}");
    assert!(t.contains("2 cells, 0 already recorded, 2 to run"), "{t}");
    let rows = read_rows(&out.join("results.csv"));
    assert_eq!(rows.len(), 2);
    assert_eq!(read_rows(&out.join("stale.csv")).len(), 2);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let sha = m["datasets_sha256"]["fashion-mnist"]
        .as_str()
        .unwrap()
        .to_string();
    // every row's cell ran on the data the manifest names
    for r in &rows {
        let cm: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("cells").join(&r["cell"]).join("manifest.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(cm["dataset"]["sha256"], sha.as_str());
    }
    assert!(first
        .iter()
        .all(|f| rows.iter().all(|r| r["cell_hash"] != f["cell_hash"])));
}
