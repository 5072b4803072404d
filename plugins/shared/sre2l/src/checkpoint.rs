//! Teacher training that survives a kill: after every epoch the weights, the SGD momentum
//! buffers and the counters go into one file of the teacher cache (`teachers/KEY.ckpt.pt`,
//! written to a temporary name then renamed, so it is always whole), and a new training of the
//! same teacher starts from it. Each epoch reseeds the generator from (teacher seed, epoch), so a
//! resumed teacher is the very teacher an uninterrupted training gives. SIGUSR1 (Slurm's warning
//! before a time limit or preemption) stops training at the next epoch's end, once it is saved.

use crate::squeeze::SqueezeStats;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Where a teacher in training keeps its checkpoint.
pub fn path(cache_dir: &Path, key: &str) -> PathBuf {
    cache_dir.join("teachers").join(format!("{key}.ckpt.pt"))
}

/// Where a recovery in progress keeps its batches: a content hash of the teacher, the whole
/// config, the IPC and the seed (`recovered/KEY.ckpt.pt`; the folder is made here).
pub fn recovery_path(
    cache_dir: &Path,
    teacher_key: &str,
    cfg: &crate::Sre2lConfig,
    ipc: i64,
    seed: u64,
) -> Result<PathBuf, String> {
    use sha2::{Digest, Sha256};
    let text = serde_json::json!({"teacher": teacher_key, "config": cfg, "ipc": ipc, "seed": seed})
        .to_string();
    let key = &hex::encode(Sha256::digest(text.as_bytes()))[..24];
    let dir = cache_dir.join("recovered");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir.join(format!("{key}.ckpt.pt")))
}

/// What a checkpoint holds beside the weights and buffers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// Epochs done.
    pub epoch: i64,
    pub stats: SqueezeStats,
    /// The epochs each training session ran, `[from, to)`: all of them, in order.
    pub sessions: Vec<[i64; 2]>,
}

/// The seed of epoch `epoch` of a teacher seeded `seed`.
pub fn epoch_seed(seed: u64, epoch: i64) -> i64 {
    (seed as i64)
        .wrapping_mul(1_000_003)
        .wrapping_add(epoch + 1)
}

fn state_tensor(p: &Progress) -> Tensor {
    let s = &p.stats;
    Tensor::from_slice(&[
        p.epoch as f64,
        s.steps as f64,
        s.forward_passes as f64,
        s.backward_passes as f64,
        s.images_seen as f64,
        s.seconds,
        s.final_ce,
        s.final_reg,
    ])
}

/// Saves `vars` (the model's variables, by name), `momentum` (by variable name) and `p`.
pub fn save(
    file: &Path,
    vars: &HashMap<String, Tensor>,
    momentum: &HashMap<String, Tensor>,
    p: &Progress,
) -> Result<(), String> {
    let mut named: Vec<(String, Tensor)> = Vec::new();
    named.push(("state".into(), state_tensor(p)));
    let sessions: Vec<i64> = p.sessions.iter().flatten().copied().collect();
    named.push(("sessions".into(), Tensor::from_slice(&sessions)));
    for (k, v) in vars {
        named.push((format!("var.{k}"), v.to_device(tch::Device::Cpu)));
    }
    for (k, v) in momentum {
        named.push((format!("momentum.{k}"), v.to_device(tch::Device::Cpu)));
    }
    ddbench_nn::resume::write_whole(file, &named)
}

/// Loads a checkpoint into `vars` (copied in place) and `momentum` (on `vars`' devices).
pub fn load(
    file: &Path,
    vars: &HashMap<String, Tensor>,
    momentum: &mut HashMap<String, Tensor>,
) -> Result<Progress, String> {
    let all = Tensor::load_multi(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut p = Progress::default();
    for (name, t) in all {
        if name == "state" {
            let v = Vec::<f64>::try_from(t.to_kind(Kind::Double)).map_err(|e| e.to_string())?;
            p.epoch = v[0] as i64;
            p.stats = SqueezeStats {
                steps: v[1] as i64,
                forward_passes: v[2] as u64,
                backward_passes: v[3] as u64,
                images_seen: v[4] as i64,
                seconds: v[5],
                final_ce: v[6],
                final_reg: v[7],
            };
        } else if name == "sessions" {
            let v = Vec::<i64>::try_from(t).map_err(|e| e.to_string())?;
            p.sessions = v.chunks(2).map(|c| [c[0], c[1]]).collect();
        } else if let Some(k) = name.strip_prefix("var.") {
            let dst = vars
                .get(k)
                .ok_or_else(|| format!("{}: unknown variable {k}", file.display()))?;
            tch::no_grad(|| dst.shallow_clone().copy_(&t));
        } else if let Some(k) = name.strip_prefix("momentum.") {
            let dev = vars.get(k).map_or(tch::Device::Cpu, |v| v.device());
            momentum.insert(k.to_string(), t.to_device(dev));
        }
    }
    Ok(p)
}
