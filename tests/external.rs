//! `ddbench attack`: the attack suite on a model trained elsewhere. PyTorch models in the
//! documented layouts (tests/external_models.py: the official DC ConvNet, torchvision's
//! ResNet-18 with the CIFAR stem behind GUARD's normalisation layer) load with the logits PyTorch
//! computes; a wrong layout is refused naming the keys; and a student saved by `run
//! --save-student`, attacked by `ddbench attack`, gives the rows the run recorded.

use ddbench::run::external_model::{load, Layout};
use ddbench_nn::{Arch, ModelSpec, NormKind};
use ddbench_tests::{ddbench_in, read_rows, text, write_tiny_idx};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Tensor};

fn python_models(dir: &Path) -> HashMap<String, Tensor> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("external_models.py");
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Tensor::read_safetensors(dir.join("io.safetensors"))
        .unwrap()
        .into_iter()
        .collect()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn pytorch_models_load_with_pytorchs_logits_and_a_wrong_layout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let io = python_models(dir.path());
    let mut conv = ModelSpec::convnet([1, 28, 28], 10, vec![0.2861], vec![0.3530]);
    conv.width = 16;
    let m = load(
        &dir.path().join("convnet.safetensors"),
        &conv,
        Layout::Pytorch,
        Device::Cpu,
    )
    .unwrap();
    let d = max_diff(&m.forward_t(&io["x_conv"], false), &io["logits_conv"]);
    assert!(d < 1e-4, "ConvNet logits differ by {d}");

    let mut res = ModelSpec::convnet(
        [3, 32, 32],
        10,
        vec![0.4914, 0.4822, 0.4465],
        vec![0.2023, 0.1994, 0.2010],
    );
    res.arch = Arch::Resnet18;
    res.norm = NormKind::Batch;
    let m = load(
        &dir.path().join("resnet.safetensors"),
        &res,
        Layout::Pytorch,
        Device::Cpu,
    )
    .unwrap();
    let d = max_diff(&m.forward_t(&io["x_res"], false), &io["logits_res"]);
    assert!(d < 1e-3, "ResNet-18 logits differ by {d}");

    let e = load(
        &dir.path().join("convnet.safetensors"),
        &conv,
        Layout::Ddbench,
        Device::Cpu,
    )
    .unwrap_err();
    assert!(
        e.contains("convnet.safetensors: does not fit a Convnet")
            && e.contains("missing [\"net.block0.conv.bias\""),
        "{e}"
    );
    conv.width = 8;
    let e = load(
        &dir.path().join("convnet.safetensors"),
        &conv,
        Layout::Pytorch,
        Device::Cpu,
    )
    .unwrap_err();
    assert!(
        e.contains("'net.block0.conv.bias' has shape [16]; the model's is [8]"),
        "{e}"
    );
}

#[test]
fn a_saved_student_attacked_again_gives_the_recorded_rows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    write_tiny_idx(&d.join("data"), 200, 60);
    let common = [
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        "data",
        "--width",
        "8",
        "--n-attack",
        "20",
        "--attacks",
        "fgsm,pgd",
        "--eps",
        "4/255,8/255",
        "--device",
        "cpu",
        "--quiet",
    ];
    let mut args = vec![
        "run",
        "--out",
        "out",
        "--method",
        "random",
        "--ipc",
        "2",
        "--epochs",
        "20",
        "--save-student",
    ];
    args.extend(common);
    let r = ddbench_in(d, &args);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let cell = "out/artifacts/fashion-mnist_random_ipc2_convnet_seed0";
    let (model, spec) = (
        format!("{cell}/student.safetensors"),
        format!("{cell}/student.json"),
    );
    let mut args = vec!["attack", "--model", &model, "--spec", &spec, "--out", "ext"];
    args.extend(common);
    let r = ddbench_in(d, &args);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let key = |r: &HashMap<String, String>| (r["attack"].clone(), r["eps"].clone());
    let ran: HashMap<_, _> = read_rows(&d.join("out/results.csv"))
        .into_iter()
        .map(|r| (key(&r), r))
        .collect();
    let ext = read_rows(&d.join("ext/results.csv"));
    assert_eq!(ext.len(), 4);
    for e in &ext {
        let r = &ran[&key(e)];
        for col in ["clean_acc", "subset_clean_acc", "robust_acc", "n_attack"] {
            assert_eq!(e[col], r[col], "{:?} {col}", key(e));
        }
        assert_eq!(e["method"], "external");
        assert_eq!(e["method_version"].len(), 16);
    }
    // given test indices: those images are attacked; a bad one is refused naming the file
    std::fs::write(d.join("idx.txt"), "0, 5 7\n9").unwrap();
    let mut args = vec![
        "attack",
        "--model",
        &model,
        "--spec",
        &spec,
        "--out",
        "ext2",
        "--indices",
        "idx.txt",
    ];
    args.extend(common);
    let r = ddbench_in(d, &args);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(read_rows(&d.join("ext2/results.csv"))
        .iter()
        .all(|r| r["n_attack"] == "4"));
    std::fs::write(d.join("bad.txt"), "0, 60").unwrap();
    let mut args = vec![
        "attack",
        "--model",
        &model,
        "--spec",
        &spec,
        "--out",
        "ext3",
        "--indices",
        "bad.txt",
    ];
    args.extend(common);
    let r = ddbench_in(d, &args);
    assert_ne!(r.status.code(), Some(0));
    assert!(
        text(&r).contains("bad.txt")
            && text(&r).contains("test index 60 is outside the test split (0..60)"),
        "{}",
        text(&r)
    );
}

/// A saved student re-checked in Python (python/ddbench_student.py): ConvNet-3 and ResNet-18
/// students give ddbench's logits on the attacked images, and torchattacks' FGSM on them gives
/// the robust accuracy of ddbench's `fgsm` row.
#[test]
fn a_saved_student_rechecks_in_pytorch_with_torchattacks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    write_tiny_idx(&d.join("data"), 200, 60);
    for (arch, width) in [("convnet", "8"), ("resnet18", "64")] {
        let out = format!("out-{arch}");
        let args = [
            "run",
            "--dataset",
            "fashion-mnist",
            "--data-dir",
            "data",
            "--out",
            &out,
            "--method",
            "random",
            "--ipc",
            "2",
            "--arch",
            arch,
            "--width",
            width,
            "--epochs",
            "5",
            "--n-attack",
            "20",
            "--attacks",
            "fgsm",
            "--eps",
            "8/255",
            "--device",
            "cpu",
            "--quiet",
            "--save-student",
            "--save-adversarial",
        ];
        let r = ddbench_in(d, &args);
        assert_eq!(r.status.code(), Some(0), "{}", text(&r));
        let cell = d.join(format!(
            "{out}/artifacts/fashion-mnist_random_ipc2_{arch}_seed0"
        ));
        let adv = cell.join("adversarial_fgsm_linf_0.031373.safetensors");
        let checked = d.join(format!("{arch}-recheck.safetensors"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("recheck_student.py");
        let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
        let o = std::process::Command::new(python)
            .arg(script)
            .arg(cell.join("student.json"))
            .arg(&adv)
            .arg(d.join("data"))
            .arg((8.0f64 / 255.0).to_string())
            .arg(&checked)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let py: HashMap<String, Tensor> = Tensor::read_safetensors(&checked)
            .unwrap()
            .into_iter()
            .collect();
        // ddbench's logits on the same images
        let card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(cell.join("student.json")).unwrap())
                .unwrap();
        let spec: ModelSpec = serde_json::from_value(card["spec"].clone()).unwrap();
        let m = load(
            &cell.join("student.safetensors"),
            &spec,
            Layout::Ddbench,
            Device::Cpu,
        )
        .unwrap();
        let idx: HashMap<String, Tensor> = Tensor::read_safetensors(&adv)
            .unwrap()
            .into_iter()
            .collect();
        let x = test_images(&d.join("data")).index_select(0, &idx["indices"]);
        let diff = max_diff(&m.forward_t(&x, false), &py["logits"]);
        assert!(diff < 1e-3, "{arch}: logits differ by {diff}");
        let row = &read_rows(&d.join(&out).join("results.csv"))[0];
        let ours: f64 = row["robust_acc"].parse().unwrap();
        let theirs = py["robust"].double_value(&[0]);
        assert!(
            (ours - theirs).abs() < 1e-3,
            "{arch}: ddbench fgsm {ours} %, torchattacks {theirs} %"
        );
    }
}

fn test_images(data: &Path) -> Tensor {
    let img = std::fs::read(data.join("t10k-images-idx3-ubyte")).unwrap();
    let n = ((img.len() - 16) / 784) as i64;
    Tensor::from_slice(&img[16..])
        .reshape([n, 1, 28, 28])
        .to_kind(tch::Kind::Float)
        / 255.0
}
