//! A cell stopped by SIGUSR1 (what Slurm sends before a time limit or a preemption) while its
//! student trains — DD protocol (libtorch's SGD) or soft-label protocol (AdamW, mixup draws, the
//! teacher relabelling online) — or while an attack runs, saves and exits 3; the rerun resumes
//! from the student's checkpoint or after the attack's saved batches (the distilled set is taken
//! from its checkpoint, not distilled again), the checkpoints go once the cell is recorded, and
//! the cell's rows equal those of an uninterrupted `--jobs 1` run (measured columns aside).

use ddbench_tests::{comparable_results, ddbench_bin, ddbench_in, text, write_tiny_idx};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tch::Tensor;

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

const SIGUSR1: i32 = 10;

fn leaderboard(ipc: i64, student: &str, method: &str, attack: &str) -> String {
    format!(
        r#"
ipc = [{ipc}]
seeds = 1
[student]
{student}
[[datasets]]
name = "fashion-mnist"
data_dir = "data"
[[methods]]
{method}
[[attacks]]
{attack}
"#
    )
}

fn args(out: &str) -> Vec<String> {
    let cache = format!("{out}-cache");
    [
        "bench",
        "lb.toml",
        "--out",
        out,
        "--device",
        "cpu",
        "--cache-dir",
        &cache,
        "--quiet",
        "--no-report",
        "--checkpoint-every",
        "0",
        "--save-distilled",
        "--save-student",
        "--save-adversarial",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The checkpoints of `kind` (`students`, `attacks`, `distilled`) in the cell folders of `out`.
fn checkpoints(d: &Path, out: &str, kind: &str) -> Vec<PathBuf> {
    let Ok(cells) = std::fs::read_dir(d.join(out).join("cells")) else {
        return Vec::new();
    };
    cells
        .filter_map(|c| std::fs::read_dir(c.ok()?.path().join("checkpoints").join(kind)).ok())
        .flatten()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().contains(".tmp"))
        })
        .collect()
}

fn logs(d: &Path, out: &str) -> String {
    std::fs::read_dir(d.join(out).join("cells"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path().join("log.txt")).unwrap_or_default())
        .collect()
}

/// Runs cell 0 until `ready` says its checkpoint exists, sends SIGUSR1, and returns the reason
/// the stopped run gave (after checking it exited 3).
fn stop_when(d: &Path, ready: &dyn Fn() -> bool) -> String {
    let mut a = args("cut");
    a.extend(["--cell".into(), "0".into()]);
    let mut c = Command::new(ddbench_bin())
        .current_dir(d)
        .args(&a)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !ready() {
        assert!(t.elapsed() < Duration::from_secs(240), "no checkpoint");
        if c.try_wait().unwrap().is_some() {
            panic!("the cell ended early: {}", logs(d, "cut"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: signals our own child.
    unsafe { libc_kill(c.id() as i32, SIGUSR1) };
    assert_eq!(
        c.wait().unwrap().code(),
        Some(3),
        "SIGUSR1: exit 3 (requeue me)"
    );
    let shards = d.join("cut/shards");
    let json = std::fs::read_dir(&shards)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    assert_eq!(info["interrupted"], true, "{info}");
    info["last_run"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Stops cell 0 at its first `kind` checkpoint, checks the reason, reruns it to its end
/// (checking the log says it resumed), and compares with an uninterrupted run.
fn stopped_resumed_equals_whole(d: &Path, kind: &str, stopped: &str, resumed: &str) {
    let ready = || !checkpoints(d, "cut", kind).is_empty();
    stopped_at_resumed_equals_whole(d, &ready, stopped, resumed);
    assert!(log_has(d, "distilled set from"), "{}", logs(d, "cut"));
}

fn log_has(d: &Path, what: &str) -> bool {
    logs(d, "cut").contains(what)
}

/// Stops cell 0 once `ready`, checks the reason, reruns it to its end (checking the log says it
/// resumed and the checkpoints went), and compares rows and artefacts with an uninterrupted run.
fn stopped_at_resumed_equals_whole(
    d: &Path,
    ready: &dyn Fn() -> bool,
    stopped: &str,
    resumed: &str,
) {
    let reason = stop_when(d, ready);
    assert!(reason.contains(stopped), "{reason}");
    assert!(ready(), "the checkpoint stays");
    let mut a = args("cut");
    a.extend(["--cell".into(), "0".into()]);
    let r = ddbench_in(d, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(log_has(d, resumed), "{}", logs(d, "cut"));
    for k in ["students", "attacks", "distilled"] {
        assert!(
            checkpoints(d, "cut", k).is_empty(),
            "{k} checkpoints go at the end"
        );
    }
    assert!(!ready(), "the checkpoint goes at the end");
    let mut a = args("cut");
    a.push("--collect".into());
    let r = ddbench_in(d, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let mut a = args("whole");
    a.extend(["--jobs".into(), "1".into()]);
    let r = ddbench_in(d, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let (cut, whole) = (
        comparable_results(&d.join("cut/results.csv")),
        comparable_results(&d.join("whole/results.csv")),
    );
    assert_eq!(cut.len(), 2, "header and one row: {cut:?}");
    assert_eq!(cut, whole, "a resumed cell gives other numbers");
    // bit for bit: the distilled set, the student's weights and the adversarial images
    let (cut, whole) = (artifacts(&d.join("cut")), artifacts(&d.join("whole")));
    assert_eq!(
        cut.len(),
        3,
        "a set, a student and adversarial images: {cut:?}"
    );
    assert_eq!(
        cut.keys().collect::<Vec<_>>(),
        whole.keys().collect::<Vec<_>>()
    );
    for (file, tensors) in &cut {
        let other = &whole[file];
        assert_eq!(tensors.len(), other.len(), "{file}");
        for ((name, a), (_, b)) in tensors.iter().zip(other) {
            assert!(
                a.equal(b),
                "{file}: {name} differs from the uninterrupted run's"
            );
        }
    }
}

/// The student and adversarial safetensors under `out`, by path from `out` without the cell
/// folder's hash, each with its tensors sorted by name.
fn artifacts(out: &Path) -> BTreeMap<String, Vec<(String, Tensor)>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".safetensors") {
                let mut t = Tensor::read_safetensors(&p).unwrap();
                t.sort_by(|a, b| a.0.cmp(&b.0));
                let parent = p.parent().unwrap().file_name().unwrap().to_string_lossy();
                found.insert(format!("{parent}/{name}"), t);
            }
        }
    }
    found
}

fn folder(lb: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    write_tiny_idx(&dir.path().join("data"), 1000, 60);
    std::fs::write(dir.path().join("lb.toml"), lb).unwrap();
    dir
}

#[test]
fn a_dd_protocol_student_stopped_mid_training_resumes_to_the_same_row() {
    // 200 images in batches of 64: four steps an epoch, the last one short
    let lb = leaderboard(
        20,
        "width = 8\nepochs = 80\nbatch_size = 64\nprotocol = \"dd\"\nn_attack = 20",
        "name = \"random\"",
        "name = \"fgsm\"\neps = [\"8/255\"]",
    );
    let dir = folder(&lb);
    let d = dir.path();
    stopped_resumed_equals_whole(
        d,
        "students",
        "stopped by SIGUSR1 after epoch",
        "student resumes from",
    );
    assert!(!logs(d, "cut").contains("after epoch 80/80"));
}

#[test]
fn a_soft_label_student_stopped_mid_training_resumes_to_the_same_row() {
    let lb = leaderboard(
        10,
        "width = 8\nsoft_epochs = 80\nprotocol = \"soft-label\"\nn_attack = 20",
        "name = \"sre2l\"\nconfig = { teacher_arch = \"convnet\", teacher_width = 16, teacher_epochs = 2, iterations = 5, ipc_per_batch = 10 }",
        "name = \"fgsm\"\neps = [\"8/255\"]",
    );
    let dir = folder(&lb);
    stopped_resumed_equals_whole(
        dir.path(),
        "students",
        "stopped by SIGUSR1 after epoch",
        "student resumes from",
    );
}

#[test]
fn an_attack_stopped_between_batches_resumes_after_its_saved_batches() {
    let lb = leaderboard(
        2,
        "width = 16\nepochs = 20\nn_attack = 60\nattack_batch = 5",
        "name = \"random\"",
        "name = \"pgd\"\neps = [\"8/255\"]\nconfig = { steps = 100 }",
    );
    let dir = folder(&lb);
    stopped_resumed_equals_whole(
        dir.path(),
        "attacks",
        "stopped by SIGUSR1 after batch",
        "resuming after batch",
    );
}

/// `ddbench run --seeds 2 --batch-students` stopped by SIGUSR1 while its two students train
/// together: the run stops (no rows), the rerun resumes the grouped model from its checkpoint,
/// and rows and students equal an uninterrupted batched run's.
#[test]
fn batched_students_stopped_mid_training_resume_to_the_same_rows() {
    let dir = folder("");
    let d = dir.path();
    let run = |out: &str| -> Command {
        let mut c = Command::new(ddbench_bin());
        c.current_dir(d).args([
            "run",
            "--dataset",
            "fashion-mnist",
            "--data-dir",
            "data",
            "--method",
            "random",
            "--ipc",
            "20",
            "--batch-size",
            "64",
            "--seeds",
            "2",
            "--batch-students",
            "--epochs",
            "80",
            "--width",
            "8",
            "--attacks",
            "fgsm",
            "--eps",
            "8/255",
            "--n-attack",
            "20",
            "--device",
            "cpu",
            "--checkpoint-every",
            "0",
            "--save-student",
            "--out",
            out,
        ]);
        c
    };
    let group = || {
        std::fs::read_dir(d.join("cut/checkpoints/students"))
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().starts_with("group-"))
            })
            .unwrap_or(false)
    };
    let mut c = run("cut")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !group() {
        assert!(
            t.elapsed() < Duration::from_secs(240),
            "no group checkpoint"
        );
        assert!(c.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: signals our own child.
    unsafe { libc_kill(c.id() as i32, SIGUSR1) };
    let status = c.wait().unwrap();
    assert_ne!(status.code(), Some(0), "a stopped run has failed cells");
    let rows = std::fs::read_to_string(d.join("cut/results.csv")).unwrap_or_default();
    assert!(
        rows.lines().count() <= 1,
        "no rows from stopped students: {rows}"
    );
    let r = run("cut").output().unwrap();
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(text(&r).contains("2 students resume from"), "{}", text(&r));
    assert!(
        !group(),
        "the group checkpoint goes once both cells are recorded"
    );
    let r = run("whole").output().unwrap();
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert_eq!(
        comparable_results(&d.join("cut/results.csv")),
        comparable_results(&d.join("whole/results.csv"))
    );
    let (cut, whole) = (artifacts(&d.join("cut")), artifacts(&d.join("whole")));
    assert_eq!(cut.len(), 2, "two students: {cut:?}");
    for (file, tensors) in &cut {
        for ((name, a), (_, b)) in tensors.iter().zip(&whole[file]) {
            assert!(
                a.equal(b),
                "{file}: {name} differs from the uninterrupted run's"
            );
        }
    }
}

/// DM (a matching method: hours on CIFAR) stopped by SIGUSR1 between outer iterations saves
/// its state in the cache (`distilling/`) and exits 3; the rerun goes on after the saved
/// iteration and ends with the very set, student and row of an uninterrupted run.
#[test]
fn a_dm_distillation_stopped_between_iterations_resumes_to_the_same_set() {
    let lb = leaderboard(
        2,
        "width = 8\nepochs = 20\nn_attack = 20",
        "name = \"dm\"\nconfig = { iterations = 100, batch_real = 16, net_width = 16 }",
        "name = \"fgsm\"\neps = [\"8/255\"]",
    );
    let dir = folder(&lb);
    let d = dir.path();
    let ready = || {
        std::fs::read_dir(d.join("cut-cache/distilling"))
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().ends_with(".ckpt.pt"))
            })
            .unwrap_or(false)
    };
    stopped_at_resumed_equals_whole(
        d,
        &ready,
        "stopped by SIGUSR1 after outer iteration",
        "DM: resuming after iteration",
    );
}
