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

/// Lets the requeued task `id` start at once: Slurm sets a later begin time once the requeue
/// has settled, and an update made before that is lost, so for up to 10 s (or until it runs) every
/// wait for its begin time is lifted again.
fn start_now(id: &str) -> Result<()> {
    for _ in 0..40 {
        let o = Command::new("squeue")
            .args(["-h", "-t", "all", "-j", id, "-o", "%T|%r"])
            .output()
            .context("running squeue")?;
        let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if s.starts_with("RUNNING") || s.starts_with("COMPLETED") {
            return Ok(());
        }
        if s == "PENDING|BeginTime" {
            scontrol(&["update", &format!("jobid={id}"), "StartTime=now"])?;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
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
            start_now(id)?;
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
