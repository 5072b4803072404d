//! The `dm` plugin's outer iteration (ddbench_method_dm::step) equals a PyTorch mirror of the
//! official `main_DM.py` loop (tests/dm_mirror.py, in the project's virtualenv, reusing the DSA
//! transforms of tests/dsa_mirror.py) within 1e-4: two iterations from the same synthetic
//! images, real batches, random ConvNets and Siamese DSA draws (every group of the default
//! strategy, on six classes), so the second step also checks the momentum. A tiny `ddbench run
//! --method dm` then records a row.

use ddbench_method_dm::step::{outer_step, random_net, ImageSgd};
use ddbench_nn::dsa::{DsaDraw, DsaOp, DsaParams};
use ddbench_tests::{ddbench, read_rows, text, write_tiny_idx};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;
const IPC: i64 = 2;
const DEPTH: i64 = 3;

fn venv_python() -> PathBuf {
    match std::env::var_os("DDBENCH_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    }
}

/// Class `c`'s draw at step `s`: group (c + s) mod 6 of the default strategy, one value each.
fn draw(c: usize, s: usize) -> Vec<(&'static str, Vec<(&'static str, Tensor)>)> {
    let u = || Tensor::rand([1], (Kind::Float, Device::Cpu));
    let int = |lo: i64, hi: i64| Tensor::randint_low(lo, hi, [1], (Kind::Int64, Device::Cpu));
    match (c + s) % 6 {
        0 => vec![
            ("brightness", vec![("u", u())]),
            ("saturation", vec![("u", u())]),
            ("contrast", vec![("u", u())]),
        ],
        1 => vec![("crop", vec![("tx", int(-2, 3)), ("ty", int(-2, 3))])],
        2 => vec![("cutout", vec![("ox", int(0, 17)), ("oy", int(0, 17))])],
        3 => vec![("flip", vec![("u", Tensor::from_slice(&[0.25f32]))])],
        4 => vec![("scale", vec![("ux", u()), ("uy", u())])],
        _ => vec![("rotate", vec![("u", u())])],
    }
}

fn op(name: &str, v: &[(&str, Tensor)]) -> DsaOp {
    let t = |i: usize| v[i].1.shallow_clone();
    match name {
        "brightness" => DsaOp::Brightness { u: t(0) },
        "saturation" => DsaOp::Saturation { u: t(0) },
        "contrast" => DsaOp::Contrast { u: t(0) },
        "crop" => DsaOp::Crop { tx: t(0), ty: t(1) },
        "cutout" => DsaOp::Cutout { ox: t(0), oy: t(1) },
        "flip" => DsaOp::Flip { u: t(0) },
        "scale" => DsaOp::Scale { ux: t(0), uy: t(1) },
        "rotate" => DsaOp::Rotate { u: t(0) },
        other => panic!("no op {other}"),
    }
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// Runs tests/dm_mirror.py on `inputs` and the per-step, per-class op names; its outputs.
fn mirror(inputs: &[(String, Tensor)], plan: &[Vec<Vec<&str>>]) -> HashMap<String, Tensor> {
    let dir = tempfile::tempdir().unwrap();
    Tensor::write_safetensors(inputs, dir.path().join("inputs.safetensors")).unwrap();
    let plan = serde_json::json!({"ipc": IPC, "depth": DEPTH, "steps": plan});
    std::fs::write(dir.path().join("plan.json"), plan.to_string()).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dm_mirror.py");
    let out = Command::new(venv_python())
        .arg(&script)
        .arg(dir.path())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "dm_mirror.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Tensor::read_safetensors(dir.path().join("outputs.safetensors"))
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn two_outer_iterations_equal_the_official_loop() {
    tch::manual_seed(21);
    let (classes, shape) = (6usize, [3i64, 16, 16]);
    let syn0 = Tensor::randn(
        [classes as i64 * IPC, 3, 16, 16],
        (Kind::Float, Device::Cpu),
    );
    // real batches of 8 images (class 5: 5), normalised-space values
    let real: Vec<Tensor> = (0..classes)
        .map(|c| {
            Tensor::randn(
                [if c == 5 { 5 } else { 8 }, 3, 16, 16],
                (Kind::Float, Device::Cpu),
            ) * 0.8
                + 0.1 * c as f64
        })
        .collect();
    let mut inputs: Vec<(String, Tensor)> = vec![("syn".into(), syn0.copy())];
    inputs.extend(
        real.iter()
            .enumerate()
            .map(|(c, r)| (format!("real.{c}"), r.copy())),
    );
    let syn = syn0.copy().set_requires_grad(true);
    let mut opt = ImageSgd::new(1.0, 0.5);
    let p = DsaParams::default();
    let (mut plan, mut ours) = (Vec::new(), Vec::new());
    for s in 0..2 {
        let net = random_net(shape, classes as i64, 16, DEPTH, Device::Cpu);
        for (name, v) in net.vs.variables() {
            inputs.push((format!("net{s}.{name}"), v.copy()));
        }
        let mut draws = Vec::new();
        let mut names = Vec::new();
        for c in 0..classes {
            let d = draw(c, s);
            for (o, vals) in &d {
                for (k, v) in vals {
                    inputs.push((format!("d{s}.{c}.{o}.{k}"), v.copy()));
                }
            }
            names.push(d.iter().map(|(o, _)| *o).collect::<Vec<_>>());
            draws.push(DsaDraw {
                ops: d.iter().map(|(o, v)| op(o, v)).collect(),
            });
        }
        plan.push(names);
        let loss = outer_step(&net, &syn, IPC, &real, &draws, &p, &mut opt);
        ours.push((syn.detach().copy(), loss.double_value(&[])));
    }
    let theirs = mirror(&inputs, &plan);
    for (s, (images, loss)) in ours.iter().enumerate() {
        let want = &theirs[&format!("syn.{s}")];
        let (d, moved) = (max_diff(images, want), max_diff(want, &syn0));
        let want_loss = theirs[&format!("loss.{s}")].double_value(&[0]);
        eprintln!("step {s}: loss {loss:.6} (mirror {want_loss:.6}), images moved {moved:.4}, max diff {d:.2e}");
        assert!(d < TOL, "step {s}: images differ by {d}");
        assert!(
            (loss - want_loss).abs() < TOL * want_loss.max(1.0),
            "step {s}: loss {loss} vs {want_loss}"
        );
        assert!(
            moved > 100.0 * TOL,
            "step {s}: the images did not move ({moved})"
        );
    }
}

#[test]
fn a_tiny_dm_run_records_a_row() {
    let (data, out, cache) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_tiny_idx(data.path(), 200, 60);
    let [d, o, c] = [&data, &out, &cache].map(|t| t.path().to_str().unwrap().to_string());
    let config = r#"dm={"iterations": 5, "batch_real": 8, "net_width": 8}"#;
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
        "dm",
        "--ipc",
        "2",
        "--width",
        "8",
        "--epochs",
        "20",
        "--n-attack",
        "10",
        "--attacks",
        "fgsm",
        "--device",
        "cpu",
        "--quiet",
        "--method-config",
        config,
    ];
    let r = ddbench(&args);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let rows = read_rows(&out.path().join("results.csv"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0]["method"].as_str(),
            rows[0]["distilled_images"].as_str()
        ),
        ("dm", "20")
    );
    let cfg: serde_json::Value = serde_json::from_str(&rows[0]["method_config"]).unwrap();
    assert_eq!(
        (cfg["iterations"].as_i64(), cfg["lr_img"].as_f64()),
        (Some(5), Some(1.0))
    );
}
