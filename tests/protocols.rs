//! The GUARD evaluation-suite leaderboard files (baselines/guard-*.toml): they name GUARD's
//! attacks with GUARD's parameters (github.com/yumozi/GUARD, relabel/relabel_cifar.py:54-60,
//! train/train_FKD.py:30-36, with torchattacks 3.5.1's defaults) and a PGD-100 ε-sweep, every
//! child run they expand to attacks only at its own attacks' ε and passes the host's preflight of its attacks, and the real binary gets
//! past the file and the plugin configs and stops only at the missing data.

use ddbench::leaderboard::{load, Cell, Loaded};
use ddbench::plugin::{discover, Kind, Plugin};
use ddbench_plugin_api::Norm;
use ddbench_tests::ddbench;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tch::{Device, Kind as TKind, Tensor};

/// (file stem, data set, class count, attack batch: GUARD's test batch).
const FILES: [(&str, &str, i64, i64); 4] = [
    ("guard-soft-label-resnet18-cifar10", "cifar10", 10, 128),
    ("guard-soft-label-resnet18-cifar100", "cifar100", 100, 128),
    (
        "guard-soft-label-resnet18-imagenette",
        "imagefolder",
        10,
        25,
    ),
    (
        "guard-soft-label-resnet18-tiny-imagenet",
        "imagefolder",
        200,
        25,
    ),
];

fn path_of(stem: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../baselines")
        .join(format!("{stem}.toml"))
}

fn loaded(stem: &str) -> Loaded {
    load(&path_of(stem)).unwrap_or_else(|e| panic!("{stem}: {e:#}"))
}

/// One attack a file must list: plugin, label, norm, ε as written, and its whole config.
struct Expected {
    name: &'static str,
    label: &'static str,
    norm: &'static str,
    eps: &'static [&'static str],
    config: Value,
}

/// GUARD's five attacks at its settings, then the standard columns.
fn expected() -> Vec<Expected> {
    let e = |name, label, norm, eps, config| Expected {
        name,
        label,
        norm,
        eps,
        config,
    };
    vec![
        // torchattacks.PGD(eps=1/255, alpha=0.25/255, steps=100); random_start defaults to True
        e(
            "pgd",
            "pgd100-1_255",
            "linf",
            &["1/255"],
            json!({"steps": 100, "alpha": 0.25 / 255.0, "random_start": true, "restarts": 1}),
        ),
        // torchattacks.Square(eps=1/255): n_queries 5000, n_restarts 1, p_init 0.8
        e(
            "square",
            "square-1_255",
            "linf",
            &["1/255"],
            json!({"n_queries": 5000, "n_restarts": 1, "p_init": 0.8}),
        ),
        // torchattacks.AutoAttack(eps=1/255): components at steps 10, n_classes 10 → 9 targets
        e(
            "autoattack",
            "autoattack-1_255",
            "linf",
            &["1/255"],
            json!({"version": "fast", "n_target_classes": 9, "n_queries": 5000}),
        ),
        // GUARD's mim_attack: ε = α = 1/255, 20 iterations, decay 1, whole-batch L1 norm
        e(
            "mim",
            "mim20-batchl1-1_255",
            "linf",
            &["1/255"],
            json!({"steps": 20, "alpha": 1.0 / 255.0, "decay": 1.0, "grad_norm": "batch"}),
        ),
        // torchattacks.CW(c=1e-4): kappa 0, steps 50, lr 0.01, no ε bound
        e(
            "cw",
            "cw-c1e-4",
            "l2",
            &["inf"],
            json!({"c": 0.0001, "kappa": 0.0, "steps": 50, "lr": 0.01, "bound": false}),
        ),
        // the ε-sweep: GUARD's PGD-100 from 0.5/255 to 8/255
        e(
            "pgd",
            "pgd100-sweep",
            "linf",
            &["0.5/255", "1/255", "2/255", "4/255", "8/255"],
            json!({"steps": 100, "alpha": 0.25 / 255.0, "random_start": true, "restarts": 1}),
        ),
        // the standard columns
        e(
            "pgd",
            "pgd",
            "linf",
            &["8/255"],
            json!({"steps": 10, "alpha": 2.0 / 255.0}),
        ),
        e(
            "autoattack",
            "autoattack",
            "linf",
            &["8/255"],
            json!({"version": "standard"}),
        ),
        e("cw", "cw", "l2", &["0.5"], json!({})),
        e("pgdl2", "pgdl2", "l2", &["0.5"], json!({})),
        e(
            "autoattack",
            "autoattack",
            "l2",
            &["0.5"],
            json!({"version": "standard"}),
        ),
    ]
}

/// A TOML scalar as written (`"1/255"`, `0.5`, `"inf"`).
fn written(v: &impl std::fmt::Display) -> String {
    v.to_string().trim_matches('"').to_string()
}

#[test]
fn each_file_names_guards_attacks_with_guards_parameters() {
    for (stem, dataset, _, batch) in FILES {
        let lb = loaded(stem);
        let attacks = &lb.spec.attacks;
        let configs = lb.given_configs().unwrap();
        assert_eq!(attacks.len(), expected().len(), "{stem}: attacks listed");
        for want in expected() {
            let found: Vec<_> = attacks
                .iter()
                .zip(configs.iter().filter(|c| c.kind == Kind::Attack))
                .filter(|(a, _)| a.shown() == want.label && a.norm == want.norm)
                .collect();
            assert_eq!(
                found.len(),
                1,
                "{stem}: attack `{}` ({})",
                want.label,
                want.norm
            );
            let (a, given) = found[0];
            assert_eq!(a.name, want.name, "{stem}: `{}`", want.label);
            let eps: Vec<String> = a.eps.iter().map(written).collect();
            assert_eq!(eps, want.eps, "{stem}: `{}` eps", want.label);
            assert_eq!(given.config, want.config, "{stem}: `{}` config", want.label);
        }
        let s = &lb.spec;
        assert_eq!(s.datasets.len(), 1, "{stem}");
        assert_eq!(s.datasets[0].name, dataset, "{stem}");
        assert_eq!(s.archs, ["resnet18"], "{stem}");
        let student = |k: &str| s.student.get(k).map(written).unwrap_or_default();
        assert_eq!(student("protocol"), "soft-label", "{stem}");
        // GUARD attacks the whole test split (≤ 10,000 images), in order, in its own batches
        assert_eq!(student("n_attack"), "10000", "{stem}");
        assert_eq!(student("attack_batch"), batch.to_string(), "{stem}");
        if dataset.starts_with("cifar") {
            // CIFAR-10's mean/std in front of the model, for CIFAR-100 too (relabel_cifar.py:98)
            assert_eq!(student("normalization"), "cifar10", "{stem}");
        }
    }
}

/// A child run's attack arguments: (norm, ε list, attack names, `NAME=JSON` configs).
type RunAttacks = (String, String, String, Vec<String>);

fn run_attacks(c: &Cell) -> RunAttacks {
    let arg = |flag: &str| {
        let i = c.args.iter().position(|a| a == flag);
        i.map(|i| c.args[i + 1].clone()).unwrap_or_default()
    };
    let configs = (0..c.args.len())
        .filter(|&i| c.args[i] == "--attack-config")
        .map(|i| c.args[i + 1].clone())
        .collect();
    (arg("--norm"), arg("--eps"), arg("--attacks"), configs)
}

/// An error with its causes (`{:#}` of an anyhow error).
fn why(e: impl std::fmt::Display) -> String {
    format!("{e:#}")
}

/// The host's preflight (every attack of the run, with its config, norm and each ε, on two
/// images and a tiny model) for one child run: Err names what a plugin refused.
fn preflight(plugins: &[Plugin], run: &RunAttacks, classes: i64) -> Result<(), String> {
    let (norm, eps, names, given) = run;
    let norm: Norm = ddbench::threat::parse_norm(norm).map_err(why)?;
    let eps: Vec<f64> = eps
        .split(',')
        .map(|e| ddbench::threat::parse_eps(e).map_err(why))
        .collect::<Result<_, _>>()?;
    let attacks: Vec<Plugin> = names
        .split(',')
        .map(|n| {
            plugins
                .iter()
                .find(|p| p.kind == Kind::Attack && p.name == n)
                .cloned()
        })
        .collect::<Option<_>>()
        .ok_or(format!("an attack of {names} is not built"))?;
    let mut configs = BTreeMap::new();
    for g in given {
        let (name, json) = g.split_once('=').unwrap();
        configs.insert(
            name.to_string(),
            serde_json::from_str::<Value>(json).unwrap(),
        );
    }
    let x = Tensor::rand([2, 3, 32, 32], (TKind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1]);
    ddbench::preflight::check_attacks(&attacks, &configs, norm, &eps, &x, &y, classes).map_err(why)
}

#[test]
fn each_child_run_attacks_only_at_its_own_eps_and_its_plugins_accept_their_settings() {
    let plugins = discover(&[]).plugins;
    for (stem, _, classes, _) in FILES {
        let cells = loaded(stem).cells(&|m| m == "full").unwrap();
        let mut runs: Vec<RunAttacks> = cells.iter().map(run_attacks).collect();
        runs.sort();
        runs.dedup();
        let shape: Vec<(&str, &str, &str)> = runs
            .iter()
            .map(|(n, e, a, _)| (n.as_str(), e.as_str(), a.as_str()))
            .collect();
        // no attack runs (and spends) at another attack's radius: one ε per child run, the
        // sweep's five in a run of their own
        assert_eq!(
            shape,
            [
                ("l2", "0.5", "cw,pgdl2,autoattack"),
                ("l2", "inf", "cw"),
                ("linf", "0.5/255,1/255,2/255,4/255,8/255", "pgd"),
                ("linf", "1/255", "pgd,square,autoattack,mim"),
                ("linf", "8/255", "pgd,autoattack"),
            ],
            "{stem}"
        );
        for run in &runs {
            preflight(&plugins, run, classes).unwrap_or_else(|e| panic!("{stem}: {e:#}"));
        }
        // 3 methods × 3 IPC × 3 seeds, 5 child runs each
        assert_eq!(cells.len(), 3 * 3 * 3 * 5, "{stem}");
    }
}

#[test]
fn the_binary_reads_the_files_and_configs_and_stops_only_at_the_missing_data() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-data-here");
    let bench = |file: &Path| {
        let out = dir.path().join("out");
        let args = [
            "bench",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        let o = ddbench(&[&args[..], &["--data-dir", missing.to_str().unwrap()]].concat());
        assert!(!o.status.success(), "{}: ran without data", file.display());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    for (stem, ..) in FILES {
        let err = bench(&path_of(stem));
        let want = format!("--data-dir {}: no such folder", missing.display());
        assert!(err.contains(&want), "{stem}: {err}");
    }
    // the control: the configs are resolved before the data is looked for
    let text = std::fs::read_to_string(path_of(FILES[0].0)).unwrap();
    let bad = text.replace(r#"grad_norm = "batch""#, r#"grad_norm = "batch-l1""#);
    assert_ne!(bad, text);
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, bad).unwrap();
    let err = bench(&file);
    assert!(err.contains("config key 'grad_norm'"), "{err}");
    assert!(err.contains("mim20-batchl1-1_255"), "{err}");
}

/// The DD protocol's other settings end to end: a student trained with DSA through a ZCA
/// layer (fitted on the training split's raw pixels) is attacked in [0, 1] pixel space (the
/// host checks every adversarial batch against the ε-ball and the box), and each row says
/// how its students were trained and whitened.
#[test]
fn a_dsa_zca_run_attacks_in_pixel_space_and_records_its_protocol() {
    let (data, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ddbench_tests::write_tiny_idx(data.path(), 200, 60);
    let (d, o) = (data.path().to_str().unwrap(), out.path().to_str().unwrap());
    let mut args = ddbench_tests::tiny_run(d, o, "random", "3");
    args.extend(["--augment", "dsa", "--whitening", "zca"]);
    let r = ddbench(&args);
    let said = ddbench_tests::text(&r);
    assert_eq!(r.status.code(), Some(0), "{said}");
    let rows = ddbench_tests::read_rows(&out.path().join("results.csv"));
    assert_eq!(rows.len(), 2, "{rows:?}");
    let whitening = &rows[0]["whitening"];
    assert!(
        whitening.starts_with("zca:") && whitening.len() == 20,
        "{whitening}"
    );
    for r in &rows {
        assert_eq!((r["augment"].as_str(), &r["whitening"]), ("dsa", whitening));
        assert_eq!(r["flags"], "", "{r:?}");
        // FGSM and PGD spend their whole L∞ budget: the gradient reaches the pixels
        let (pert, eps): (f64, f64) = (r["pert_max"].parse().unwrap(), r["eps"].parse().unwrap());
        assert!(pert > 0.99 * eps && pert <= eps + 1e-6, "{pert} vs {eps}");
    }
}

/// The DSA protocol files train students as the published DD figures were (DSA, 1,000
/// epochs, ConvNet-3 at lr 0.01 and batch 256), the ZCA ones through a ZCA layer: every cell's
/// `run` arguments say so, so the settings are part of each cell's identity.
#[test]
fn the_dsa_protocol_files_train_as_the_published_dd_figures() {
    for ds in ["cifar10", "cifar100"] {
        for (stem, whitening) in [("dd-dsa-convnet", "none"), ("dd-dsa-zca-convnet", "zca")] {
            let stem = format!("{stem}-{ds}");
            let cells = loaded(&stem).cells(&|m| m == "full").unwrap();
            assert_eq!(
                cells.len(),
                3 * 5 + 5,
                "{stem}: random at 3 IPC × 5 seeds, full × 5"
            );
            for c in &cells {
                let args = format!(" {} ", c.args.join(" "));
                for want in [
                    " --augment dsa ".to_string(),
                    " --epochs 1000 ".into(),
                    " --batch-size 256 ".into(),
                    " --lr 0.01 ".into(),
                    format!(" --whitening {whitening} "),
                    " --protocol dd ".into(),
                ] {
                    assert!(
                        args.contains(&want),
                        "{stem} {}: no `{want}` in{args}",
                        c.id
                    );
                }
            }
        }
    }
}

/// GUARD's CIFAR-10 suite cut down for a CPU: the file's attacks at 1/255 exactly as written
/// (PGD-100, Square, AutoAttack, batch-L1 MIM) and its PGD-10 at 8/255, on the tiny
/// Fashion-MNIST set with `sre2l` and `guard` (small ConvNet teachers), one seed, IPC 2, 20
/// attacked images: `ddbench bench` produces a 1/255 column per attack beside the 8/255 one.
#[test]
fn a_cut_down_guard_suite_produces_the_1_255_columns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    ddbench_tests::write_tiny_idx(&dir.path().join("data"), 200, 60);
    let text = std::fs::read_to_string(path_of(FILES[0].0)).unwrap();
    let mut lb: toml::Table = toml::from_str(&text).unwrap();
    let teacher = toml::toml! {
        teacher_arch = "convnet"
        teacher_width = 8
        teacher_epochs = 1
        teacher_subset = 10
        iterations = 5
        ipc_per_batch = 2
    };
    let cut = toml::toml! {
        ipc = [2]
        seeds = [0]
        archs = ["convnet"]
        [student]
        width = 8
        protocol = "soft-label"
        soft_epochs = 2
        soft_batch = 16
        n_attack = 20
        attack_batch = 20
        [[datasets]]
        name = "fashion-mnist"
        data_dir = "data"
    };
    lb.extend(cut);
    lb.insert(
        "methods".into(),
        toml::Value::Array(
            ["sre2l", "guard"]
                .iter()
                .map(|m| {
                    let mut t = toml::Table::new();
                    t.insert("name".into(), toml::Value::String(m.to_string()));
                    t.insert("config".into(), toml::Value::Table(teacher.clone()));
                    toml::Value::Table(t)
                })
                .collect(),
        ),
    );
    // GUARD's 1/255 suite (its unbounded CW included in the file runs at ε = inf: kept out of
    // this cut, with the L2 and AutoAttack-standard columns, for time), PGD-10 at 8/255 and the
    // PGD-100 sweep
    let attacks: Vec<toml::Value> = lb["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            let eps = a["eps"].as_array().unwrap();
            eps.iter().any(|e| e.as_str() == Some("1/255"))
                || (a["name"].as_str() == Some("pgd") && eps[0].as_str() == Some("8/255"))
        })
        .cloned()
        .collect();
    assert_eq!(attacks.len(), 6, "{attacks:?}");
    lb.insert("attacks".into(), toml::Value::Array(attacks));
    std::fs::write(dir.path().join("lb.toml"), toml::to_string(&lb).unwrap()).unwrap();
    let cache = dir.path().join("cache");
    let r = ddbench_tests::ddbench_in(
        dir.path(),
        &[
            "bench",
            "lb.toml",
            "--out",
            "out",
            "--device",
            "cpu",
            "--quiet",
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    );
    let said = ddbench_tests::text(&r);
    assert_eq!(r.status.code(), Some(0), "{said}");
    let rows = ddbench_tests::read_rows(&dir.path().join("out/results.csv"));
    let md = std::fs::read_to_string(dir.path().join("out/leaderboard.md")).unwrap();
    for method in ["sre2l", "guard"] {
        let mut got: Vec<(String, String)> = rows
            .iter()
            .filter(|r| r["method"] == method)
            .map(|r| (r["attack_label"].clone(), r["eps"].clone()))
            .collect();
        got.sort();
        let one = (1.0f64 / 255.0).to_string();
        let eight = (8.0f64 / 255.0).to_string();
        let mut want: Vec<(String, String)> = [
            ("", eight.as_str()),
            ("autoattack-1_255", &one),
            ("mim20-batchl1-1_255", &one),
            ("pgd100-1_255", &one),
            ("square-1_255", &one),
        ]
        .iter()
        .map(|(l, e)| (l.to_string(), e.to_string()))
        .collect();
        for k in [0.5f64, 1.0, 2.0, 4.0, 8.0] {
            want.push(("pgd100-sweep".into(), (k / 255.0).to_string()));
        }
        want.sort();
        assert_eq!(got, want, "{method}: {rows:?}");
    }
    for column in [
        "pgd100-1_255",
        "square-1_255",
        "autoattack-1_255",
        "mim20-batchl1-1_255",
    ] {
        assert!(md.contains(column), "no {column} column in\n{md}");
    }
    sweep_is_reported(&dir.path().join("out"), &md, &rows);
}

/// The PGD-100 sweep of the cut-down suite: its chart is linked, and `sweeps.csv` holds, per
/// method, ε 0 (the attacked subset's clean accuracy) then the five radii, each the robust
/// accuracy its row in `results.csv` recorded (one seed: the mean is that value).
fn sweep_is_reported(out: &Path, md: &str, results: &[HashMap<String, String>]) {
    let chart = "charts/sweep_pgd100-sweep_linf_fashion-mnist_convnet_ipc2.png";
    assert!(md.contains(chart), "no {chart} in\n{md}");
    assert!(out.join(chart).exists(), "{chart} not written");
    let rows = ddbench_tests::read_rows(&out.join("sweeps.csv"));
    for method in ["sre2l", "guard"] {
        let line: Vec<(String, f64)> = rows
            .iter()
            .filter(|r| r["method"] == method && r["attack"] == "pgd100-sweep")
            .map(|r| (r["eps"].clone(), r["mean"].parse().unwrap()))
            .collect();
        let eps: Vec<&str> = line.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            eps,
            ["0", "0.5/255", "1/255", "2/255", "4/255", "8/255"],
            "{method}: {rows:?}"
        );
        let recorded: Vec<&HashMap<String, String>> = results
            .iter()
            .filter(|r| r["method"] == method && r["attack_label"] == "pgd100-sweep")
            .collect();
        let at = |k: f64| {
            let e = (k / 255.0).to_string();
            let r = recorded.iter().find(|r| r["eps"] == e).unwrap();
            r["robust_acc"].parse::<f64>().unwrap()
        };
        let sub_clean: f64 = recorded[0]["subset_clean_acc"].parse().unwrap();
        assert!((line[0].1 - sub_clean).abs() < 1e-3, "{method}: {line:?}");
        for (p, k) in line[1..].iter().zip([0.5, 1.0, 2.0, 4.0, 8.0]) {
            assert!((p.1 - at(k)).abs() < 1e-3, "{method} at {k}/255: {line:?}");
        }
    }
}
