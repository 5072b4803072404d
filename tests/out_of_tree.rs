//! The README's plugin guide works: `examples/herding`, a method plugin outside the workspace,
//! builds against plugin-api alone, loads with --plugin-dir, and runs end to end.

use ddbench_tests::{build_dir, ddbench, read_rows, text, write_tiny_idx};
use std::process::Command;

#[test]
fn the_out_of_tree_herding_plugin_builds_loads_and_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = root.join("examples/herding");
    // Share the workspace's target folder so tch is not rebuilt; the lock file pins the same versions.
    std::fs::copy(root.join("Cargo.lock"), example.join("Cargo.lock")).unwrap();
    let target = build_dir().parent().unwrap().to_path_buf();
    let st = Command::new(env!("CARGO"))
        .args(["build", "--release", "--manifest-path"])
        .arg(example.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(st.success(), "building examples/herding failed");
    let lib = build_dir().join("libherding.so");
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(&lib, plugins.path().join("libherding.so")).unwrap();
    let p = plugins.path().to_str().unwrap();

    let listed = ddbench(&["plugins", "--dir", p]);
    assert!(
        text(&listed)
            .lines()
            .any(|l| l.starts_with("method") && l.contains(" herding ")),
        "{}",
        text(&listed)
    );

    let data = tempfile::tempdir().unwrap();
    write_tiny_idx(data.path(), 300, 100);
    let out = tempfile::tempdir().unwrap();
    let r = ddbench(&[
        "run",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--plugin-dir",
        p,
        "--method",
        "herding",
        "--ipc",
        "3",
        "--width",
        "16",
        "--epochs",
        "100",
        "--lr",
        "0.05",
        "--device",
        "cpu",
        "--quiet",
        "--method-config",
        r#"herding={"verbose": true}"#,
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let rows = read_rows(&out.path().join("results.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0]["method"].as_str(),
            rows[0]["distilled_images"].as_str()
        ),
        ("herding", "30")
    );
    // the classes of this toy set are a bright band: 3 herded images per class suffice
    let acc: f64 = rows[0]["clean_acc"].parse().unwrap();
    eprintln!("herding IPC 3 on the band set: {acc:.1}%");
    assert!(acc > 50.0, "herding IPC 3 on the band set: {acc}%");
}
