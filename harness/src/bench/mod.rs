//! `ddbench bench FILE --out DIR`: runs every cell of a leaderboard file as a child `ddbench run`
//! (one student per cell, `--jobs N` at once, one GPU each when several are visible), merges each
//! finished cell into `results.csv` at once (write-then-rename, by one writer), skips cells
//! already recorded under the same input hash, then builds the report.
//!
//! The stages, one file each: `plan` (the cells and their hashes), `stale` (rows that are no
//! longer the leaderboard's), `scheduler` (the job queue), `child` (one `ddbench run` and its
//! events), `records` (results.csv), `manifest` (manifest.json).

pub mod child;
pub mod group;
pub mod manifest;
pub mod plan;
pub mod records;
pub mod scheduler;
pub mod shard;
pub mod slurm;
pub mod stale;
pub mod status;

use crate::leaderboard::Cell;
use crate::output::Ui;
use crate::run::manifest::{Manifest, PluginEntry, RunFacts, State};
use anyhow::{bail, Context, Result};
use child::Ended;
use manifest::{LastRun, LeaderboardEntry};
use plan::Plan;
use records::Records;
use scheduler::Slot;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use records::{BenchLead, Rec, LEAD_COLUMNS};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The leaderboard file (TOML; see baselines/*.toml).
    pub file: PathBuf,
    /// Output folder: results.csv, manifest.json, cells/ (per-cell logs), the report.
    #[arg(long)]
    pub out: PathBuf,
    /// Rerun a cell even if recorded (its id as printed, e.g. fashion-mnist/random/ipc10/convnet/seed0,
    /// or its folder name); repeatable.
    #[arg(long)]
    pub force: Vec<String>,
    /// Cells run at once (each its own process; one GPU each when CUDA_VISIBLE_DEVICES lists several).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Use this folder for every data set of the file (the folder is not part of a cell's
    /// hash; the data's content hash is).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: crate::device::DeviceChoice,
    #[arg(long, default_value = "results/cache")]
    pub cache_dir: PathBuf,
    #[arg(long = "plugin-dir")]
    pub plugin_dirs: Vec<PathBuf>,
    #[command(flatten)]
    pub save: crate::run::SaveOptions,
    /// Seconds between two saves of a cell's student in training or attack under way, for a
    /// rerun or a requeued task (0: after every epoch / batch); SIGUSR1 saves at once.
    #[arg(long, default_value_t = 300.0)]
    pub checkpoint_every: f64,
    /// No progress bars or log lines (a failed cell's line, with its reason, is still printed).
    #[arg(long)]
    pub quiet: bool,
    /// Do not build the report at the end.
    #[arg(long)]
    pub no_report: bool,
    /// Run this one cell only (its index in the plan, from 0, or its id or folder; several,
    /// comma-separated, run seed-mates together) and write its own shard
    /// (`shards/FOLDER.csv`) instead of results.csv: what a cluster task runs.
    #[arg(long, conflicts_with_all = ["collect", "status"])]
    pub cell: Option<String>,
    /// Merge the shards of `--cell` runs into results.csv (in the plan's order, as a local run
    /// writes it), write the manifest and the report, and list missing or failed cells.
    #[arg(long, conflicts_with = "status")]
    pub collect: bool,
    /// Print where each cell stands (done, running, pending, failed), from the records, the
    /// shards and, after a Slurm submission, squeue/sacct.
    #[arg(long)]
    pub status: bool,
    /// Where cells run: here (`local`, `--jobs` at once) or as Slurm job arrays (`slurm`).
    #[arg(long, value_enum, default_value = "local")]
    pub executor: Executor,
    #[command(flatten)]
    pub slurm: slurm::SlurmArgs,
}

/// Where `ddbench bench` runs its cells.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    Local,
    Slurm,
}

/// Runs the leaderboard as asked: one cell, a collect, a status, a Slurm submission, or here.
pub fn run(args: &BenchArgs) -> Result<i32> {
    if let Some(k) = &args.cell {
        return shard::run_one(args, k);
    }
    if args.collect {
        return shard::collect(args);
    }
    if args.status {
        return status::run(args);
    }
    if args.slurm.requeue_failed {
        return slurm::requeue::requeue_failed(&args.out);
    }
    if args.executor == Executor::Slurm {
        return slurm::submit(args);
    }
    run_here(args)
}

/// Runs the leaderboard here; exit code 0 when every cell is recorded, 2 when some failed.
fn run_here(args: &BenchArgs) -> Result<i32> {
    let ui = Ui::new(args.quiet);
    let _lock = crate::folder_lock::FolderLock::acquire(&args.out)?;
    let plan = plan::plan(args, &ui)?;
    let forced = stale::forced(&plan.cells, &args.force, &args.file)?;
    if args.jobs == 0 {
        bail!("--jobs must be ≥ 1");
    }
    std::fs::create_dir_all(args.out.join("cells"))
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut records = Records::open(&args.out.join("results.csv"), &|m| ui.warn(m))?;
    stale::set_aside(&mut records, &plan.cells, &forced, &args.out, &ui)?;
    let cells = &plan.cells;
    let pending: Vec<usize> = (0..cells.len())
        .filter(|&i| records.count(&cells[i]) < cells[i].expected_rows())
        .collect();
    ui.log(&format!(
        "{}: {} cells, {} already recorded, {} to run ({} at once)",
        args.file.display(),
        cells.len(),
        cells.len() - pending.len(),
        pending.len(),
        args.jobs
    ));
    let writer = writer_of(args, &plan);
    let mut runs = BTreeMap::new();
    writer.write(&records, &runs, State::Running)?;
    let failed = run_cells(args, &plan, &pending, &mut records, &mut runs, &writer, &ui)?;
    writer.write(&records, &runs, State::finished(failed))?;
    finish(args, &plan, &records, failed)
}

/// The manifest writer of a bench of `plan`.
pub(crate) fn writer_of<'a>(args: &'a BenchArgs, plan: &'a Plan) -> manifest::Writer<'a> {
    manifest::Writer {
        out: &args.out,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        cells: &plan.cells,
        plugins: plan.reg.plugins.iter().map(PluginEntry::of).collect(),
        jobs: args.jobs,
        leaderboard: LeaderboardEntry::of(&plan.lb),
        data: &plan.data,
    }
}

/// Runs the `pending` cells (seed-mates together, `group`), recording each as it ends; how many
/// fell short.
fn run_cells(
    args: &BenchArgs,
    plan: &Plan,
    pending: &[usize],
    records: &mut Records,
    runs: &mut BTreeMap<usize, LastRun>,
    writer: &manifest::Writer,
    ui: &Ui,
) -> Result<usize> {
    let exe = std::env::current_exe().context("locating the ddbench binary")?;
    let common = child_flags(args);
    let cells = &plan.cells;
    let overall = ui.bar(cells.len() as u64, "cells");
    overall.set_position((cells.len() - pending.len()) as u64);
    overall.reset_eta();
    let mut failed = 0;
    let jobs = group::jobs(cells, pending);
    let work = |j: usize, slot: Slot| run_job(&exe, &args.out, cells, &jobs[j], &common, slot, ui);
    let gpus = scheduler::visible_gpus();
    let order: Vec<usize> = (0..jobs.len()).collect();
    scheduler::run_all(&order, args.jobs, &gpus, work, |_, ended| {
        for (i, ended) in ended? {
            let last = take(&args.out, &cells[i], &plan.data, ended, records, ui)?;
            failed += usize::from(last.reason.is_some());
            runs.insert(i, last);
            overall.inc(1);
        }
        writer.write(records, runs, State::Running)
    })?;
    overall.finish_and_clear();
    Ok(failed)
}

/// Runs one job — a cell, or seed-mates together — to its end: how it ended for each cell.
pub(crate) fn run_job(
    exe: &Path,
    out: &Path,
    cells: &[Cell],
    job: &group::Job,
    common: &[String],
    slot: Slot,
    ui: &Ui,
) -> Result<Vec<(usize, Ended)>> {
    let first = &cells[job[0]];
    let rows: usize = job.iter().map(|&i| 2 + cells[i].wanted.len()).sum();
    let bar = ui.bar(rows as u64, "cell");
    bar.set_position(1);
    if let [i] = job[..] {
        bar.set_message(first.id.clone());
        let r = child::run_cell(exe, first, &cell_dir(out, first), common, slot, &bar);
        bar.finish_and_clear();
        return Ok(vec![(i, r?)]);
    }
    bar.set_message(format!("{} and {} seed-mates", first.id, job.len() - 1));
    let dir = group::dir(out, cells, job);
    let r = child::run_args(exe, &group::args(cells, job), &dir, common, slot, &bar);
    bar.finish_and_clear();
    let ended = r?;
    let members: Vec<(u64, PathBuf)> = job
        .iter()
        .map(|&i| (cells[i].seed, cell_dir(out, &cells[i])))
        .collect();
    group::hand_out(&dir, &members)?;
    Ok(job
        .iter()
        .map(|&i| (i, ended.of_member(cells[i].seed, job.len())))
        .collect())
}

/// The flags every child gets beyond its cell's own.
pub(crate) fn child_flags(args: &BenchArgs) -> Vec<String> {
    let mut common: Vec<String> = vec![
        "--device".into(),
        format!("{:?}", args.device).to_lowercase(),
        "--cache-dir".into(),
        args.cache_dir.display().to_string(),
        "--checkpoint-every".into(),
        args.checkpoint_every.to_string(),
    ];
    for d in &args.plugin_dirs {
        common.extend(["--plugin-dir".into(), d.display().to_string()]);
    }
    common.extend(args.save.flags());
    common
}

pub(crate) fn cell_dir(out: &Path, c: &Cell) -> PathBuf {
    out.join("cells").join(c.folder())
}

/// Merges a finished cell's rows into the records (saved at once) and says how it went; the
/// last run's `reason` is set when the cell has fewer rows than it should.
pub(crate) fn take(
    out: &Path,
    c: &Cell,
    data: &BTreeMap<String, String>,
    mut ended: Ended,
    records: &mut Records,
    ui: &Ui,
) -> Result<LastRun> {
    let dir = cell_dir(out, c);
    if let Some(e) = data_mismatch(&dir, &data[&c.dataset]) {
        // the data changed under the bench: the cell's rows are not this leaderboard's
        std::fs::remove_file(dir.join("results.csv")).ok();
        ended.reason = Some(e);
    }
    let n = records.merge(c, &dir.join("results.csv"), ended.wall_s, ended.rss_mib)?;
    records.save()?;
    if records.count(c) >= c.expected_rows() {
        ui.log(&format!(
            "cell {} recorded ({n} rows, {:.1}s)",
            c.id, ended.wall_s
        ));
        return Ok(LastRun::of(&ended, n, None));
    }
    let why = ended.why();
    let exit = ended.code.map_or("signal".into(), |c| c.to_string());
    // printed with --quiet too: a failure is never silent (its reason also goes to the manifest)
    tracing::error!(
        "cell {} failed (exit {exit}, {n}/{} rows): {why} — see {}",
        c.id,
        c.expected_rows(),
        dir.join("log.txt").display()
    );
    Ok(LastRun::of(&ended, n, Some(why)))
}

/// Whether the data a child run recorded (its manifest) is not the data the bench hashed.
fn data_mismatch(cell_dir: &Path, expected: &str) -> Option<String> {
    let m: Manifest<RunFacts> = manifest::of_cell(cell_dir)?;
    let got = m.body.dataset?.sha256;
    (got != expected).then(|| {
        format!("the cell ran on data with sha256 {got}, not the {expected} this bench hashed at its start (did the data change?)")
    })
}

/// Prints where the results are, builds the report; the exit code.
pub(crate) fn finish(
    args: &BenchArgs,
    plan: &Plan,
    records: &Records,
    failed: usize,
) -> Result<i32> {
    println!("results: {}", records.path.display());
    println!("manifest: {}", args.out.join("manifest.json").display());
    if !args.no_report && !records.rows.is_empty() {
        let rep = crate::report::build(&args.out, Some(&plan.lb.title))?;
        rep.print();
    }
    if failed > 0 {
        eprintln!("{failed} cell(s) failed; rerun the same command to retry them");
        return Ok(2);
    }
    Ok(0)
}
