//! A teacher survives kills: `ddbench bench --cell K` of an SRe2L cell is killed with SIGKILL in
//! the middle of teacher training, rerun, stopped with SIGUSR1 (what Slurm sends before a time
//! limit: the cell saves and exits with code 3, to be requeued), rerun to its end. The teacher's
//! epochs are trained once in total — counted by the sessions the cached teacher's metadata
//! lists (`[from, to)` epochs of each process that trained it: contiguous, no overlap, summing to
//! `teacher_epochs`) — and the cell's row equals that of an uninterrupted `--jobs 1` run.
//! Two processes that want one teacher at once train it once (the cache's per-teacher lock).
//! Recovery stopped by SIGUSR1 resumes after its saved batches, with the same images.

use ddbench_tests::{comparable_results, ddbench_bin, ddbench_in, text, write_tiny_idx};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EPOCHS: i64 = 12;

fn leaderboard() -> String {
    format!(
        r#"
ipc = [2]
seeds = 1
[student]
width = 8
epochs = 4
soft_epochs = 2
n_attack = 20
[[datasets]]
name = "fashion-mnist"
data_dir = "data"
[[methods]]
name = "sre2l"
config = {{ teacher_arch = "convnet", teacher_width = 16, teacher_epochs = {EPOCHS}, iterations = 5, ipc_per_batch = 2 }}
[[attacks]]
name = "fgsm"
eps = ["8/255"]
"#
    )
}

fn args<'a>(out: &'a str, cache: &'a str) -> Vec<&'a str> {
    let a = ["bench", "lb.toml", "--out", out, "--device", "cpu"];
    let mut v = a.to_vec();
    v.extend(["--cache-dir", cache, "--quiet", "--no-report"]);
    v
}

fn spawn_cell(d: &Path) -> Child {
    let mut a = args("cut", "cut-cache");
    a.extend(["--cell", "0"]);
    Command::new(ddbench_bin())
        .current_dir(d)
        .args(&a)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The checkpoint file in `dir` of the run's cache, if any.
fn checkpoint_in(d: &Path, dir: &str) -> Option<PathBuf> {
    std::fs::read_dir(d.join("cut-cache").join(dir))
        .ok()?
        .find_map(|e| {
            let p = e.ok()?.path();
            p.to_string_lossy().ends_with(".ckpt.pt").then_some(p)
        })
}

fn checkpoint(d: &Path) -> Option<PathBuf> {
    checkpoint_in(d, "teachers")
}

/// Waits until the checkpoint has been rewritten `n` times from now (its mtime moves).
fn wait_for_epochs(d: &Path, child: &mut Child, n: usize) {
    let mtime = || checkpoint(d).and_then(|p| std::fs::metadata(p).ok()?.modified().ok());
    let t = Instant::now();
    let mut seen = mtime();
    let mut moved = 0;
    while moved < n {
        assert!(t.elapsed() < Duration::from_secs(120), "no checkpoint");
        assert!(child.try_wait().unwrap().is_none(), "the cell ended early");
        let m = mtime();
        if m.is_some() && m != seen {
            moved += 1;
            seen = m;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_teacher_killed_and_stopped_resumes_and_trains_each_epoch_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    write_tiny_idx(&d.join("data"), 2000, 60);
    std::fs::write(d.join("lb.toml"), leaderboard()).unwrap();

    // SIGKILL once a first epoch is saved (the --cell process: its child dies with it)
    let mut c = spawn_cell(d);
    wait_for_epochs(d, &mut c, 1);
    c.kill().unwrap();
    c.wait().unwrap();
    // SIGUSR1 two epochs later: saved, exit 3
    let mut c = spawn_cell(d);
    wait_for_epochs(d, &mut c, 2);
    unsafe { libc_kill(c.id() as i32, 10) };
    let code = c.wait().unwrap().code();
    assert_eq!(code, Some(3), "SIGUSR1: exit 3 (requeue me)");
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(only_file(&d.join("cut/shards"), ".json")).unwrap())
            .unwrap();
    assert_eq!(info["interrupted"], true, "{info}");
    assert!(
        checkpoint(d).is_some(),
        "the checkpoint stays until the teacher is stored"
    );
    // to the end
    let mut a = args("cut", "cut-cache");
    a.extend(["--cell", "0"]);
    let r = ddbench_in(d, &a);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(
        checkpoint(d).is_none(),
        "the checkpoint goes once the teacher is stored"
    );
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(only_file(&d.join("cut-cache/teachers"), ".json")).unwrap(),
    )
    .unwrap();
    let sessions: Vec<[i64; 2]> = serde_json::from_value(meta["sessions"].clone()).unwrap();
    eprintln!("teacher sessions [from, to): {sessions:?}");
    assert_epochs_once(&sessions, EPOCHS);
    assert!(
        sessions.len() >= 3,
        "killed, stopped, finished: {sessions:?}"
    );

    // the same row as an uninterrupted run
    let r = ddbench_in(
        d,
        &args("cut", "cut-cache")
            .into_iter()
            .chain(["--collect"])
            .collect::<Vec<_>>(),
    );
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let mut a = args("whole", "whole-cache");
    a.extend(["--jobs", "1"]);
    let r = ddbench_in(d, &a);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let (cut, whole) = (
        comparable_results(&d.join("cut/results.csv")),
        comparable_results(&d.join("whole/results.csv")),
    );
    assert_eq!(cut, whole, "a resumed teacher gives other numbers");
}

/// Sessions `[from, to)` that cover `0..epochs` once, in order.
pub fn assert_epochs_once(sessions: &[[i64; 2]], epochs: i64) {
    let mut next = 0;
    for s in sessions {
        assert_eq!(s[0], next, "sessions overlap or leave a gap: {sessions:?}");
        assert!(s[1] >= s[0], "{sessions:?}");
        next = s[1];
    }
    assert_eq!(next, epochs, "{sessions:?}");
    let total: i64 = sessions.iter().map(|s| s[1] - s[0]).sum();
    assert_eq!(total, epochs, "epochs trained in total");
}

fn only_file(dir: &Path, suffix: &str) -> PathBuf {
    let v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(v.len(), 1, "{v:?}");
    v[0].clone()
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn two_processes_racing_for_one_teacher_train_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    write_tiny_idx(&d.join("data"), 1000, 60);
    // two seeds: two cells sharing one teacher, started at the same moment on one cache
    std::fs::write(
        d.join("lb.toml"),
        leaderboard().replace("seeds = 1", "seeds = 2"),
    )
    .unwrap();
    let spawn = |k: &str| {
        let mut a = args("race", "race-cache");
        a.extend(["--cell", k]);
        Command::new(ddbench_bin())
            .current_dir(d)
            .args(&a)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn("0"), spawn("1"));
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(only_file(&d.join("race-cache/teachers"), ".json")).unwrap(),
    )
    .unwrap();
    let sessions: Vec<[i64; 2]> = serde_json::from_value(meta["sessions"].clone()).unwrap();
    assert_eq!(sessions, [[0, EPOCHS]], "trained once, by one process");
    let logs: Vec<String> = std::fs::read_dir(d.join("race/cells"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path().join("log.txt")).unwrap())
        .collect();
    let trained = logs
        .iter()
        .filter(|l| l.contains("training the none teacher"))
        .count();
    let cached = logs.iter().filter(|l| l.contains("from the cache")).count();
    assert_eq!((trained, cached), (1, 1), "{logs:#?}");
    assert!(
        logs.iter().any(|l| l.contains("waiting for its lock")),
        "the second waited for the first: {logs:#?}"
    );
}

fn recovery_checkpoint(d: &Path) -> Option<PathBuf> {
    checkpoint_in(d, "recovered")
}

/// Recovery (six batches of one image per class) stopped by SIGUSR1 once a batch is saved:
/// exit 3, the checkpoint stays; the rerun resumes after the saved batches and its row equals
/// an uninterrupted run's (the resumed images are the same images).
#[test]
fn a_recovery_stopped_by_usr1_resumes_after_its_saved_batches() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    write_tiny_idx(&d.join("data"), 1000, 60);
    let lb = leaderboard().replace("ipc = [2]", "ipc = [6]").replace(
        &format!("teacher_epochs = {EPOCHS}, iterations = 5, ipc_per_batch = 2"),
        "teacher_epochs = 2, iterations = 200, ipc_per_batch = 1",
    );
    assert!(lb.contains("iterations = 200"), "{lb}");
    std::fs::write(d.join("lb.toml"), lb).unwrap();

    let mut c = spawn_cell(d);
    let t = Instant::now();
    while recovery_checkpoint(d).is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(180),
            "no recovery checkpoint"
        );
        assert!(c.try_wait().unwrap().is_none(), "the cell ended early");
        std::thread::sleep(Duration::from_millis(5));
    }
    unsafe { libc_kill(c.id() as i32, 10) };
    assert_eq!(c.wait().unwrap().code(), Some(3), "SIGUSR1: exit 3");
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(only_file(&d.join("cut/shards"), ".json")).unwrap())
            .unwrap();
    let reason = info["last_run"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("stopped by SIGUSR1 after recovering") && !reason.contains("6/6"),
        "{info}"
    );
    assert!(recovery_checkpoint(d).is_some(), "the checkpoint stays");

    let mut a = args("cut", "cut-cache");
    a.extend(["--cell", "0"]);
    let r = ddbench_in(d, &a);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(recovery_checkpoint(d).is_none(), "gone once recovery ends");
    let log = std::fs::read_dir(d.join("cut/cells"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path().join("log.txt")).unwrap_or_default())
        .collect::<String>();
    assert!(log.contains("recovery: resuming from"), "{log}");

    let mut a = args("cut", "cut-cache");
    a.push("--collect");
    assert_eq!(ddbench_in(d, &a).status.code(), Some(0));
    let mut a = args("whole", "whole-cache");
    a.extend(["--jobs", "1"]);
    let r = ddbench_in(d, &a);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert_eq!(
        comparable_results(&d.join("cut/results.csv")),
        comparable_results(&d.join("whole/results.csv")),
        "a resumed recovery gives other numbers"
    );
}
