//! Method calls: the distillation request, and the checks of the distilled set.

use super::host::{services, status_error, take, HostState};
use crate::data::DeviceDataset;
use crate::plugin::loader::Plugin;
use ddbench_plugin_api::abi::*;
use ddbench_plugin_api::Hints;
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::{Kind, Tensor};

/// A checked distilled set.
pub struct DistillOutcome {
    pub images: Tensor,
    pub labels: Tensor,
    pub soft_labels: Option<Tensor>,
    /// The method's training hints (`Hints::default()` when it gave none).
    pub hints: Hints,
    /// The smallest and largest pixel value of `images`: distilled *training* images may lie
    /// outside [0, 1] (DC/DM/MTT optimise unconstrained pixels); attack inputs never do.
    pub range: (f64, f64),
}

/// Runs a method plugin on the training set and checks what it returns.
#[allow(clippy::too_many_arguments)]
pub fn run_distill(
    plugin: &Plugin,
    data: &DeviceDataset,
    ipc: i64,
    seed: u64,
    config: &serde_json::Value,
    cache_dir: &std::path::Path,
    progress: &dyn Fn(u64, u64),
    log: &dyn Fn(&str),
) -> Result<DistillOutcome, String> {
    let f = plugin.desc.distill.ok_or("not a method plugin")?;
    let state = HostState::new(progress, log);
    let host = services(&state);
    let name = CString::new(data.name.clone()).unwrap_or_default();
    let hash = CString::new(data.hash.clone()).unwrap_or_default();
    let cache =
        CString::new(cache_dir.to_string_lossy().into_owned()).map_err(|e| e.to_string())?;
    let cfg = CString::new(config.to_string()).map_err(|e| e.to_string())?;
    let [c, h, w] = data.shape;
    let req = DistillRequest {
        train: DatasetView {
            images: data.train_images.as_ptr(),
            labels: data.train_labels.as_ptr(),
            num_classes: data.num_classes,
            channels: c,
            height: h,
            width: w,
            name: name.as_ptr(),
            content_hash: hash.as_ptr(),
        },
        ipc,
        seed,
        device: crate::device::device_code(data.device),
        config_json: cfg.as_ptr(),
        cache_dir: cache.as_ptr(),
    };
    let mut out = DistillResult {
        images: std::ptr::null_mut(),
        labels: std::ptr::null_mut(),
        soft_labels: std::ptr::null_mut(),
    };
    let status = unsafe { f(&req, &host, &mut out) };
    // Take ownership first, so nothing leaks whatever the checks say.
    let (images, labels, soft) =
        unsafe { (take(out.images), take(out.labels), take(out.soft_labels)) };
    if status != STATUS_OK {
        return Err(status_error(plugin, status, &state));
    }
    let bad = |what: String| format!("method plugin '{}' returned {what}", plugin.name);
    let images = images.ok_or_else(|| bad("no images".into()))?;
    let labels = labels.ok_or_else(|| bad("no labels".into()))?;
    let checked = catch_unwind(AssertUnwindSafe(|| {
        check_distilled(&images, &labels, soft.as_ref(), data)
    }))
    .unwrap_or_else(|_| Err("tensors that could not be inspected".into()));
    let range = checked.map_err(bad)?;
    let hints = match state.hints.borrow().as_deref() {
        None => Hints::default(),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| bad(format!("hints that are not valid training hints: {e}")))?,
    };
    let dev = data.device;
    Ok(DistillOutcome {
        images: images.to_device(dev),
        labels: labels.to_device(dev),
        soft_labels: soft.map(|s| s.to_device(dev)),
        hints,
        range,
    })
}

/// Checks a distilled set's kinds, shapes, finiteness and label range; returns the images' pixel
/// range (any finite values: training images need not be in [0, 1]).
fn check_distilled(
    images: &Tensor,
    labels: &Tensor,
    soft: Option<&Tensor>,
    data: &DeviceDataset,
) -> Result<(f64, f64), String> {
    let [c, h, w] = data.shape;
    let s = images.size();
    if images.kind() != Kind::Float || s.len() != 4 || s[1..] != [c, h, w] || s[0] == 0 {
        return Err(format!(
            "images of kind {:?} and shape {s:?}; expected float32 [M, {c}, {h}, {w}] with M > 0",
            images.kind()
        ));
    }
    let m = s[0];
    if !bool::try_from(images.isfinite().all()).unwrap_or(false) {
        return Err("images with NaN or infinite values".into());
    }
    let (lo, hi) = (
        images.min().double_value(&[]),
        images.max().double_value(&[]),
    );
    if labels.kind() != Kind::Int64 || labels.size() != [m] {
        return Err(format!(
            "labels of kind {:?} and shape {:?}; expected int64 [{m}]",
            labels.kind(),
            labels.size()
        ));
    }
    let (lmin, lmax) = (labels.min().int64_value(&[]), labels.max().int64_value(&[]));
    if lmin < 0 || lmax >= data.num_classes {
        return Err(format!(
            "labels in {lmin}..={lmax}; expected 0..{}",
            data.num_classes
        ));
    }
    if let Some(sl) = soft {
        if sl.kind() != Kind::Float || sl.size() != [m, data.num_classes] {
            return Err(format!(
                "soft labels of shape {:?}; expected float32 [{m}, {}]",
                sl.size(),
                data.num_classes
            ));
        }
        let row_err = (sl.sum_dim_intlist(-1, false, Kind::Float) - 1.0)
            .abs()
            .max()
            .double_value(&[]);
        if !(sl.min().double_value(&[]) >= 0.0 && row_err < 1e-3) {
            return Err(
                "soft labels that are not probability rows (non-negative, summing to 1)".into(),
            );
        }
    }
    Ok((lo, hi))
}
