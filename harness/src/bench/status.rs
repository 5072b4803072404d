//! `ddbench bench FILE --status`: where each cell stands — done (in results.csv or its shard),
//! running, pending, failed — from the records, the shards and, after a Slurm submission,
//! `squeue` (live tasks) and `sacct` (ended ones, where accounting is on), with the time spent.

use super::records::Records;
use super::slurm::Submitted;
use super::{plan, shard, BenchArgs};
use crate::output::Ui;
use anyhow::Result;
use std::collections::BTreeMap;
use std::process::Command;

/// A Slurm task's state and elapsed time, by `JOB_TASK`.
type Tasks = BTreeMap<String, (String, String)>;

/// Runs `cmd` and parses `ID|STATE|ELAPSED` lines; empty when the command is not there or fails.
fn tasks_of(cmd: &mut Command) -> Tasks {
    let Ok(o) = cmd.output() else {
        return Tasks::new();
    };
    if !o.status.success() {
        return Tasks::new();
    }
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().split('|');
            let (id, st, el) = (f.next()?, f.next()?, f.next()?);
            let st = st.split_whitespace().next().unwrap_or(st);
            Some((id.to_string(), (st.to_string(), el.to_string())))
        })
        .collect()
}

/// Live tasks (squeue) over ended ones (sacct) of the submitted jobs.
pub fn slurm_tasks(s: &Submitted) -> Tasks {
    let jobs: Vec<&str> = s
        .teachers
        .iter()
        .map(String::as_str)
        .chain([s.cells.as_str()])
        .collect();
    let jobs = jobs.join(",");
    let mut t = tasks_of(Command::new("sacct").args([
        "-n",
        "-P",
        "-X",
        "-j",
        &jobs,
        "-o",
        "JobID,State,Elapsed",
    ]));
    t.extend(tasks_of(
        Command::new("squeue").args(["-h", "-r", "-t", "all", "-j", &jobs, "-o", "%i|%T|%M"]),
    ));
    t
}

/// The state word and time spent of cell `i`.
fn cell_state(
    i: usize,
    recorded: bool,
    info: Option<&shard::ShardInfo>,
    sub: Option<&Submitted>,
    tasks: &Tasks,
) -> (String, String) {
    let spent = info.map_or(String::new(), |s| format!("{:.1}s", s.last_run.wall_s));
    // its tasks: the teacher task that runs it, if any, then its own
    let mut ids = Vec::new();
    if let Some(s) = sub {
        if let (Some(t), Some(k)) = (&s.teachers, s.teacher_cells.iter().position(|&c| c == i)) {
            ids.push(format!("{t}_{k}"));
        }
        ids.extend(s.task_of(i).map(|(job, _)| job));
    }
    let live = ids.iter().find_map(|id| {
        let (st, el) = tasks.get(id)?;
        [
            "RUNNING",
            "PENDING",
            "REQUEUED",
            "CONFIGURING",
            "COMPLETING",
        ]
        .contains(&st.as_str())
        .then(|| (st.clone(), el.clone(), id.clone()))
    });
    if recorded {
        return ("done".into(), spent);
    }
    if let Some((st, el, id)) = live {
        let word = if st == "RUNNING" || st == "COMPLETING" {
            "running"
        } else {
            "pending"
        };
        return (format!("{word} (task {id}, {st})"), el);
    }
    if let Some(s) = info {
        let why = s.last_run.reason.as_deref().unwrap_or("no rows");
        return (format!("failed: {why}"), spent);
    }
    let ended = ids.iter().find_map(|id| tasks.get(id).map(|t| (id, t)));
    match ended {
        Some((id, (st, el))) if st != "COMPLETED" => {
            (format!("failed (task {id}, {st}, no shard)"), el.clone())
        }
        _ => ("pending".into(), String::new()),
    }
}

/// Prints one line per cell and the totals; exit code 0.
pub fn run(args: &BenchArgs) -> Result<i32> {
    let ui = Ui::new(true);
    let plan = plan::plan(args, &ui)?;
    let records = Records::open(&args.out.join("results.csv"), &|_| {})?;
    let sub = Submitted::load(&args.out);
    let tasks = sub.as_ref().map(slurm_tasks).unwrap_or_default();
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for (i, c) in plan.cells.iter().enumerate() {
        let shard_rows = shard::shard_rows(&args.out, c)?.len();
        let recorded = records.count(c).max(shard_rows) >= c.expected_rows();
        let info = shard::info(&args.out, c);
        let (state, spent) = cell_state(i, recorded, info.as_ref(), sub.as_ref(), &tasks);
        let word = state.split([' ', ':']).next().unwrap_or("").to_string();
        *totals.entry(word).or_default() += 1;
        let spent = if spent.is_empty() {
            String::new()
        } else {
            format!(" [{spent}]")
        };
        println!("{i:>4} {:<8} {}{spent}", state_word(&state), c.id);
        if state.contains(' ') {
            println!("       {state}");
        }
    }
    let line: Vec<String> = totals.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!("{} cells: {}", plan.cells.len(), line.join(", "));
    Ok(0)
}

fn state_word(s: &str) -> &str {
    s.split([' ', ':']).next().unwrap_or("")
}
