//! Cross-check against the reference implementation: a ConvNet-3 (width 32) trained on real
//! Fashion-MNIST, 500 test images, attacked by ddbench's plugins and by torchattacks (in the
//! project's virtualenv, same weights, same inputs, CPU). In CI: FGSM, PGD, PGD without random
//! start, PGD-L2, MIM, APGD-CE, APGD-T, FAB-T, Square, AutoAttack and CW agree within 1 point;
//! PGD without random start and the AutoAttack family agree per sample on ≥ 98 % of the images;
//! AutoAttack is at most each component per sample and at most PGD; DeepFool (40 images:
//! torchattacks runs it one image at a time) reaches the same iterates, compared per point on L2.
//! Ignored (long, or run by hand): the full-strength AutoAttack comparison, the CUDA device check.
//!
//! The model under attack is checked in, `tests/fixtures/fmnist-convnet3-w32.safetensors` (its
//! spec is rebuilt in code), because CPU training is not bit-reproducible: a student retrained
//! by every run came out slightly different each time and moved the figures across thresholds
//! (issue 9). The thresholds are set from this fixture's figures, each with its measured margin
//! beside it. To regenerate the fixture (after a change to the model's layers or parameter
//! names, which makes loading it fail), run
//! `DDBENCH_REGEN_FIXTURES=1 cargo test --release -p ddbench-tests --test torchattacks --
//! --nocapture attacks_agree_with_torchattacks`: it retrains the student with the recipe in
//! `train_student` and overwrites the file; commit it and re-measure the margins.

use ddbench::data::source::{self, DatasetKind};
use ddbench::data::{stratified_subset, DeviceDataset};
use ddbench::plugin::{self, loader, run_attack};
use ddbench_nn::{Model, ModelSpec, TrainConfig};
use ddbench_plugin_api::Norm;
use ddbench_tests::fashion_mnist_dir;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Device, Kind, Tensor};

/// The project's virtualenv python, or `DDBENCH_PYTHON` (the device check uses the GPU
/// machine's own python with torchattacks beside it).
fn venv_python() -> PathBuf {
    match std::env::var_os("DDBENCH_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    }
}

/// Runs tests/torchattacks_check.py on `attacks` ({"name", "attack", "params"}) in `dir`.
fn torchattacks_reference(dir: &Path, attacks: &[serde_json::Value]) -> serde_json::Value {
    std::fs::write(
        dir.join("attacks.json"),
        serde_json::to_string(attacks).unwrap(),
    )
    .unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("torchattacks_check.py");
    // the malloc settings ddbench itself runs with (harness/src/alloc.rs): without them glibc
    // maps and unmaps every large tensor, and a third of the reference's time goes to the kernel
    let out = Command::new(venv_python())
        .env("MALLOC_MMAP_MAX_", "0")
        .env("MALLOC_TRIM_THRESHOLD_", "4294967295")
        .arg(&script)
        .arg(dir)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "torchattacks reference failed (scripts/setup.sh installs torch, torchattacks, safetensors):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(dir.join("torchattacks.json")).unwrap()).unwrap()
}

/// Square's queries in the CI comparison (both sides); the reference default is 5000.
const SQUARE_QUERIES: i64 = 1000;

/// torchattacks.AutoAttack(version="standard")'s components with `steps` for APGD, APGD-T and
/// FAB and `queries` for Square (torchattacks' own AutoAttack has 10 steps and 5000 queries).
fn torchattacks_autoattack(eps: f64, steps: i64, queries: i64) -> serde_json::Value {
    serde_json::json!({"attacks": [
        {"attack": "APGD", "params": {"eps": eps, "steps": steps, "loss": "ce", "n_restarts": 1, "seed": 0}},
        {"attack": "APGDT", "params": {"eps": eps, "steps": steps, "n_classes": 10, "n_restarts": 1, "seed": 0}},
        {"attack": "FAB", "params": {"eps": eps, "steps": steps, "multi_targeted": true, "n_classes": 10, "n_restarts": 1, "seed": 0}},
        {"attack": "Square", "params": {"eps": eps, "n_queries": queries, "n_restarts": 1, "seed": 0}},
    ]})
}

/// The weights of the model under attack, checked in (relative to this crate's folder).
const STUDENT: &str = "fixtures/fmnist-convnet3-w32.safetensors";

/// How to rebuild [`STUDENT`], for the messages that need it.
const REGEN: &str = "regenerate it with `DDBENCH_REGEN_FIXTURES=1 cargo test --release -p ddbench-tests --test torchattacks -- --nocapture attacks_agree_with_torchattacks`, commit the file, and re-measure the thresholds in tests/torchattacks.rs (they are set from the figures of this fixture)";

/// The spec of the model under attack: ddbench's ConvNet-3 at width 32 for Fashion-MNIST.
fn student_spec(data: &DeviceDataset) -> ModelSpec {
    let mut spec = ModelSpec::convnet(data.shape, 10, data.mean.clone(), data.std.clone());
    spec.width = 32;
    spec
}

/// The recipe of [`STUDENT`] (run only with `DDBENCH_REGEN_FIXTURES=1`): a quickly trained
/// student, 3,000 training images, 4 epochs of the DD protocol, on CPU. CPU training is not
/// bit-reproducible across runs and machines (float reduction order), which is why its result is
/// checked in rather than retrained by every test run.
fn train_student(data: &DeviceDataset, spec: &ModelSpec) -> Model {
    let labels = Vec::<i64>::try_from(&data.train_labels).unwrap();
    let idx =
        Tensor::from_slice(&ddbench_nn::rng::pick_per_class(&labels, 10, |_| 300, 1).concat());
    let x_train = data.train_images.index_select(0, &idx).to_kind(Kind::Float) / 255.0;
    let y_train = data.train_labels.index_select(0, &idx);
    tch::manual_seed(0);
    let mut model = Model::new(spec, Device::Cpu);
    let cfg = TrainConfig {
        epochs: 4,
        batch_size: 64,
        lr: 0.05,
        ..Default::default()
    };
    ddbench_nn::train_classifier(&mut model, &x_train, &y_train, &cfg, &mut |_, _| {}).unwrap();
    model
}

/// [`STUDENT`] loaded into a model of `spec`; the file must hold exactly the model's parameters
/// (names and shapes), or the test stops and says how to regenerate it.
fn load_student(spec: &ModelSpec, path: &Path) -> Model {
    let mut model = Model::new(spec, Device::Cpu);
    let saved = Tensor::read_safetensors(path).unwrap_or_else(|e| {
        panic!(
            "cannot read the model fixture {}: {e}; {REGEN}",
            path.display()
        )
    });
    let mut have: Vec<(String, Vec<i64>)> =
        saved.iter().map(|(n, t)| (n.clone(), t.size())).collect();
    let mut want: Vec<(String, Vec<i64>)> = model
        .vs
        .variables()
        .iter()
        .map(|(n, t)| (n.clone(), t.size()))
        .collect();
    have.sort();
    want.sort();
    assert!(
        have == want,
        "the model fixture {} does not match the model's parameters (names and shapes)\n  file:  {have:?}\n  model: {want:?}\n{REGEN}",
        path.display()
    );
    model.vs.load(path).unwrap_or_else(|e| {
        panic!(
            "cannot load the model fixture {}: {e}; {REGEN}",
            path.display()
        )
    });
    model
}

/// The model under attack (saved for Python with its spec), the 500 test images and labels. The
/// model's weights are the checked-in [`STUDENT`], so every run attacks the same model;
/// `DDBENCH_REGEN_FIXTURES=1` retrains it ([`train_student`]) and overwrites the file.
fn fixture() -> (Model, Tensor, Tensor, tempfile::TempDir) {
    let data_dir = fashion_mnist_dir().expect("Fashion-MNIST is missing: run scripts/setup.sh");
    let raw = source::load(DatasetKind::FashionMnist, Some(&data_dir)).unwrap();
    let data = ddbench::data::resident::load(
        &raw,
        DatasetKind::FashionMnist,
        ddbench::data::NormalizationChoice::Auto,
        Device::Cpu,
    )
    .unwrap();
    let spec = student_spec(&data);
    let student = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(STUDENT);
    let model = if std::env::var_os("DDBENCH_REGEN_FIXTURES").is_some_and(|v| v == "1") {
        let model = train_student(&data, &spec);
        std::fs::create_dir_all(student.parent().unwrap()).unwrap();
        model.vs.save(&student).unwrap();
        eprintln!(
            "regenerated the model fixture {}: commit it and re-measure the thresholds",
            student.display()
        );
        model
    } else {
        load_student(&spec, &student)
    };
    let test_labels = Vec::<i64>::try_from(&data.test_labels).unwrap();
    let sub = Tensor::from_slice(&stratified_subset(&test_labels, 10, 500, 0));
    let x = data.test_images.index_select(0, &sub).to_kind(Kind::Float) / 255.0;
    let y = data.test_labels.index_select(0, &sub);

    // DDBENCH_XCHECK_KEEP=1 keeps the folder (model, inputs, torchattacks.json) for a look by hand
    let mut dir = tempfile::tempdir().unwrap();
    if std::env::var_os("DDBENCH_XCHECK_KEEP").is_some() {
        dir.disable_cleanup(true);
        eprintln!("fixture kept in {}", dir.path().display());
    }
    model.vs.save(dir.path().join("model.safetensors")).unwrap();
    std::fs::write(
        dir.path().join("spec.json"),
        serde_json::to_string(&spec).unwrap(),
    )
    .unwrap();
    Tensor::write_safetensors(
        &[("x", &x), ("y", &y)],
        dir.path().join("inputs.safetensors"),
    )
    .unwrap();
    (model, x, y, dir)
}

#[test]
fn attacks_agree_with_torchattacks() {
    cross_check(None);
}

/// The AutoAttack family alone (APGD-CE, APGD-T, Square, AutoAttack), the same cases and
/// thresholds as in [`attacks_agree_with_torchattacks`], plus, for the record, ddbench's earlier
/// forms (APGD's paper schedule, Square's per-image windows) against the same reference:
/// `cargo test --release -p ddbench-tests --test torchattacks -- --ignored --nocapture apgd_and_square`.
/// Ignored in `make test`: [`attacks_agree_with_torchattacks`] asserts the same cases with the
/// same thresholds; this one is for working on the family alone (and prints the earlier forms).
#[test]
#[ignore]
fn apgd_and_square_agree_with_torchattacks() {
    cross_check(Some(&["apgd-ce", "apgd-t", "square", "autoattack"]));
}

/// ddbench's forms before the reference ones became the default, compared with the same
/// torchattacks result as `name` (printed, not asserted).
fn earlier_form(name: &str) -> Option<serde_json::Value> {
    match name {
        "apgd-ce" | "apgd-t" => Some(serde_json::json!({"schedule": "paper"})),
        "square" => Some(serde_json::json!({"n_queries": SQUARE_QUERIES, "windows": "per-image"})),
        "autoattack" => Some(
            serde_json::json!({"version": "fast", "n_queries": SQUARE_QUERIES,
                                                "schedule": "paper", "windows": "per-image"}),
        ),
        _ => None,
    }
}

/// Runs the cross-check on every case, or with `only`, on the named cases of the first table
/// (then without the minimal-perturbation attacks and the ensemble's worst-case check).
fn cross_check(only: Option<&[&str]>) {
    ddbench::alloc::tune_for_tensors();
    let (model, x, y, dir) = fixture();
    // (name, ddbench plugin, norm, eps, ddbench config, torchattacks class, torchattacks params)
    let e8 = 8.0 / 255.0;
    let a2 = 2.0 / 255.0;
    let cases = [
        (
            "fgsm",
            "fgsm",
            Norm::Linf,
            e8,
            serde_json::json!({}),
            "FGSM",
            serde_json::json!({"eps": e8}),
        ),
        (
            "pgd",
            "pgd",
            Norm::Linf,
            e8,
            serde_json::json!({}),
            "PGD",
            serde_json::json!({"eps": e8, "alpha": a2, "steps": 10, "random_start": true}),
        ),
        (
            "pgd-no-rs",
            "pgd",
            Norm::Linf,
            e8,
            serde_json::json!({"random_start": false}),
            "PGD",
            serde_json::json!({"eps": e8, "alpha": a2, "steps": 10, "random_start": false}),
        ),
        (
            "pgdl2",
            "pgdl2",
            Norm::L2,
            0.5,
            serde_json::json!({"alpha": 0.1}),
            "PGDL2",
            serde_json::json!({"eps": 0.5, "alpha": 0.1, "steps": 10, "random_start": true}),
        ),
        (
            "mim",
            "mim",
            Norm::Linf,
            e8,
            serde_json::json!({}),
            "MIFGSM",
            serde_json::json!({"eps": e8, "alpha": a2, "steps": 10, "decay": 1.0}),
        ),
        // The AutoAttack family, like with like: torchattacks' defaults (APGD, APGD-T and FAB:
        // 10 steps, 1 restart, 9 target classes) on both sides. Square runs 1000 queries here
        // (5000 by default) on both sides to keep the test short. "autoattack" is ddbench's
        // version "fast" (= torchattacks.AutoAttack's 10-step components) with Square at 1000
        // queries, against torchattacks.MultiAttack over the same components AutoAttack builds.
        // The full-strength comparison is the ignored test `autoattack_standard_full_strength`.
        (
            "apgd-ce",
            "apgd-ce",
            Norm::Linf,
            e8,
            serde_json::json!({}),
            "APGD",
            serde_json::json!({"eps": e8, "steps": 10, "n_restarts": 1, "loss": "ce", "seed": 0}),
        ),
        (
            "apgd-t",
            "apgd-t",
            Norm::Linf,
            e8,
            serde_json::json!({}),
            "APGDT",
            serde_json::json!({"eps": e8, "steps": 10, "n_restarts": 1, "n_classes": 10, "seed": 0}),
        ),
        (
            "fab-t",
            "fab-t",
            Norm::Linf,
            e8,
            serde_json::json!({}),
            "FAB",
            serde_json::json!({"eps": e8, "steps": 10, "n_restarts": 1, "multi_targeted": true, "n_classes": 10, "seed": 0}),
        ),
        (
            "square",
            "square",
            Norm::Linf,
            e8,
            serde_json::json!({"n_queries": SQUARE_QUERIES}),
            "Square",
            serde_json::json!({"eps": e8, "n_queries": SQUARE_QUERIES, "n_restarts": 1, "p_init": 0.8, "seed": 0}),
        ),
        (
            "autoattack",
            "autoattack",
            Norm::Linf,
            e8,
            serde_json::json!({"version": "fast", "n_queries": SQUARE_QUERIES}),
            "MultiAttack",
            torchattacks_autoattack(e8, 10, SQUARE_QUERIES),
        ),
    ];
    let cases: Vec<_> = cases
        .into_iter()
        .filter(|c| only.is_none_or(|o| o.contains(&c.0)))
        .collect();
    let mut attacks: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| serde_json::json!({"name": c.0, "attack": c.5, "params": c.6}))
        .collect();
    // minimal-perturbation attacks: (name, ddbench plugin, images compared, ddbench config,
    // torchattacks entry)
    let min_norm_cases = [
        (
            "cw",
            "cw",
            500,
            serde_json::json!({}),
            serde_json::json!({"name": "cw", "attack": "CW", "report_l2": true, "carlini_box": true,
                               "params": {"c": 1.0, "kappa": 0.0, "steps": 50, "lr": 0.01}}),
        ),
        (
            "deepfool",
            "deepfool",
            40,
            serde_json::json!({}),
            serde_json::json!({"name": "deepfool", "attack": "DeepFool", "report_l2": true, "n": 40,
                               "params": {"steps": 50, "overshoot": 0.02}}),
        ),
    ];
    let min_norm_cases = if only.is_some() {
        &min_norm_cases[..0]
    } else {
        &min_norm_cases[..]
    };
    attacks.extend(min_norm_cases.iter().map(|c| c.4.clone()));
    // torchattacks' own CW (pixels at 0 or 1 frozen at ±inf in tanh space), for the record
    if only.is_none() {
        attacks.push(
            serde_json::json!({"name": "cw-torchattacks-box", "attack": "CW", "report_l2": true,
                               "params": {"c": 1.0, "kappa": 0.0, "steps": 50, "lr": 0.01}}),
        );
    }
    let reference = torchattacks_reference(dir.path(), &attacks);
    let as_vec = |v: &serde_json::Value| -> Vec<bool> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_i64() == Some(1))
            .collect()
    };
    let acc = |v: &[bool]| 100.0 * v.iter().filter(|&&b| b).count() as f64 / v.len() as f64;

    let ours_clean: Vec<bool> =
        Vec::<bool>::try_from(ddbench_nn::predict(&model, &x, 500).eq_tensor(&y)).unwrap();
    let ref_clean = as_vec(&reference["clean"]);
    let clean_disagree = ours_clean
        .iter()
        .zip(&ref_clean)
        .filter(|(a, b)| a != b)
        .count();
    // The smallest top-2 logit margin of the clean images (measured 1.8e-3 on the fixture) is
    // far above float noise (~1e-6), so the clean predictions cannot flip between runs: measured
    // 0 disagreements; a model loaded wrongly on one side disagrees on dozens.
    let top2 = tch::no_grad(|| model.forward_t(&x, false))
        .topk(2, -1, true, true)
        .0;
    let min_margin = (top2.select(1, 0) - top2.select(1, 1))
        .min()
        .double_value(&[]);
    eprintln!(
        "clean accuracy {:.1}% on 500 Fashion-MNIST test images; torchattacks' model disagrees on {clean_disagree}; smallest top-2 logit margin {min_margin:.1e}",
        acc(&ours_clean)
    );
    assert!(
        clean_disagree <= 1,
        "the two models disagree on {clean_disagree} clean inputs"
    );

    let reg = plugin::discover(&[]);
    let mut robust: std::collections::HashMap<&str, Vec<bool>> = Default::default();
    for (name, plugin_name, norm, eps, config, _, _) in &cases {
        let p = reg.get(loader::Kind::Attack, plugin_name).unwrap();
        let start = std::time::Instant::now();
        let o = run_attack(p, &model, &x, &y, *norm, *eps, 0, config, &|_| {}).unwrap();
        let secs = start.elapsed().as_secs_f64();
        let ours: Vec<bool> =
            Vec::<bool>::try_from(ddbench_nn::predict(&model, &o.adversarial, 500).eq_tensor(&y))
                .unwrap();
        let theirs = as_vec(&reference[*name]);
        let agree =
            ours.iter().zip(&theirs).filter(|(a, b)| a == b).count() as f64 / ours.len() as f64;
        let diff = acc(&ours) - acc(&theirs);
        eprintln!(
            "{name:<10} ddbench {:5.1}%  torchattacks {:5.1}%  difference {diff:+.1}  per-sample agreement {:.1}%  ({secs:.1} s vs {:.1} s; {} / {} forward / backward calls)",
            acc(&ours),
            acc(&theirs),
            100.0 * agree,
            reference["seconds"][*name].as_f64().unwrap_or(f64::NAN),
            o.forward_calls,
            o.backward_calls
        );
        if let Some(earlier) = earlier_form(name).filter(|_| only.is_some()) {
            let e = run_attack(p, &model, &x, &y, *norm, *eps, 0, &earlier, &|_| {}).unwrap();
            let e: Vec<bool> = Vec::<bool>::try_from(
                ddbench_nn::predict(&model, &e.adversarial, 500).eq_tensor(&y),
            )
            .unwrap();
            let e_agree =
                e.iter().zip(&theirs).filter(|(a, b)| a == b).count() as f64 / e.len() as f64;
            eprintln!(
                "{name:<10} earlier form {earlier}: ddbench {:5.1}%  difference {:+.1}  per-sample agreement {:.1}%",
                acc(&e),
                acc(&e) - acc(&theirs),
                100.0 * e_agree
            );
        }
        // The fixture makes every case reproducible on this CPU; the margins below are for
        // another machine's float rounding. Measured on the fixture (2026-12-01, twice): every
        // deterministic case differs by 0.0 (1 point = 5 images of margin). Square (and with it
        // AutoAttack) draws its windows once per batch from the CPU generator in the reference's
        // order, as torchattacks does, so it reproduces torchattacks too: measured 2026-12-01,
        // square and autoattack +0.0 with 100 % per-sample agreement, where the earlier
        // per-image windows gave −1.0 (99.0 %) and +0.2 (99.8 %) and needed 3 and 2 points.
        // APGD-CE and APGD-T: +0.0, 100 % under both schedules on this fixture at 10 steps.
        let tolerance = 1.0;
        assert!(
            diff.abs() <= tolerance,
            "{name}: robust accuracy differs by {diff:.2} points"
        );
        // measured: 100 % (10 images of margin)
        if ["pgd-no-rs", "apgd-ce", "apgd-t", "square", "autoattack"].contains(name) {
            assert!(agree >= 0.98, "{name}: per-sample agreement {agree}");
        }
        // measured: every attack costs 17.8 (PGD-L2) to 21.4 (APGD-T) points of the clean
        // 79.2 %, so at least 7.8 points (39 images) beyond this
        assert!(
            acc(&ours) < acc(&ours_clean) - 10.0,
            "{name} barely hurts: the check would prove nothing"
        );
        robust.insert(name, ours);
    }
    // CW and DeepFool: at L2 bound 0.5 and unbounded (--eps inf)
    let l2_bound = 0.5;
    let as_f64 = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_f64().unwrap())
            .collect()
    };
    // torchattacks' result judged at the bound: a misclassified example beyond it does not count
    let theirs_at = |name: &str| -> (Vec<bool>, f64, f64) {
        let right = as_vec(&reference[name]);
        let l2 = as_f64(&reference[format!("{name}_l2")]);
        let bounded: Vec<bool> = (0..right.len())
            .map(|i| {
                if l2[i] <= l2_bound {
                    right[i]
                } else {
                    ref_clean[i]
                }
            })
            .collect();
        let succ: Vec<f64> = (0..right.len())
            .filter(|&i| ref_clean[i] && !right[i])
            .map(|i| l2[i])
            .collect();
        let mean = succ.iter().sum::<f64>() / succ.len().max(1) as f64;
        (
            bounded,
            mean,
            100.0 * succ.len() as f64 / right.len() as f64,
        )
    };
    for (name, plugin_name, n, config, _) in min_norm_cases {
        let p = reg.get(loader::Kind::Attack, plugin_name).unwrap();
        let (xn, yn) = (x.narrow(0, 0, *n), y.narrow(0, 0, *n));
        let clean_n = &ours_clean[..*n as usize];
        let start = std::time::Instant::now();
        let o = run_attack(p, &model, &xn, &yn, Norm::L2, l2_bound, 0, config, &|_| {}).unwrap();
        let secs = start.elapsed().as_secs_f64();
        let right = |adv: &Tensor| {
            Vec::<bool>::try_from(ddbench_nn::predict(&model, adv, 500).eq_tensor(&yn)).unwrap()
        };
        let ours = right(&o.adversarial);
        let mut unb_cfg = config.clone();
        unb_cfg["bound"] = serde_json::json!(false);
        let inf = f64::INFINITY;
        let u = run_attack(p, &model, &xn, &yn, Norm::L2, inf, 0, &unb_cfg, &|_| {}).unwrap();
        let u_right = right(&u.adversarial);
        let u_l2 = Vec::<f64>::try_from(
            ddbench_plugin_api::per_sample_norm(&(&u.adversarial - &xn), Norm::L2)
                .to_kind(Kind::Double),
        )
        .unwrap();
        let succ: Vec<f64> = (0..u_right.len())
            .filter(|&i| clean_n[i] && !u_right[i])
            .map(|i| u_l2[i])
            .collect();
        let ours_mean = succ.iter().sum::<f64>() / succ.len().max(1) as f64;
        let ours_succ = 100.0 * succ.len() as f64 / u_right.len() as f64;
        let (theirs, theirs_mean, theirs_succ) = theirs_at(name);
        assert_eq!(theirs.len(), ours.len());
        let diff = acc(&ours) - acc(&theirs);
        let agree =
            ours.iter().zip(&theirs).filter(|(a, b)| a == b).count() as f64 / ours.len() as f64;
        eprintln!(
            "{name:<10} {n} images, L2 ≤ {l2_bound}: ddbench {:5.1}%  torchattacks {:5.1}%  difference {diff:+.1}  per-sample agreement {:.1}%; unbounded: success {ours_succ:.1}% vs {theirs_succ:.1}%, mean L2 of successes {ours_mean:.3} vs {theirs_mean:.3}  (bounded run {secs:.1} s vs {:.1} s; {} / {} forward / backward passes)",
            acc(&ours),
            acc(&theirs),
            100.0 * agree,
            reference["seconds"][*name].as_f64().unwrap_or(f64::NAN),
            o.forward_calls,
            o.backward_calls
        );
        if *name == "cw" {
            let (tb, tm, ts) = theirs_at("cw-torchattacks-box");
            eprintln!(
                "cw with torchattacks' own tanh box (0/1 pixels frozen): L2 ≤ {l2_bound} {:5.1}%, success {ts:.1}%, mean L2 {tm:.3}",
                acc(&tb)
            );
        }
        if *name == "deepfool" {
            // DeepFool's iterates creep up to the decision boundary (both sides step (1 +
            // overshoot) × the linearised distance and clip to [0, 1], and on Fashion-MNIST the
            // clip eats most of each step) and stop just past it: on the fixture nearly every
            // point ddbench fools ends with a top-2 logit margin of 1e-6 or less, some at an
            // exact tie. So whether a final image counts as misclassified hinges on float
            // rounding, and counts of successes are not figures a check can rest on:
            // torchattacks judges its iterates one image at a time, this test judges them in a
            // batch, and they disagree (measured: 17 of the 32 clean-right points fooled as
            // judged here, 15 of them in common with ddbench's 26); and at L2 ≤ 0.5 ddbench fools
            // 6 points (clean 80.0 %, bounded 65.0 %), every one of them a boundary point, where
            // the issue-9 run of a retrained student got 4 and failed the old "more than 10
            // points" check (which needs 5 here).
            //
            // What is stable is the iterate: ddbench stops a point when its own batched
            // evaluation calls it fooled and returns it only then, so its unbounded successes are
            // points that reached the boundary within 50 steps, and on each of them torchattacks'
            // final iterate (kept whether or not it counted as fooled) has the same L2 — a point
            // torchattacks judges still right at the boundary takes one more step of ~1e-6, far
            // below the ±0.1 % tolerance. Measured: ddbench fools 26 of the 32 clean-right
            // points, torchattacks' iterate has the same L2 on all 26. Required: ddbench fools at
            // least half of the clean-right points (16: 10 points of margin) and the L2 agrees on
            // ≥ 90 % of them (a path that forks on a rounding tie between two classes may end
            // elsewhere: 2 of 26 may).
            let their_l2 = as_f64(&reference["deepfool_l2"]);
            let their_right = as_vec(&reference["deepfool"]);
            let right_n = clean_n.iter().filter(|&&b| b).count();
            let fooled: Vec<usize> = (0..u_right.len())
                .filter(|&i| clean_n[i] && !u_right[i])
                .collect();
            let same = fooled
                .iter()
                .filter(|&&i| (u_l2[i] - their_l2[i]).abs() <= 1e-3 * their_l2[i].max(1.0))
                .count();
            let both = fooled.iter().filter(|&&i| !their_right[i]).count();
            eprintln!(
                "deepfool   ddbench fools {} of {right_n} clean-right points (unbounded), torchattacks' iterate has the same L2 (±0.1 %) on {same} of them; counted fooled on both sides: {both}",
                fooled.len()
            );
            assert!(
                2 * fooled.len() >= right_n,
                "deepfool fools only {} of {right_n} clean-right points unbounded: the check would prove nothing",
                fooled.len()
            );
            assert!(
                same as f64 >= 0.9 * fooled.len() as f64,
                "deepfool: torchattacks' iterate has the same L2 on only {same} of the {} points ddbench fools",
                fooled.len()
            );
        } else {
            // CW is deterministic on both sides and judges its successes in batches, as this
            // test does: measured on the fixture, difference +0.0 at L2 ≤ 0.5 with 100 % per-sample
            // agreement (tolerance 1 point = 5 images), 25.2 % fooled unbounded on both sides
            // with mean L2 0.564 on both (tolerance 20 %), and the bound costs 14.0 points
            // (clean 79.2 %, bounded 65.2 %; the check asks for more than 10: 20 images of
            // margin).
            let tol = 1.0;
            assert!(
                diff.abs() <= tol + 1e-9,
                "{name}: robust accuracy at L2 {l2_bound} differs by {diff:.2} points"
            );
            assert!(
                (ours_mean / theirs_mean - 1.0).abs() <= 0.2,
                "{name}: mean L2 of successful perturbations {ours_mean:.3} vs {theirs_mean:.3}"
            );
            assert!(
                acc(&ours) < acc(clean_n) - 10.0,
                "{name} barely hurts at L2 {l2_bound}: the check would prove nothing"
            );
        }
        // the bound is honoured, and the unbounded run fools every point the bounded one did
        let b_l2 = ddbench_plugin_api::per_sample_norm(&(&o.adversarial - &xn), Norm::L2)
            .max()
            .double_value(&[]);
        assert!(b_l2 <= l2_bound * (1.0 + 1e-4), "{name}: L2 {b_l2} > bound");
        assert!(
            ours_succ >= acc(clean_n) - acc(&ours) - 1e-9,
            "{name}: the unbounded attack fools fewer points than the bounded one"
        );
    }
    if only.is_none() {
        autoattack_is_the_worst_case(&robust);
    }
}

/// The ensemble keeps every point any component fools, so per sample it is robust only where
/// each component is. APGD-CE runs first from the same seed on the same points as the plugin, so
/// there the inclusion is exact; APGD-T and Square draw their random starts on a different
/// subset inside the ensemble (and FAB-T's float sums run on other batch shapes), so a handful of
/// points may differ: at most 1 % of the images. AutoAttack is also at most PGD in aggregate.
/// Measured on the fixture: 0 points for APGD-CE (exact), 1 for APGD-T, 0 for FAB-T and Square
/// (4 to 5 images of margin); AutoAttack leaves 290 images robust, PGD 294 (4 images).
fn autoattack_is_the_worst_case(robust: &std::collections::HashMap<&str, Vec<bool>>) {
    let aa = &robust["autoattack"];
    for (component, allowed) in [("apgd-ce", 0), ("apgd-t", 5), ("fab-t", 5), ("square", 5)] {
        let only_aa_robust = aa
            .iter()
            .zip(&robust[component])
            .filter(|(a, c)| **a && !**c)
            .count();
        eprintln!(
            "autoattack robust where {component} fooled: {only_aa_robust} of {} images",
            aa.len()
        );
        assert!(
            only_aa_robust <= allowed,
            "autoattack is robust on {only_aa_robust} images {component} fooled (allowed {allowed})"
        );
    }
    let count = |v: &[bool]| v.iter().filter(|&&b| b).count();
    assert!(
        count(aa) <= count(&robust["pgd"]),
        "autoattack leaves {} robust, pgd {}",
        count(aa),
        count(&robust["pgd"])
    );
}

/// The long version of the comparison, at the reference strength: ddbench's `standard`
/// AutoAttack (100 steps for APGD, APGD-T and FAB-T, 5000 Square queries) against
/// torchattacks.MultiAttack over AutoAttack's components with the same steps and queries, plus
/// the L2 versions (ε 0.5) of APGD-CE, FAB-T and Square. Not in CI (long on CPU):
/// `cargo test --release -p ddbench-tests --test torchattacks -- --ignored --nocapture`;
/// `DDBENCH_FULL_N=200` attacks only the first 200 of the 500 images.
#[test]
#[ignore]
fn autoattack_standard_full_strength() {
    let (model, x, y, dir) = fixture();
    let n: i64 = std::env::var("DDBENCH_FULL_N")
        .ok()
        .map(|v| v.parse().expect("DDBENCH_FULL_N: a number of images"))
        .unwrap_or(500);
    let (x, y) = (x.narrow(0, 0, n), y.narrow(0, 0, n));
    Tensor::write_safetensors(
        &[("x", &x), ("y", &y)],
        dir.path().join("inputs.safetensors"),
    )
    .unwrap();
    let e8 = 8.0 / 255.0;
    // (name, plugin, norm, eps, ddbench config, torchattacks class, params, tolerance)
    let cases = [
        (
            "autoattack",
            "autoattack",
            Norm::Linf,
            e8,
            serde_json::json!({"version": "standard"}),
            "MultiAttack",
            torchattacks_autoattack(e8, 100, 5000),
            2.0,
        ),
        (
            "apgd-ce-l2",
            "apgd-ce",
            Norm::L2,
            0.5,
            serde_json::json!({"steps": 100}),
            "APGD",
            serde_json::json!({"norm": "L2", "eps": 0.5, "steps": 100, "seed": 0}),
            1.0,
        ),
        (
            "fab-t-l2",
            "fab-t",
            Norm::L2,
            0.5,
            serde_json::json!({"steps": 100}),
            "FAB",
            serde_json::json!({"norm": "L2", "eps": 0.5, "steps": 100, "multi_targeted": true,
                               "n_classes": 10, "seed": 0}),
            1.0,
        ),
        (
            "square-l2",
            "square",
            Norm::L2,
            0.5,
            serde_json::json!({"n_queries": 5000}),
            "Square",
            serde_json::json!({"norm": "L2", "eps": 0.5, "n_queries": 5000, "seed": 0}),
            2.0,
        ),
    ];
    let attacks: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| serde_json::json!({"name": c.0, "attack": c.5, "params": c.6}))
        .collect();
    let start = std::time::Instant::now();
    let reference = torchattacks_reference(dir.path(), &attacks);
    eprintln!(
        "torchattacks, all cases: {:.0} s",
        start.elapsed().as_secs_f64()
    );
    let reg = plugin::discover(&[]);
    for (name, plugin_name, norm, eps, config, _, _, tolerance) in &cases {
        let p = reg.get(loader::Kind::Attack, plugin_name).unwrap();
        let start = std::time::Instant::now();
        let o = run_attack(p, &model, &x, &y, *norm, *eps, 0, config, &|m| {
            eprintln!("{m}")
        })
        .unwrap();
        let secs = start.elapsed().as_secs_f64();
        let ours = ddbench_nn::predict(&model, &o.adversarial, 500)
            .eq_tensor(&y)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[])
            * 100.0;
        let right = reference[*name]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b.as_i64() == Some(1))
            .count();
        let theirs = 100.0 * right as f64 / n as f64;
        let diff = ours - theirs;
        eprintln!(
            "{name:<11} ddbench {ours:5.1}% ({secs:.0} s, {} forward / {} backward calls)  torchattacks {theirs:5.1}%  difference {diff:+.1}",
            o.forward_calls, o.backward_calls
        );
        assert!(
            diff.abs() <= *tolerance,
            "{name}: robust accuracy differs by {diff:.2} points"
        );
    }
}

/// The device check: AutoAttack `standard` on a ConvNet-3 (width 128) trained on a real image
/// folder (the CIFAR-10 JPEG copy), 1,000 class-stratified test images, on CUDA when present —
/// ddbench's plugin against torchattacks' components at the same strength (100 steps, 5000 Square
/// queries) on the same weights and inputs, with seconds and the host's forward / backward
/// counts. Not in CI: `DDBENCH_XCHECK_IMAGEFOLDER=DIR [DDBENCH_XCHECK_EPOCHS=15] [DDBENCH_XCHECK_N=1000]
/// [DDBENCH_XCHECK_DEVICE=cuda] [DDBENCH_PYTHON=python3]` and `--ignored
/// autoattack_standard_image_folder`.
#[test]
#[ignore]
fn autoattack_standard_image_folder() {
    let dir = std::env::var_os("DDBENCH_XCHECK_IMAGEFOLDER")
        .map(PathBuf::from)
        .expect("DDBENCH_XCHECK_IMAGEFOLDER: an image folder with train/ and test/");
    let epochs: i64 = std::env::var("DDBENCH_XCHECK_EPOCHS")
        .map(|v| v.parse().expect("DDBENCH_XCHECK_EPOCHS: a number"))
        .unwrap_or(15);
    let (device, name) = ddbench::device::select(ddbench::device::DeviceChoice::Auto).unwrap();
    eprintln!("device: {name}");
    if device.is_cuda() {
        std::env::set_var("DDBENCH_XCHECK_DEVICE", "cuda");
    }
    let raw = source::load(DatasetKind::Imagefolder, Some(&dir)).unwrap();
    // the published CIFAR-10 values, as the CIFAR-10 reader would use
    let data = ddbench::data::resident::load(
        &raw,
        DatasetKind::Imagefolder,
        ddbench::data::NormalizationChoice::Cifar10,
        device,
    )
    .unwrap();
    let spec = ModelSpec::convnet(data.shape, 10, data.mean.clone(), data.std.clone());
    tch::manual_seed(0);
    let mut model = Model::new(&spec, device);
    let x_train = data.train_images.to_kind(Kind::Float) / 255.0;
    let cfg = TrainConfig {
        epochs,
        ..Default::default()
    };
    let start = std::time::Instant::now();
    ddbench_nn::train_classifier(
        &mut model,
        &x_train,
        &data.train_labels,
        &cfg,
        &mut |_, _| {},
    )
    .unwrap();
    eprintln!(
        "ConvNet-3 w128, {epochs} epochs on {} images: {:.0} s",
        x_train.size()[0],
        start.elapsed().as_secs_f64()
    );
    let test_labels = Vec::<i64>::try_from(data.test_labels.to_device(Device::Cpu)).unwrap();
    let n: usize = std::env::var("DDBENCH_XCHECK_N")
        .map(|v| v.parse().expect("DDBENCH_XCHECK_N: a number of images"))
        .unwrap_or(1000);
    let sub = Tensor::from_slice(&stratified_subset(&test_labels, 10, n, 0)).to_device(device);
    let x = data.test_images.index_select(0, &sub).to_kind(Kind::Float) / 255.0;
    let y = data.test_labels.index_select(0, &sub);
    let tmp = tempfile::tempdir().unwrap();
    model.vs.save(tmp.path().join("model.safetensors")).unwrap();
    std::fs::write(
        tmp.path().join("spec.json"),
        serde_json::to_string(&spec).unwrap(),
    )
    .unwrap();
    Tensor::write_safetensors(
        &[
            ("x", &x.to_device(Device::Cpu)),
            ("y", &y.to_device(Device::Cpu)),
        ],
        tmp.path().join("inputs.safetensors"),
    )
    .unwrap();
    // DDBENCH_XCHECK_EPS (in 255ths, default 8): a smaller ε leaves points for every component
    let e8 = std::env::var("DDBENCH_XCHECK_EPS")
        .map(|v| v.parse::<f64>().expect("DDBENCH_XCHECK_EPS: a number"))
        .unwrap_or(8.0)
        / 255.0;
    let p = plugin::discover(&[]);
    let p = p.get(loader::Kind::Attack, "autoattack").unwrap();
    let start = std::time::Instant::now();
    let config = serde_json::json!({"version": "standard"});
    let o = run_attack(p, &model, &x, &y, Norm::Linf, e8, 0, &config, &|m| {
        eprintln!("{m}")
    })
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    let rate = |adv: &Tensor| {
        ddbench_nn::predict(&model, adv, 500)
            .eq_tensor(&y)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[])
            * 100.0
    };
    let (clean, ours) = (rate(&x), rate(&o.adversarial));
    let attacks = [
        serde_json::json!({"name": "autoattack", "attack": "MultiAttack",
                                      "params": torchattacks_autoattack(e8, 100, 5000)}),
    ];
    let reference = torchattacks_reference(tmp.path(), &attacks);
    let right = reference["autoattack"].as_array().unwrap();
    let theirs =
        100.0 * right.iter().filter(|b| b.as_i64() == Some(1)).count() as f64 / right.len() as f64;
    let their_s = reference["seconds"]["autoattack"].as_f64().unwrap();
    let diff = ours - theirs;
    eprintln!(
        "autoattack standard, ε {:.2}/255, {n} test images, {device:?}: clean {clean:.1}%; ddbench {ours:.1}% ({secs:.1} s, {} forward / {} backward calls), torchattacks {theirs:.1}% ({their_s:.1} s), difference {diff:+.1}",
        e8 * 255.0,
        o.forward_calls,
        o.backward_calls
    );
    assert!(
        diff.abs() <= 2.0,
        "robust accuracy differs by {diff:.2} points"
    );
}
