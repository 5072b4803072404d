//! `import`: a distilled set read from disk, so any tool's output becomes a leaderboard row
//! without a Rust port. Layouts (what the official code writes, read there):
//! - `.pt` files `torch.save` wrote, read natively through libtorch's unpickler
//!   (`ddbench-torch-shim`): DC / DSA / DM's `res_<method>_<data>_<model>_<ipc>ipc.pt`, a dict
//!   `{'data': [[image_syn, label_syn], …], 'accs_all_exps': …}` (VICO-UoE/DatasetCondensation
//!   main.py:224-225, main_DM.py:203-204; images normalised with the data set's mean/std,
//!   utils.py get_dataset) — `space = "normalized"`; a bare tensor; or a dict of named tensors;
//! - MTT / DATM's folder: `images_best.pt` (ZCA-whitened on CIFAR with `--zca`:
//!   `space = "zca"`) and `labels_best.pt` (MTT: class indices; DATM: learned logits, trained
//!   with a soft cross-entropy against their softmax, distill/DATM.py:256-257, 403)
//!   (GeorgeCazenavette/mtt-distillation distill.py:242-243);
//! - safetensors and NumPy `.npz` (`images`, `labels`, optional `soft_labels`);
//! - image folders as SRe2L / GUARD's recovery writes them (one folder per class).
//!
//! The images are mapped to [0, 1] pixels (`space`), labels checked against the data set
//! (`labels`); each class must hold the cell's IPC images. Every file's SHA-256 is part of the
//! resolved config (`sha256`), so a changed file is a different cell.

pub mod config;
mod folder;
mod labels;
pub mod read;
mod space;

use config::ImportConfig;
use ddbench_plugin_api::{declare_method, DistillInput, Distilled, Host, Method, PluginResult};
use std::path::Path;
use tch::{Kind, Tensor};

pub struct Import;

/// The stored images checked: `[N, C, H, W]` of the data set's image shape, finite.
fn check_images(images: &Tensor, from: &str, shape: [i64; 3]) -> PluginResult<()> {
    let s = images.size();
    if s.len() != 4 || s[1..] != shape || s[0] == 0 {
        return Err(format!(
            "{from}: images of shape {s:?}; the data set's are [N, {}, {}, {}]",
            shape[0], shape[1], shape[2]
        )
        .into());
    }
    let finite = images.to_kind(Kind::Double).isfinite().all();
    if !bool::try_from(finite).unwrap_or(false) {
        return Err(format!("{from}: images with NaN or infinite values").into());
    }
    Ok(())
}

/// Every class holds `ipc` images.
fn check_ipc(hard: &Tensor, classes: i64, ipc: i64, file: &str) -> PluginResult<()> {
    let counts = Vec::<i64>::try_from(hard.bincount(None::<Tensor>, classes))?;
    if counts.iter().all(|&k| k == ipc) {
        return Ok(());
    }
    let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    Err(format!(
        "{file}: {lo}–{hi} images per class; this cell's IPC is {ipc} (name one set per IPC in config 'paths')"
    )
    .into())
}

impl Method for Import {
    type Config = ImportConfig;
    fn distill(input: &DistillInput, cfg: &ImportConfig, host: &Host) -> PluginResult<Distilled> {
        let file = cfg.path_for(input.ipc)?;
        let path = Path::new(file);
        let format = read::detect(path, cfg.format)?;
        let stored = read::read(path, format, cfg, input.num_classes, input.image_shape)?;
        check_images(&stored.images, &stored.images_from, input.image_shape)?;
        let n = stored.images.size()[0];
        let labels = labels::labels(&stored, cfg.labels, n, input.num_classes)?;
        check_ipc(&labels.hard, input.num_classes, input.ipc, file)?;
        let (images, how) = space::to_pixels(&stored.images, cfg, input)?;
        host.log(&format!(
            "{file} ({format:?}): {n} images, {how}; {}; pixel range [{:.3}, {:.3}]",
            labels.said,
            images.min().double_value(&[]),
            images.max().double_value(&[])
        ));
        host.progress(1, 1);
        Ok(Distilled {
            images,
            labels: labels.hard,
            soft_labels: labels.soft,
            hints: None,
        })
    }
}

declare_method!(
    Import,
    name = "import",
    version = "0.1.0",
    description = "a distilled set read from disk (.pt as DC/DSA/DM and MTT/DATM write them, safetensors, .npz, image folders), mapped to [0, 1] pixels"
);
