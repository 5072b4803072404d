//! Calls into plugins: builds the C requests, serves the host callbacks (log, progress, model
//! forward with counting), takes ownership of returned tensors, and checks every output before
//! it is used. A plugin error, panic or bad output comes back as `Err`, never as a crash.

use super::loader::Plugin;
use crate::data::DeviceDataset;
use ddbench_nn::Model;
use ddbench_plugin_api::abi::*;
use ddbench_plugin_api::{check_adversarial, Hints, Norm};
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void, CString};
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::{Kind, Tensor};

/// Per-call state behind `HostServices::ctx`.
struct HostState<'a> {
    error: RefCell<Option<String>>,
    hints: RefCell<Option<String>>,
    progress: &'a dyn Fn(u64, u64),
    log: &'a dyn Fn(&str),
}

unsafe extern "C" fn cb_log(ctx: *mut c_void, level: u32, msg: *const c_char) {
    let s = &*(ctx as *const HostState);
    let m = c_text(msg);
    let _ = catch_unwind(AssertUnwindSafe(|| {
        (s.log)(&if level == LOG_WARN {
            format!("warning: {m}")
        } else {
            m
        })
    }));
}
unsafe extern "C" fn cb_progress(ctx: *mut c_void, done: u64, total: u64) {
    let s = &*(ctx as *const HostState);
    let _ = catch_unwind(AssertUnwindSafe(|| (s.progress)(done, total)));
}
unsafe extern "C" fn cb_set_error(ctx: *mut c_void, msg: *const c_char) {
    let s = &*(ctx as *const HostState);
    *s.error.borrow_mut() = Some(c_text(msg));
}
unsafe extern "C" fn cb_set_hints(ctx: *mut c_void, json: *const c_char) {
    let s = &*(ctx as *const HostState);
    *s.hints.borrow_mut() = Some(c_text(json));
}

fn services(state: &HostState) -> HostServices {
    HostServices {
        ctx: state as *const HostState as *mut c_void,
        log: cb_log,
        progress: cb_progress,
        set_error: cb_set_error,
        set_hints: cb_set_hints,
    }
}

/// Takes ownership of a tensor a plugin handed over (null → None).
unsafe fn take(p: *mut C_tensor) -> Option<Tensor> {
    (!p.is_null()).then(|| Tensor::from_ptr(p))
}

fn status_error(plugin: &Plugin, status: Status, state: &HostState) -> String {
    let msg = state
        .error
        .borrow()
        .clone()
        .unwrap_or_else(|| "no message".into());
    match status {
        STATUS_PANIC => format!("{} plugin '{}' panicked: {msg}", plugin.kind, plugin.name),
        _ => format!("{} plugin '{}' failed: {msg}", plugin.kind, plugin.name),
    }
}

/// A checked distilled set.
pub struct DistillOutcome {
    pub images: Tensor,
    pub labels: Tensor,
    pub soft_labels: Option<Tensor>,
    /// The method's training hints (`Hints::default()` when it gave none).
    pub hints: Hints,
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
    let state = HostState {
        error: RefCell::new(None),
        hints: RefCell::new(None),
        progress,
        log,
    };
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
    checked.map_err(bad)?;
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
    })
}

fn check_distilled(
    images: &Tensor,
    labels: &Tensor,
    soft: Option<&Tensor>,
    data: &DeviceDataset,
) -> Result<(), String> {
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
    if lo < 0.0 || hi > 1.0 {
        return Err(format!("images outside [0, 1] (min {lo}, max {hi})"));
    }
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
    Ok(())
}

/// The model behind an attack's `ModelHandle`, with the host's counters.
struct ModelState<'a> {
    model: &'a Model,
    forwards: Cell<u64>,
    backwards: Cell<u64>,
    /// Device-side flag: did any query leave [0, 1]? Read once after the attack (no per-step sync).
    out_of_box: RefCell<Option<Tensor>>,
    error: RefCell<Option<String>>,
}

unsafe extern "C" fn cb_forward(
    ctx: *mut c_void,
    x: *const C_tensor,
    out: *mut *mut C_tensor,
) -> Status {
    let s = &*(ctx as *const ModelState);
    if x.is_null() || out.is_null() {
        *s.error.borrow_mut() = Some("model forward called with a null pointer".into());
        return STATUS_ERROR;
    }
    let r = catch_unwind(AssertUnwindSafe(|| {
        // Borrowed handle: wrapped, never freed here.
        let x = ManuallyDrop::new(Tensor::from_ptr(x as *mut C_tensor));
        let _no_grad = tch::no_grad_guard();
        let bad = x.lt(-1e-6).any().logical_or(&x.gt(1.0 + 1e-6).any());
        let mut flag = s.out_of_box.borrow_mut();
        *flag = Some(match flag.take() {
            Some(f) => f.logical_or(&bad),
            None => bad,
        });
        drop(_no_grad);
        s.model.forward_t(&x, false)
    }));
    match r {
        Ok(logits) => {
            s.forwards.set(s.forwards.get() + 1);
            *out = ddbench_plugin_api::entry::give_tensor(logits);
            STATUS_OK
        }
        Err(p) => {
            let m = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            *s.error.borrow_mut() =
                Some(format!("model forward failed: {}", m.unwrap_or_default()));
            STATUS_ERROR
        }
    }
}

unsafe extern "C" fn cb_note_backward(ctx: *mut c_void, _batch: i64) {
    let s = &*(ctx as *const ModelState);
    s.backwards.set(s.backwards.get() + 1);
}

/// A checked attack result on one batch.
pub struct AttackOutcome {
    pub adversarial: Tensor,
    pub forward_calls: u64,
    pub backward_calls: u64,
}

/// Why an attack call gave no usable result. Reads as its message (`Display`, `Deref<str>`).
#[derive(Clone, Debug, PartialEq)]
pub struct AttackError {
    /// The plugin itself answered with an error (a setting it refuses, a norm it lacks): its
    /// verdict on the request. Otherwise the plugin is broken (it panicked, or the host refused
    /// what it returned).
    pub refused: bool,
    pub message: String,
}

impl std::fmt::Display for AttackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::ops::Deref for AttackError {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

impl From<String> for AttackError {
    fn from(message: String) -> Self {
        AttackError {
            refused: false,
            message,
        }
    }
}

impl From<&str> for AttackError {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

/// Runs an attack plugin on a batch and checks the output: shape, finiteness, [0, 1], ε-ball.
#[allow(clippy::too_many_arguments)]
pub fn run_attack(
    plugin: &Plugin,
    model: &Model,
    images: &Tensor,
    labels: &Tensor,
    norm: Norm,
    eps: f64,
    seed: u64,
    config: &serde_json::Value,
    log: &dyn Fn(&str),
) -> Result<AttackOutcome, AttackError> {
    let f = plugin.desc.attack.ok_or("not an attack plugin")?;
    let nothing = |_: u64, _: u64| {};
    let state = HostState {
        error: RefCell::new(None),
        hints: RefCell::new(None),
        progress: &nothing,
        log,
    };
    let host = services(&state);
    let ms = ModelState {
        model,
        forwards: Cell::new(0),
        backwards: Cell::new(0),
        out_of_box: RefCell::new(None),
        error: RefCell::new(None),
    };
    let cfg = CString::new(config.to_string()).map_err(|e| e.to_string())?;
    let req = AttackRequest {
        model: ModelHandle {
            ctx: &ms as *const ModelState as *mut c_void,
            num_classes: model.spec.num_classes,
            forward: cb_forward,
            note_backward: cb_note_backward,
        },
        images: images.as_ptr(),
        labels: labels.as_ptr(),
        threat: ThreatModel {
            norm: norm.to_raw(),
            eps,
        },
        seed,
        config_json: cfg.as_ptr(),
    };
    let mut out = std::ptr::null_mut();
    let status = unsafe { f(&req, &host, &mut out) };
    let adv = unsafe { take(out) };
    if let Some(e) = ms.error.borrow().clone() {
        return Err(format!("attack plugin '{}': {e}", plugin.name).into());
    }
    if status != STATUS_OK {
        return Err(AttackError {
            refused: status == STATUS_ERROR,
            message: status_error(plugin, status, &state),
        });
    }
    let bad = |what: String| format!("attack plugin '{}' returned {what}", plugin.name);
    let adv = adv.ok_or_else(|| bad("no tensor".into()))?;
    let queried_outside = ms
        .out_of_box
        .borrow()
        .as_ref()
        .map(|f| bool::try_from(f).unwrap_or(true))
        .unwrap_or(false);
    if queried_outside {
        return Err(format!(
            "attack plugin '{}' queried the model outside [0, 1]",
            plugin.name
        )
        .into());
    }
    catch_unwind(AssertUnwindSafe(|| {
        check_adversarial(&adv, images, norm, eps)
    }))
    .unwrap_or_else(|_| Err("a tensor that could not be inspected".into()))
    .map_err(bad)?;
    Ok(AttackOutcome {
        adversarial: adv,
        forward_calls: ms.forwards.get(),
        backward_calls: ms.backwards.get(),
    })
}
