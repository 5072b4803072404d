//! The host's callbacks (log, progress, hints, config, error) seen from a plugin.

use crate::abi::{HostServices, LOG_INFO, LOG_WARN};
use std::ffi::CString;

/// Safe view of the host callbacks passed to every plugin call.
pub struct Host<'a> {
    raw: &'a HostServices,
}

fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).expect("NUL bytes were replaced")
}

impl<'a> Host<'a> {
    /// # Safety
    /// `raw` must come from the host for the duration of the current call.
    #[doc(hidden)]
    pub unsafe fn from_raw(raw: &'a HostServices) -> Self {
        Host { raw }
    }

    pub fn log(&self, msg: &str) {
        let m = c_string(msg);
        unsafe { (self.raw.log)(self.raw.ctx, LOG_INFO, m.as_ptr()) }
    }

    pub fn warn(&self, msg: &str) {
        let m = c_string(msg);
        unsafe { (self.raw.log)(self.raw.ctx, LOG_WARN, m.as_ptr()) }
    }

    /// Reports progress (`done` of `total` units) for the host's progress bar.
    pub fn progress(&self, done: u64, total: u64) {
        unsafe { (self.raw.progress)(self.raw.ctx, done, total) }
    }

    pub(crate) fn set_error(&self, msg: &str) {
        let m = c_string(msg);
        unsafe { (self.raw.set_error)(self.raw.ctx, m.as_ptr()) }
    }

    pub(crate) fn set_hints(&self, hints: &serde_json::Value) {
        let m = c_string(&hints.to_string());
        unsafe { (self.raw.set_hints)(self.raw.ctx, m.as_ptr()) }
    }

    pub(crate) fn set_config(&self, config: &serde_json::Value) {
        let m = c_string(&config.to_string());
        unsafe { (self.raw.set_config)(self.raw.ctx, m.as_ptr()) }
    }
}
