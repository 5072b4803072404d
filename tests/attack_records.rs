//! What every attack run records, on a student trained on real Fashion-MNIST through the CLI
//! (100 attacked points):
//! perturbation norms and pass counts on the rows, `per_sample.csv` consistent with them and not
//! duplicated by a rerun, clean sanity flags for a normal run (FGSM, PGD at two ε; CW and
//! DeepFool bounded and unbounded), and a flag for a fixture attack that gets weaker as ε grows.

use ddbench_tests::{ddbench, fashion_mnist_dir, plugin_dir, read_rows, text};
use std::collections::HashMap;
use std::path::Path;

type Row = HashMap<String, String>;

/// Attacked points per run.
const N: usize = 100;

fn num(r: &Row, col: &str) -> f64 {
    r[col]
        .parse()
        .unwrap_or_else(|e| panic!("{col} = '{}': {e}", r[col]))
}

/// `ddbench run` on Fashion-MNIST: `random` IPC 10, a small ConvNet, N attacked points.
fn run(out: &Path, extra: &[&str]) -> (i32, String) {
    let data = fashion_mnist_dir().expect("Fashion-MNIST is missing: run scripts/setup.sh");
    let n_attack = N.to_string();
    let mut args = vec![
        "run",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--method",
        "random",
        "--ipc",
        "10",
        "--width",
        "16",
        "--epochs",
        "40",
        "--n-attack",
        &n_attack,
        "--device",
        "cpu",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let r = ddbench(&args);
    (r.status.code().unwrap_or(-1), text(&r))
}

/// Per-sample lines grouped by (attack, eps).
fn per_sample(out: &Path) -> HashMap<(String, String), Vec<Row>> {
    let mut m: HashMap<(String, String), Vec<Row>> = HashMap::new();
    for r in read_rows(&out.join("per_sample.csv")) {
        m.entry((r["attack"].clone(), r["eps"].clone()))
            .or_default()
            .push(r);
    }
    m
}

/// The row and its per-sample lines agree: robust accuracy, perturbation statistics.
fn check_consistent(row: &Row, lines: &[Row]) {
    let name = format!("{} eps {}", row["attack"], row["eps"]);
    assert_eq!(lines.len(), N, "{name}: per-sample lines");
    let robust = lines
        .iter()
        .filter(|l| l["label"] == l["clean_pred"] && l["label"] == l["adv_pred"])
        .count() as f64
        * 100.0
        / N as f64;
    assert!(
        (robust - num(row, "robust_acc")).abs() < 1e-4,
        "{name}: {robust} vs {}",
        row["robust_acc"]
    );
    let norms: Vec<f64> = lines.iter().map(|l| num(l, "pert_norm")).collect();
    let mean = norms.iter().sum::<f64>() / N as f64;
    let max = norms.iter().cloned().fold(0.0, f64::max);
    assert!((mean - num(row, "pert_mean")).abs() < 1e-9, "{name}");
    assert!((max - num(row, "pert_max")).abs() < 1e-9, "{name}");
    let eps = num(row, "eps");
    assert!(max <= eps * (1.0 + 1e-4) + 1e-6, "{name}: max norm {max}");
    assert!(mean > 0.0, "{name}: the attack did not move");
    assert_eq!(row["flags"], "", "{name}: a normal run raised flags");
}

#[test]
fn a_normal_run_records_norms_samples_and_no_flags() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path();
    let linf = ["--attacks", "fgsm,pgd", "--eps", "2/255,8/255"];
    let (code, t) = run(o, &linf);
    assert_eq!(code, 0, "{t}");
    assert!(
        t.contains("sanity checks: no flags on 4 attack row(s)"),
        "{t}"
    );
    let rows = read_rows(&o.join("results.csv"));
    assert_eq!(rows.len(), 4);
    let samples = per_sample(o);
    for r in &rows {
        check_consistent(r, &samples[&(r["attack"].clone(), r["eps"].clone())]);
        // one batch: FGSM is one forward + backward, PGD-10 ten (no final check: one restart)
        let passes = (r["forward_calls"].as_str(), r["backward_calls"].as_str());
        match r["attack"].as_str() {
            "fgsm" => assert_eq!(passes, ("1", "1")),
            _ => assert_eq!(passes, ("10", "10")),
        }
        // the resolved config: every setting, here all at the plugin's defaults
        let config: serde_json::Value = serde_json::from_str(&r["attack_config"]).unwrap();
        match r["attack"].as_str() {
            "fgsm" => assert_eq!(config, serde_json::json!({})),
            _ => assert_eq!(config["steps"], 10, "{config}"),
        }
        // FGSM and PGD use (almost) the whole L∞ budget on every point
        assert!(num(r, "pert_max") > 0.99 * num(r, "eps"));
    }
    // a rerun adds nothing, neither rows nor per-sample lines
    let before = std::fs::read(o.join("per_sample.csv")).unwrap();
    let (code, t) = run(o, &linf);
    assert_eq!(code, 0, "{t}");
    assert_eq!(std::fs::read(o.join("per_sample.csv")).unwrap(), before);
    assert_eq!(read_rows(&o.join("results.csv")), rows);

    // the minimal-perturbation attacks, bounded (L2 0.5) and unbounded, on the same student
    let out2 = tempfile::tempdir().unwrap();
    let o2 = out2.path();
    let (code, t) = run(
        o2,
        &[
            "--norm",
            "l2",
            "--attacks",
            "cw,deepfool",
            "--eps",
            "0.5,inf",
        ],
    );
    assert_eq!(code, 0, "{t}");
    assert!(
        t.contains("sanity checks: no flags on 4 attack row(s)"),
        "{t}"
    );
    let rows = read_rows(&o2.join("results.csv"));
    let samples = per_sample(o2);
    for attack in ["cw", "deepfool"] {
        let get = |eps: &str| {
            rows.iter()
                .find(|r| r["attack"] == attack && r["eps"] == eps)
                .unwrap()
        };
        let (b, u) = (get("0.5"), get("inf"));
        check_consistent(b, &samples[&(attack.to_string(), "0.5".to_string())]);
        let lines = &samples[&(attack.to_string(), "inf".to_string())];
        assert_eq!(lines.len(), N);
        assert_eq!(u["flags"], "");
        let (rb, ru, clean) = (
            num(b, "robust_acc"),
            num(u, "robust_acc"),
            num(b, "subset_clean_acc"),
        );
        let (med, mean) = (num(u, "pert_median_success"), num(u, "pert_mean_success"));
        eprintln!(
            "{attack}: clean {clean:.1}%, robust at L2 0.5 {rb:.1}%, unbounded {ru:.1}% with median / mean L2 of successes {med:.3} / {mean:.3}; bounded max L2 {:.3}; passes {} / {}",
            num(b, "pert_max"),
            b["forward_calls"],
            b["backward_calls"]
        );
        assert!(
            ru <= rb && rb < clean - 10.0,
            "{attack}: {ru} / {rb} / {clean}"
        );
        // (CW at c = 1 and 50 steps leaves many points unflipped, as torchattacks' does)
        assert!(
            med > 0.05 && med.is_finite() && mean >= 0.5 * med,
            "{attack}: {med} {mean}"
        );
        // the bounded row's successes are the unbounded ones within 0.5
        let within = lines
            .iter()
            .filter(|l| {
                l["label"] == l["clean_pred"]
                    && l["label"] != l["adv_pred"]
                    && num(l, "pert_norm") <= 0.5
            })
            .count() as f64
            * 100.0
            / N as f64;
        assert!(
            (clean - rb - within).abs() < 1e-4,
            "{attack}: bounded successes {} vs unbounded within 0.5 {within}",
            clean - rb
        );
        // passes, one batch: CW one forward + backward per step; DeepFool per step one check
        // and one forward + backward per class (10), then a last check (and one more if it
        // stopped early because every point was fooled)
        let (fw, bw) = (
            num(b, "forward_calls") as u64,
            num(b, "backward_calls") as u64,
        );
        if attack == "cw" {
            assert!(fw == bw && (1..=50).contains(&bw), "cw passes {fw} / {bw}");
        } else {
            let steps = bw / 10;
            assert!(
                bw % 10 == 0
                    && (1..=50).contains(&steps)
                    && (fw == bw + steps + 1 || fw == bw + steps + 2),
                "deepfool passes {fw} / {bw}"
            );
        }
    }
}

#[test]
fn an_attack_that_weakens_with_eps_is_flagged() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path();
    let plugins = plugin_dir(&["ddtest-bad-attack"]);
    let (code, t) = run(
        o,
        &[
            "--plugin-dir",
            plugins.path().to_str().unwrap(),
            "--attacks",
            "bad-attack",
            "--attack-config",
            r#"bad-attack={"mode": "clean-above", "threshold": 0.05}"#,
            "--eps",
            "4/255,16/255",
        ],
    );
    assert_eq!(code, 0, "{t}");
    let rows = read_rows(&o.join("results.csv"));
    let small = rows.iter().find(|r| num(r, "eps") < 0.05).unwrap();
    let large = rows.iter().find(|r| num(r, "eps") > 0.05).unwrap();
    eprintln!(
        "fixture: robust {}% at 4/255, {}% at 16/255",
        small["robust_acc"], large["robust_acc"]
    );
    assert_eq!(small["flags"], "");
    assert_eq!(large["flags"], "eps_not_monotone");
    assert_eq!(num(large, "pert_max"), 0.0, "the clean images came back");
    assert!(
        t.contains("sanity checks: 1 of 2 attack row(s) flagged — random ipc 10 seed 0 bad-attack eps 0.0627: eps_not_monotone"),
        "{t}"
    );
}
