//! Files written by Python's `torch.save`: a tensor, or dicts, lists and tuples holding tensors
//! (DC/DSA/DM's `res_*.pt` with `data_save`, MTT/DATM's `images_best.pt` and `labels_best.pt`),
//! read by libtorch's own unpickler through a small C++ shim (`src/pickle.cpp`) and returned as
//! named tensors: a dict's values under their keys, list and tuple items under their indices,
//! nested names joined with `.` (`data.0.0`); a bare tensor is named `""`. Values that are not
//! tensors (numbers, strings) are skipped.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::Path;
use tch::Tensor;

type Emit = extern "C" fn(*mut c_void, *const c_char, *mut c_void);

extern "C" {
    fn ddbench_pickle_load(
        data: *const c_char,
        len: usize,
        emit: Emit,
        ctx: *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

extern "C" fn collect(ctx: *mut c_void, name: *const c_char, tensor: *mut c_void) {
    // SAFETY: `ctx` is the Vec that `load` passed for this call; `name` a NUL-terminated string
    // alive during the call; `tensor` a heap `at::Tensor*` handed over to us, the layout of
    // tch's `C_tensor`.
    unsafe {
        let out = &mut *(ctx as *mut Vec<(String, Tensor)>);
        let name = CStr::from_ptr(name).to_string_lossy().into_owned();
        out.push((name, Tensor::from_ptr(tensor as *mut torch_sys::C_tensor)));
    }
}

/// The tensors of the `torch.save` file `bytes`, in file order, or libtorch's reason.
pub fn load_bytes(bytes: &[u8]) -> Result<Vec<(String, Tensor)>, String> {
    let mut out: Vec<(String, Tensor)> = Vec::new();
    let mut err = vec![0 as c_char; 1024];
    // SAFETY: the buffers outlive the call; `collect` only touches `out`.
    let rc = unsafe {
        ddbench_pickle_load(
            bytes.as_ptr() as *const c_char,
            bytes.len(),
            collect,
            &mut out as *mut _ as *mut c_void,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    if rc != 0 {
        // SAFETY: the shim wrote a NUL-terminated message into `err`.
        let msg = unsafe { CStr::from_ptr(err.as_ptr()) };
        return Err(msg.to_string_lossy().into_owned());
    }
    Ok(out)
}

/// The tensors of the `torch.save` file at `path`; errors name the file.
pub fn load(path: &Path) -> Result<Vec<(String, Tensor)>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    load_bytes(&bytes).map_err(|e| {
        format!(
            "{}: not a file torch.save wrote (libtorch: {e})",
            path.display()
        )
    })
}
