//! The hot loops ddbench times (`ddbench speed`, the criterion benches in `harness/benches/`),
//! each a closure doing one unit of work on a fixed random batch, named as
//! `bench/pytorch_reference.py` names the same work done in eager PyTorch:
//! per architecture (`resnet18`, `convnet3`: 3×32×32 images, 10 classes)
//! - `train_step`: one SGD step with crop + flip (`ddbench_nn::train_classifier`, one epoch of
//!   one batch);
//! - `guard_cifar_step`, `guard_simplified_step`, `pgd10_at_step`: one teacher step with
//!   GUARD's regularizer (the official CIFAR form, double backprop; the single-backprop form) or
//!   Madry PGD-10 adversarial training (`ddbench_sre2l::squeeze::train_teacher`, one epoch of one
//!   batch);
//! - `pgd10_linf`: PGD-10 at 8/255 through the attack plugin ABI (the host's checks included);
//! - `square100`: Square at 8/255, 100 queries, through the plugin ABI;
//!
//! and `convnet3.student_ipc10`: a DD student (ConvNet-3) trained 30 epochs on 100 images (IPC 10
//! of 10 classes), in images per second; `convnet3.students5_ipc10`: five such students (the
//! seeds of a DD cell, each its own set, init, order and draws) trained together as one grouped
//! model (`ddbench_nn::batched`), where the reference trains them one after another.
//!
//! Under the `cuda-graphs` lever the train, teacher and student steps are `steps.rs`'s closures
//! captured as CUDA graphs and replayed (`graphed.rs`); the attacks (the plugin's own loop behind
//! the ABI, whose host checks read a flag once per batch) and the five batched students run
//! eagerly.

use super::levers::Levers;
use super::{graphed, steps};
use crate::plugin::{self, Kind, Plugin};
use anyhow::Result;
use ddbench_nn::batched::{train_all, MemberSet};
use ddbench_nn::{Arch, Model, ModelSpec, TrainConfig};
use ddbench_plugin_api::Norm;
use ddbench_sre2l::regularizer::{GuardVariant, Regularizer};
use std::rc::Rc;
use tch::{Kind as TKind, Tensor};

/// One timed unit of work: its figure name, the images it processes per call, and the call.
pub struct Workload {
    pub figure: String,
    pub images: i64,
    pub run: Box<dyn FnMut()>,
}

fn spec(arch: Arch) -> ModelSpec {
    let mut spec = ModelSpec::convnet([3, 32, 32], 10, vec![0.5; 3], vec![0.25; 3]);
    spec.arch = arch;
    spec
}

/// GUARD's regularizer in form `variant` with ddbench's defaults (the official CIFAR values),
/// its clean pass shared when lever `shared-pass` is on.
pub fn guard(l: Levers, variant: GuardVariant) -> Regularizer {
    let d = ddbench_sre2l::Sre2lConfig::default();
    Regularizer::Guard {
        variant,
        h: d.h,
        lambda: d.lambda,
        beta: d.beta,
        shared_pass: l.shared_pass,
    }
}

/// Under the `cuda-graphs` lever, `make`'s step on a fresh model of `arch` captured as a CUDA
/// graph, each call replaying it `replays` times (`x`, `y`: the batch, float pixels, whose loss
/// the capture logs); `None` when the lever is off, or with a line when the capture fails.
#[allow(clippy::too_many_arguments)]
fn graphed(
    figure: &str,
    l: Levers,
    arch: Arch,
    dev: tch::Device,
    x: &Tensor,
    y: &Tensor,
    replays: usize,
    make: impl FnOnce(Rc<Model>) -> Result<steps::Step, String>,
) -> Option<Box<dyn FnMut()>> {
    if !l.cuda_graphs {
        return None;
    }
    let model = Rc::new(Model::new(&spec(arch), dev));
    l.model(&model);
    let loss = || steps::batch_loss(&model, x, y);
    match make(model.clone())
        .and_then(|step| graphed::replayed(figure, dev, l, step, replays, &loss))
    {
        Ok(run) => Some(run),
        Err(e) => {
            eprintln!("lever cuda-graphs: {figure}: {e}; eager steps");
            None
        }
    }
}

/// One SGD step with crop + flip (an epoch of one batch), or its CUDA graph's replay under the
/// `cuda-graphs` lever (eager, with a line, if the capture fails).
fn train_step(
    figure: &str,
    l: Levers,
    arch: Arch,
    dev: tch::Device,
    x: &Tensor,
    y: &Tensor,
) -> Box<dyn FnMut()> {
    let cfg = l.train(TrainConfig {
        epochs: 1,
        batch_size: x.size()[0],
        ..TrainConfig::default()
    });
    if let Some(run) = graphed(figure, l, arch, dev, x, y, 1, |m| {
        steps::train(m, x, y, &cfg)
    }) {
        return run;
    }
    let mut model = Model::new(&spec(arch), dev);
    l.model(&model);
    let (xs, ys) = (x.shallow_clone(), y.shallow_clone());
    Box::new(move || {
        ddbench_nn::train_classifier(&mut model, &xs, &ys, &cfg, &mut |_, _| {})
            .expect("train step");
    })
}

/// One teacher step (one epoch of one batch) under `reg`, or its CUDA graph's replay under the
/// `cuda-graphs` lever.
fn teacher_step(
    figure: &str,
    l: Levers,
    arch: Arch,
    dev: tch::Device,
    x8: &Tensor,
    y: &Tensor,
    reg: Regularizer,
) -> Box<dyn FnMut()> {
    let cfg = l.teacher(ddbench_sre2l::Sre2lConfig {
        teacher_epochs: 1,
        teacher_batch: x8.size()[0],
        bn_recalibration: false,
        ..Default::default()
    });
    let x = x8.to_kind(TKind::Float) / 255.0;
    if let Some(run) = graphed(figure, l, arch, dev, &x, y, 1, |m| {
        Ok(steps::teacher(m, x8, y, reg.clone(), cfg.clone()))
    }) {
        return run;
    }
    let mut model = Model::new(&spec(arch), dev);
    l.model(&model);
    let (x8, y) = (x8.shallow_clone(), y.shallow_clone());
    Box::new(move || {
        ddbench_sre2l::squeeze::train_teacher(&mut model, &x8, &y, &cfg, &reg, &mut |_, _| {})
            .expect("teacher step");
    })
}

/// An attack plugin on a fresh model of `arch`, one call on the batch.
#[allow(clippy::too_many_arguments)]
fn attack(
    l: Levers,
    p: Plugin,
    arch: Arch,
    dev: tch::Device,
    x: &Tensor,
    y: &Tensor,
    config: serde_json::Value,
) -> Box<dyn FnMut()> {
    let model = Model::new(&spec(arch), dev);
    l.model(&model);
    let (x, y) = (x.shallow_clone(), y.shallow_clone());
    Box::new(move || {
        plugin::run_attack(
            &p,
            &model,
            &x,
            &y,
            Norm::Linf,
            8.0 / 255.0,
            0,
            &config,
            &|_| {},
        )
        .expect("attack");
    })
}

/// Every workload on `dev` with batch `b` and levers `l` (already resolved for `dev`; the
/// attack plugins found in the usual folders).
pub fn all(dev: tch::Device, b: i64, l: Levers) -> Result<Vec<Workload>> {
    l.apply_global();
    let mut out = figures(dev, b, l)?;
    for w in &mut out {
        let run = std::mem::replace(&mut w.run, Box::new(|| {}));
        w.run = l.wrap(dev, run);
    }
    Ok(out)
}

fn figures(dev: tch::Device, b: i64, l: Levers) -> Result<Vec<Workload>> {
    let reg = plugin::discover(&[]);
    let find = |n: &str| {
        reg.get(Kind::Attack, n)
            .cloned()
            .map_err(anyhow::Error::msg)
    };
    let (pgd, square) = (find("pgd")?, find("square")?);
    let x = l.input(&Tensor::rand([b, 3, 32, 32], (TKind::Float, dev)));
    let x8 = (&x * 255.0).to_kind(TKind::Uint8);
    let y = Tensor::randint(10, [b], (TKind::Int64, dev));
    let mut out = Vec::new();
    for (name, arch) in [("resnet18", Arch::Resnet18), ("convnet3", Arch::Convnet)] {
        let mut w = |what: &str, run: Box<dyn FnMut()>| {
            out.push(Workload {
                figure: format!("{name}.{what}"),
                images: b,
                run,
            })
        };
        w(
            "train_step",
            train_step(&format!("{name}.train_step"), l, arch, dev, &x, &y),
        );
        let teacher =
            |what: &str, reg| teacher_step(&format!("{name}.{what}"), l, arch, dev, &x8, &y, reg);
        w(
            "guard_cifar_step",
            teacher("guard_cifar_step", guard(l, GuardVariant::Cifar)),
        );
        w(
            "guard_simplified_step",
            teacher("guard_simplified_step", guard(l, GuardVariant::Simplified)),
        );
        let at = Regularizer::PgdAt {
            eps: 8.0 / 255.0,
            alpha: 2.0 / 255.0,
            steps: 10,
        };
        w("pgd10_at_step", teacher("pgd10_at_step", at));
        w(
            "pgd10_linf",
            attack(l, pgd.clone(), arch, dev, &x, &y, serde_json::json!({})),
        );
        w(
            "square100",
            attack(
                l,
                square.clone(),
                arch,
                dev,
                &x,
                &y,
                serde_json::json!({"n_queries": 100}),
            ),
        );
    }
    out.push(student(dev, l));
    out.push(students5(dev, l));
    Ok(out)
}

/// A DD student: ConvNet-3 trained 30 epochs on 100 images (crop + flip, batch 256: one step
/// per epoch). Under `cuda-graphs`, that step captured and replayed 30 times per call, training
/// one student on (the same work; a replay keeps the rate it was captured with, where the loop
/// decays it ×0.1 halfway).
fn student(dev: tch::Device, l: Levers) -> Workload {
    let x = Tensor::rand([100, 3, 32, 32], (TKind::Float, dev));
    let y = Tensor::arange(100, (TKind::Int64, dev)).floor_divide_scalar(10);
    let cfg = l.train(TrainConfig {
        epochs: 30,
        ..TrainConfig::default()
    });
    let figure = "convnet3.student_ipc10";
    let replayed = graphed(figure, l, Arch::Convnet, dev, &x, &y, 30, |m| {
        steps::train(m, &x, &y, &cfg)
    });
    Workload {
        figure: figure.into(),
        images: 100 * 30,
        run: replayed.unwrap_or_else(|| {
            Box::new(move || {
                let mut model = Model::new(&spec(Arch::Convnet), dev);
                l.model(&model);
                ddbench_nn::train_classifier(&mut model, &x, &y, &cfg, &mut |_, _| {})
                    .expect("student");
            })
        }),
    }
}

/// The five IPC 10 sets of a DD cell's seeds (100 random CIFAR-sized images each, 10 per class).
pub fn five_sets(dev: tch::Device) -> Vec<(Tensor, Tensor)> {
    (0..5)
        .map(|_| {
            let x = Tensor::rand([100, 3, 32, 32], (TKind::Float, dev));
            let y = Tensor::arange(100, (TKind::Int64, dev)).floor_divide_scalar(10);
            (x, y)
        })
        .collect()
}

/// Five fresh ConvNet-3 students trained together on `sets` under `cfg`; they are returned.
pub fn five_students(
    dev: tch::Device,
    l: Levers,
    sets: &[(Tensor, Tensor)],
    cfg: &TrainConfig,
) -> Vec<Model> {
    let mut models: Vec<Model> = (0..5)
        .map(|_| Model::new(&spec(Arch::Convnet), dev))
        .collect();
    models.iter().for_each(|m| l.model(m));
    let batched = train_all(&mut models, &MemberSet::seeded(sets), cfg, &|m| {
        eprintln!("{m}")
    })
    .expect("students");
    assert!(batched, "five ConvNet students train batched");
    models
}

/// Five DD students (seeds 0–4 of a cell) trained together: 30 epochs on 100 images each.
fn students5(dev: tch::Device, l: Levers) -> Workload {
    let sets = five_sets(dev);
    let cfg = l.train(TrainConfig {
        epochs: 30,
        ..TrainConfig::default()
    });
    Workload {
        figure: "convnet3.students5_ipc10".into(),
        images: 5 * 100 * 30,
        run: Box::new(move || {
            five_students(dev, l, &sets, &cfg);
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn graphs_that_cannot_be_captured_fall_back_to_eager_steps() {
        // on a CPU the capture fails (the resolved levers never ask there, a forced set does):
        // no graph, and the figures' steps still run eagerly
        let l = Levers {
            cuda_graphs: true,
            ..Levers::default()
        };
        let dev = Device::Cpu;
        tch::manual_seed(0);
        let x = Tensor::rand([4, 3, 32, 32], (TKind::Float, dev));
        let x8 = (&x * 255.0).to_kind(TKind::Uint8);
        let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
        let cfg = TrainConfig::default();
        let step = |m| steps::train(m, &x, &y, &cfg);
        assert!(graphed("t", l, Arch::Convnet, dev, &x, &y, 1, step).is_none());
        train_step("t", l, Arch::Convnet, dev, &x, &y)();
        let at = Regularizer::PgdAt {
            eps: 8.0 / 255.0,
            alpha: 2.0 / 255.0,
            steps: 2,
        };
        teacher_step("t", l, Arch::Convnet, dev, &x8, &y, at)();
    }
}
