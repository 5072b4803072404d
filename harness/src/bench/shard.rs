//! One cell at a time, for cluster tasks. `--cell K` runs cell K alone (`--cell K1,K2,…` a few,
//! seed-mates together) and writes only each cell's own shard: `shards/FOLDER.csv` (its rows,
//! exactly as results.csv holds them) and `shards/FOLDER.json` (how its run ended, with its Slurm
//! job and log when there are some). `--collect` merges the shards into results.csv in the plan's
//! order — what `--jobs 1` writes — then the manifest and the report, and lists the cells that
//! are missing or failed.

use super::manifest::LastRun;
use super::records::{Rec, Records};
use super::scheduler::Slot;
use super::{
    cell_dir, child, child_flags, finish, plan, run_job, stale, take, writer_of, BenchArgs,
};
use crate::leaderboard::Cell;
use crate::output::Ui;
use crate::record::write_atomic;
use crate::run::manifest::State;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit code of a `--cell` run stopped by SIGUSR1 (Slurm's warning before a time limit or a
/// preemption): the cell saved what it could and wants to be requeued.
pub const EXIT_INTERRUPTED: i32 = 3;

/// How a cell's last `--cell` run ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardInfo {
    pub id: String,
    pub hash: String,
    pub last_run: LastRun,
    /// The Slurm job (`ARRAYJOB_TASK`, or the job id) that ran it, if any.
    #[serde(default)]
    pub job: Option<String>,
    /// The task's log (`DDBENCH_TASK_LOG`, set by the job scripts), else the cell's log.txt.
    pub log: PathBuf,
    /// Unix seconds.
    pub started: u64,
    pub ended: u64,
    /// Stopped by SIGUSR1 (to be requeued).
    #[serde(default)]
    pub interrupted: bool,
}

/// The shard files of `c`: its rows and its run.
pub fn paths(out: &Path, c: &Cell) -> (PathBuf, PathBuf) {
    let d = out.join("shards");
    (
        d.join(format!("{}.csv", c.folder())),
        d.join(format!("{}.json", c.folder())),
    )
}

/// The index of the cell `key` names: its index in the plan (from 0), its id or its folder.
pub fn find(cells: &[Cell], key: &str, file: &Path) -> Result<usize> {
    if let Ok(i) = key.parse::<usize>() {
        if i < cells.len() {
            return Ok(i);
        }
        bail!(
            "--cell {i}: {} has {} cells (0 to {})",
            file.display(),
            cells.len(),
            cells.len().saturating_sub(1)
        );
    }
    cells
        .iter()
        .position(|c| c.id == key || c.folder() == key)
        .with_context(|| {
            format!(
                "--cell {key}: no such cell in {} (give an index from 0, or an id such as {})",
                file.display(),
                cells.first().map_or("", |c| c.id.as_str())
            )
        })
}

/// The rows of `c`'s shard under its current hash.
pub fn shard_rows(out: &Path, c: &Cell) -> Result<Vec<Rec>> {
    let mut r = Records::open(&paths(out, c).0, &|_| {})?;
    let folder = c.folder();
    r.rows
        .retain(|r| r.lead.cell == folder && r.lead.cell_hash == c.hash);
    Ok(r.rows)
}

/// `c`'s last `--cell` run, if it ran under its current hash.
pub fn info(out: &Path, c: &Cell) -> Option<ShardInfo> {
    let i: ShardInfo = serde_json::from_slice(&std::fs::read(paths(out, c).1).ok()?).ok()?;
    (i.hash == c.hash).then_some(i)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The Slurm job of this process, as `ARRAYJOB_TASK` for an array task.
pub fn slurm_job() -> Option<String> {
    let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(j), Some(t)) => Some(format!("{j}_{t}")),
        _ => var("SLURM_JOB_ID"),
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn forward_usr1(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let pid = child::CURRENT_CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe; the pid is our own child's.
        unsafe { libc::kill(pid, libc::SIGUSR1) };
    }
}

/// SIGUSR1 from now on is passed on to the running child (which saves and exits).
fn forward_sigusr1() {
    // SAFETY: installs a handler that only touches atomics and calls kill.
    unsafe {
        libc::signal(
            libc::SIGUSR1,
            forward_usr1 as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

/// `ddbench bench FILE --cell K[,K2…]`: runs the cells named that neither their shard nor
/// results.csv holds yet — seed-mates together, as a local run groups them — and writes each
/// one's shard; 0 when all are recorded, 2 when one fell short, 3 when stopped by SIGUSR1.
pub fn run_one(args: &BenchArgs, keys: &str) -> Result<i32> {
    let ui = Ui::new(args.quiet);
    let plan = plan::plan(args, &ui)?;
    let asked = keys
        .split(',')
        .map(|k| find(&plan.cells, k.trim(), &args.file))
        .collect::<Result<Vec<usize>>>()?;
    let mut pending = Vec::new();
    for i in asked {
        let c = &plan.cells[i];
        if recorded(args, c, &ui)? {
            ui.log(&format!("cell {i} {} is already recorded", c.id));
        } else {
            pending.push(i);
        }
    }
    if pending.is_empty() {
        return Ok(0);
    }
    forward_sigusr1();
    let exe = std::env::current_exe().context("locating the ddbench binary")?;
    let common = child_flags(args);
    let mut code = 0;
    for job in super::group::jobs(&plan.cells, &pending) {
        let ids: Vec<&str> = job.iter().map(|&i| plan.cells[i].id.as_str()).collect();
        ui.log(&format!("cell(s) {job:?} {}: running", ids.join(", ")));
        let started = now();
        for (i, ended) in run_job(
            &exe,
            &args.out,
            &plan.cells,
            &job,
            &common,
            Slot::default(),
            &ui,
        )? {
            code = code.max(write_shard(args, &plan, i, ended, started, &ui)?);
        }
    }
    Ok(code)
}

/// The shard of `c` as records (its folder made).
fn shard_of(args: &BenchArgs, c: &Cell, ui: &Ui) -> Result<Records> {
    let (csv, _) = paths(&args.out, c);
    std::fs::create_dir_all(csv.parent().expect("shards folder"))
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut shard = Records::open(&csv, &|m| ui.warn(m))?;
    shard.rows = shard_rows(&args.out, c)?;
    Ok(shard)
}

/// Whether `c` is recorded in its shard or in results.csv.
fn recorded(args: &BenchArgs, c: &Cell, ui: &Ui) -> Result<bool> {
    let shard = shard_of(args, c, ui)?;
    let results = Records::open(&args.out.join("results.csv"), &|_| {})?;
    Ok(shard.count(c) >= c.expected_rows() || results.count(c) >= c.expected_rows())
}

/// Takes cell `i`'s run into its shard and writes how it ended; the task's exit code for it.
fn write_shard(
    args: &BenchArgs,
    plan: &plan::Plan,
    i: usize,
    ended: child::Ended,
    started: u64,
    ui: &Ui,
) -> Result<i32> {
    let c = &plan.cells[i];
    let mut shard = shard_of(args, c, ui)?;
    let last = take(&args.out, c, &plan.data, ended, &mut shard, ui)?;
    let interrupted = INTERRUPTED.load(Ordering::SeqCst) && last.reason.is_some();
    let dir = cell_dir(&args.out, c);
    let log = std::env::var_os("DDBENCH_TASK_LOG").map_or(dir.join("log.txt"), PathBuf::from);
    let code = match (&last.reason, interrupted) {
        (None, _) => 0,
        (Some(_), true) => EXIT_INTERRUPTED,
        (Some(_), false) => 2,
    };
    let info = ShardInfo {
        id: c.id.clone(),
        hash: c.hash.clone(),
        last_run: last,
        job: slurm_job(),
        log,
        started,
        ended: now(),
        interrupted,
    };
    write_atomic(&paths(&args.out, c).1, &serde_json::to_vec_pretty(&info)?)?;
    Ok(code)
}

/// `ddbench bench FILE --collect`: results.csv from the shards (stale rows set aside as a local
/// run does), the manifest and the report; exit code 2 when a cell is missing or failed.
pub fn collect(args: &BenchArgs) -> Result<i32> {
    let ui = Ui::new(args.quiet);
    let _lock = crate::folder_lock::FolderLock::acquire(&args.out)?;
    let plan = plan::plan(args, &ui)?;
    std::fs::create_dir_all(args.out.join("cells"))
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut records = Records::open(&args.out.join("results.csv"), &|m| ui.warn(m))?;
    stale::set_aside(&mut records, &plan.cells, &[], &args.out, &ui)?;
    let mut runs = BTreeMap::new();
    let mut missing = Vec::new();
    for (i, c) in plan.cells.iter().enumerate() {
        let rows = shard_rows(&args.out, c)?;
        if !rows.is_empty() {
            let folder = c.folder();
            records.rows.retain(|r| r.lead.cell != folder);
            records.rows.extend(rows);
        }
        let info = info(&args.out, c);
        if let Some(s) = &info {
            runs.insert(i, s.last_run.clone());
        }
        if records.count(c) < c.expected_rows() {
            missing.push((i, info));
        }
    }
    records.save()?;
    writer_of(args, &plan).write(&records, &runs, State::finished(missing.len()))?;
    let jobs = super::slurm::Submitted::load(&args.out);
    for (i, info) in &missing {
        let c = &plan.cells[*i];
        eprintln!("{}", missing_line(*i, c, info.as_ref(), jobs.as_ref()));
    }
    ui.log(&format!(
        "collected {} of {} cells",
        plan.cells.len() - missing.len(),
        plan.cells.len()
    ));
    finish(args, &plan, &records, missing.len())
}

/// What collect says of a cell that is not recorded: failed (why, its job, its log) or missing.
fn missing_line(
    i: usize,
    c: &Cell,
    info: Option<&ShardInfo>,
    jobs: Option<&super::slurm::Submitted>,
) -> String {
    let (job, log) = match (info, jobs.and_then(|j| j.task_of(i))) {
        (Some(s), _) => (s.job.clone(), Some(s.log.clone())),
        (None, Some((job, log))) => (Some(job), Some(log)),
        (None, None) => (None, None),
    };
    let what = match info {
        Some(s) if s.interrupted => "interrupted (requeued?)".to_string(),
        Some(s) => format!(
            "failed: {}",
            s.last_run.reason.as_deref().unwrap_or("no rows")
        ),
        None => "missing: no shard (not run yet, or its task died before writing one)".into(),
    };
    let job = job.map_or(String::new(), |j| format!("; job {j}"));
    let log = log.map_or(String::new(), |l| format!("; log {}", l.display()));
    format!("cell {i} {} {what}{job}{log}", c.id)
}
