//! The shims' error convention: a C++ exception's first line, written into a buffer the caller
//! owns.

use std::ffi::{c_char, CStr};

/// A buffer for a shim's message.
pub struct ErrBuf(Vec<c_char>);

impl ErrBuf {
    pub fn new() -> Self {
        ErrBuf(vec![0; 1024])
    }

    pub fn ptr(&mut self) -> *mut c_char {
        self.0.as_mut_ptr()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// What the shim wrote.
    pub fn message(&self) -> String {
        // SAFETY: the buffer is zeroed and the shims write NUL-terminated text shorter than it.
        unsafe { CStr::from_ptr(self.0.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    /// `Ok` for the return code 0, else the message.
    pub fn check(&self, rc: i32) -> Result<(), String> {
        if rc == 0 {
            Ok(())
        } else {
            Err(self.message())
        }
    }
}

impl Default for ErrBuf {
    fn default() -> Self {
        Self::new()
    }
}
