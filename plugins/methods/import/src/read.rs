//! Reading a distilled set's tensors from disk, in the layouts the tools write: the stored
//! images, and whatever labels the file holds, as found (no mapping yet).

use crate::config::{Format, ImportConfig};
use crate::folder;
use ddbench_plugin_api::PluginResult;
use std::path::Path;
use tch::Tensor;

/// The tensors of a distilled set as stored.
pub struct Stored {
    /// `[N, C, H, W]`, any numeric kind.
    pub images: Tensor,
    /// Integer `[N]` hard labels or float `[N, classes]` soft labels / logits, if the file has any.
    pub labels: Option<Tensor>,
    /// A second, float `[N, classes]` tensor of soft labels beside hard ones.
    pub soft: Option<Tensor>,
    /// Where each came from, for messages (`res.pt: data.0.0`).
    pub images_from: String,
    pub labels_from: String,
}

/// The layout of `path` when the config says `auto`.
pub fn detect(path: &Path, format: Format) -> PluginResult<Format> {
    if format != Format::Auto {
        return Ok(format);
    }
    if path.is_dir() {
        return Ok(if path.join("images_best.pt").is_file() {
            Format::Mtt
        } else {
            Format::Folder
        });
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "pt" | "pth" => Ok(Format::Pt),
        "safetensors" => Ok(Format::Safetensors),
        "npz" => Ok(Format::Npz),
        _ => Err(format!(
            "{}: cannot tell the format from the extension '.{ext}': set config 'format' \
             (pt, safetensors, npz, mtt, folder)",
            path.display()
        )
        .into()),
    }
}

/// Reads the set at `path` in `format` (already detected).
pub fn read(
    path: &Path,
    format: Format,
    cfg: &ImportConfig,
    classes: i64,
    shape: [i64; 3],
) -> PluginResult<Stored> {
    let named = |r: Result<Vec<(String, Tensor)>, String>| -> PluginResult<Vec<(String, Tensor)>> {
        r.map_err(|e| e.into())
    };
    let shown = path.display().to_string();
    match format {
        Format::Pt => from_named(&shown, named(ddbench_torch_shim::load(path))?, cfg),
        Format::Safetensors => from_named(
            &shown,
            tch_named(path, Tensor::read_safetensors(path))?,
            cfg,
        ),
        Format::Npz => from_named(&shown, tch_named(path, Tensor::read_npz(path))?, cfg),
        Format::Mtt => mtt(path),
        Format::Folder => folder::read(path, classes, shape),
        Format::Auto => unreachable!("detected before reading"),
    }
}

fn tch_named(
    path: &Path,
    r: Result<Vec<(String, Tensor)>, tch::TchError>,
) -> PluginResult<Vec<(String, Tensor)>> {
    r.map_err(|e| format!("{}: {e}", path.display()).into())
}

/// MTT / DATM's folder: `images_best.pt` and, when present, `labels_best.pt`.
fn mtt(dir: &Path) -> PluginResult<Stored> {
    let one = |name: &str| -> PluginResult<Tensor> {
        let p = dir.join(name);
        let mut v = ddbench_torch_shim::load(&p)?;
        match v.len() {
            1 => Ok(v.remove(0).1.detach()),
            n => Err(format!("{}: expected one tensor, found {n}", p.display()).into()),
        }
    };
    let labels_file = dir.join("labels_best.pt");
    Ok(Stored {
        images: one("images_best.pt")?,
        labels: labels_file
            .is_file()
            .then(|| one("labels_best.pt"))
            .transpose()?,
        soft: None,
        images_from: format!("{}", dir.join("images_best.pt").display()),
        labels_from: format!("{}", labels_file.display()),
    })
}

/// The first name of `wanted` (or the config's key) present in `named`.
fn pick(
    named: &[(String, Tensor)],
    key: &Option<String>,
    wanted: &[&str],
) -> Option<(String, Tensor)> {
    let names: Vec<&str> = match key {
        Some(k) => vec![k.as_str()],
        None => wanted.to_vec(),
    };
    names.iter().find_map(|w| {
        named
            .iter()
            .find(|(n, _)| n == w)
            .map(|(n, t)| (n.clone(), t.detach()))
    })
}

/// Images and labels among a file's named tensors: a bare tensor is the images; DC's
/// `data.<experiment>.0` / `.1`; else the config's keys or the usual names.
fn from_named(
    file: &str,
    named: Vec<(String, Tensor)>,
    cfg: &ImportConfig,
) -> PluginResult<Stored> {
    let at = |n: &str| format!("{file}: {n}");
    if let [(n, t)] = named.as_slice() {
        if n.is_empty() {
            return Ok(Stored {
                images: t.detach(),
                labels: None,
                soft: None,
                images_from: file.to_string(),
                labels_from: String::new(),
            });
        }
    }
    let e = cfg.experiment;
    let dc = (format!("data.{e}.0"), format!("data.{e}.1"));
    if cfg.images_key.is_none() && named.iter().any(|(n, _)| *n == dc.0) {
        let images = pick(&named, &Some(dc.0.clone()), &[]).unwrap().1;
        let labels = pick(&named, &Some(dc.1.clone()), &[]).map(|p| p.1);
        return Ok(Stored {
            images,
            labels,
            soft: None,
            images_from: at(&dc.0),
            labels_from: at(&dc.1),
        });
    }
    if named.iter().any(|(n, _)| n.starts_with("data.")) && cfg.images_key.is_none() {
        return Err(format!(
            "{file}: config 'experiment' = {e}: the file's 'data' has no entry {e}"
        )
        .into());
    }
    let names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
    let (iname, images) =
        pick(&named, &cfg.images_key, &["images", "image_syn", "x"]).ok_or_else(|| {
            format!(
                "{file}: no images tensor ({}; the file holds {names:?}): set config 'images_key'",
                cfg.images_key
                    .as_deref()
                    .map_or("looked for images, image_syn, x".into(), |k| format!(
                        "'{k}' named by 'images_key'"
                    ))
            )
        })?;
    let labels = pick(&named, &cfg.labels_key, &["labels", "label_syn", "y"]);
    let soft = pick(&named, &cfg.soft_labels_key, &["soft_labels"]).map(|p| p.1);
    Ok(Stored {
        images,
        labels_from: labels.as_ref().map_or(String::new(), |l| at(&l.0)),
        labels: labels.map(|l| l.1),
        soft,
        images_from: at(&iname),
    })
}
