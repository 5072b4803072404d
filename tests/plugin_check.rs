//! `ddbench plugins --check FILE.so …`: the self-test passes on every shipped plugin and fails,
//! with the reason, on each broken fixture of tests/plugins.

use ddbench_tests::{ddbench, plugin_lib, shipped_plugins, text, FIXTURE_PLUGINS};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Plugins whose defaults take minutes on the self-test's problem, with the small config they
/// are checked with: the methods that train a teacher (a tiny teacher and recovery) or a
/// feature network (the coreset baselines), DM, DC and DSA (a few iterations), and the query-based attacks
/// (a small query budget).
const TINY_CONFIGS: [(&str, &str); 7] = [
    (
        "sre2l guard",
        r#"{"teacher_arch": "convnet", "teacher_width": 8, "teacher_depth": 2,
            "teacher_epochs": 2, "iterations": 5}"#,
    ),
    (
        "sre2l_at",
        r#"{"teacher_arch": "convnet", "teacher_width": 8, "teacher_depth": 2,
            "teacher_epochs": 2, "iterations": 5, "at_steps": 2}"#,
    ),
    (
        "herding kcenter",
        r#"{"feature_epochs": 3, "feature_width": 8, "feature_batch": 64}"#,
    ),
    (
        "dm",
        r#"{"iterations": 5, "batch_real": 8, "net_width": 8}"#,
    ),
    (
        "dc dsa",
        r#"{"iterations": 2, "batch_real": 8, "batch_train": 4, "net_width": 8,
            "outer_loop": 2, "inner_loop": 1}"#,
    ),
    ("square", r#"{"n_queries": 100}"#),
    ("autoattack", r#"{"n_queries": 100, "steps": 10}"#),
];

fn check(files: &[PathBuf], config: Option<&str>) -> (Option<i32>, String) {
    let mut args = vec!["plugins".to_string(), "--check".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    if let Some(c) = config {
        args.extend(["--config".to_string(), c.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ddbench(&args);
    (out.status.code(), text(&out))
}

/// The group of [`TINY_CONFIGS`] a shipped plugin file belongs to (None: checked with `{}`).
fn tiny_config(p: &Path) -> Option<&'static str> {
    let name = p.file_name().unwrap().to_string_lossy();
    let stem = name
        .trim_start_matches("libddbench_method_")
        .trim_start_matches("libddbench_attack_")
        .trim_end_matches(".so");
    TINY_CONFIGS
        .iter()
        .find(|(plugins, _)| plugins.split(' ').any(|n| n == stem))
        .map(|(_, config)| *config)
}

/// The lines of checks (`ok   …` / `FAIL …`) of a self-test's output.
fn check_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.starts_with("ok   ") || l.starts_with("FAIL "))
        .collect()
}

/// Whether a plugin file is `import` (checked with sets of its own: [`import_passes_with_a_set_per_ipc`]).
fn is_import(p: &Path) -> bool {
    p.file_name().unwrap().to_string_lossy() == "libddbench_method_import.so"
}

#[test]
fn every_shipped_plugin_passes() {
    let all: Vec<PathBuf> = shipped_plugins()
        .into_iter()
        .filter(|p| !is_import(p))
        .collect();
    assert_eq!(all.len(), 21, "shipped plugins besides import: {all:?}");
    let mut groups: Vec<(Option<&str>, Vec<PathBuf>)> = vec![(None, Vec::new())];
    groups.extend(TINY_CONFIGS.iter().map(|(_, c)| (Some(*c), Vec::new())));
    for p in all {
        let config = tiny_config(&p);
        let group = groups.iter_mut().find(|(c, _)| *c == config).unwrap();
        group.1.push(p);
    }
    for (config, files) in &groups {
        let t = Instant::now();
        let (code, out) = check(files, *config);
        eprintln!("{} plugins checked in {:.1?}", files.len(), t.elapsed());
        assert_eq!(code, Some(0), "{out}");
        let lines = check_lines(&out);
        // per file: loads, and at least a result, determinism and the generator
        assert!(lines.len() >= 4 * files.len(), "{out}");
        assert!(lines.iter().all(|l| l.starts_with("ok   ")), "{out}");
        assert!(out.contains("checks passed"), "{out}");
        for f in files {
            assert!(out.contains(&f.display().to_string()), "{out}");
        }
    }
    assert_eq!(groups[1].1.len(), 2, "sre2l and guard");
    assert_eq!(groups[2].1.len(), 1, "sre2l-at");
    assert_eq!(groups[3].1.len(), 2, "the two coreset methods");
}

/// `import` reads the sets it is given: one for each IPC the self-test distils (1 and 2) on its
/// problem (ten classes of 3×8×8 images); without a set it fails, saying so.
#[test]
fn import_passes_with_a_set_per_ipc() {
    let import = shipped_plugins()
        .into_iter()
        .find(|p| is_import(p))
        .expect("import is built");
    let dir = tempfile::tempdir().unwrap();
    let mut paths = serde_json::Map::new();
    for ipc in [1i64, 2] {
        let n = 10 * ipc;
        let x = tch::Tensor::rand([n, 3, 8, 8], (tch::Kind::Float, tch::Device::Cpu));
        let y =
            tch::Tensor::arange(n, (tch::Kind::Int64, tch::Device::Cpu)).floor_divide_scalar(ipc);
        let file = dir.path().join(format!("ipc{ipc}.safetensors"));
        tch::Tensor::write_safetensors(&[("images", &x), ("labels", &y)], &file).unwrap();
        paths.insert(ipc.to_string(), file.display().to_string().into());
    }
    let config = serde_json::json!({ "paths": paths }).to_string();
    let (code, out) = check(std::slice::from_ref(&import), Some(&config));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        check_lines(&out).iter().all(|l| l.starts_with("ok   ")),
        "{out}"
    );
    let (code, out) = check(&[import], None);
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("no distilled set named: give `path` (one set) or `paths`"),
        "{out}"
    );
}

/// What the self-test must say about each fixture.
fn expected_reason(fixture: &str) -> &'static str {
    match fixture {
        "ddtest-panicky" => "FAIL distils at IPC 1 (checked by the host): method plugin 'panicky' panicked",
        "ddtest-bad-attack" => "FAIL L∞ ε=8/255 (checked by the host): attack plugin 'bad-attack' returned a perturbation of L-inf norm",
        "ddtest-wrong-abi" => "FAIL loads: plugin ABI version 1, but this ddbench speaks ABI version 2",
        "ddtest-reseeding-attack" => "FAIL L∞: leaves the global random generator alone: reseeds the global random generator (tch::manual_seed): use the seed the host passes",
        other => panic!("no expectation for fixture {other}"),
    }
}

#[test]
fn each_fixture_fails_with_its_reason() {
    for fixture in FIXTURE_PLUGINS {
        let file = plugin_lib(fixture);
        let (code, out) = check(std::slice::from_ref(&file), None);
        assert_eq!(code, Some(1), "{fixture}: {out}");
        assert!(out.contains(expected_reason(fixture)), "{fixture}: {out}");
        // the summary names the file and what failed
        let summary = out.split("checks failed:").nth(1).unwrap_or_default();
        assert!(summary.contains(&file.display().to_string()), "{out}");
    }
}

#[test]
fn reseeding_is_caught_next_to_good_plugins_and_a_refused_norm_is_no_failure() {
    let files = [
        plugin_lib("ddbench-attack-fgsm"),
        plugin_lib("ddtest-reseeding-attack"),
    ];
    let (code, out) = check(&files, None);
    assert_eq!(code, Some(1), "{out}");
    let fails: Vec<&str> = check_lines(&out)
        .into_iter()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert_eq!(fails.len(), 1, "only the reseeding is a failure: {out}");
    assert!(out.contains("ok   L2: does not support L2"), "{out}");
    assert!(out.contains("1 of "), "{out}");
}

#[test]
fn a_file_that_is_not_a_plugin_and_a_bad_config_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("libjunk.so");
    std::fs::write(&junk, b"not an ELF file").unwrap();
    let (code, out) = check(&[junk], None);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL loads: cannot load:"), "{out}");
    let (code, out) = check(&[plugin_lib("ddbench-attack-fgsm")], Some("{not json"));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("--config is not valid JSON"), "{out}");
}
