//! One cell's child `ddbench run`: its stdout and stderr go straight into the cell's `log.txt`,
//! its progress comes back as JSON-lines events (`run::events`) on a pipe that is fd 3 in the
//! child, and it is reaped with its peak resident set.

use super::scheduler::Slot;
use crate::leaderboard::Cell;
use crate::run::events::{self, Event};
use anyhow::{Context, Result};
use indicatif::ProgressBar;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The child's file descriptor for events (`ddbench run --events-fd 3`).
pub const EVENTS_FD: i32 = 3;

/// The pid of the child started last (0 before any): where `--cell` passes SIGUSR1 on.
pub static CURRENT_CHILD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// How one child ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Ended {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub wall_s: f64,
    /// Peak resident set (MiB).
    pub rss_mib: f64,
    /// The reason of the child's last `Failed` or `Fatal` event.
    pub reason: Option<String>,
    /// The reason of the last `Failed` event of each seed that had one (seed-mates run together).
    pub seed_reasons: BTreeMap<u64, String>,
}

impl Ended {
    /// Why the cell has no rows: the child's own reason, or its exit code.
    pub fn why(&self) -> String {
        match (&self.reason, self.code) {
            (Some(r), _) => r.clone(),
            (None, Some(c)) => format!("exit code {c}, no error reported (see log.txt)"),
            (None, None) => "killed by a signal, no error reported (see log.txt)".into(),
        }
    }

    /// How the run ended for its student of `seed`, one of `n` seed-mates run together: a 1/n
    /// share of the wall clock, the same exit and peak memory, its own failure reason when the
    /// run gave one (else the run's).
    pub fn of_member(&self, seed: u64, n: usize) -> Ended {
        Ended {
            code: self.code,
            wall_s: self.wall_s / n.max(1) as f64,
            rss_mib: self.rss_mib,
            reason: self
                .seed_reasons
                .get(&seed)
                .or(self.reason.as_ref())
                .cloned(),
            seed_reasons: BTreeMap::new(),
        }
    }
}

/// Runs `cell`'s `ddbench run` (in `dir`, with the `common` flags, in `slot`) to its end; its
/// events move `bar`.
pub fn run_cell(
    exe: &Path,
    cell: &Cell,
    dir: &Path,
    common: &[String],
    slot: Slot,
    bar: &ProgressBar,
) -> Result<Ended> {
    run_args(exe, &cell.args, dir, common, slot, bar)
}

/// Runs `ddbench` with `args` (the `run` arguments of a cell or of seed-mates) in `dir`, with
/// the `common` flags, in `slot` (its GPU, its share of the CPU threads); its events move `bar`.
pub fn run_args(
    exe: &Path,
    args: &[String],
    dir: &Path,
    common: &[String],
    slot: Slot,
    bar: &ProgressBar,
) -> Result<Ended> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut log = std::fs::File::create(dir.join("log.txt"))?;
    writeln!(log, "{} {}", exe.display(), args.join(" "))?;
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .arg("--out")
        .arg(dir)
        .args(common)
        .arg("--events-fd")
        .arg(EVENTS_FD.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log));
    if let Some(g) = slot.gpu {
        cmd.env("CUDA_VISIBLE_DEVICES", g);
    }
    if let Some(n) = slot.cpu_threads {
        cmd.env("OMP_NUM_THREADS", n.to_string());
    }
    supervise(cmd, |e| show(bar, e))
}

/// Moves a cell's bar on for a trained student or a recorded row.
fn show(bar: &ProgressBar, e: &Event) {
    match e {
        Event::CellStarted { cell } => bar.set_message(format!("{cell}: distilling")),
        Event::Trained { cell, clean_acc } => {
            bar.inc(1);
            bar.set_message(format!("{cell}: clean {clean_acc:.1}%"));
        }
        Event::Recorded {
            cell,
            attack,
            eps,
            robust_acc,
        } => {
            bar.inc(1);
            bar.set_message(format!("{cell}: {attack} eps {eps:.4} {robust_acc:.1}%"));
        }
        Event::Failed { .. } | Event::Fatal { .. } | Event::Finished { .. } => {}
    }
}

/// Starts `cmd` with the write end of a pipe as its fd 3, hands every event it writes there to
/// `on_event` until it closes, and reaps it.
pub fn supervise(mut cmd: Command, mut on_event: impl FnMut(&Event)) -> Result<Ended> {
    let (reader, writer) = std::io::pipe().context("creating the events pipe")?;
    let write_fd = writer.as_raw_fd();
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls between fork and exec. The child dies with the thread
    // that started it (so `kill -9` of bench leaves no orphan writing into the cell folder), and
    // gets the pipe as fd 3 without close-on-exec (`dup2` clears it; when the pipe already is
    // fd 3 the flag is cleared by hand).
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            let ok = if write_fd == EVENTS_FD {
                libc::fcntl(EVENTS_FD, libc::F_SETFD, 0)
            } else {
                libc::dup2(write_fd, EVENTS_FD)
            };
            if ok < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let t = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", cmd.get_program().to_string_lossy()))?;
    drop(writer); // the child holds the only write end: its exit is the pipe's end
    CURRENT_CHILD.store(child.id() as i32, std::sync::atomic::Ordering::SeqCst);
    let mut reason = None;
    let mut seed_reasons = BTreeMap::new();
    events::read(
        reader,
        |e| {
            if let Event::Failed { reason: r, .. } | Event::Fatal { reason: r } = &e {
                reason = Some(r.clone());
            }
            if let Event::Failed {
                seed: Some(s),
                reason: r,
                ..
            } = &e
            {
                seed_reasons.insert(*s, r.clone());
            }
            on_event(&e);
        },
        |_| {},
    );
    let (code, rss_mib) = reap(child);
    Ok(Ended {
        code,
        wall_s: t.elapsed().as_secs_f64(),
        rss_mib,
        reason,
        seed_reasons,
    })
}

/// Waits for `child`: its exit code (`None` for a signal) and peak resident set (MiB).
fn reap(child: std::process::Child) -> (Option<i32>, f64) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain wait4 on our own child; rusage is written by the kernel.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let code = (r == pid && libc::WIFEXITED(status)).then(|| libc::WEXITSTATUS(status));
    std::mem::forget(child); // reaped above
    (code, ru.ru_maxrss as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script).stdin(Stdio::null());
        c
    }

    #[test]
    fn events_come_from_fd_3_and_the_last_failure_is_the_reason() {
        let script = r#"echo '{"event":"cell_started","cell":"m ipc 1 seed 0"}' >&3
echo 'not an event' >&3
echo '{"event":"trained","cell":"m ipc 1 seed 0","clean_acc":50.5}' >&3
echo '{"event":"failed","cell":"m ipc 1 seed 1","seed":1,"reason":"first"}' >&3
echo '{"event":"failed","cell":"m ipc 1 seed 0","reason":"training failed: nan loss"}' >&3
echo '{"event":"finished","failures":2}' >&3
exit 2"#;
        let mut seen = Vec::new();
        let ended = supervise(sh(script), |e| seen.push(e.clone())).unwrap();
        assert_eq!(ended.code, Some(2));
        assert_eq!(ended.reason.as_deref(), Some("training failed: nan loss"));
        assert_eq!(ended.why(), "training failed: nan loss");
        // seed-mates: seed 1 gets its own reason, the others the run's last
        assert_eq!(ended.of_member(1, 2).why(), "first");
        assert_eq!(ended.of_member(0, 2).why(), "training failed: nan loss");
        assert_eq!(ended.of_member(0, 2).wall_s, ended.wall_s / 2.0);
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert_eq!(
            seen[1],
            Event::Trained {
                cell: "m ipc 1 seed 0".into(),
                clean_acc: 50.5
            }
        );
    }

    #[test]
    fn a_fatal_event_is_a_reason_and_silence_gives_the_exit_code() {
        let fatal = r#"echo '{"event":"fatal","reason":"no data in /x"}' >&3; exit 1"#;
        let ended = supervise(sh(fatal), |_| {}).unwrap();
        assert_eq!(ended.why(), "no data in /x");
        let ended = supervise(sh("echo to stderr >&2; exit 3"), |_| {}).unwrap();
        assert_eq!(ended.reason, None);
        assert_eq!(ended.why(), "exit code 3, no error reported (see log.txt)");
    }

    #[test]
    fn the_pipe_ends_with_the_child_even_when_it_writes_nothing() {
        let t = Instant::now();
        let ended = supervise(sh("exit 0"), |_| panic!("no events")).unwrap();
        assert_eq!((ended.code, ended.reason), (Some(0), None));
        assert!(t.elapsed().as_secs() < 30);
    }
}
