//! `ddbench run` in stages: setup (device, plugins, data) → attacked subset → grid of cells →
//! per cell: distil → teacher evaluation → train → clean evaluation → attacks, each row handed
//! to the recorder (the only writer) as soon as it exists. A failing cell is reported and the
//! run goes on; errors before the first cell are fatal. See ARCHITECTURE.md.

mod attack_resume;
pub mod checkpoints;
mod config;
mod distill;
mod evaluate;
pub mod events;
pub mod export;
pub mod external;
pub mod external_model;
pub mod grid;
mod kept_set;
pub mod manifest;
mod recorder;
pub mod reuse;
mod rows;
mod setup;
mod subset;
mod teacher;
mod train;

pub use config::{RunConfig, RunSummary};
pub use export::SaveOptions;

use crate::data::DeviceDataset;
use crate::device_memory::PeakMemory;
use crate::folder_lock::FolderLock;
use crate::output::Ui;
use anyhow::Result;
use events::{Event, EventSink};
use grid::{Cell, Grid};
use recorder::Recorder;
use subset::AttackSubset;
use teacher::TeacherEvals;

/// What the stages of one cell read: the run's settings and resources.
pub struct Ctx<'a> {
    pub cfg: &'a RunConfig,
    pub ui: &'a Ui,
    pub device: tch::Device,
    pub data: &'a DeviceDataset,
    pub subset: &'a AttackSubset,
    pub memory: &'a PeakMemory,
    /// The students' ZCA layer, when the run whitens (`--whitening zca`).
    pub zca: Option<&'a ddbench_nn::Zca>,
    /// Whether the run has been asked to stop (SIGUSR1): trainings and attacks save and stop.
    pub stop: &'a dyn Fn() -> bool,
}

/// Runs the whole grid; progress goes to `events` as well as to the log.
pub fn run(cfg: &RunConfig, command_line: &str, events: &EventSink) -> Result<RunSummary> {
    let ui = Ui::new(cfg.quiet);
    let _lock = FolderLock::acquire(&cfg.out)?;
    let usr1 = ddbench_nn::StopOnUsr1::install();
    // the plugins' long loops (matching distillation) save at the run's interval too
    std::env::set_var("DDBENCH_CHECKPOINT_EVERY", cfg.checkpoint_every.to_string());
    let setup = setup::prepare(cfg, &ui)?;
    // from here on every plugin's config is the resolved one: what is run, keyed and recorded
    let cfg = &RunConfig {
        method_config: setup.method_config.clone(),
        attack_config: setup.attack_config.clone(),
        bf16_students: setup.bf16_students,
        ..cfg.clone()
    };
    let subset = AttackSubset::take(&setup.data, cfg.n_attack, &ui)?;
    let (x2, y2) = subset.head(2);
    let (attacks, classes) = (&setup.attacks, setup.data.num_classes);
    let eps = cfg.eps_list();
    crate::preflight::check_attacks(
        attacks,
        &cfg.attack_config,
        cfg.norm,
        &eps,
        &x2,
        &y2,
        classes,
    )?;
    let grid = Grid::new(cfg, &setup.data, &setup.methods, &setup.attacks);
    let mut rec = Recorder::open(cfg, &setup, &grid, subset.len(), command_line, &ui, events)?;
    let ctx = Ctx {
        cfg,
        ui: &ui,
        device: setup.device,
        data: &setup.data,
        subset: &subset,
        memory: &setup.memory,
        zca: setup.zca.as_ref(),
        stop: &|| usr1.asked(),
    };
    let mut teachers = TeacherEvals::new(setup.pgd.as_ref(), cfg.eval_batch);
    let cells = grid.cells();
    let todo: Vec<&Cell> = cells
        .iter()
        .filter(|cell| {
            let done = rec.has_all(cell);
            if done {
                let at = cfg.out.join("results.csv");
                ui.log(&format!(
                    "skip {}: already in {}",
                    cell.label(),
                    at.display()
                ));
            }
            !done
        })
        .collect();
    if cfg.batch_students {
        // cells run methods, then IPCs, then seeds: a method and IPC's seeds are neighbours
        for group in todo.chunk_by(|a, b| a.method.name == b.method.name && a.ipc == b.ipc) {
            if stopped(&ctx) {
                break;
            }
            run_group(&ctx, group, &mut rec, &mut teachers)?;
            let done = |c: &Cell| rec.has_all(c);
            checkpoints::remove_when_done(&cfg.out, group, &done, &|m| ui.warn(m));
        }
    } else {
        for cell in todo {
            if stopped(&ctx) {
                break;
            }
            if let Err(reason) = run_cell(&ctx, cell, &mut rec, &mut teachers)? {
                rec.fail(cell, reason)?;
            }
            let done = |c: &Cell| rec.has_all(c);
            checkpoints::remove_when_done(&cfg.out, &[cell], &done, &|m| ui.warn(m));
        }
    }
    rec.finish()
}

/// Whether SIGUSR1 asked the run to stop (then the cells not yet started are left for a rerun).
fn stopped(ctx: &Ctx) -> bool {
    let stop = (ctx.stop)();
    if stop {
        ctx.ui.log(&format!(
            "{}: the cells not started are left for a rerun",
            ddbench_nn::resume::STOPPED
        ));
    }
    stop
}

/// The cell's rows not yet recorded: the clean one, then each attack at its ε (an attack's
/// failure is the row's, reported; the others go on).
fn cell_rows(
    ctx: &Ctx,
    cell: &Cell,
    rec: &mut Recorder,
    student: &train::Student,
    clean: &evaluate::CleanEval,
    base: &crate::record::ResultRow,
) -> Result<()> {
    let pending: Vec<_> = cell.rows.iter().filter(|r| !rec.has(&r.id())).collect();
    let files = checkpoints::CellFiles::of(&ctx.cfg.out, cell);
    for wanted in pending {
        let key_hash = wanted.key.hash();
        let Some(attack) = wanted.attack else {
            rec.record_clean(
                cell,
                crate::record::ResultRow {
                    key_hash,
                    ..base.clone()
                },
            )?;
            continue;
        };
        let label = cell.label();
        let job = evaluate::AttackJob {
            attack,
            eps: wanted.eps,
            seed: cell.seed,
            label: &label,
            resume: Some(files.attack(&key_hash)),
        };
        match evaluate::attack(ctx, student, clean, &job) {
            Ok(mut run) => {
                if let Some(adv) = run.adversarial.take() {
                    saved(rec, cell, true, "--save-adversarial", || {
                        export::adversarial(ctx, cell, &attack.name, wanted.eps, &adv)
                    })?;
                }
                let o = rows::attack_row(ctx, base, attack, wanted.eps, run, key_hash);
                ctx.ui.log(&format!(
                    "{label}: {} eps {:.4}: robust accuracy {:.2}%",
                    attack.name, wanted.eps, o.row.robust_acc
                ));
                rec.record_attack(cell, o)?;
            }
            Err(e) => {
                let why = format!("{label}, attack {} eps {}: {e}", attack.name, wanted.eps);
                rec.fail(cell, why)?;
                if (ctx.stop)() {
                    break; // the other rows are left for a rerun
                }
            }
        }
    }
    Ok(())
}

/// Writes an artefact when `on`; a failed write is the cell's reported failure, and its rows
/// are still recorded.
fn saved(
    rec: &mut Recorder,
    cell: &Cell,
    on: bool,
    flag: &str,
    write: impl FnOnce() -> Result<(), String>,
) -> Result<()> {
    match if on { write() } else { Ok(()) } {
        Ok(()) => Ok(()),
        Err(e) => rec.fail(cell, format!("{}: {flag}: {e}", cell.label())),
    }
}

/// A cell distilled: its set and, when its method handed over a teacher, the teacher's
/// evaluation.
struct Prepared {
    d: distill::Distilled,
    teacher_eval: Option<manifest::TeacherEval>,
}

/// Distils the cell (and saves the set, evaluates a new teacher). The outer error stops the
/// run (the records cannot be written); the inner one is the cell's failure.
fn prepare(
    ctx: &Ctx,
    cell: &Cell,
    rec: &mut Recorder,
    teachers: &mut TeacherEvals,
) -> Result<Result<Prepared, String>> {
    rec.events()
        .emit(&Event::CellStarted { cell: cell.label() });
    let d = match distill::distill(ctx, cell) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    saved(
        rec,
        cell,
        ctx.cfg.save.distilled,
        "--save-distilled",
        || export::distilled(ctx, cell, &d),
    )?;
    let teacher_eval = d
        .teacher
        .as_ref()
        .map(|t| teachers.of(t, ctx.data, ctx.subset, ctx.ui));
    rec.set_teachers(&teachers.done);
    Ok(Ok(Prepared { d, teacher_eval }))
}

/// The trained student's clean evaluation, then its rows.
fn evaluate_student(
    ctx: &Ctx,
    cell: &Cell,
    rec: &mut Recorder,
    p: Prepared,
    student: train::Student,
) -> Result<Result<(), String>> {
    let clean = match evaluate::clean(ctx, &student) {
        Ok(c) => c,
        Err(e) => return Ok(Err(format!("{}: clean evaluation: {e}", cell.label()))),
    };
    ctx.ui.log(&format!(
        "{}: clean accuracy {:.2}% ({} protocol, {} epochs, {:.1}s)",
        cell.label(),
        clean.acc,
        student.protocol,
        student.epochs,
        student.seconds
    ));
    rec.events().emit(&Event::Trained {
        cell: cell.label(),
        clean_acc: clean.acc,
    });
    saved(rec, cell, ctx.cfg.save.student, "--save-student", || {
        export::student(ctx, cell, &student, clean.acc)
    })?;
    let base = rows::clean_row(ctx, cell, &p.d, &student, &clean, p.teacher_eval);
    rec.begin_cell(cell)?;
    cell_rows(ctx, cell, rec, &student, &clean, &base)?;
    Ok(Ok(()))
}

/// One cell through every stage. The outer error stops the run (the records cannot be
/// written); the inner one is the cell's failure.
fn run_cell(
    ctx: &Ctx,
    cell: &Cell,
    rec: &mut Recorder,
    teachers: &mut TeacherEvals,
) -> Result<Result<(), String>> {
    let p = match prepare(ctx, cell, rec, teachers)? {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    match train::train(ctx, cell, &p.d) {
        Ok(s) => evaluate_student(ctx, cell, rec, p, s),
        Err(e) => Ok(Err(e)),
    }
}

/// The seeds of one method and IPC (`--batch-students`): each distilled, their students
/// trained together, each evaluated; a cell's failure is its own.
fn run_group(
    ctx: &Ctx,
    cells: &[&Cell],
    rec: &mut Recorder,
    teachers: &mut TeacherEvals,
) -> Result<()> {
    let mut ready = Vec::new();
    for &cell in cells {
        match prepare(ctx, cell, rec, teachers)? {
            Ok(p) => ready.push((cell, p)),
            Err(e) => rec.fail(cell, e)?,
        }
    }
    let sets: Vec<(&Cell, &distill::Distilled)> = ready.iter().map(|(c, p)| (*c, &p.d)).collect();
    let students = train::train_together(ctx, &sets);
    for ((cell, p), student) in ready.into_iter().zip(students) {
        let r = match student {
            Ok(s) => evaluate_student(ctx, cell, rec, p, s)?,
            Err(e) => Err(e),
        };
        if let Err(reason) = r {
            rec.fail(cell, reason)?;
        }
    }
    Ok(())
}
