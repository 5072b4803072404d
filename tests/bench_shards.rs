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
