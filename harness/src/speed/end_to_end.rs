//! The end-to-end workloads of `ddbench speed --e2e` (issue 14), each timed once, on random
//! CIFAR-sized data (3×32×32, 10 classes), `scale` shrinking every count for small machines:
//! - `e2e.dd_cell`: one DD-protocol cell: five seeds of IPC 10 ConvNet-3 students (100 images
//!   each) trained 300 epochs together (`ddbench_nn::batched`), each evaluated on 10,000 clean
//!   images and attacked with PGD-10 (8/255, through the plugin ABI) on 1,000;
//! - `e2e.guard_cifar_epoch`, `e2e.guard_simplified_epoch`: one epoch of GUARD's ResNet-18
//!   teacher on 50,000 images, each regularizer form;
//! - `e2e.pgd_at_epoch`: one PGD-10 adversarial-training epoch of a ResNet-18 on 50,000 images;
//! - `e2e.autoattack_standard`: AutoAttack `standard` (L∞ 8/255) on 1,000 images with a ConvNet-3,
//!   labels set to the model's own predictions so that every image is attacked in full.
//!
//! A figure's `images` is everything the workload pushes through a network once per image and
//! pass: training images seen, evaluated images, and attacked images (once per attack call), so
//! ddbench and `bench/pytorch_reference.py --e2e` count the same work.

use super::levers::Levers;
use super::workloads::{self, Workload};
use crate::plugin::{self, Kind, Plugin};
use anyhow::Result;
use ddbench_nn::{Arch, Model, ModelSpec, TrainConfig};
use ddbench_plugin_api::Norm;
use ddbench_sre2l::regularizer::{GuardVariant, Regularizer};
use tch::{Device, Kind as TKind, Tensor};

/// The sizes of the workloads at `scale` (1.0: the sizes).
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub student_epochs: i64,
    pub eval: i64,
    pub attacked: i64,
    pub teacher_images: i64,
    pub autoattack: i64,
}

impl Sizes {
    pub fn at(scale: f64) -> Sizes {
        let n = |full: f64| ((full * scale).round() as i64).max(1);
        Sizes {
            student_epochs: n(300.0),
            eval: n(10_000.0),
            attacked: n(1_000.0),
            teacher_images: n(50_000.0),
            autoattack: n(1_000.0),
        }
    }
}

fn spec(arch: Arch) -> ModelSpec {
    let mut s = ModelSpec::convnet([3, 32, 32], 10, vec![0.5; 3], vec![0.25; 3]);
    s.arch = arch;
    s
}

fn images(n: i64, dev: Device) -> Tensor {
    Tensor::rand([n, 3, 32, 32], (TKind::Float, dev))
}

fn labels(n: i64, dev: Device) -> Tensor {
    Tensor::randint(10, [n], (TKind::Int64, dev))
}

/// PGD-10 (or any attack plugin) over `x` in batches of `b`.
fn attack_all(p: &Plugin, m: &Model, x: &Tensor, y: &Tensor, b: i64, cfg: &serde_json::Value) {
    let n = x.size()[0];
    for s in (0..n).step_by(b as usize) {
        let len = b.min(n - s);
        plugin::run_attack(
            p,
            m,
            &x.narrow(0, s, len),
            &y.narrow(0, s, len),
            Norm::Linf,
            8.0 / 255.0,
            0,
            cfg,
            &|_| {},
        )
        .expect("attack");
    }
}

fn dd_cell(dev: Device, b: i64, l: Levers, z: Sizes, pgd: Plugin) -> Workload {
    let sets = workloads::five_sets(dev);
    let (xe, ye) = (images(z.eval, dev), labels(z.eval, dev));
    let n_att = z.attacked.min(z.eval);
    let (xa, ya) = (xe.narrow(0, 0, n_att), ye.narrow(0, 0, n_att));
    let cfg = l.train(TrainConfig {
        epochs: z.student_epochs,
        ..TrainConfig::default()
    });
    Workload {
        figure: "e2e.dd_cell".into(),
        images: 5 * (100 * z.student_epochs + z.eval + 11 * n_att),
        run: Box::new(move || {
            for m in &workloads::five_students(dev, l, &sets, &cfg) {
                ddbench_nn::accuracy(m, &xe, &ye, 500);
                attack_all(&pgd, m, &xa, &ya, b.max(500), &serde_json::json!({}));
            }
        }),
    }
}

fn teacher_epoch(
    figure: &str,
    dev: Device,
    b: i64,
    l: Levers,
    n: i64,
    reg: Regularizer,
) -> Workload {
    let x8 = (images(n, dev) * 255.0).to_kind(TKind::Uint8);
    let y = labels(n, dev);
    let cfg = l.teacher(ddbench_sre2l::Sre2lConfig {
        teacher_epochs: 1,
        teacher_batch: b,
        bn_recalibration: false,
        ..Default::default()
    });
    let per_image = match reg {
        Regularizer::PgdAt { steps, .. } => steps + 1,
        _ => 1,
    };
    Workload {
        figure: figure.into(),
        images: n * per_image,
        run: Box::new(move || {
            let mut m = Model::new(&spec(Arch::Resnet18), dev);
            l.model(&m);
            ddbench_sre2l::squeeze::train_teacher(&mut m, &x8, &y, &cfg, &reg, &mut |_, _| {})
                .expect("teacher epoch");
        }),
    }
}

fn autoattack(dev: Device, b: i64, l: Levers, n: i64, aa: Plugin) -> Workload {
    let m = Model::new(&spec(Arch::Convnet), dev);
    l.model(&m);
    let x = images(n, dev);
    // the model's own predictions: every image starts correctly classified, so all are attacked
    let y = ddbench_nn::predict(&m, &x, 500);
    Workload {
        figure: "e2e.autoattack_standard".into(),
        images: n,
        run: Box::new(move || {
            attack_all(
                &aa,
                &m,
                &x,
                &y,
                b.max(500),
                &serde_json::json!({"version": "standard"}),
            );
        }),
    }
}

/// The end-to-end workloads on `dev` at `scale`, batch `b`, levers `l` (resolved for `dev`).
pub fn all(dev: Device, b: i64, l: Levers, scale: f64) -> Result<Vec<Workload>> {
    let reg = plugin::discover(&[]);
    let find = |n: &str| {
        reg.get(Kind::Attack, n)
            .cloned()
            .map_err(anyhow::Error::msg)
    };
    let z = Sizes::at(scale);
    let at = Regularizer::PgdAt {
        eps: 8.0 / 255.0,
        alpha: 2.0 / 255.0,
        steps: 10,
    };
    let n = z.teacher_images;
    let mut out = vec![
        dd_cell(dev, b, l, z, find("pgd")?),
        teacher_epoch(
            "e2e.guard_cifar_epoch",
            dev,
            b,
            l,
            n,
            workloads::guard(l, GuardVariant::Cifar),
        ),
        teacher_epoch(
            "e2e.guard_simplified_epoch",
            dev,
            b,
            l,
            n,
            workloads::guard(l, GuardVariant::Simplified),
        ),
        teacher_epoch("e2e.pgd_at_epoch", dev, b, l, n, at),
        autoattack(dev, b, l, z.autoattack, find("autoattack")?),
    ];
    for w in &mut out {
        let run = std::mem::replace(&mut w.run, Box::new(|| {}));
        w.run = l.wrap(dev, run);
    }
    Ok(out)
}
