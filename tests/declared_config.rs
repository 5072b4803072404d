//! Declared configuration (issue 11), end to end: every method and attack config of a run or a
//! leaderboard file is resolved by its plugin before any work starts (an unknown key, a wrong
//! type, a value out of range or a config for a plugin not in the run stops it at once, before
//! even the data is read), and every row records the resolved configs, defaults filled in.

use ddbench_tests::write_tiny_idx;
use ddbench_tests::{ddbench, ddbench_in, read_rows, text, tiny_run, with_flag};
use std::time::{Duration, Instant};

/// A run of `method` on a tiny IDX set in `data` whose student training would take many
/// minutes (100,000 epochs), attacked by FGSM and PGD.
fn long_run<'a>(data: &'a str, out: &'a str, method: &'a str) -> Vec<&'a str> {
    tiny_run(data, out, method, "100000")
}

/// Runs `ddbench ARGS`: it must stop with exit code 1 within 5 seconds, saying `want`.
fn refused_at_once(args: &[&str], want: &str) {
    let t0 = Instant::now();
    let r = ddbench(args);
    let (elapsed, t) = (t0.elapsed(), text(&r));
    assert_eq!(r.status.code(), Some(1), "{args:?} must be refused:\n{t}");
    assert!(t.contains(want), "{args:?}: expected `{want}` in:\n{t}");
    assert!(elapsed < Duration::from_secs(5), "{args:?}: {elapsed:?}");
}

#[test]
fn bad_configs_stop_a_run_before_any_work() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    // real data, so that only the configs can stop the run ...
    let data = tempfile::tempdir().unwrap();
    write_tiny_idx(data.path(), 200, 60);
    let d = data.path().to_str().unwrap();
    // ... and no data at all: a config refused after reading the data would say so instead
    let missing = out.path().join("no-data");
    let nd = missing.to_str().unwrap();
    let cases: [(&str, &str, &str, &str); 7] = [
        (
            "--attack-config",
            r#"pgd={"stpes": 5}"#,
            "random",
            "--attack-config pgd={\"stpes\":5}: config: unknown field 'stpes', expected one of",
        ),
        (
            "--attack-config",
            r#"pgd={"steps": "ten"}"#,
            "random",
            "config key 'steps': invalid type: string \"ten\", expected i64",
        ),
        (
            "--attack-config",
            r#"pgd={"alpha": 0}"#,
            "random",
            "--attack-config pgd={\"alpha\":0}: config 'alpha' = 0: expected a finite number > 0",
        ),
        (
            "--method-config",
            r#"full={"epochs": 0}"#,
            "full",
            "--method-config full={\"epochs\":0}: config 'epochs' = 0: expected an integer ≥ 1",
        ),
        (
            "--method-config",
            r#"full={"lr": "fast"}"#,
            "full",
            "config key 'lr': invalid type: string \"fast\", expected f64",
        ),
        (
            "--method-config",
            r#"random={"ipc": 3}"#,
            "random",
            "--method-config random={\"ipc\":3}: config: unknown field 'ipc'",
        ),
        (
            "--attack-config",
            r#"pgdd={"steps": 5}"#,
            "random",
            "--attack-config pgdd=…: no plugin 'pgdd' in this run's --attacks",
        ),
    ];
    for (flag, config, method, want) in cases {
        for data_dir in [d, nd] {
            let mut args = long_run(data_dir, o, method);
            args.extend([flag, config]);
            refused_at_once(&args, want);
        }
    }
    assert!(!out.path().join("results.csv").exists());
}

#[test]
fn every_row_records_the_resolved_configs() {
    let (data, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_tiny_idx(data.path(), 200, 60);
    let (d, o) = (data.path().to_str().unwrap(), out.path().to_str().unwrap());
    let mut args = long_run(d, o, "random,full");
    for (flag, value) in [("--epochs", "1"), ("--n-attack", "10"), ("--ipc", "2")] {
        args = with_flag(&args, flag, value);
    }
    args.extend(["--attack-config", r#"pgd={"steps": 2}"#]);
    args.extend(["--method-config", r#"full={"epochs": 1}"#]);
    let r = ddbench(&args);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let rows = read_rows(&out.path().join("results.csv"));
    assert_eq!(rows.len(), 2 * 2, "2 methods × (fgsm, pgd): {rows:?}");
    let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    for r in &rows {
        let method = json(&r["method_config"]);
        match r["method"].as_str() {
            // every setting, the ones not given at their defaults
            "full" => assert_eq!(
                method,
                serde_json::json!({"epochs": 1, "batch_size": null, "lr": null})
            ),
            _ => assert_eq!(method, serde_json::json!({})),
        }
        match r["attack"].as_str() {
            "pgd" => assert_eq!(
                json(&r["attack_config"]),
                serde_json::json!({
                    "alpha": 2.0 / 255.0, "steps": 2, "random_start": true, "restarts": 1
                })
            ),
            _ => assert_eq!(json(&r["attack_config"]), serde_json::json!({})),
        }
    }
    // the same run with the defaults written out is the same run: every row is reused
    let mut spelled = args.clone();
    let pos = spelled
        .iter()
        .position(|a| *a == r#"pgd={"steps": 2}"#)
        .unwrap();
    let full_pgd = r#"pgd={"steps": 2, "alpha": 0.00784313725490196, "restarts": 1}"#;
    spelled[pos] = full_pgd;
    let again = ddbench(&spelled);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let same = read_rows(&out.path().join("results.csv"));
    let hashes = |rows: &[std::collections::HashMap<String, String>]| {
        let mut h: Vec<String> = rows.iter().map(|r| r["key_hash"].clone()).collect();
        h.sort();
        h
    };
    assert_eq!(hashes(&same), hashes(&rows));
    assert!(
        !out.path().join("stale.csv").exists(),
        "nothing was set aside"
    );
}

#[test]
fn a_leaderboard_config_is_refused_before_any_data_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let lb = r#"
ipc = [2]
seeds = 1
[student]
width = 8
epochs = 100000
[[datasets]]
name = "fashion-mnist"
data_dir = "no-such-folder"
[[methods]]
name = "random"
[[attacks]]
name = "pgd"
label = "pgd-fast"
eps = ["8/255"]
config = { steps = 1, restart = 2 }
"#;
    std::fs::write(dir.path().join("lb.toml"), lb).unwrap();
    let t0 = Instant::now();
    let r = ddbench_in(dir.path(), &["bench", "lb.toml", "--out", "out", "--quiet"]);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(1), "{t}");
    assert!(
        t.contains("lb.toml: attack `pgd` (label `pgd-fast`): config {\"restart\":2,\"steps\":1}: config: unknown field 'restart'"),
        "{t}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(!dir.path().join("out/results.csv").exists());
}
