//! The host's side of a call: the per-call state behind `HostServices` (log, progress, error,
//! hints and config callbacks), taking ownership of returned tensors, and a failed call's message.

use crate::plugin::loader::Plugin;
use ddbench_plugin_api::abi::*;
use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::Tensor;

/// Per-call state behind `HostServices::ctx`.
pub(super) struct HostState<'a> {
    pub(super) error: RefCell<Option<String>>,
    pub(super) hints: RefCell<Option<String>>,
    pub(super) config: RefCell<Option<String>>,
    progress: &'a dyn Fn(u64, u64),
    log: &'a dyn Fn(&str),
}

impl<'a> HostState<'a> {
    pub(super) fn new(progress: &'a dyn Fn(u64, u64), log: &'a dyn Fn(&str)) -> Self {
        HostState {
            error: RefCell::new(None),
            hints: RefCell::new(None),
            config: RefCell::new(None),
            progress,
            log,
        }
    }
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

unsafe extern "C" fn cb_set_config(ctx: *mut c_void, json: *const c_char) {
    let s = &*(ctx as *const HostState);
    *s.config.borrow_mut() = Some(c_text(json));
}

pub(super) fn services(state: &HostState) -> HostServices {
    HostServices {
        ctx: state as *const HostState as *mut c_void,
        log: cb_log,
        progress: cb_progress,
        set_error: cb_set_error,
        set_hints: cb_set_hints,
        set_config: cb_set_config,
    }
}

/// Takes ownership of a tensor a plugin handed over (null → None).
pub(super) unsafe fn take(p: *mut C_tensor) -> Option<Tensor> {
    (!p.is_null()).then(|| Tensor::from_ptr(p))
}

pub(super) fn status_error(plugin: &Plugin, status: Status, state: &HostState) -> String {
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
