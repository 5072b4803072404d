//! `ddbench bench FILE --executor slurm`: the leaderboard as Slurm job arrays. Phase 1
//! (`teachers.sh`) has one task per distinct teacher — the first cell of each group of cells
//! that share one (same data set, method and config; only methods that declare a teacher) — so
//! no two tasks train the same teacher; phase 2 (`cells.sh`, `afterok` on phase 1) one task per
//! cell, or per group of seed-mates under `[student] batch_students` (their students train
//! together; a cell phase 1 recorded finds its shard and is left out); then `collect.sh`
//! (`afterany` on phase 2) merges the shards. Everything goes under `OUT/slurm/`.

pub mod requeue;
pub mod script;

use super::{plan, BenchArgs};
use crate::output::Ui;
use crate::plugin::Kind;
use anyhow::{bail, Context, Result};
use script::{quote, Common, Phase};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Resources of the job arrays, as flags (they win over the file's `[slurm]` table).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct SlurmArgs {
    /// Slurm partition (`--executor slurm`).
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm account to charge.
    #[arg(long)]
    pub account: Option<String>,
    /// Time limit of one task (Slurm's format, e.g. 4:00:00).
    #[arg(long)]
    pub time: Option<String>,
    #[arg(long)]
    pub gpus_per_task: Option<u32>,
    #[arg(long)]
    pub cpus_per_task: Option<u32>,
    /// Memory of one task (Slurm's format, e.g. 32G).
    #[arg(long)]
    pub mem: Option<String>,
    /// Tasks of one array running at once (the array's `%N`).
    #[arg(long)]
    pub max_parallel: Option<usize>,
    /// A further sbatch option for every job, e.g. `--sbatch-arg=--qos=long`; repeatable.
    #[arg(long = "sbatch-arg", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Write the job scripts and `submit.sh` under OUT/slurm/ but submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Requeue the submitted tasks that ended badly (killed, failed, timed out) and renew the
    /// cells' dependency on the teachers.
    #[arg(long)]
    pub requeue_failed: bool,
}

/// The `[slurm]` table of a leaderboard file: the same keys as the flags.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSpec {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub time: Option<String>,
    pub gpus_per_task: Option<u32>,
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    pub max_parallel: Option<usize>,
    #[serde(default)]
    pub sbatch_args: Vec<String>,
}

/// The resources a submission asks for: each flag, else the file's key.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Resources {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub time: Option<String>,
    pub gpus_per_task: Option<u32>,
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    pub max_parallel: Option<usize>,
    pub sbatch_args: Vec<String>,
}

impl Resources {
    pub fn of(flags: &SlurmArgs, file: Option<&SlurmSpec>) -> Resources {
        let f = file.cloned().unwrap_or_default();
        let mut sbatch_args = f.sbatch_args;
        sbatch_args.extend(flags.sbatch_args.iter().cloned());
        Resources {
            partition: flags.partition.clone().or(f.partition),
            account: flags.account.clone().or(f.account),
            time: flags.time.clone().or(f.time),
            gpus_per_task: flags.gpus_per_task.or(f.gpus_per_task),
            cpus_per_task: flags.cpus_per_task.or(f.cpus_per_task),
            mem: flags.mem.clone().or(f.mem),
            max_parallel: flags.max_parallel.or(f.max_parallel),
            sbatch_args,
        }
    }
}

/// What was submitted (`OUT/slurm/submitted.json`): read by `--collect` and `--status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submitted {
    /// Job id of the teachers' array, if there was one, and the cells its tasks run.
    pub teachers: Option<String>,
    pub teacher_cells: Vec<usize>,
    /// Job id of the cells' array.
    pub cells: String,
    /// The cells each task of that array runs (task K: `tasks[K]`; seed-mates share one). Empty
    /// in a submission of a ddbench before it, where task K ran cell K.
    #[serde(default)]
    pub tasks: Vec<Vec<usize>>,
    pub collect: String,
    pub logs: PathBuf,
}

impl Submitted {
    pub fn load(out: &Path) -> Option<Submitted> {
        serde_json::from_slice(&std::fs::read(out.join("slurm/submitted.json")).ok()?).ok()
    }

    /// The phase-2 task of cell `i` and its log.
    pub fn task_of(&self, i: usize) -> Option<(String, PathBuf)> {
        let k = if self.tasks.is_empty() {
            i
        } else {
            self.tasks.iter().position(|t| t.contains(&i))?
        };
        let job = format!("{}_{k}", self.cells);
        let log = self.logs.join(format!("cells_{job}.out"));
        Some((job, log))
    }
}

/// The first cell of each group of cells that share a teacher (same data set, method, label),
/// for methods that declare one (`FLAG_TEACHER`); in the plan's order.
pub fn teacher_cells(plan: &plan::Plan) -> Vec<usize> {
    let has_teacher = |m: &str| {
        plan.reg
            .get(Kind::Method, m)
            .is_ok_and(|p| p.flags & ddbench_plugin_api::abi::FLAG_TEACHER != 0)
    };
    let mut first: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for (i, c) in plan.cells.iter().enumerate() {
        if has_teacher(&c.method) {
            first
                .entry((c.dataset.clone(), c.method.clone(), c.label.clone()))
                .or_insert(i);
        }
    }
    let mut v: Vec<usize> = first.into_values().collect();
    v.sort();
    v
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// `ddbench bench FILE --out OUT` with every flag a task needs (paths absolute), quoted.
fn bench_command(args: &BenchArgs) -> Result<String> {
    let exe = std::env::current_exe().context("locating the ddbench binary")?;
    let mut v = vec![
        absolute(&exe),
        "bench".into(),
        absolute(&args.file),
        "--out".into(),
        absolute(&args.out),
        "--device".into(),
        format!("{:?}", args.device).to_lowercase(),
        "--cache-dir".into(),
        absolute(&args.cache_dir),
        "--checkpoint-every".into(),
        args.checkpoint_every.to_string(),
        "--quiet".into(),
    ];
    if let Some(d) = &args.data_dir {
        v.extend(["--data-dir".into(), absolute(d)]);
    }
    for d in &args.plugin_dirs {
        v.extend(["--plugin-dir".into(), absolute(d)]);
    }
    if args.no_report {
        v.push("--no-report".into());
    }
    v.extend(args.save.flags());
    Ok(v.iter().map(|s| quote(s)).collect::<Vec<_>>().join(" "))
}

/// Writes the scripts under OUT/slurm/ and, unless `--dry-run`, submits them.
pub fn submit(args: &BenchArgs) -> Result<i32> {
    let ui = Ui::new(args.quiet);
    let plan = plan::plan(args, &ui)?;
    let res = Resources::of(&args.slurm, plan.lb.spec.slurm.as_ref());
    let dir = args.out.join("slurm");
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let slurm_dir = absolute(&dir);
    let workdir = absolute(&std::env::current_dir()?);
    let bench = bench_command(args)?;
    let common = Common {
        res: &res,
        slurm_dir: &slurm_dir,
        workdir: &workdir,
        bench: &bench,
        title: &plan.lb.title,
    };
    let teachers = teacher_cells(&plan);
    let mut files = vec![];
    if !teachers.is_empty() {
        let p = Phase {
            name: "teachers",
            tasks: teachers.iter().map(|&i| vec![i]).collect(),
        };
        files.push(("teachers.sh", script::phase_script(&common, &p)));
    }
    // seed-mates (`[student] batch_students`) share a task, whose students train together
    let all: Vec<usize> = (0..plan.cells.len()).collect();
    let tasks = super::group::jobs(&plan.cells, &all);
    let all = Phase {
        name: "cells",
        tasks: tasks.clone(),
    };
    files.push(("cells.sh", script::phase_script(&common, &all)));
    files.push(("collect.sh", script::collect_script(&common)));
    files.push((
        "submit.sh",
        script::submit_script(&slurm_dir, !teachers.is_empty()),
    ));
    for (name, text) in &files {
        std::fs::write(dir.join(name), text)
            .with_context(|| format!("writing {}", dir.join(name).display()))?;
    }
    println!(
        "{} cells in {} task(s), {} teacher task(s); scripts in {}",
        plan.cells.len(),
        tasks.len(),
        teachers.len(),
        dir.display()
    );
    if args.slurm.dry_run {
        println!("dry run: nothing submitted; `bash {slurm_dir}/submit.sh` submits them");
        return Ok(0);
    }
    let s = sbatch_all(&dir, teachers, tasks)?;
    std::fs::write(dir.join("submitted.json"), serde_json::to_vec_pretty(&s)?)?;
    println!(
        "submitted: {}cells {} ({} tasks), collect {}",
        s.teachers
            .as_ref()
            .map_or(String::new(), |t| format!("teachers {t}, ")),
        s.cells,
        s.tasks.len(),
        s.collect
    );
    println!(
        "watch: ddbench bench {} --out {} --status",
        args.file.display(),
        args.out.display()
    );
    Ok(0)
}

/// `sbatch --parsable [--dependency=DEP] SCRIPT` in `dir`: the job id.
fn sbatch(dir: &Path, script: &str, dep: Option<String>) -> Result<String> {
    let mut cmd = std::process::Command::new("sbatch");
    cmd.current_dir(dir).arg("--parsable");
    if let Some(d) = dep {
        cmd.arg(format!("--dependency={d}"));
    }
    let o = cmd
        .arg(script)
        .output()
        .context("running sbatch (is Slurm installed here? --dry-run writes the scripts only)")?;
    if !o.status.success() {
        bail!(
            "sbatch {script}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    let out = String::from_utf8_lossy(&o.stdout);
    Ok(out.trim().split(';').next().unwrap_or_default().to_string())
}

fn sbatch_all(dir: &Path, teacher_cells: Vec<usize>, tasks: Vec<Vec<usize>>) -> Result<Submitted> {
    let teachers = if teacher_cells.is_empty() {
        None
    } else {
        Some(sbatch(dir, "teachers.sh", None)?)
    };
    let cells = sbatch(
        dir,
        "cells.sh",
        teachers.as_ref().map(|t| format!("afterok:{t}")),
    )?;
    let collect = sbatch(dir, "collect.sh", Some(format!("afterany:{cells}")))?;
    Ok(Submitted {
        teachers,
        teacher_cells,
        cells,
        tasks,
        collect,
        logs: PathBuf::from(absolute(&dir.join("logs"))),
    })
}

#[cfg(test)]
mod tests;
