//! What a run can write beside its rows, so that any number can be re-checked elsewhere
//! (torchattacks, AutoAttack, RobustBench, another distillation tool): per cell, under
//! `OUT/artifacts/<data set>_<method>_ipc<IPC>_<arch>_seed<S>/`,
//! - `--save-distilled`: `distilled.safetensors` (`images` float32 `[M, C, H, W]` in the
//!   student's input space, [0, 1] pixels whose values may leave it; `labels` int64 `[M]`;
//!   `soft_labels` float32 `[M, classes]` when the method gave them) and `distilled.json`
//!   (method, version, resolved config, data set and its SHA-256, seed, IPC, pixel range, and the
//!   `import` config that reads it back);
//! - `--save-student`: `student.safetensors` (the trained weights under ddbench's names) and
//!   `student.json` (the model spec: architecture, width, depth, norm layer, input shape,
//!   classes, the mean/std normalisation inside the model; the ZCA layer in `zca.safetensors`);
//! - `--save-adversarial`: `adversarial_<attack>_<norm>_<ε>.safetensors` per attack row
//!   (`images` float32 in [0, 1], `indices` into the test split, `labels`).
//!
//! Files are written atomically (a temporary name, then a rename). A cell whose rows are reused
//! is not run, so writes nothing.

use super::distill::Distilled;
use super::grid::Cell;
use super::train::Student;
use super::Ctx;
use serde_json::json;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// Which artefacts a run writes (the flags of `run` and `bench`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, clap::Args)]
pub struct SaveOptions {
    /// Write each cell's distilled set (safetensors + JSON card) under OUT/artifacts/ (bench:
    /// OUT/cells/<cell>/artifacts/); outputs, not part of any key: a reused cell writes nothing.
    #[arg(long = "save-distilled")]
    pub distilled: bool,
    /// Write each cell's trained student (safetensors weights + JSON model spec).
    #[arg(long = "save-student")]
    pub student: bool,
    /// Write the adversarial images of each attack row (safetensors, with test indices).
    #[arg(long = "save-adversarial")]
    pub adversarial: bool,
}

impl SaveOptions {
    /// The flags that ask a child run for the same artefacts.
    pub fn flags(&self) -> Vec<String> {
        [
            (self.distilled, "--save-distilled"),
            (self.student, "--save-student"),
            (self.adversarial, "--save-adversarial"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| f.to_string())
        .collect()
    }
}

/// The cell's artefact folder (created).
fn cell_dir(ctx: &Ctx, cell: &Cell) -> Result<PathBuf, String> {
    let stem = format!(
        "{}_{}_ipc{}_{}_seed{}",
        ctx.data.name, cell.method.name, cell.ipc, ctx.cfg.arch, cell.seed
    );
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let dir = ctx.cfg.out.join("artifacts").join(safe);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Writes `tensors` to `path` through a temporary file.
fn write_tensors(path: &Path, tensors: &[(&str, Tensor)]) -> Result<(), String> {
    let tmp = path.with_extension("safetensors.tmp");
    let cpu: Vec<(&str, Tensor)> = tensors
        .iter()
        .map(|(n, t)| (*n, t.to_device(tch::Device::Cpu).contiguous()))
        .collect();
    Tensor::write_safetensors(&cpu, &tmp).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    crate::record::write_atomic(path, &text).map_err(|e| format!("{e:#}"))
}

/// `distilled.safetensors` and its sidecar.
pub fn distilled(ctx: &Ctx, cell: &Cell, d: &Distilled) -> Result<(), String> {
    let dir = cell_dir(ctx, cell)?;
    let set = &d.set;
    let mut tensors = vec![
        ("images", set.images.shallow_clone()),
        ("labels", set.labels.shallow_clone()),
    ];
    if let Some(s) = &set.soft_labels {
        tensors.push(("soft_labels", s.shallow_clone()));
    }
    let file = dir.join("distilled.safetensors");
    write_tensors(&file, &tensors)?;
    let config = super::RunConfig::config_of(&ctx.cfg.method_config, &cell.method.name);
    write_json(
        &dir.join("distilled.json"),
        &json!({
            "format": "ddbench distilled set 1",
            "method": cell.method.name,
            "method_version": cell.method.version,
            "method_config": config,
            "dataset": ctx.data.name,
            "dataset_sha256": ctx.data.hash,
            "ipc": cell.ipc,
            "seed": cell.seed,
            "images": {
                "shape": set.images.size(),
                "space": "pixels: the student's input in [0, 1] (distilled values may leave it); mean/std normalisation and ZCA are inside the model",
                "min": set.range.0,
                "max": set.range.1,
            },
            "soft_labels": set.soft_labels.is_some(),
            "hints": set.hints,
            "import": { "method": "import", "config": { "path": file, "space": "unit" } },
        }),
    )
}

/// `student.safetensors`, `student.json` and, for a whitened student, `zca.safetensors`.
pub fn student(ctx: &Ctx, cell: &Cell, s: &Student, clean_acc: f64) -> Result<(), String> {
    let dir = cell_dir(ctx, cell)?;
    let file = dir.join("student.safetensors");
    // the extension picks the format VarStore writes: keep `.safetensors` last
    let tmp = file.with_extension("tmp.safetensors");
    s.model
        .vs
        .save(&tmp)
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &file).map_err(|e| format!("writing {}: {e}", file.display()))?;
    let zca = match s.model.zca() {
        Some(z) => {
            let p = dir.join("zca.safetensors");
            z.save(&p)
                .map_err(|e| format!("writing {}: {e}", p.display()))?;
            Some(p)
        }
        None => None,
    };
    write_json(
        &dir.join("student.json"),
        &json!({
            "format": "ddbench student 1",
            "weights": file,
            "spec": s.model.spec,
            "input": "pixels in [0, 1], float32 [B, C, H, W]; the model normalises with spec.mean/std, then applies the ZCA layer if any",
            "whitening": crate::whitening::record(s.model.zca()),
            "zca": zca,
            "protocol": s.protocol,
            "epochs": s.epochs,
            "clean_acc": clean_acc,
            "method": cell.method.name,
            "ipc": cell.ipc,
            "seed": cell.seed,
            "dataset": ctx.data.name,
            "dataset_sha256": ctx.data.hash,
        }),
    )
}

/// `adversarial_<attack>_<norm>_<ε>.safetensors`: the attack's images of the attacked subset.
pub fn adversarial(
    ctx: &Ctx,
    cell: &Cell,
    attack: &str,
    eps: f64,
    images: &Tensor,
) -> Result<(), String> {
    let dir = cell_dir(ctx, cell)?;
    let norm = crate::threat::norm_name(ctx.cfg.norm);
    let file = dir.join(format!("adversarial_{attack}_{norm}_{eps:.6}.safetensors"));
    let sub = ctx.subset;
    write_tensors(
        &file,
        &[
            ("images", images.shallow_clone()),
            ("indices", Tensor::from_slice(&sub.indices)),
            ("labels", sub.y.shallow_clone()),
        ],
    )
}
