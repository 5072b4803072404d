//! The README's plugin guide works: plugins written outside the workspace — the examples
//! (`examples/herding`, a method; `examples/rfgsm`, an attack) and the crates `ddbench new`
//! writes — build against plugin-api alone with their own cargo configuration, load with
//! --plugin-dir, and run end to end to a results.csv row.

use ddbench_tests::{build_dir, ddbench, read_rows, text, write_tiny_idx};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

type Row = HashMap<String, String>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `cargo ARGS --release` inside `crate_dir`, as its author would run it: the crate's own
/// `.cargo/config.toml` (or the checkout's, for an example) must give LIBTORCH. The workspace's
/// target folder is shared so tch is not rebuilt; the copied lock file pins the same versions.
fn cargo_in(crate_dir: &Path, args: &[&str]) {
    if !crate_dir.join("Cargo.lock").exists() {
        std::fs::copy(root().join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();
    }
    let target = build_dir().parent().unwrap().to_path_buf();
    let st = Command::new(env!("CARGO"))
        .args(args)
        .arg("--release")
        .current_dir(crate_dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("LIBTORCH")
        .status()
        .unwrap();
    assert!(
        st.success(),
        "cargo {args:?} in {} failed",
        crate_dir.display()
    );
}

/// A fresh plugin folder holding the built `lib{crate}.so` of each crate.
fn plugins_of(crates: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for c in crates {
        let file = format!("lib{}.so", c.replace('-', "_"));
        std::fs::copy(build_dir().join(&file), d.path().join(&file)).unwrap();
    }
    d
}

/// `ddbench run` of a tiny student on the band set (`write_tiny_idx`) with the plugins of
/// `plugins` and the further arguments `extra`; the rows of its results.csv.
fn run_tiny(plugins: &Path, extra: &[&str]) -> Vec<Row> {
    let data = tempfile::tempdir().unwrap();
    write_tiny_idx(data.path(), 300, 100);
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "run",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--plugin-dir",
        plugins.to_str().unwrap(),
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
        "--out",
        out.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let r = ddbench(&args);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    read_rows(&out.path().join("results.csv"))
}

fn num(row: &Row, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = {}", row[col]))
}

#[test]
fn the_out_of_tree_herding_plugin_builds_loads_and_runs() {
    cargo_in(&root().join("examples/herding"), &["build"]);
    let plugins = plugins_of(&["herding"]);
    let listed = ddbench(&["plugins", "--dir", plugins.path().to_str().unwrap()]);
    assert!(
        text(&listed)
            .lines()
            .any(|l| l.starts_with("method") && l.contains(" herding ")),
        "{}",
        text(&listed)
    );
    let config = r#"herding={"verbose": true}"#;
    let rows = run_tiny(
        plugins.path(),
        &["--method", "herding", "--method-config", config],
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0]["method"].as_str(),
            rows[0]["distilled_images"].as_str()
        ),
        ("herding", "30")
    );
    // the classes of this toy set are a bright band: 3 herded images per class suffice
    let acc = num(&rows[0], "clean_acc");
    eprintln!("herding IPC 3 on the band set: {acc:.1}%");
    assert!(acc > 50.0, "herding IPC 3 on the band set: {acc}%");
}

#[test]
fn the_out_of_tree_rfgsm_attack_builds_loads_and_attacks() {
    cargo_in(&root().join("examples/rfgsm"), &["build"]);
    let plugins = plugins_of(&["rfgsm"]);
    let config = r#"rfgsm={"alpha": 0.5}"#;
    let rows = run_tiny(
        plugins.path(),
        &[
            "--method",
            "random",
            "--attacks",
            "rfgsm",
            "--attack-config",
            config,
        ],
    );
    let row = rows
        .iter()
        .find(|r| r["attack"] == "rfgsm")
        .expect("an rfgsm row");
    let (clean, robust) = (num(row, "subset_clean_acc"), num(row, "robust_acc"));
    eprintln!("rfgsm at 8/255 on the band set: {clean:.1}% → {robust:.1}%");
    assert!(robust <= clean, "robust {robust}% above clean {clean}%");
    assert_eq!(row["attack_version"], "0.1.0");
}

/// `ddbench new KIND NAME --to DIR`, which must succeed.
fn new_crate(kind: &str, name: &str, to: &Path) -> PathBuf {
    let r = ddbench(&["new", kind, name, "--to", to.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(text(&r).contains("cargo build --release"), "{}", text(&r));
    let dir = to.join(name);
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "README.md",
        "src/lib.rs",
    ] {
        assert!(dir.join(f).is_file(), "{name}: no {f}");
    }
    dir
}

#[test]
fn ddbench_new_writes_crates_that_test_build_and_run_to_a_row() {
    let tmp = tempfile::tempdir().unwrap();
    for (kind, name) in [("attack", "demo-attack"), ("method", "demo-method")] {
        let dir = new_crate(kind, name, tmp.path());
        cargo_in(&dir, &["test"]);
        cargo_in(&dir, &["build"]);
    }
    let plugins = plugins_of(&["demo-attack", "demo-method"]);
    // the host's self-test passes on both built files as generated
    let files: Vec<String> = ["libdemo_attack.so", "libdemo_method.so"]
        .iter()
        .map(|f| plugins.path().join(f).to_string_lossy().into_owned())
        .collect();
    let check = ddbench(&["plugins", "--check", &files[0], &files[1]]);
    let said = text(&check);
    assert!(
        check.status.success() && said.contains("checks passed"),
        "{said}"
    );
    let rows = run_tiny(
        plugins.path(),
        &[
            "--method",
            "demo-method",
            "--attacks",
            "demo-attack",
            "--method-config",
            r#"demo-method={"epochs": 60}"#,
            "--attack-config",
            r#"demo-attack={"step": 1.0}"#,
        ],
    );
    let row = rows
        .iter()
        .find(|r| r["attack"] == "demo-attack")
        .expect("a demo-attack row");
    assert_eq!(row["method"], "demo-method");
    assert_eq!(row["distilled_images"], "30");
    // the method's config reached it: its training hint set the student's epochs
    assert_eq!(row["train_epochs"], "60");
    // and each row records the resolved configs, the settings not given at their defaults
    let json = |c: &str| serde_json::from_str::<serde_json::Value>(&row[c]).unwrap();
    assert_eq!(
        json("method_config"),
        serde_json::json!({"epochs": 60, "verbose": false})
    );
    assert_eq!(
        json("attack_config"),
        serde_json::json!({"step": 1.0, "verbose": false})
    );
    let (clean, robust) = (num(row, "subset_clean_acc"), num(row, "robust_acc"));
    assert!(robust <= clean, "robust {robust}% above clean {clean}%");
}

#[test]
fn ddbench_new_refuses_a_bad_name_and_a_folder_in_use() {
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().to_str().unwrap();
    for bad in ["Demo_Attack", "1st", "a--b", "my-", "fn"] {
        let r = ddbench(&["new", "attack", bad, "--to", to]);
        assert_eq!(r.status.code(), Some(1), "{bad}: {}", text(&r));
        assert!(
            text(&r).contains("is not a valid plugin name"),
            "{}",
            text(&r)
        );
    }
    assert!(text(&ddbench(&["new", "method", "A", "--to", to])).contains("try 'a'"));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);

    std::fs::create_dir(tmp.path().join("taken")).unwrap();
    std::fs::write(tmp.path().join("taken/notes.txt"), "mine").unwrap();
    let r = ddbench(&["new", "method", "taken", "--to", to]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));
    assert!(text(&r).contains("already exists and is not an empty folder"));
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("taken"))
        .unwrap()
        .collect();
    assert_eq!(left.len(), 1, "a folder in use was written to");
    // an empty folder is fine
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    new_crate("attack", "empty", tmp.path());
}
