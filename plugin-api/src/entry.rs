//! What the declaration macros expand to: the `extern "C"` wrappers that turn raw requests into
//! safe inputs, catch panics, and hand results over with the ownership rules of the ABI.

use crate::abi::*;
use crate::{parse_config, resolve_config, PluginConfig};
use crate::{Attack, AttackInput, Host, Method, Model, Norm, PluginError};
use crate::{DistillInput, PluginResult};
use std::ffi::{c_char, CStr};
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::{Device, Tensor};

/// Takes a plugin-side handle of a tensor the host lends (a shallow clone: dropping it is safe).
///
/// # Safety
/// `ptr` must be a live tensor handle for the duration of the call.
pub unsafe fn borrow_tensor(ptr: *const C_tensor, what: &str) -> PluginResult<Tensor> {
    if ptr.is_null() {
        return Err(PluginError(format!(
            "the host passed a null tensor for {what}"
        )));
    }
    Ok(Tensor::clone_from_ptr(ptr as *mut C_tensor))
}

/// Hands a tensor over to the host, which frees it.
pub fn give_tensor(t: Tensor) -> *mut C_tensor {
    let mut t = ManuallyDrop::new(t);
    t.as_mut_ptr()
}

/// # Safety
/// `ptr` must be null or a NUL-terminated string live for the call.
unsafe fn read_str(ptr: *const c_char) -> String {
    if ptr.is_null() {
        String::new()
    } else {
        CStr::from_ptr(ptr).to_string_lossy().into_owned()
    }
}

unsafe fn read_config(ptr: *const c_char) -> PluginResult<serde_json::Value> {
    let text = read_str(ptr);
    if text.trim().is_empty() {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_str(&text).map_err(|e| PluginError(format!("config is not valid JSON: {e}")))
}

/// The `resolve_config` entry point every declared plugin exports: parses and checks the JSON
/// config as `C`, and hands the host the resolved config.
///
/// # Safety
/// Called by the host with valid pointers, as the ABI describes.
pub unsafe extern "C" fn resolve_entry<C: PluginConfig>(
    config_json: *const c_char,
    host: *const HostServices,
) -> Status {
    let host = Host::from_raw(&*host);
    guarded(&host, || {
        let resolved = resolve_config::<C>(&read_config(config_json)?)?;
        host.set_config(&resolved);
        Ok(())
    })
}

pub fn device_from_raw(d: i32) -> Device {
    if d < 0 {
        Device::Cpu
    } else {
        Device::Cuda(d as usize)
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Runs `f`, turning an error or a panic into a status and a message for the host.
fn guarded(host: &Host, f: impl FnOnce() -> PluginResult<()>) -> Status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => STATUS_OK,
        Ok(Err(e)) => {
            host.set_error(&e.0);
            STATUS_ERROR
        }
        Err(payload) => {
            host.set_error(&format!("plugin panicked: {}", panic_text(&*payload)));
            STATUS_PANIC
        }
    }
}

/// The `distill` entry point a `declare_method!` plugin exports.
///
/// # Safety
/// Called by the host with valid pointers, as the ABI describes.
pub unsafe extern "C" fn distill_entry<M: Method>(
    req: *const DistillRequest,
    host: *const HostServices,
    out: *mut DistillResult,
) -> Status {
    let host = Host::from_raw(&*host);
    guarded(&host, || {
        let req = &*req;
        let input = DistillInput {
            images: borrow_tensor(req.train.images, "train images")?,
            labels: borrow_tensor(req.train.labels, "train labels")?,
            num_classes: req.train.num_classes,
            image_shape: [req.train.channels, req.train.height, req.train.width],
            dataset: read_str(req.train.name),
            dataset_hash: read_str(req.train.content_hash),
            ipc: req.ipc,
            seed: req.seed,
            device: device_from_raw(req.device),
            cache_dir: std::path::PathBuf::from(read_str(req.cache_dir)),
        };
        let config: M::Config = parse_config(&read_config(req.config_json)?)?;
        let d = M::distill(&input, &config, &host)?;
        if let Some(h) = d.hints.as_ref().filter(|h| !h.is_empty()) {
            host.set_hints(&serde_json::to_value(h)?);
        }
        let out = &mut *out;
        out.images = give_tensor(d.images);
        out.labels = give_tensor(d.labels);
        out.soft_labels = d.soft_labels.map_or(std::ptr::null_mut(), give_tensor);
        Ok(())
    })
}

/// The `attack` entry point a `declare_attack!` plugin exports.
///
/// # Safety
/// Called by the host with valid pointers, as the ABI describes.
pub unsafe extern "C" fn attack_entry<A: Attack>(
    req: *const AttackRequest,
    host: *const HostServices,
    out: *mut *mut C_tensor,
) -> Status {
    let host = Host::from_raw(&*host);
    guarded(&host, || {
        let req = &*req;
        let norm = Norm::from_raw(req.threat.norm)
            .ok_or_else(|| PluginError(format!("unknown norm code {}", req.threat.norm)))?;
        let input = AttackInput {
            model: Model::from_raw(&req.model),
            images: borrow_tensor(req.images, "images")?,
            labels: borrow_tensor(req.labels, "labels")?,
            norm,
            eps: req.threat.eps,
            seed: req.seed,
        };
        let config: A::Config = parse_config(&read_config(req.config_json)?)?;
        let adv = A::attack(&input, &config, &host)?;
        *out = give_tensor(adv);
        Ok(())
    })
}

/// Declares a method plugin: `declare_method!(MyMethod, name = "my-method", version = "0.1.0",
/// description = "...")` exports the ABI entry symbol for the type implementing `Method`;
/// an optional `flags = ddbench_plugin_api::abi::FLAG_IGNORES_IPC` marks IPC-independent methods.
#[macro_export]
macro_rules! declare_method {
    ($ty:ty, name = $name:literal, version = $version:literal, description = $desc:literal $(,)?) => {
        $crate::declare_method!(
            $ty,
            name = $name,
            version = $version,
            description = $desc,
            flags = 0
        );
    };
    ($ty:ty, name = $name:literal, version = $version:literal, description = $desc:literal, flags = $flags:expr $(,)?) => {
        #[no_mangle]
        pub extern "C" fn ddbench_plugin_v2() -> *const $crate::abi::PluginDescriptor {
            static DESCRIPTOR: $crate::abi::PluginDescriptor = $crate::abi::PluginDescriptor {
                size: ::core::mem::size_of::<$crate::abi::PluginDescriptor>(),
                abi_version: $crate::abi::ABI_VERSION,
                kind: $crate::abi::KIND_METHOD,
                flags: $flags,
                name: concat!($name, "\0").as_ptr() as *const ::core::ffi::c_char,
                version: concat!($version, "\0").as_ptr() as *const ::core::ffi::c_char,
                torch_version: $crate::__torch_version_cstr!(),
                description: concat!($desc, "\0").as_ptr() as *const ::core::ffi::c_char,
                distill: Some($crate::entry::distill_entry::<$ty>),
                attack: None,
                resolve_config: Some(
                    $crate::entry::resolve_entry::<<$ty as $crate::Method>::Config>,
                ),
            };
            &DESCRIPTOR
        }
    };
}

/// Declares an attack plugin, like `declare_method!` for a type implementing `Attack`.
#[macro_export]
macro_rules! declare_attack {
    ($ty:ty, name = $name:literal, version = $version:literal, description = $desc:literal $(,)?) => {
        #[no_mangle]
        pub extern "C" fn ddbench_plugin_v2() -> *const $crate::abi::PluginDescriptor {
            static DESCRIPTOR: $crate::abi::PluginDescriptor = $crate::abi::PluginDescriptor {
                size: ::core::mem::size_of::<$crate::abi::PluginDescriptor>(),
                abi_version: $crate::abi::ABI_VERSION,
                kind: $crate::abi::KIND_ATTACK,
                flags: 0,
                name: concat!($name, "\0").as_ptr() as *const ::core::ffi::c_char,
                version: concat!($version, "\0").as_ptr() as *const ::core::ffi::c_char,
                torch_version: $crate::__torch_version_cstr!(),
                description: concat!($desc, "\0").as_ptr() as *const ::core::ffi::c_char,
                distill: None,
                attack: Some($crate::entry::attack_entry::<$ty>),
                resolve_config: Some(
                    $crate::entry::resolve_entry::<<$ty as $crate::Attack>::Config>,
                ),
            };
            &DESCRIPTOR
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __torch_version_cstr {
    () => {
        "2.11.0\0".as_ptr() as *const ::core::ffi::c_char
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_symbol_matches_abi_version() {
        assert_eq!(ENTRY_SYMBOL, format!("{ENTRY_PREFIX}{ABI_VERSION}"));
        let s = unsafe { CStr::from_ptr(crate::__torch_version_cstr!()) };
        assert_eq!(s.to_str().unwrap(), TORCH_VERSION);
    }
}
