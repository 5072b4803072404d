//! DSA augmentation (ddbench_nn::dsa) against a PyTorch mirror of the official `DiffAugment`
//! (tests/dsa_mirror.py, in the project's virtualenv, CPU): every transform, given the same random
//! values, per sample and in the official Siamese mode (sample 0's draw copied to the batch, here
//! one value broadcast), with `align_corners` True (the official torch 1.2 / MTT behaviour) and
//! False, and the whole mode-'M' chain, agree within 1e-5 (max abs diff) on a 4×3×32×32 and a
//! 4×3×24×32 batch; the defaults are the official `ParamDiffAug`'s. A second test checks that a
//! Siamese draw is one value shared by the batch and a per-sample draw is not.

use ddbench_nn::dsa::{self, AugMode, DsaDraw, DsaOp, DsaParams};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use tch::{Device, Kind, Tensor};

/// The project's virtualenv python, or `DDBENCH_PYTHON`.
fn venv_python() -> PathBuf {
    match std::env::var_os("DDBENCH_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    }
}

const TOL: f64 = 1e-5;

/// Case `name`: a `[4, 3, h, 32]` batch and the random values of every transform, with the
/// integer shifts and cutout centres chosen to reach both ends of their official ranges.
fn case(name: &str, h: i64, ints: [[i64; 4]; 4]) -> Vec<(String, Tensor)> {
    let u = || Tensor::rand([4], (Kind::Float, Device::Cpu));
    let mut t = vec![("x", Tensor::rand([4, 3, h, 32], (Kind::Float, Device::Cpu)))];
    for k in ["u_sx", "u_sy", "u_rot", "u_b", "u_s", "u_c"] {
        t.push((k, u()));
    }
    t.push(("u_flip", Tensor::from_slice(&[0.2f32, 0.8, 0.4, 0.6])));
    for (k, v) in ["tx", "ty", "ox", "oy"].into_iter().zip(ints) {
        t.push((k, Tensor::from_slice(&v)));
    }
    t.into_iter()
        .map(|(k, v)| (format!("{name}.{k}"), v))
        .collect()
}

/// ddbench's result for the mirror's output `op` of a case whose values are `d(key)`.
fn ours(op: &str, x: &Tensor, d: &dyn Fn(&str) -> Tensor, p: &DsaParams) -> Tensor {
    let mut p = p.clone();
    p.align_corners = !op.ends_with("_ac0");
    match op.trim_end_matches("_ac0") {
        "scale" => dsa::scale(x, &d("u_sx"), &d("u_sy"), &p),
        "rotate" => dsa::rotate(x, &d("u_rot"), &p),
        "flip" => dsa::flip(x, &d("u_flip"), &p),
        "brightness" => dsa::brightness(x, &d("u_b"), &p),
        "saturation" => dsa::saturation(x, &d("u_s"), &p),
        "contrast" => dsa::contrast(x, &d("u_c"), &p),
        "crop" => dsa::crop(x, &d("tx"), &d("ty")),
        "cutout" => dsa::cutout(x, &d("ox"), &d("oy"), &p),
        "chain" => {
            let ops = vec![
                DsaOp::Brightness { u: d("u_b") },
                DsaOp::Saturation { u: d("u_s") },
                DsaOp::Contrast { u: d("u_c") },
                DsaOp::Crop {
                    tx: d("tx"),
                    ty: d("ty"),
                },
                DsaOp::Cutout {
                    ox: d("ox"),
                    oy: d("oy"),
                },
                DsaOp::Flip { u: d("u_flip") },
                DsaOp::Scale {
                    ux: d("u_sx"),
                    uy: d("u_sy"),
                },
                DsaOp::Rotate { u: d("u_rot") },
            ];
            DsaDraw { ops }.apply(x, &p)
        }
        other => panic!("unknown mirror output {other}"),
    }
}

/// Runs tests/dsa_mirror.py on `inputs`; returns its outputs and its ParamDiffAug defaults.
fn mirror(inputs: &[(String, Tensor)]) -> (HashMap<String, Tensor>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    Tensor::write_safetensors(inputs, dir.path().join("inputs.safetensors")).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dsa_mirror.py");
    let out = Command::new(venv_python())
        .arg(&script)
        .arg(dir.path())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "dsa_mirror.py failed (scripts/setup.sh installs torch and safetensors in .venv):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outputs = Tensor::read_safetensors(dir.path().join("outputs.safetensors")).unwrap();
    let defaults = std::fs::read(dir.path().join("defaults.json")).unwrap();
    (
        outputs.into_iter().collect(),
        serde_json::from_slice(&defaults).unwrap(),
    )
}

#[test]
fn dsa_matches_official_diffaugment() {
    tch::manual_seed(0);
    let square = [
        [-4, 4, 1, -2],
        [3, -4, 0, 4],
        [0, 32, 7, 16],
        [32, 0, 20, 1],
    ];
    let rect = [
        [-3, 3, 2, 0],
        [4, -1, -4, 2],
        [24, 0, 11, 5],
        [0, 32, 9, 30],
    ];
    let mut inputs = case("sq", 32, square);
    inputs.extend(case("rect", 24, rect));
    let (outputs, defaults) = mirror(&inputs);
    let p = DsaParams::default();
    let want = serde_json::json!({"aug_mode": "S", "prob_flip": p.prob_flip,
        "ratio_scale": p.ratio_scale, "ratio_rotate": p.ratio_rotate,
        "ratio_crop_pad": p.ratio_crop_pad, "ratio_cutout": p.ratio_cutout,
        "brightness": p.brightness, "saturation": p.saturation, "contrast": p.contrast});
    assert_eq!(defaults, want, "DsaParams::default() is not ParamDiffAug()");
    assert_eq!(p.aug_mode, AugMode::Single);
    let inputs: HashMap<String, Tensor> = inputs.into_iter().collect();
    let mut keys: Vec<&String> = outputs.keys().collect();
    keys.sort();
    assert_eq!(keys.len(), 2 * 2 * 11, "outputs: {keys:?}");
    let mut worst: HashMap<String, f64> = HashMap::new();
    for key in keys {
        let mut parts = key.split('.');
        let (name, op) = (parts.next().unwrap(), parts.next().unwrap());
        let siamese = parts.next() == Some("siamese");
        // official Siamese: sample 0's value for the batch; here: that one value, broadcast
        let d = |k: &str| {
            let v = inputs[&format!("{name}.{k}")].shallow_clone();
            if siamese {
                v.narrow(0, 0, 1)
            } else {
                v
            }
        };
        let got = ours(op, &inputs[&format!("{name}.x")], &d, &p);
        let reference = &outputs[key];
        assert_eq!(got.size(), reference.size(), "{key}");
        let diff = (&got - reference).abs().max().double_value(&[]);
        let label = format!("{op}{}", if siamese { " (siamese)" } else { "" });
        let w = worst.entry(label).or_insert(0.0);
        *w = w.max(diff);
    }
    let mut table: Vec<_> = worst.into_iter().collect();
    table.sort_by(|a, b| a.0.cmp(&b.0));
    for (label, diff) in &table {
        eprintln!("dsa vs official: {label:<20} max abs diff {diff:.3e}");
    }
    let bad: Vec<_> = table
        .iter()
        .filter(|(_, d)| d.is_nan() || *d > TOL)
        .collect();
    assert!(bad.is_empty(), "max abs diff above {TOL:e}: {bad:?}");
}

/// The random values of every transform of a draw.
fn values(draw: &DsaDraw) -> Vec<Tensor> {
    let pair = |a: &Tensor, b: &Tensor| vec![a.shallow_clone(), b.shallow_clone()];
    let mut v = Vec::new();
    for op in &draw.ops {
        v.extend(match op {
            DsaOp::Scale { ux, uy } => pair(ux, uy),
            DsaOp::Crop { tx, ty } => pair(tx, ty),
            DsaOp::Cutout { ox, oy } => pair(ox, oy),
            DsaOp::Rotate { u } | DsaOp::Flip { u } | DsaOp::Brightness { u } => {
                vec![u.shallow_clone()]
            }
            DsaOp::Saturation { u } | DsaOp::Contrast { u } => vec![u.shallow_clone()],
        });
    }
    v
}

#[test]
fn dsa_siamese_shares_one_draw_across_the_batch() {
    tch::manual_seed(1);
    let x = Tensor::rand([8, 3, 32, 32], (Kind::Float, Device::Cpu));
    let mut p = DsaParams {
        aug_mode: AugMode::Multiple,
        ..DsaParams::default()
    };
    let opts = (Kind::Float, Device::Cpu);
    let shared = dsa::sample(&p, &x.size(), true, opts);
    let per_sample = dsa::sample(&p, &x.size(), false, opts);
    assert_eq!(shared.ops.len(), 8);
    for (s, q) in values(&shared).iter().zip(values(&per_sample)) {
        assert_eq!((s.size(), q.size()), (vec![1], vec![8]));
        assert!(q.ne_tensor(&q.get(0)).any().int64_value(&[]) == 1, "{q:?}");
    }
    // the shared draw is the per-sample draw with every sample given its value
    let y = shared.apply(&x, &p);
    let mut expanded = DsaDraw { ops: vec![] };
    let mut v = values(&shared).into_iter().map(|t| t.expand([8], false));
    let mut next = || v.next().unwrap();
    expanded.ops.extend([
        DsaOp::Brightness { u: next() },
        DsaOp::Saturation { u: next() },
        DsaOp::Contrast { u: next() },
    ]);
    expanded.ops.push(DsaOp::Crop {
        tx: next(),
        ty: next(),
    });
    expanded.ops.push(DsaOp::Cutout {
        ox: next(),
        oy: next(),
    });
    expanded.ops.push(DsaOp::Flip { u: next() });
    expanded.ops.push(DsaOp::Scale {
        ux: next(),
        uy: next(),
    });
    expanded.ops.push(DsaOp::Rotate { u: next() });
    assert!(y.equal(&expanded.apply(&x, &p)));
    // and one image repeated over the batch comes out identical, every group in mode S
    p.aug_mode = AugMode::Single;
    let same = x.narrow(0, 0, 1).repeat([8, 1, 1, 1]);
    for _ in 0..12 {
        let y = dsa::dsa(&same, &p, true);
        assert!((1..8).all(|i| y.get(i).equal(&y.get(0))));
    }
}

/// On CUDA (skipped without it): every transform of the mirror test, and a siamese `dsa` call,
/// run on the device, agree with the CPU within 1e-5.
#[test]
fn dsa_on_cuda_matches_cpu() {
    if !tch::Cuda::is_available() {
        eprintln!("no CUDA device: skipped");
        return;
    }
    tch::manual_seed(3);
    let inputs: HashMap<String, Tensor> = case("sq", 32, [[-4, 4, 1, -2]; 4]).into_iter().collect();
    let p = DsaParams::default();
    let ops = [
        "scale",
        "rotate",
        "flip",
        "brightness",
        "saturation",
        "contrast",
        "crop",
    ];
    for op in ops.into_iter().chain(["cutout", "chain", "rotate_ac0"]) {
        let on = |dev: Device| {
            let d = |k: &str| inputs[&format!("sq.{k}")].to_device(dev);
            ours(op, &d("x"), &d, &p).to_device(Device::Cpu)
        };
        let diff = (on(Device::Cpu) - on(Device::Cuda(0)))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff <= TOL, "{op}: CPU vs CUDA max abs diff {diff:e}");
    }
    let x = inputs["sq.x"].to_device(Device::Cuda(0));
    let y = dsa::dsa(&x, &p, true);
    assert_eq!((y.size(), y.device()), (x.size(), x.device()));
}
