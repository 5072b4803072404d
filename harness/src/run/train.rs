//! The training stage: a fresh student (the run's model spec, seeded by the cell's seed)
//! trained on the distilled set under the run's protocol.

use super::checkpoints::{group_student, interval, CellFiles};
use super::distill::Distilled;
use super::grid::Cell;
use super::Ctx;
use crate::student::{self, Protocol, Settings};
use ddbench_nn::batched::MemberSet;
use ddbench_nn::{Model, ModelSpec, Resume, TrainError};
use ddbench_torch_shim::levers::AutocastBf16;

/// A trained student.
pub struct Student {
    pub model: Model,
    /// The protocol it was trained under (`dd` or `soft-label`) and its epochs.
    pub protocol: &'static str,
    pub epochs: i64,
    pub seconds: f64,
}

/// Where the students of `cells`, trained together, save and resume (said when they resume).
fn group_resume<'a>(ctx: &Ctx<'a>, cells: &[&Cell]) -> Resume<'a> {
    let resume = Resume {
        file: group_student(&ctx.cfg.out, cells),
        every: interval(ctx.cfg),
        stop: ctx.stop,
    };
    if resume.file.exists() {
        let file = resume.file.display();
        ctx.ui
            .log(&format!("{} students resume from {file}", cells.len()));
    }
    resume
}

/// bf16 autocast while the students train, when the run asks for it (`--bf16-students`, kept
/// by setup only where the device computes bf16); evaluation after it runs in float32.
fn autocast(ctx: &Ctx) -> Result<Option<AutocastBf16>, String> {
    if !ctx.cfg.bf16_students {
        return Ok(None);
    }
    AutocastBf16::new(ctx.device).map(Some)
}

/// The fresh student of seed `seed`: the run's model spec, initialised from the seed.
fn fresh_student(ctx: &Ctx, seed: u64) -> Model {
    let cfg = ctx.cfg;
    tch::manual_seed(seed as i64);
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
    model
}

/// Trains the cell's student (from its checkpoint, when a stopped run left one); a failure is
/// the cell's, and so is a stop (SIGUSR1), once the student is saved.
pub fn train(ctx: &Ctx, cell: &Cell, d: &Distilled) -> Result<Student, String> {
    let cfg = ctx.cfg;
    let mut model = fresh_student(ctx, cell.seed);
    let resume = Resume {
        file: CellFiles::of(&cfg.out, cell).student,
        every: interval(cfg),
        stop: ctx.stop,
    };
    if resume.file.exists() {
        ctx.ui.log(&format!(
            "{}: student resumes from {}",
            cell.label(),
            resume.file.display()
        ));
    }
    let settings = Settings {
        protocol: cfg.protocol,
        dd: &d.dd,
        soft: &cfg.soft,
        seed: cell.seed,
        resume: Some(&resume),
    };
    let bf16 = autocast(ctx)?;
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
    drop(bf16);
    let trained = trained.map_err(|e| match e {
        TrainError::Stopped { .. } => format!("{}: {e}", cell.label()),
        TrainError::Failed(e) => format!("{}: training failed: {e}", cell.label()),
    })?;
    Ok(Student {
        model,
        protocol: trained.protocol,
        epochs: trained.epochs,
        seconds: trained.seconds,
    })
}

/// Why these cells' students cannot train together (the DD protocol with one setting, sets of
/// one size and label kind, a ConvNet without batch norm), or `None`.
fn not_together(ctx: &Ctx, sets: &[(&Cell, &Distilled)]) -> Option<String> {
    let (_, first) = sets.first()?;
    let soft = |d: &Distilled| match ctx.cfg.protocol {
        Protocol::Dd => false,
        Protocol::SoftLabel => true,
        Protocol::Auto => d.teacher.is_some(),
    };
    if sets.iter().any(|(_, d)| soft(d)) {
        return Some("the soft-label protocol (batched: DD protocol only)".into());
    }
    if sets.iter().any(|(_, d)| d.dd != first.dd) {
        return Some("the method's hints give the seeds different training settings".into());
    }
    let labels = |d: &Distilled| d.set.soft_labels.as_ref().unwrap_or(&d.set.labels).size();
    if sets
        .iter()
        .any(|(_, d)| d.set.images.size() != first.set.images.size() || labels(d) != labels(first))
    {
        return Some("the seeds' sets differ in size or label kind".into());
    }
    None
}

/// Trains the students of `sets` (a method and IPC's seeds) together as one grouped model
/// (`ddbench_nn::batched`, each member's draws from its cell's seed), or one by one, with a log
/// line, where they cannot be; one result per cell.
pub fn train_together(ctx: &Ctx, sets: &[(&Cell, &Distilled)]) -> Vec<Result<Student, String>> {
    let why = not_together(ctx, sets);
    let mut models: Vec<Model> = sets
        .iter()
        .map(|(c, _)| fresh_student(ctx, c.seed))
        .collect();
    let why = why.or_else(|| ddbench_nn::batched::unsupported(&models));
    if let Some(why) = why {
        ctx.ui
            .log(&format!("students trained one by one, not batched: {why}"));
        return sets.iter().map(|(c, d)| train(ctx, c, d)).collect();
    }
    let member: Vec<MemberSet> = sets
        .iter()
        .map(|(c, d)| MemberSet {
            images: &d.set.images,
            labels: d.set.soft_labels.as_ref().unwrap_or(&d.set.labels),
            seed: c.seed,
        })
        .collect();
    let dd = &sets[0].1.dd;
    let cells: Vec<&Cell> = sets.iter().map(|(c, _)| *c).collect();
    let resume = group_resume(ctx, &cells);
    let bf16 = match autocast(ctx) {
        Ok(g) => g,
        Err(e) => return sets.iter().map(|_| Err(e.clone())).collect(),
    };
    let bar = ctx.ui.bar(dd.epochs as u64, "train");
    bar.set_message(format!("{} students together", sets.len()));
    let r = ddbench_nn::batched::train_batched_resumable(
        &mut models,
        &member,
        dd,
        Some(&resume),
        &mut |e, _| bar.set_position(e as u64),
    );
    bar.finish_and_clear();
    drop(bf16);
    match r {
        Ok(stats) => {
            let seconds = stats.seconds / sets.len() as f64;
            ctx.ui.log(&format!(
                "{} students of {} ipc {} trained together ({:.1}s each)",
                sets.len(),
                sets[0].0.method.name,
                sets[0].0.ipc,
                seconds
            ));
            models
                .into_iter()
                .map(|model| {
                    Ok(Student {
                        model,
                        protocol: "dd",
                        epochs: dd.epochs,
                        seconds,
                    })
                })
                .collect()
        }
        Err(e) => {
            let failed = if matches!(e, TrainError::Stopped { .. }) {
                ""
            } else {
                "training failed: "
            };
            sets.iter()
                .map(|(c, _)| Err(format!("{}: {failed}{e}", c.label())))
                .collect()
        }
    }
}
