//! `ddbench bench FILE --out OUT --requeue-failed`: every task of the submitted arrays that ended
//! badly (failed, cancelled, timed out, node failure, out of memory) is requeued and allowed to
//! start at once (`scontrol requeue`, then `StartTime=now`: Slurm holds a requeued job back);
//! when a teacher task is among them, the cells array's `afterok` — which Slurm leaves
//! unsatisfied for good once a task it waits for failed — is renewed on the teacher tasks.

use super::Submitted;
use crate::bench::status;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

const BAD: [&str; 8] = [
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
];

fn scontrol(args: &[&str]) -> Result<()> {
    let o = Command::new("scontrol")
        .args(args)
        .output()
        .context("running scontrol")?;
    if !o.status.success() {
        bail!(
            "scontrol {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(())
}

/// Requeues the tasks of the submission under `out` that ended badly; exit code 0.
pub fn requeue_failed(out: &Path) -> Result<i32> {
    let sub = Submitted::load(out).with_context(|| {
        format!(
            "{}: no Slurm submission (slurm/submitted.json) to requeue from",
            out.display()
        )
    })?;
    let tasks = status::slurm_tasks(&sub);
    let teacher_tasks: Vec<String> = sub.teachers.as_ref().map_or(Vec::new(), |t| {
        (0..sub.teacher_cells.len())
            .map(|k| format!("{t}_{k}"))
            .collect()
    });
    let mut requeued = Vec::new();
    for (id, (state, _)) in &tasks {
        if BAD.contains(&state.as_str()) {
            scontrol(&["requeue", id])?;
            scontrol(&["update", &format!("jobid={id}"), "StartTime=now"])?;
            requeued.push(format!("{id} ({state})"));
        }
    }
    if requeued.iter().any(|r| {
        teacher_tasks
            .iter()
            .any(|t| r.starts_with(&format!("{t} ")))
    }) {
        let dep = format!("dependency=afterok:{}", teacher_tasks.join(":"));
        scontrol(&["update", &format!("jobid={}", sub.cells), &dep])?;
    }
    if requeued.is_empty() {
        println!("no task to requeue (none failed, or Slurm no longer lists them)");
    } else {
        println!("requeued: {}", requeued.join(", "));
    }
    Ok(0)
}
