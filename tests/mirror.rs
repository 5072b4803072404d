//! For the PyTorch-mirror tests (tests/dm.rs, tests/dc.rs): running a mirror script of tests/ in
//! the project's virtualenv on fixed inputs, and fixed DSA draws: the random values of one group
//! of the default strategy, recorded under the names the mirrors read (`PREFIX.OP.KEY`,
//! tests/dm_mirror.py `KEYS`) and turned into a `DsaDraw`.

use ddbench_nn::dsa::{DsaDraw, DsaOp};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use tch::{Device, Kind, Tensor};

/// `DDBENCH_PYTHON`, else the project's `.venv/bin/python`.
pub fn venv_python() -> PathBuf {
    match std::env::var_os("DDBENCH_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    }
}

/// Runs `tests/SCRIPT DIR` with DIR holding `inputs.safetensors` and `plan.json`; the tensors it
/// writes to `DIR/outputs.safetensors`.
pub fn run_mirror(
    script: &str,
    inputs: &[(String, Tensor)],
    plan: &serde_json::Value,
) -> HashMap<String, Tensor> {
    let dir = tempfile::tempdir().unwrap();
    Tensor::write_safetensors(inputs, dir.path().join("inputs.safetensors")).unwrap();
    std::fs::write(dir.path().join("plan.json"), plan.to_string()).unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(script);
    let out = Command::new(venv_python())
        .arg(&path)
        .arg(dir.path())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Tensor::read_safetensors(dir.path().join("outputs.safetensors"))
        .unwrap()
        .into_iter()
        .collect()
}

/// The largest absolute difference.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// Per transform, its random values by key, in the order they apply.
pub type DsaValues = Vec<(&'static str, Vec<(&'static str, Tensor)>)>;

/// Group `g` mod 6 of `color_crop_cutout_flip_scale_rotate` with `n` values per key (1: a
/// Siamese draw) for square images of side `side`, the official ranges; flips for half the
/// samples (u 0.25 or 0.75, the first flipped).
pub fn group_values(g: usize, n: i64, side: i64) -> DsaValues {
    let u = || Tensor::rand([n], (Kind::Float, Device::Cpu));
    let int = |lo: i64, hi: i64| Tensor::randint_low(lo, hi, [n], (Kind::Int64, Device::Cpu));
    let (pad, cut) = (
        (side as f64 * 0.125 + 0.5) as i64,
        (side as f64 * 0.5 + 0.5) as i64,
    );
    match g % 6 {
        0 => vec![
            ("brightness", vec![("u", u())]),
            ("saturation", vec![("u", u())]),
            ("contrast", vec![("u", u())]),
        ],
        1 => vec![(
            "crop",
            vec![("tx", int(-pad, pad + 1)), ("ty", int(-pad, pad + 1))],
        )],
        2 => {
            let hi = side + 1 - cut % 2;
            vec![("cutout", vec![("ox", int(0, hi)), ("oy", int(0, hi))])]
        }
        3 => {
            let flips: Vec<f32> = (0..n).map(|i| [0.25, 0.75][i as usize % 2]).collect();
            vec![("flip", vec![("u", Tensor::from_slice(&flips))])]
        }
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

/// Records `v` under `prefix` in `inputs`; the draw and the transforms' names.
pub fn record(
    v: &DsaValues,
    prefix: &str,
    inputs: &mut Vec<(String, Tensor)>,
) -> (DsaDraw, Vec<&'static str>) {
    for (o, vals) in v {
        for (k, t) in vals {
            inputs.push((format!("{prefix}.{o}.{k}"), t.copy()));
        }
    }
    let draw = DsaDraw {
        ops: v.iter().map(|(o, vals)| op(o, vals)).collect(),
    };
    (draw, v.iter().map(|(o, _)| *o).collect())
}
