//! The `dm` plugin's outer iteration (ddbench_method_dm::step) equals a PyTorch mirror of the
//! official `main_DM.py` loop (tests/dm_mirror.py, in the project's virtualenv, reusing the DSA
//! transforms of tests/dsa_mirror.py) within 1e-4: two iterations from the same synthetic
//! images, real batches, random ConvNets and Siamese DSA draws (every group of the default
//! strategy, on six classes), so the second step also checks the momentum. A tiny `ddbench run
//! --method dm` then records a row.

use ddbench_method_dm::step::{outer_step, random_net, ImageSgd};
use ddbench_nn::dsa::DsaParams;
use ddbench_tests::mirror::{group_values, max_diff, record, run_mirror};
use ddbench_tests::{ddbench, read_rows, text, write_tiny_idx};
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;
const IPC: i64 = 2;
const DEPTH: i64 = 3;

/// Runs tests/dm_mirror.py on `inputs` and the per-step, per-class op names; its outputs.
fn mirror(inputs: &[(String, Tensor)], plan: &[Vec<Vec<&str>>]) -> HashMap<String, Tensor> {
    let plan = serde_json::json!({"ipc": IPC, "depth": DEPTH, "steps": plan});
    run_mirror("dm_mirror.py", inputs, &plan)
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
            let (d, ops) = record(
                &group_values(c + s, 1, 16),
                &format!("d{s}.{c}"),
                &mut inputs,
            );
            names.push(ops);
            draws.push(d);
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
