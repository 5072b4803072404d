//! The state of libtorch's default generator of a device, read and put back: a training that
//! stops between epochs and resumes in a new process draws exactly what it would have drawn.

use crate::err::ErrBuf;
use std::ffi::{c_char, c_int, c_void};
use tch::{Device, Tensor};

extern "C" {
    fn ddbench_rng_get_state(
        cuda: c_int,
        index: c_int,
        err: *mut c_char,
        err_len: usize,
    ) -> *mut c_void;
    fn ddbench_rng_set_state(
        cuda: c_int,
        index: c_int,
        state: *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

fn split(device: Device) -> (c_int, c_int) {
    match device {
        Device::Cuda(i) => (1, i as c_int),
        _ => (0, 0),
    }
}

/// The default generator's state on `device` (a uint8 tensor on the CPU).
pub fn state(device: Device) -> Result<Tensor, String> {
    let (cuda, index) = split(device);
    let mut err = ErrBuf::new();
    // SAFETY: the buffer outlives the call; a non-null result is a heap `at::Tensor*` handed over.
    let raw = unsafe { ddbench_rng_get_state(cuda, index, err.ptr(), err.len()) };
    if raw.is_null() {
        return Err(format!(
            "reading the generator of {device:?}: {}",
            err.message()
        ));
    }
    // SAFETY: see above; tch's C_tensor is an `at::Tensor*`.
    Ok(unsafe { Tensor::from_ptr(raw as *mut torch_sys::C_tensor) })
}

/// Puts back a state [`state`] read on a device of the same kind.
pub fn set_state(device: Device, state: &Tensor) -> Result<(), String> {
    let (cuda, index) = split(device);
    let mut err = ErrBuf::new();
    // SAFETY: `state` is a live tensor for the call; the shim copies what it needs.
    let rc = unsafe {
        ddbench_rng_set_state(
            cuda,
            index,
            state.as_ptr() as *mut c_void,
            err.ptr(),
            err.len(),
        )
    };
    err.check(rc)
        .map_err(|e| format!("restoring the generator of {device:?}: {e}"))
}
