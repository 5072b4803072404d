//! The raw C ABI: `#[repr(C)]` structs of plain data and `extern "C"` function pointers.
//! It only ever grows at the end; `ABI_VERSION` changes whenever a layout changes.

use std::ffi::{c_char, c_void};

pub use torch_sys::C_tensor;

/// The text behind a C string from the other side of the ABI (lossy UTF-8; empty for null).
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that stays valid during the call.
pub unsafe fn c_text(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Version of this ABI. The entry symbol carries it in its name.
pub const ABI_VERSION: u32 = 2;
/// Name of the entry symbol of an ABI-v2 plugin (`extern "C" fn() -> *const PluginDescriptor`).
pub const ENTRY_SYMBOL: &str = "ddbench_plugin_v2";
/// Prefix shared by the entry symbols of all ABI versions (`ddbench_plugin_v<N>`).
pub const ENTRY_PREFIX: &str = "ddbench_plugin_v";
/// The libtorch version `tch = "=0.24.0"` is built against; host and plugin must agree.
pub const TORCH_VERSION: &str = "2.11.0";

pub const KIND_METHOD: u32 = 1;
pub const KIND_ATTACK: u32 = 2;

/// Status codes returned by plugin entry points.
pub type Status = i32;
pub const STATUS_OK: Status = 0;
/// The plugin returned an error; its message went through `HostServices::set_error`.
pub const STATUS_ERROR: Status = 1;
/// The plugin panicked; the panic message went through `HostServices::set_error`.
pub const STATUS_PANIC: Status = 2;

pub const LOG_INFO: u32 = 0;
pub const LOG_WARN: u32 = 1;

pub const NORM_LINF: u32 = 0;
pub const NORM_L2: u32 = 2;

/// What a plugin's entry symbol returns: a static descriptor. `size` comes first so a host can
/// tell how much of the struct a plugin knows about.
#[repr(C)]
pub struct PluginDescriptor {
    /// `size_of::<PluginDescriptor>()` as the plugin was compiled.
    pub size: usize,
    pub abi_version: u32,
    /// `KIND_METHOD` or `KIND_ATTACK`.
    pub kind: u32,
    /// NUL-terminated UTF-8 strings with static lifetime.
    pub name: *const c_char,
    pub version: *const c_char,
    pub torch_version: *const c_char,
    pub description: *const c_char,
    /// Set for method plugins.
    pub distill: Option<DistillFn>,
    /// Set for attack plugins.
    pub attack: Option<AttackFn>,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// The plugin's declared configuration (ABI v2): parses and checks a JSON config, and hands
    /// the resolved one (every setting, defaults filled in) to `HostServices::set_config`.
    pub resolve_config: Option<ResolveConfigFn>,
}

/// Resolves a NUL-terminated JSON config (empty: all defaults). On `STATUS_OK` the resolved
/// config went through `HostServices::set_config`; otherwise the reason through `set_error`.
pub type ResolveConfigFn =
    unsafe extern "C" fn(config_json: *const c_char, host: *const HostServices) -> Status;

/// A method whose output does not depend on the IPC (e.g. `full`): run once, not once per IPC.
pub const FLAG_IGNORES_IPC: u32 = 1;
/// A method that trains a teacher cached under the cache folder and shared by every cell of the
/// same data set and config (IPC and seeds aside): `ddbench bench --executor slurm` trains each
/// such teacher once, in a phase of its own, before the cells that use it.
pub const FLAG_TEACHER: u32 = 2;

// SAFETY: the descriptor is immutable static data (pointers to static strings and functions).
unsafe impl Sync for PluginDescriptor {}

/// Callbacks the host gives every call. Strings passed to them are borrowed for the call only.
#[repr(C)]
pub struct HostServices {
    pub ctx: *mut c_void,
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: u32, msg: *const c_char),
    pub progress: unsafe extern "C" fn(ctx: *mut c_void, done: u64, total: u64),
    /// The error message that goes with a non-OK status.
    pub set_error: unsafe extern "C" fn(ctx: *mut c_void, msg: *const c_char),
    /// A JSON object of per-set training hints (method plugins only; optional).
    pub set_hints: unsafe extern "C" fn(ctx: *mut c_void, json: *const c_char),
    /// The resolved config, a JSON object (answer of `PluginDescriptor::resolve_config`).
    pub set_config: unsafe extern "C" fn(ctx: *mut c_void, json: *const c_char),
}

/// A data set lent to a plugin. Tensor handles are borrowed: never free them.
#[repr(C)]
pub struct DatasetView {
    /// uint8 `[N, C, H, W]`, on the run's device.
    pub images: *const C_tensor,
    /// int64 `[N]`, values in `0..num_classes`.
    pub labels: *const C_tensor,
    pub num_classes: i64,
    pub channels: i64,
    pub height: i64,
    pub width: i64,
    pub name: *const c_char,
    /// Hex SHA-256 of the whole data set's pixels and labels (both splits): a cache key.
    pub content_hash: *const c_char,
}

#[repr(C)]
pub struct DistillRequest {
    pub train: DatasetView,
    pub ipc: i64,
    pub seed: u64,
    /// -1 for CPU, k for `cuda:k`.
    pub device: i32,
    /// NUL-terminated JSON object.
    pub config_json: *const c_char,
    /// A folder the method may use to cache expensive artefacts (e.g. teachers) across calls.
    pub cache_dir: *const c_char,
}

/// Filled by a method plugin on success. Every non-null handle is owned by the host afterwards.
#[repr(C)]
pub struct DistillResult {
    /// float32 `[M, C, H, W]` in [0, 1].
    pub images: *mut C_tensor,
    /// int64 `[M]`.
    pub labels: *mut C_tensor,
    /// Optional float32 `[M, num_classes]`, rows summing to one; null when absent.
    pub soft_labels: *mut C_tensor,
}

pub type DistillFn = unsafe extern "C" fn(
    req: *const DistillRequest,
    host: *const HostServices,
    out: *mut DistillResult,
) -> Status;

/// The model under attack, behind host callbacks so the host counts every pass.
#[repr(C)]
pub struct ModelHandle {
    pub ctx: *mut c_void,
    pub num_classes: i64,
    /// Runs the model in eval mode on `x` (borrowed, float32 `[B, C, H, W]` in [0, 1]) with
    /// autograd enabled unless the caller disabled it; writes an owned logits handle to `out`.
    pub forward: unsafe extern "C" fn(
        ctx: *mut c_void,
        x: *const C_tensor,
        out: *mut *mut C_tensor,
    ) -> Status,
    /// Called once per backward pass through the model's graph, with the batch size.
    pub note_backward: unsafe extern "C" fn(ctx: *mut c_void, batch: i64),
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThreatModel {
    /// `NORM_LINF` or `NORM_L2`.
    pub norm: u32,
    /// Radius in pixel units ([0, 1] scale).
    pub eps: f64,
}

#[repr(C)]
pub struct AttackRequest {
    pub model: ModelHandle,
    /// float32 `[B, C, H, W]` in [0, 1], borrowed.
    pub images: *const C_tensor,
    /// int64 `[B]`, borrowed.
    pub labels: *const C_tensor,
    pub threat: ThreatModel,
    pub seed: u64,
    pub config_json: *const c_char,
}

/// On success `*out` holds an owned float32 tensor shaped like the images.
pub type AttackFn = unsafe extern "C" fn(
    req: *const AttackRequest,
    host: *const HostServices,
    out: *mut *mut C_tensor,
) -> Status;
