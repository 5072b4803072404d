//! `ddbench speed`: images per second of the hot loops (a training step, PGD-10 through the
//! attack plugin ABI), printed as JSON lines with the figure names of
//! shared/bench/pytorch_reference.py so both can be compared on the same machine.

use crate::device::{self, DeviceChoice};
use crate::plugin::{self, Kind};
use anyhow::Result;
use ddbench_nn::{Arch, Model, ModelSpec, TrainConfig};
use ddbench_plugin_api::Norm;
use std::time::Instant;
use tch::{Kind as TKind, Tensor};

fn sync(d: tch::Device) {
    if let tch::Device::Cuda(i) = d {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Seconds per call of `f`, after `warm` untimed calls.
fn time_it(dev: tch::Device, iters: u32, warm: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..warm {
        f();
    }
    sync(dev);
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    sync(dev);
    t.elapsed().as_secs_f64() / iters as f64
}

pub fn run(choice: DeviceChoice, batch: Option<i64>, iters: u32) -> Result<()> {
    let (dev, desc) = device::select(choice)?;
    let b = batch.unwrap_or(if dev.is_cuda() { 256 } else { 32 });
    let reg = plugin::discover(&[]);
    let pgd = reg
        .get(Kind::Attack, "pgd")
        .map_err(anyhow::Error::msg)?
        .clone();
    let x = Tensor::rand([b, 3, 32, 32], (TKind::Float, dev));
    let y = Tensor::randint(10, [b], (TKind::Int64, dev));
    for (name, arch) in [("resnet18", Arch::Resnet18), ("convnet3", Arch::Convnet)] {
        let mut spec = ModelSpec::convnet([3, 32, 32], 10, vec![0.5; 3], vec![0.25; 3]);
        spec.arch = arch;
        let mut model = Model::new(&spec, dev);
        // one epoch over exactly one batch = one optimiser step (crop + flip included, as in runs)
        let cfg = TrainConfig {
            epochs: 1,
            batch_size: b,
            ..TrainConfig::default()
        };
        let s = time_it(dev, iters, 3, || {
            ddbench_nn::train_classifier(&mut model, &x, &y, &cfg, &mut |_, _| {})
                .expect("train step");
        });
        emit(&format!("{name}.train_step"), b as f64 / s, b, &desc);
        let cfg_json = serde_json::json!({});
        let s = time_it(dev, (iters / 2).max(1), 1, || {
            plugin::run_attack(
                &pgd,
                &model,
                &x,
                &y,
                Norm::Linf,
                8.0 / 255.0,
                0,
                &cfg_json,
                &|_| {},
            )
            .expect("pgd");
        });
        emit(&format!("{name}.pgd10_linf"), b as f64 / s, b, &desc);
    }
    Ok(())
}

fn emit(figure: &str, value: f64, batch: i64, device: &str) {
    println!(
        "{}",
        serde_json::json!({"figure": figure, "value": (value * 100.0).round() / 100.0, "unit": "img/s",
                           "device": device, "batch": batch, "impl": "ddbench"})
    );
}
