//! The shipped `herding` and `kcenter` plugins: `ddbench plugins --check` passes on both with a
//! small feature network, and `ddbench run --method herding,kcenter` on a tiny Fashion-MNIST-
//! format set records their rows (IPC images per class, the resolved config) with one feature
//! network trained and cached for both, and students that learn the set.

use ddbench_tests::{ddbench, plugin_lib, read_rows, text, write_tiny_idx};

/// A feature network that trains in well under a second on the CPU.
const TINY: &str = r#"{"feature_epochs": 3, "feature_width": 8, "feature_batch": 64}"#;

#[test]
fn both_plugins_pass_the_self_test() {
    let files = [
        plugin_lib("ddbench-method-herding"),
        plugin_lib("ddbench-method-kcenter"),
    ];
    let (a, b) = (
        files[0].display().to_string(),
        files[1].display().to_string(),
    );
    let r = ddbench(&["plugins", "--check", &a, &b, "--config", TINY]);
    let out = text(&r);
    assert_eq!(r.status.code(), Some(0), "{out}");
    for name in ["herding", "kcenter"] {
        assert!(out.contains(&format!("method plugin '{name}'")), "{out}");
    }
    let checks: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("ok   ") || l.starts_with("FAIL "))
        .collect();
    assert!(checks.len() >= 8, "{out}");
    assert!(checks.iter().all(|l| l.starts_with("ok   ")), "{out}");
    assert_eq!(
        checks
            .iter()
            .filter(|l| l.contains("deterministic for a fixed seed"))
            .count(),
        2,
        "{out}"
    );
    assert!(out.contains(&a) && out.contains(&b), "{out}");
}

#[test]
fn a_tiny_run_records_both_methods_with_one_shared_feature_network() {
    let (data, out, cache) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_tiny_idx(data.path(), 200, 60);
    let [d, o, c] = [&data, &out, &cache].map(|t| t.path().to_str().unwrap().to_string());
    let (hc, kc) = (format!("herding={TINY}"), format!("kcenter={TINY}"));
    let args = [
        "run",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        &d,
        "--out",
        &o,
        "--cache-dir",
        &c,
        "--method",
        "herding,kcenter",
        "--ipc",
        "2",
        "--width",
        "8",
        "--epochs",
        "60",
        "--lr",
        "0.05",
        "--n-attack",
        "20",
        "--attacks",
        "fgsm",
        "--device",
        "cpu",
        "--quiet",
        "--method-config",
        &hc,
        "--method-config",
        &kc,
    ];
    let t = std::time::Instant::now();
    let r = ddbench(&args);
    eprintln!("run in {:.1?}", t.elapsed());
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let rows = read_rows(&out.path().join("results.csv"));
    let mut methods: Vec<&str> = rows.iter().map(|r| r["method"].as_str()).collect();
    methods.sort();
    assert_eq!(methods, ["herding", "kcenter"], "{rows:?}");
    let resolved = serde_json::json!({"feature_epochs": 3, "feature_width": 8, "feature_batch": 64,
        "feature_subset": null, "feature_lr": 0.01});
    for row in &rows {
        assert_eq!(row["distilled_images"], "20", "{row:?}");
        let config: serde_json::Value = serde_json::from_str(&row["method_config"]).unwrap();
        assert_eq!(config, resolved, "{row:?}");
        let acc: f64 = row["clean_acc"].parse().unwrap();
        eprintln!("{}: clean {acc:.1}%", row["method"]);
        assert!(
            acc > 40.0,
            "{} IPC 2 on the band set: {acc}%",
            row["method"]
        );
    }
    let networks: Vec<_> = std::fs::read_dir(cache.path().join("coreset"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        networks.len(),
        1,
        "one network for both methods: {networks:?}"
    );
}
