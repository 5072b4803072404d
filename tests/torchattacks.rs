//! Cross-check against the reference implementation: a ConvNet trained on real Fashion-MNIST,
//! 500 test images, attacked by ddbench's plugins and by torchattacks (in the project's
//! virtualenv, same weights, same inputs, CPU). Robust accuracies agree within 1 point; PGD
//! without random start agrees per sample on ≥ 98 % of the images.

use ddbench::data::source::{self, DatasetKind};
use ddbench::data::{stratified_subset, DeviceDataset};
use ddbench::plugin::{self, loader, run_attack};
use ddbench_nn::{Model, ModelSpec, TrainConfig};
use ddbench_plugin_api::Norm;
use ddbench_tests::fashion_mnist_dir;
use std::path::PathBuf;
use std::process::Command;
use tch::{Device, Kind, Tensor};

fn venv_python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")
}

#[test]
fn attacks_agree_with_torchattacks() {
    let data_dir = fashion_mnist_dir().expect("Fashion-MNIST is missing: run scripts/setup.sh");
    let raw = source::load(DatasetKind::FashionMnist, Some(&data_dir)).unwrap();
    let data = DeviceDataset::new(&raw, Device::Cpu);
    // a quickly trained student: 3,000 training images, 4 epochs of the DD protocol
    let labels = Vec::<i64>::try_from(&data.train_labels).unwrap();
    let idx =
        Tensor::from_slice(&ddbench_nn::rng::pick_per_class(&labels, 10, |_| 300, 1).concat());
    let x_train = data.train_images.index_select(0, &idx).to_kind(Kind::Float) / 255.0;
    let y_train = data.train_labels.index_select(0, &idx);
    let mut spec = ModelSpec::convnet(data.shape, 10, data.mean.clone(), data.std.clone());
    spec.width = 32;
    tch::manual_seed(0);
    let mut model = Model::new(&spec, Device::Cpu);
    let cfg = TrainConfig {
        epochs: 4,
        batch_size: 64,
        lr: 0.05,
        ..Default::default()
    };
    ddbench_nn::train_classifier(&mut model, &x_train, &y_train, &cfg, &mut |_, _| {}).unwrap();
    let test_labels = Vec::<i64>::try_from(&data.test_labels).unwrap();
    let sub = Tensor::from_slice(&stratified_subset(&test_labels, 10, 500, 0));
    let x = data.test_images.index_select(0, &sub).to_kind(Kind::Float) / 255.0;
    let y = data.test_labels.index_select(0, &sub);

    let dir = tempfile::tempdir().unwrap();
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
    ];
    let attacks: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| serde_json::json!({"name": c.0, "attack": c.5, "params": c.6}))
        .collect();
    std::fs::write(
        dir.path().join("attacks.json"),
        serde_json::to_string(&attacks).unwrap(),
    )
    .unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("torchattacks_check.py");
    let out = Command::new(venv_python())
        .arg(&script)
        .arg(dir.path())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "torchattacks reference failed (scripts/setup.sh installs torch, torchattacks, safetensors):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("torchattacks.json")).unwrap())
            .unwrap();
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
    assert!(
        clean_disagree <= 1,
        "the two models disagree on {clean_disagree} clean inputs"
    );
    eprintln!(
        "clean accuracy {:.1}% on 500 Fashion-MNIST test images",
        acc(&ours_clean)
    );

    let reg = plugin::discover(&[]);
    for (name, plugin_name, norm, eps, config, _, _) in &cases {
        let p = reg.get(loader::Kind::Attack, plugin_name).unwrap();
        let o = run_attack(p, &model, &x, &y, *norm, *eps, 0, config, &|_| {}).unwrap();
        let ours: Vec<bool> =
            Vec::<bool>::try_from(ddbench_nn::predict(&model, &o.adversarial, 500).eq_tensor(&y))
                .unwrap();
        let theirs = as_vec(&reference[*name]);
        let agree =
            ours.iter().zip(&theirs).filter(|(a, b)| a == b).count() as f64 / ours.len() as f64;
        let diff = acc(&ours) - acc(&theirs);
        eprintln!(
            "{name:<10} ddbench {:5.1}%  torchattacks {:5.1}%  difference {diff:+.1}  per-sample agreement {:.1}%",
            acc(&ours),
            acc(&theirs),
            100.0 * agree
        );
        assert!(
            diff.abs() <= 1.0,
            "{name}: robust accuracy differs by {diff:.2} points"
        );
        if *name == "pgd-no-rs" {
            assert!(agree >= 0.98, "{name}: per-sample agreement {agree}");
        }
        assert!(
            acc(&ours) < acc(&ours_clean) - 10.0,
            "{name} barely hurts: the check would prove nothing"
        );
    }
}
