//! The text of the job-array scripts and of `submit.sh`: pure functions of the resources, the
//! phases and the command lines, so a unit test checks them without Slurm.

use super::Resources;

/// One job array: a name and the cells its tasks run (task `t` runs the cells `tasks[t]`: one, or
/// seed-mates whose students train together).
pub struct Phase {
    /// `teachers` or `cells`.
    pub name: &'static str,
    pub tasks: Vec<Vec<usize>>,
}

/// What every script shares.
pub struct Common<'a> {
    pub res: &'a Resources,
    /// Absolute: the job scripts and logs go to `slurm/` and `slurm/logs/` under it.
    pub slurm_dir: &'a str,
    /// The folder tasks start in (relative paths of the leaderboard file hold from there).
    pub workdir: &'a str,
    /// `ddbench bench FILE --out DIR ...` (quoted), without `--cell`.
    pub bench: &'a str,
    pub title: &'a str,
}

/// Single-quoted for bash.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+%@".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The `#SBATCH` lines of the resources (`gpus` false for the collect job).
fn resource_lines(res: &Resources, gpus: bool) -> Vec<String> {
    let mut l = Vec::new();
    let mut opt = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            l.push(format!("#SBATCH --{k}={v}"));
        }
    };
    opt("partition", &res.partition);
    opt("account", &res.account);
    opt("time", &res.time);
    if gpus {
        opt("gpus-per-task", &res.gpus_per_task.map(|g| g.to_string()));
        opt("cpus-per-task", &res.cpus_per_task.map(|g| g.to_string()));
        opt("mem", &res.mem);
    }
    l.extend(res.sbatch_args.iter().map(|a| format!("#SBATCH {a}")));
    l
}

fn header(c: &Common, job: &str, log: &str, gpus: bool) -> Vec<String> {
    let mut l = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name={}", quote(&format!("ddbench-{job}"))),
        format!("#SBATCH --output={}/logs/{log}", c.slurm_dir),
        "#SBATCH --open-mode=append".to_string(),
    ];
    l.extend(resource_lines(c.res, gpus));
    l.push(format!(
        "# ddbench bench: {} ({job})",
        c.title.replace('\n', " ")
    ));
    l
}

/// The array task's cell gets the task's CPUs as its threads (`--cpus-per-task`), unless the
/// user chose `OMP_NUM_THREADS`: libtorch otherwise starts a thread per core of the whole node,
/// all of them on the task's few CPUs.
pub const THREADS_LINE: &str = "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ] && [ -z \"${OMP_NUM_THREADS:-}\" ]; then export OMP_NUM_THREADS=\"$SLURM_CPUS_PER_TASK\"; fi";

/// The job-array script of `phase`: each task runs `ddbench bench FILE --cell K`, passes Slurm's
/// warning signal (`--signal=B:USR1@120`) on to it, and requeues itself when the cell stopped to
/// be resumed (exit 3), then waits for Slurm to end it (the requeue does).
pub fn phase_script(c: &Common, p: &Phase) -> String {
    let mut l = header(c, p.name, &format!("{}_%A_%a.out", p.name), true);
    let last = p.tasks.len().saturating_sub(1);
    let limit = c
        .res
        .max_parallel
        .map_or(String::new(), |n| format!("%{n}"));
    l.insert(2, format!("#SBATCH --array=0-{last}{limit}"));
    l.push("#SBATCH --signal=B:USR1@120".into());
    l.push("#SBATCH --requeue".into());
    let cells: Vec<String> = p
        .tasks
        .iter()
        .map(|t| {
            t.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    l.push(format!("CELLS=({})", cells.join(" ")));
    l.push(format!("cd {} || exit 1", quote(c.workdir)));
    l.push(THREADS_LINE.into());
    l.push("task=\"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"".into());
    l.push(format!(
        "export DDBENCH_TASK_LOG=\"{}/logs/{}_$task.out\"",
        c.slurm_dir, p.name
    ));
    l.push(
        "echo \"ddbench: task $task (restart ${SLURM_RESTART_COUNT:-0}) runs cell(s) ${CELLS[$SLURM_ARRAY_TASK_ID]} on $(hostname) at $(date -Is)\""
            .to_string(),
    );
    l.push(format!(
        "{} --cell \"${{CELLS[$SLURM_ARRAY_TASK_ID]}}\" &",
        c.bench
    ));
    l.extend(
        [
            "pid=$!",
            "trap 'echo \"ddbench: SIGUSR1 (time limit or preemption): saving\"; kill -USR1 $pid' USR1",
            "wait $pid; rc=$?",
            "# a trapped signal ends `wait` early: wait again for the cell's own exit",
            "while kill -0 $pid 2>/dev/null; do wait $pid; rc=$?; done",
            "if [ \"$rc\" = 3 ]; then",
            "  echo \"ddbench: cell saved its progress; requeueing $task\"",
            "  # Slurm ends this script as it requeues the task; exiting first would race the",
            "  # requeue with this task's own exit code (seen as FAILED under load)",
            "  if scontrol requeue \"$task\"; then",
            "    for _ in $(seq 600); do sleep 1; done",
            "  fi",
            "fi",
            "exit $rc",
        ]
        .map(String::from),
    );
    l.join("\n") + "\n"
}

/// The collect job: `ddbench bench FILE --collect`, after every cell task has ended.
pub fn collect_script(c: &Common) -> String {
    let mut l = header(c, "collect", "collect_%j.out", false);
    l.push(format!("cd {} || exit 1", quote(c.workdir)));
    l.push(format!("{} --collect", c.bench));
    l.join("\n") + "\n"
}

/// `submit.sh`: the sbatch calls, in order, each later one depending on the one before
/// (`afterok` on the teachers, `afterany` for the collect job).
pub fn submit_script(slurm_dir: &str, teachers: bool) -> String {
    let mut l = vec![
        "#!/bin/bash".to_string(),
        "# what `ddbench bench --executor slurm` submits (written by --dry-run too)".into(),
        "set -euo pipefail".into(),
        format!("cd {}", quote(slurm_dir)),
    ];
    let mut cells_dep = String::new();
    if teachers {
        l.push("teachers=$(sbatch --parsable teachers.sh | cut -d';' -f1)".into());
        cells_dep = " --dependency=afterok:$teachers".into();
    }
    l.push(format!(
        "cells=$(sbatch --parsable{cells_dep} cells.sh | cut -d';' -f1)"
    ));
    l.push(
        "collect=$(sbatch --parsable --dependency=afterany:$cells collect.sh | cut -d';' -f1)"
            .into(),
    );
    l.push(format!(
        "echo \"submitted: {}cells $cells, collect $collect\"",
        if teachers { "teachers $teachers, " } else { "" }
    ));
    l.join("\n") + "\n"
}
