//! `ddbench bench FILE --cell K` and `--collect`: a leaderboard run cell by cell (each writing
//! only its own shard) and then collected gives the results.csv of `ddbench bench --jobs 1`,
//! row for row and byte for byte, measured columns (clock and memory) aside; a cell already
//! recorded is not rerun; a missing cell is listed by collect (exit 2) and a later collect fills
//! it in.

use ddbench_tests::{comparable_results, ddbench_in, text, write_tiny_idx};
use std::path::Path;

/// Two methods, one with a teacher (a tiny one), two seeds: 4 cells.
pub const LEADERBOARD: &str = r#"
name = "shards"
ipc = [2]
seeds = 2
[student]
width = 8
epochs = 6
soft_epochs = 3
n_attack = 20
[[datasets]]
name = "fashion-mnist"
data_dir = "data"
[[methods]]
name = "random"
[[methods]]
name = "sre2l"
config = { teacher_arch = "convnet", teacher_width = 8, teacher_epochs = 3, teacher_subset = 30, iterations = 5, ipc_per_batch = 2 }
[[attacks]]
name = "fgsm"
eps = ["8/255"]
"#;

fn bench(d: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    // a cache of each output folder's own: each trains its teacher
    let cache = format!("{out}-cache");
    let mut args = vec!["bench", "lb.toml", "--out", out, "--device", "cpu"];
    args.extend_from_slice(&["--cache-dir", &cache, "--quiet", "--no-report"]);
    args.extend_from_slice(extra);
    ddbench_in(d, &args)
}

#[test]
fn cells_run_one_by_one_then_collected_equal_a_local_jobs_1_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    write_tiny_idx(&d.join("data"), 200, 60);
    std::fs::write(d.join("lb.toml"), LEADERBOARD).unwrap();
    let r = bench(d, "local", &["--jobs", "1"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let local = comparable_results(&d.join("local/results.csv"));
    assert_eq!(local.len(), 1 + 4, "4 cells, one row each");

    // cells in another order than the plan's, one left out: collect lists it and exits 2
    for k in ["3", "0", "1"] {
        let r = bench(d, "sharded", &["--cell", k]);
        assert_eq!(r.status.code(), Some(0), "--cell {k}: {}", text(&r));
    }
    assert!(
        !d.join("sharded/results.csv").exists(),
        "--cell writes shards only"
    );
    assert_eq!(
        std::fs::read_dir(d.join("sharded/shards")).unwrap().count(),
        3 * 2
    );
    let r = bench(d, "sharded", &["--collect"]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r));
    assert!(
        text(&r).contains("cell 2 fashion-mnist/sre2l/ipc2/convnet/seed0 missing"),
        "{}",
        text(&r)
    );
    let r = bench(d, "sharded", &["--status"]);
    let status = text(&r);
    assert!(status.contains("4 cells: 3 done, 1 pending"), "{status}");
    assert!(
        status.contains("   2 pending  fashion-mnist/sre2l/ipc2/convnet/seed0"),
        "{status}"
    );
    // the last cell by its id; a recorded cell is not rerun
    let r = bench(
        d,
        "sharded",
        &["--cell", "fashion-mnist/sre2l/ipc2/convnet/seed0"],
    );
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let shards = || {
        let mut v: Vec<_> = std::fs::read_dir(d.join("sharded/shards"))
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (p.clone(), std::fs::read(&p).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let before = shards();
    let t = std::time::Instant::now();
    let r = bench(d, "sharded", &["--cell", "0"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert_eq!(shards(), before, "a recorded cell ran again");
    eprintln!(
        "--cell of a recorded cell: {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let r = bench(d, "sharded", &["--collect"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let sharded = comparable_results(&d.join("sharded/results.csv"));
    assert_eq!(
        sharded, local,
        "collected results.csv differs from --jobs 1"
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("sharded/manifest.json")).unwrap()).unwrap();
    let states: Vec<&str> = m["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["recorded"; 4], "{m}");
    // an unknown cell is refused, naming the range
    let r = bench(d, "sharded", &["--cell", "9"]);
    assert!(text(&r).contains("has 4 cells (0 to 3)"), "{}", text(&r));
}

#[test]
fn a_slurm_dry_run_writes_one_teacher_task_per_teacher_and_one_task_per_cell() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    write_tiny_idx(&d.join("data"), 200, 60);
    let lb = format!("{LEADERBOARD}\n[slurm]\npartition = \"file\"\nmem = \"2G\"\n");
    std::fs::write(d.join("lb.toml"), lb).unwrap();
    let r = bench(
        d,
        "out",
        &[
            "--executor",
            "slurm",
            "--dry-run",
            "--partition",
            "flag",
            "--max-parallel",
            "2",
        ],
    );
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let read = |f: &str| std::fs::read_to_string(d.join("out/slurm").join(f)).unwrap();
    let teachers = read("teachers.sh");
    // sre2l's two seeds share one teacher: one task, running its first cell (index 2)
    assert!(teachers.contains("#SBATCH --array=0-0%2\n"), "{teachers}");
    assert!(teachers.contains("CELLS=(2)\n"), "{teachers}");
    assert!(
        teachers.contains("#SBATCH --partition=flag\n"),
        "{teachers}"
    );
    assert!(teachers.contains("#SBATCH --mem=2G\n"), "{teachers}");
    let cells = read("cells.sh");
    assert!(cells.contains("#SBATCH --array=0-3%2\n"), "{cells}");
    assert!(cells.contains("CELLS=(0 1 2 3)\n"), "{cells}");
    assert!(read("submit.sh").contains("--dependency=afterok:$teachers cells.sh"));
    assert!(read("collect.sh").contains(" --collect\n"));
    assert!(
        !d.join("out/slurm/submitted.json").exists(),
        "a dry run submits nothing"
    );
}

/// `--status` after a submission reads ended tasks from `sacct` (accounting on) and live ones
/// from `squeue`: here both are stand-ins on PATH printing what Slurm prints (`-P` pipes,
/// `CANCELLED by 0`), and the cells' lines follow: the teacher task failed (so cell 2 is
/// failed, with sacct's elapsed time), a cell task running, a cell task cancelled without a
/// shard, the rest pending.
#[test]
fn status_reads_ended_tasks_from_sacct_and_live_ones_from_squeue() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    write_tiny_idx(&d.join("data"), 200, 60);
    std::fs::write(d.join("lb.toml"), LEADERBOARD).unwrap();
    std::fs::create_dir_all(d.join("out/slurm")).unwrap();
    let sub = serde_json::json!({"teachers": "41", "teacher_cells": [2], "cells": "42",
        "collect": "43", "logs": d.join("out/slurm/logs")});
    std::fs::write(d.join("out/slurm/submitted.json"), sub.to_string()).unwrap();
    let bin = d.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = |name: &str, lines: &str| {
        let p = bin.join(name);
        std::fs::write(
            &p,
            format!("#!/bin/sh\necho \"$@\" >> {name}.args\nprintf '{lines}'\n"),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    fake(
        "sacct",
        "41_0|FAILED|00:03:07\\n42_1|CANCELLED by 0|00:00:09\\n",
    );
    fake("squeue", "42_0|RUNNING|1:15\\n42_3|PENDING|0:00\\n");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let o = std::process::Command::new(ddbench_tests::ddbench_bin())
        .current_dir(d)
        .args([
            "bench", "lb.toml", "--out", "out", "--device", "cpu", "--status",
        ])
        .env("PATH", path)
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let line = |i: usize| {
        t.lines()
            .skip_while(|l| !l.trim_start().starts_with(&format!("{i} ")))
            .take(2)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        line(0).contains("running")
            && line(0).contains("task 42_0, RUNNING")
            && line(0).contains("[1:15]"),
        "{t}"
    );
    assert!(
        line(1).contains("failed (task 42_1, CANCELLED, no shard)")
            && line(1).contains("[00:00:09]"),
        "{t}"
    );
    assert!(
        line(2).contains("failed (task 41_0, FAILED, no shard)") && line(2).contains("[00:03:07]"),
        "{t}"
    );
    assert!(line(3).contains("pending (task 42_3, PENDING)"), "{t}");
    assert!(t.contains("4 cells: 2 failed, 1 pending, 1 running"), "{t}");
    let asked = std::fs::read_to_string(d.join("sacct.args")).unwrap();
    assert!(
        asked.contains("-j 41,42") && asked.contains("JobID,State,Elapsed"),
        "{asked}"
    );
}
