//! The training stage: a fresh student (the run's model spec, seeded by the cell's seed)
//! trained on the distilled set under the run's protocol.

use super::distill::Distilled;
use super::grid::Cell;
use super::Ctx;
use crate::student::{self, Settings};
use ddbench_nn::{Model, ModelSpec};
use std::time::Instant;

/// A trained student.
pub struct Student {
    pub model: Model,
    /// The protocol it was trained under (`dd` or `soft-label`) and its epochs.
    pub protocol: &'static str,
    pub epochs: i64,
    pub seconds: f64,
}

/// Trains the cell's student; a failure is the cell's.
pub fn train(ctx: &Ctx, cell: &Cell, d: &Distilled) -> Result<Student, String> {
    let cfg = ctx.cfg;
    tch::manual_seed(cell.seed as i64);
    let data = ctx.data;
    // a whitened student sees raw [0, 1] pixels through its ZCA layer (MTT / DATM: no
    // mean/std normalisation before the ZCA)
    let (mean, std) = match ctx.zca {
        None => (data.mean.clone(), data.std.clone()),
        Some(_) => (vec![0.0; data.mean.len()], vec![1.0; data.std.len()]),
    };
    let mut spec = ModelSpec::convnet(data.shape, data.num_classes, mean, std);
    spec.arch = cfg.arch;
    spec.width = cfg.width;
    spec.depth = cfg.depth;
    spec.norm = cfg.norm_layer;
    let mut model = Model::new(&spec, ctx.device);
    if let Some(zca) = ctx.zca {
        model.set_zca(zca.clone());
    }
    let t = Instant::now();
    let settings = Settings {
        protocol: cfg.protocol,
        dd: &d.dd,
        soft: &cfg.soft,
        seed: cell.seed,
    };
    let bar = ctx.ui.bar(d.dd.epochs as u64, "train");
    bar.set_message(format!(
        "{}, {} images",
        cell.label(),
        d.set.images.size()[0]
    ));
    let trained = student::train(
        &mut model,
        &d.set,
        d.teacher.as_ref().map(|t| &t.model),
        &settings,
        &mut |e, n| {
            bar.set_length(n as u64);
            bar.set_position(e as u64)
        },
    );
    bar.finish_and_clear();
    let trained = trained.map_err(|e| format!("{}: training failed: {e}", cell.label()))?;
    Ok(Student {
        model,
        protocol: trained.protocol,
        epochs: trained.epochs,
        seconds: t.elapsed().as_secs_f64(),
    })
}
