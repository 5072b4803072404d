//! The teacher cache: a teacher is stored under a content hash of (data set hash, architecture,
//! squeeze config, teacher seed) so every IPC and run seed reuses it. Writes are atomic
//! (temporary file, then rename), weights before metadata; a teacher counts only with both.
//! A lock file per teacher (`KEY.lock`, `flock`) makes a second process that wants the same
//! teacher wait for the first to store it, so racing tasks (two Slurm tasks on a shared cache)
//! train it once; a teacher in training keeps its checkpoint beside it (`checkpoint`).

use crate::squeeze::SqueezeStats;
use ddbench_nn::ModelSpec;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What is stored beside the weights.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TeacherMeta {
    pub key: String,
    pub spec: ModelSpec,
    pub squeeze: serde_json::Value,
    pub stats: SqueezeStats,
    /// The epochs each training session ran, `[from, to)` (more than one when it was resumed
    /// from a checkpoint).
    #[serde(default)]
    pub sessions: Vec<[i64; 2]>,
}

pub fn key(dataset_hash: &str, spec: &ModelSpec, squeeze: &serde_json::Value) -> String {
    let text = serde_json::json!({"data": dataset_hash, "spec": spec, "squeeze": squeeze, "v": 2})
        .to_string();
    hex::encode(Sha256::digest(text.as_bytes()))[..24].to_string()
}

pub struct Paths {
    pub weights: PathBuf,
    pub meta: PathBuf,
}

pub fn paths(cache_dir: &Path, key: &str) -> Paths {
    let d = cache_dir.join("teachers");
    Paths {
        weights: d.join(format!("{key}.safetensors")),
        meta: d.join(format!("{key}.json")),
    }
}

/// Holds the teacher's lock (`teachers/KEY.lock`) until dropped; waits while another process
/// holds it, saying so through `log`.
pub fn lock(cache_dir: &Path, key: &str, log: &dyn Fn(&str)) -> Result<std::fs::File, String> {
    let d = cache_dir.join("teachers");
    std::fs::create_dir_all(&d).map_err(|e| format!("creating {}: {e}", d.display()))?;
    let path = d.join(format!("{key}.lock"));
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    if f.try_lock().is_err() {
        log(&format!(
            "teacher {key}: another process trains it; waiting for its lock"
        ));
        f.lock()
            .map_err(|e| format!("locking {}: {e}", path.display()))?;
    }
    Ok(f)
}

/// The cached teacher's metadata, if both files are there.
pub fn lookup(cache_dir: &Path, key: &str) -> Option<TeacherMeta> {
    let p = paths(cache_dir, key);
    if !p.weights.exists() {
        return None;
    }
    serde_json::from_slice(&std::fs::read(&p.meta).ok()?).ok()
}

/// Stores a trained teacher atomically.
pub fn store(
    cache_dir: &Path,
    vs: &tch::nn::VarStore,
    meta: &TeacherMeta,
) -> Result<Paths, String> {
    let p = paths(cache_dir, &meta.key);
    let dir = p.weights.parent().expect("teachers folder");
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let pid = std::process::id();
    let tmp_w = dir.join(format!(".{}.{pid}.tmp.safetensors", meta.key));
    vs.save(&tmp_w)
        .map_err(|e| format!("saving teacher to {}: {e}", tmp_w.display()))?;
    std::fs::rename(&tmp_w, &p.weights)
        .map_err(|e| format!("renaming to {}: {e}", p.weights.display()))?;
    let tmp_m = dir.join(format!(".{}.{pid}.tmp.json", meta.key));
    let text = serde_json::to_vec_pretty(meta).map_err(|e| e.to_string())?;
    std::fs::write(&tmp_m, text).map_err(|e| format!("writing {}: {e}", tmp_m.display()))?;
    std::fs::rename(&tmp_m, &p.meta)
        .map_err(|e| format!("renaming to {}: {e}", p.meta.display()))?;
    Ok(p)
}
