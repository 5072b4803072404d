//! Picks the run's device. The linker drops `libtorch_cuda.so` (nothing references it by symbol),
//! so it is opened by hand at start-up with RTLD_NOW | RTLD_GLOBAL and kept loaded for the process.

use anyhow::{bail, Result};
use std::sync::OnceLock;
use tch::Device;

/// What the user asked for with `--device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Cuda,
}

static CUDA_LIB: OnceLock<Result<(), String>> = OnceLock::new();

/// Loads libtorch's CUDA half once; `Err` says why it could not be loaded.
fn load_torch_cuda() -> Result<(), String> {
    CUDA_LIB
        .get_or_init(|| {
            use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
            // SAFETY: loading libtorch_cuda runs its static initialisers, which register the CUDA
            // backend with the already-loaded libtorch; the library is never unloaded.
            match unsafe { Library::open(Some("libtorch_cuda.so"), RTLD_NOW | RTLD_GLOBAL) } {
                Ok(lib) => {
                    std::mem::forget(lib);
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        })
        .clone()
}

/// The device for `choice`, and its description for logs and manifests.
pub fn select(choice: DeviceChoice) -> Result<(Device, String)> {
    let cuda = match choice {
        DeviceChoice::Cpu => Err("not requested (--device cpu)".to_string()),
        _ => load_torch_cuda().and_then(|()| {
            if tch::Cuda::is_available() {
                Ok(())
            } else {
                Err("libtorch_cuda loaded but no CUDA device is visible".into())
            }
        }),
    };
    match (choice, cuda) {
        (DeviceChoice::Cuda, Err(why)) => bail!("--device cuda: CUDA is not usable: {why}"),
        (DeviceChoice::Cpu, _) | (DeviceChoice::Auto, Err(_)) => Ok((
            Device::Cpu,
            format!("cpu ({} threads)", tch::get_num_threads()),
        )),
        (_, Ok(())) => Ok((Device::Cuda(0), format!("cuda:0 ({})", cuda_device_name(0)))),
    }
}

/// The first of `names` found in the CUDA runtime libtorch_cuda already loaded; the library
/// stays loaded for the process, so the pointer stays valid. None without CUDA.
pub(crate) fn cudart_symbol<T: Copy>(names: &[&[u8]]) -> Option<T> {
    use libloading::Library;
    for lib_name in ["libcudart.so.13", "libcudart.so.12", "libcudart.so"] {
        // SAFETY: the CUDA runtime is already loaded by libtorch_cuda; this only looks it up,
        // and `T` is the symbol's C function-pointer type at the call sites.
        let Ok(lib) = (unsafe { Library::new(lib_name) }) else {
            continue;
        };
        let f = names
            .iter()
            .find_map(|n| unsafe { lib.get::<T>(n) }.ok().map(|s| *s));
        std::mem::forget(lib);
        if f.is_some() {
            return f;
        }
    }
    None
}

/// The CUDA device's name (`cudaDeviceProp` starts with `char name[256]`, stable across CUDA
/// versions).
fn cuda_device_name(index: i32) -> String {
    type GetProps = unsafe extern "C" fn(*mut u8, i32) -> i32;
    let get = cudart_symbol::<GetProps>(&[
        b"cudaGetDeviceProperties_v2\0",
        b"cudaGetDeviceProperties\0",
    ]);
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: a buffer larger than any cudaDeviceProp, as the runtime API requires.
    match get.map(|f| unsafe { f(buf.as_mut_ptr(), index) }) {
        Some(0) => {
            let end = buf[..256].iter().position(|&b| b == 0).unwrap_or(256);
            String::from_utf8_lossy(&buf[..end]).into_owned()
        }
        _ => "unknown CUDA device".into(),
    }
}

/// `-1` for CPU, the index for CUDA (the ABI's device code).
pub fn device_code(d: Device) -> i32 {
    match d {
        Device::Cuda(i) => i as i32,
        _ => -1,
    }
}
