//! The `ddbench` binary end to end on a tiny data set in exactly the IDX layout: a run whose
//! plugins misbehave goes on and reports them; a rerun skips finished rows; bad input is named.

use ddbench_tests::{ddbench, plugin_dir, read_rows, text, write_tiny_idx};

fn run_args<'a>(data: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "run",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        data,
        "--out",
        out,
        "--width",
        "8",
        "--epochs",
        "3",
        "--n-attack",
        "40",
        "--device",
        "cpu",
        "--quiet",
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn a_run_survives_misbehaving_plugins_and_a_rerun_skips_finished_rows() {
    let data = tempfile::tempdir().unwrap();
    write_tiny_idx(data.path(), 200, 60);
    let out = tempfile::tempdir().unwrap();
    let plugins = plugin_dir(&["ddtest-panicky", "ddtest-bad-attack"]);
    let (d, o, p) = (
        data.path().to_str().unwrap(),
        out.path().to_str().unwrap(),
        plugins.path().to_str().unwrap(),
    );
    let args = run_args(
        d,
        o,
        &[
            "--plugin-dir",
            p,
            "--method",
            "panicky,random",
            "--ipc",
            "5",
            "--seeds",
            "2",
            "--attacks",
            "bad-attack,fgsm",
        ],
    );
    let first = ddbench(&args);
    let t = text(&first);
    assert_eq!(
        first.status.code(),
        Some(2),
        "some cells failed → exit code 2:\n{t}"
    );
    assert!(
        t.contains("method plugin 'panicky' panicked")
            && t.contains("deliberate panic inside distill"),
        "{t}"
    );
    assert!(
        t.contains("attack plugin 'bad-attack' returned a perturbation of L-inf norm"),
        "{t}"
    );
    let rows = read_rows(&out.path().join("results.csv"));
    // random × 2 seeds × fgsm; nothing from the failures
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert_eq!(
            (
                r["method"].as_str(),
                r["attack"].as_str(),
                r["ipc"].as_str()
            ),
            ("random", "fgsm", "5")
        );
        let (clean, robust): (f64, f64) = (
            r["subset_clean_acc"].parse().unwrap(),
            r["robust_acc"].parse().unwrap(),
        );
        assert!(robust <= clean, "robust {robust} > clean {clean}");
        assert_eq!(r["n_attack"], "40");
        assert_eq!(
            (r["forward_calls"].as_str(), r["backward_calls"].as_str()),
            ("1", "1")
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["state"], "finished with failures");
    assert_eq!(manifest["failures"].as_array().unwrap().len(), 4); // panicky ×2 seeds, bad-attack ×2
    assert_eq!(manifest["dataset"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(manifest["libtorch"], "2.11.0");

    // rerun with the good plugins only: everything is already there
    let again = ddbench(&run_args(
        d,
        o,
        &[
            "--method",
            "random",
            "--ipc",
            "5",
            "--seeds",
            "2",
            "--attacks",
            "fgsm",
        ],
    ));
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(
        read_rows(&out.path().join("results.csv")),
        rows,
        "a rerun must not duplicate or change rows"
    );
    // a third seed adds exactly its rows
    let more = ddbench(&run_args(
        d,
        o,
        &[
            "--method",
            "random",
            "--ipc",
            "5",
            "--seeds",
            "3",
            "--attacks",
            "fgsm",
        ],
    ));
    assert_eq!(more.status.code(), Some(0), "{}", text(&more));
    let rows3 = read_rows(&out.path().join("results.csv"));
    assert_eq!(rows3.len(), 3);
    assert_eq!(&rows3[..2], &rows[..]);
}

#[test]
fn bad_input_is_named_in_the_error() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let r = ddbench(&run_args("/nonexistent/dir", o, &[]));
    assert_eq!(r.status.code(), Some(1));
    assert!(
        text(&r).contains("--data-dir /nonexistent/dir: no such folder"),
        "{}",
        text(&r)
    );

    let data = tempfile::tempdir().unwrap();
    write_tiny_idx(data.path(), 20, 10);
    let d = data.path().to_str().unwrap();
    let r = ddbench(&run_args(d, o, &["--method", "nosuch"]));
    assert!(
        text(&r).contains("no method plugin named 'nosuch' (found: "),
        "{}",
        text(&r)
    );
    let r = ddbench(&run_args(d, o, &["--eps", "8/x"]));
    assert!(text(&r).contains("--eps '8/x'"), "{}", text(&r));
    let r = ddbench(&run_args(d, o, &["--method-config", "random={oops"]));
    assert!(
        text(&r).contains("--method-config for 'random': not valid JSON"),
        "{}",
        text(&r)
    );
    // a truncated IDX file: the error names the file
    let f = data.path().join("train-labels-idx1-ubyte");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 3]).unwrap();
    let r = ddbench(&run_args(d, o, &[]));
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r).contains("train-labels-idx1-ubyte"), "{}", text(&r));
}
