//! An image folder as SRe2L / GUARD's recovery writes it: one sub-folder per class in sorted
//! order (`new000`, `new001`, …), PNG or JPEG files at the data set's channels, read as [0, 1]
//! pixels (level / 255).

use ddbench_plugin_api::PluginResult;
use std::path::{Path, PathBuf};
use tch::Tensor;

fn sorted(dir: &Path, dirs: bool) -> PluginResult<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() == dirs)
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// One image as uint8 `[C, H, W]` with `shape`'s channels (1: grey, 3: RGB) and size.
fn decode(file: &Path, shape: [i64; 3]) -> PluginResult<Tensor> {
    let img = image::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let (w, h) = (img.width() as i64, img.height() as i64);
    if [h, w] != shape[1..] {
        return Err(format!(
            "{}: image of {w}×{h} pixels; the data set's are {}×{}",
            file.display(),
            shape[2],
            shape[1]
        )
        .into());
    }
    let (bytes, c) = match shape[0] {
        1 => (img.to_luma8().into_raw(), 1),
        3 => (img.to_rgb8().into_raw(), 3),
        c => {
            return Err(format!(
                "{}: data sets of {c} channels are not read from images",
                file.display()
            )
            .into())
        }
    };
    Ok(Tensor::from_slice(&bytes)
        .reshape([h, w, c])
        .permute([2, 0, 1]))
}

/// Images (float32 `[N, C, H, W]` in [0, 1]) and labels (the class folder's position) of `dir`.
pub fn read(dir: &Path, classes: i64, shape: [i64; 3]) -> PluginResult<crate::read::Stored> {
    let class_dirs = sorted(dir, true)?;
    if class_dirs.len() as i64 != classes {
        return Err(format!(
            "{}: {} class folders; the data set has {classes} classes (one folder per class, in sorted order)",
            dir.display(),
            class_dirs.len()
        )
        .into());
    }
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for (c, d) in class_dirs.iter().enumerate() {
        for f in sorted(d, false)? {
            images.push(decode(&f, shape)?);
            labels.push(c as i64);
        }
    }
    if images.is_empty() {
        return Err(format!("{}: no images in the class folders", dir.display()).into());
    }
    Ok(crate::read::Stored {
        images: Tensor::stack(&images, 0).to_kind(tch::Kind::Float) / 255.0,
        labels: Some(Tensor::from_slice(&labels)),
        soft: None,
        images_from: dir.display().to_string(),
        labels_from: format!("{} (class folders)", dir.display()),
    })
}
