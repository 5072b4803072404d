//! Trainings that survive a stop. At the end of an epoch, once `every` has passed since the last
//! save (and always after the last epoch, or when asked to stop), a training writes everything it
//! needs to go on — the model's variables and buffers, libtorch's optimiser state, the default
//! generators' state (CPU and the model's CUDA device), a host generator, its counters — into one
//! file (written to a temporary name, then renamed: always whole). A training given the same file
//! later starts from it and ends with the very weights an uninterrupted one gives. SIGUSR1
//! (Slurm's warning before a time limit or a preemption) asks it to save and stop
//! ([`StopOnUsr1`], [`TrainError::Stopped`]).

use crate::rng::HostRng;
use crate::train::{EpochLoss, TrainStats};
use ddbench_torch_shim::optim::Optimizer;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// Where and how often a training saves itself, and whether it has been asked to stop.
pub struct Resume<'a> {
    pub file: PathBuf,
    /// Save at an epoch's end once this long has passed since the last save (zero: every epoch).
    pub every: Duration,
    /// Checked at every epoch's end: true stops the training once it is saved.
    pub stop: &'a dyn Fn() -> bool,
}

/// Why a training ended without its last epoch.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainError {
    /// Asked to stop: saved after `epoch` of `epochs` epochs in `file`.
    Stopped {
        epoch: i64,
        epochs: i64,
        file: PathBuf,
    },
    Failed(String),
}

/// What every stop reports begins with this (the harness and the plugins say it the same way).
pub const STOPPED: &str = "stopped by SIGUSR1";

impl std::fmt::Display for TrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainError::Stopped {
                epoch,
                epochs,
                file,
            } => write!(
                f,
                "{STOPPED} after epoch {epoch}/{epochs} (saved in {}; a rerun goes on from there)",
                file.display()
            ),
            TrainError::Failed(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for TrainError {}

impl From<String> for TrainError {
    fn from(e: String) -> Self {
        TrainError::Failed(e)
    }
}

impl From<tch::TchError> for TrainError {
    fn from(e: tch::TchError) -> Self {
        TrainError::Failed(e.to_string())
    }
}

/// Where a training stands: epochs done and what they cost (the seconds of earlier sessions
/// included).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    pub epoch: i64,
    pub stats: TrainStats,
}

/// The saving side of one training session.
pub struct Checkpoints<'a> {
    resume: Option<&'a Resume<'a>>,
    started: Instant,
    last_save: Instant,
    earlier_seconds: f64,
}

/// What goes into the file beside the variables.
struct Saved<'a> {
    p: &'a Progress,
    opt: &'a Optimizer,
    host: Option<&'a HostRng>,
}

impl<'a> Checkpoints<'a> {
    /// Starts a session: when `resume` names a file that exists, the variables of `vs`, the
    /// optimiser's state, the generators and `host` are put back as it holds them, and the
    /// progress is the saved one; else a fresh start.
    pub fn open(
        resume: Option<&'a Resume<'a>>,
        vs: &VarStore,
        opt: &mut Optimizer,
        host: Option<&mut HostRng>,
    ) -> Result<(Self, Progress), TrainError> {
        let p = match resume {
            Some(r) if r.file.exists() => load(r, vs, opt, host)?,
            _ => Progress::default(),
        };
        let now = Instant::now();
        let ck = Checkpoints {
            resume,
            started: now,
            last_save: now,
            earlier_seconds: p.stats.seconds,
        };
        Ok((ck, p))
    }

    /// Seconds spent training, earlier sessions included.
    pub fn seconds(&self) -> f64 {
        self.earlier_seconds + self.started.elapsed().as_secs_f64()
    }

    /// After an epoch (`p.epoch` done of `epochs`): the last epoch's loss goes into `p`; saves
    /// when due, after the last epoch, or when asked to stop — then returns
    /// [`TrainError::Stopped`] unless it was the last.
    pub fn epoch_done(
        &mut self,
        p: &mut Progress,
        epochs: i64,
        loss: &EpochLoss,
        vs: &VarStore,
        opt: &Optimizer,
        host: Option<&HostRng>,
    ) -> Result<(), TrainError> {
        let last = p.epoch >= epochs;
        if last {
            p.stats.final_loss = loss.mean();
            p.stats.seconds = self.seconds();
        }
        let Some(r) = self.resume else {
            return Ok(());
        };
        let stop = !last && (r.stop)();
        if !(last || stop || self.last_save.elapsed() >= r.every) {
            return Ok(());
        }
        p.stats.final_loss = loss.mean();
        p.stats.seconds = self.seconds();
        save(r, vs, &Saved { p, opt, host })?;
        self.last_save = Instant::now();
        if stop {
            return Err(TrainError::Stopped {
                epoch: p.epoch,
                epochs,
                file: r.file.clone(),
            });
        }
        Ok(())
    }
}

/// The generators a training on `device` draws from, with the names checkpoints give their
/// state (`rng.cpu`, `rng.cuda`).
pub fn generators(device: Device) -> Vec<(&'static str, Device)> {
    match device {
        Device::Cuda(_) => vec![("rng.cpu", Device::Cpu), ("rng.cuda", device)],
        _ => vec![("rng.cpu", Device::Cpu)],
    }
}

fn save(r: &Resume, vs: &VarStore, s: &Saved) -> Result<(), String> {
    let p = s.p;
    let mut named: Vec<(String, Tensor)> = vec![(
        "state".into(),
        Tensor::from_slice(&[
            p.epoch as f64,
            p.stats.steps as f64,
            p.stats.images_seen as f64,
            p.stats.final_loss,
            p.stats.seconds,
        ]),
    )];
    named.push(("optimizer".into(), Tensor::from_slice(&s.opt.state()?)));
    for (name, dev) in generators(vs.device()) {
        named.push((name.into(), ddbench_torch_shim::rng::state(dev)?));
    }
    if let Some(h) = s.host {
        named.push(("host_rng".into(), Tensor::from_slice(&[h.state() as i64])));
    }
    for (k, v) in vs.variables() {
        named.push((format!("var.{k}"), v.to_device(Device::Cpu)));
    }
    write_whole(&r.file, &named)
}

/// Writes `named` to `file` whole: to a temporary name, then renamed over it (the folder is
/// made), so a checkpoint is never half written. Every checkpoint of ddbench goes through here.
pub fn write_whole(file: &std::path::Path, named: &[(String, Tensor)]) -> Result<(), String> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let tmp = file.with_extension(format!("{}.tmp", std::process::id()));
    Tensor::save_multi(named, &tmp)
        .map_err(|e| format!("writing checkpoint {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, file).map_err(|e| format!("renaming to {}: {e}", file.display()))
}

/// A checkpoint read back: its tensors by name, and errors that name the file and say what to
/// do (`remedy`). Every checkpoint reader of ddbench goes through here.
pub struct SavedFile {
    file: PathBuf,
    tensors: std::collections::HashMap<String, Tensor>,
    remedy: &'static str,
}

impl SavedFile {
    pub fn read(file: &std::path::Path, remedy: &'static str) -> Result<SavedFile, String> {
        let mut s = SavedFile {
            file: file.to_path_buf(),
            tensors: Default::default(),
            remedy,
        };
        s.tensors = Tensor::load_multi(file)
            .map_err(|e| s.bad(e))?
            .into_iter()
            .collect();
        Ok(s)
    }

    /// `checkpoint FILE: what (remedy)`.
    pub fn bad(&self, what: impl std::fmt::Display) -> String {
        format!(
            "checkpoint {}: {what} ({})",
            self.file.display(),
            self.remedy
        )
    }

    pub fn has(&self, k: &str) -> bool {
        self.tensors.contains_key(k)
    }

    pub fn get(&self, k: &str) -> Result<&Tensor, String> {
        self.tensors
            .get(k)
            .ok_or_else(|| self.bad(format!("no '{k}'")))
    }

    pub fn take(&mut self, k: &str) -> Result<Tensor, String> {
        let t = self.tensors.remove(k);
        t.ok_or_else(|| self.bad(format!("no '{k}'")))
    }
}

fn load(
    r: &Resume,
    vs: &VarStore,
    opt: &mut Optimizer,
    host: Option<&mut HostRng>,
) -> Result<Progress, TrainError> {
    let saved = SavedFile::read(&r.file, "delete it to start over")?;
    let bad = |what: String| TrainError::Failed(saved.bad(what));
    let get = |k: &str| saved.get(k).map_err(TrainError::Failed);
    let vars = vs.variables();
    if let Some(k) = vars.keys().find(|k| !saved.has(&format!("var.{k}"))) {
        return Err(bad(format!("no variable '{k}': saved by another model")));
    }
    for (k, dst) in &vars {
        let src = get(&format!("var.{k}"))?;
        if src.size() != dst.size() {
            return Err(bad(format!(
                "variable '{k}' is {:?}, the model's {:?}",
                src.size(),
                dst.size()
            )));
        }
        tch::no_grad(|| dst.shallow_clone().copy_(src));
    }
    let bytes = Vec::<u8>::try_from(get("optimizer")?).map_err(|e| bad(e.to_string()))?;
    opt.load_state(&bytes).map_err(bad)?;
    for (name, dev) in generators(vs.device()) {
        ddbench_torch_shim::rng::set_state(dev, get(name)?).map_err(bad)?;
    }
    if let Some(h) = host {
        *h = HostRng::from_state(get("host_rng")?.int64_value(&[0]) as u64);
    }
    let v = Vec::<f64>::try_from(get("state")?.to_kind(Kind::Double))
        .map_err(|e| bad(e.to_string()))?;
    if v.len() != 5 {
        return Err(bad(format!("'state' has {} values, expected 5", v.len())));
    }
    Ok(Progress {
        epoch: v[0] as i64,
        stats: TrainStats {
            steps: v[1] as i64,
            images_seen: v[2] as i64,
            final_loss: v[3],
            seconds: v[4],
        },
    })
}

static STOP: AtomicBool = AtomicBool::new(false);
/// The handler found by the first install, called on (the harness's, when a plugin installs).
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_usr1(sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    let previous = PREVIOUS.load(Ordering::SeqCst);
    if previous != 0 {
        // SAFETY: a handler that `signal` returned at install, of this very signature.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(previous) };
        f(sig);
    }
}

/// While this lives, SIGUSR1 asks what runs to save and stop ([`StopOnUsr1::asked`]); the
/// handler found at install is put back on drop. A signal is for the whole process: once
/// received, the flag stays set. Each library holding this module (the harness, every plugin)
/// has its own flag; a handler installed over another library's calls that one on, so a signal
/// during a plugin's work stops the plugin and the harness alike.
pub struct StopOnUsr1 {
    old: libc::sighandler_t,
}

impl StopOnUsr1 {
    pub fn install() -> StopOnUsr1 {
        let ours = on_usr1 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores into atomics and calls the handler it found.
        let old = unsafe { libc::signal(libc::SIGUSR1, ours) };
        let plain = [ours, libc::SIG_DFL, libc::SIG_IGN, libc::SIG_ERR];
        if !plain.contains(&old) {
            PREVIOUS.store(old, Ordering::SeqCst);
        }
        StopOnUsr1 { old }
    }

    pub fn asked(&self) -> bool {
        STOP.load(Ordering::SeqCst)
    }
}

impl Drop for StopOnUsr1 {
    fn drop(&mut self) {
        // SAFETY: puts back the handler found at install.
        unsafe { libc::signal(libc::SIGUSR1, self.old) };
    }
}
