//! Autocast to a chosen dtype (tch's `autocast` only knows float16 on CUDA) and the channels-last
//! memory format, through `src/levers.cpp`.

use std::ffi::{c_int, c_void};
use tch::{Device, Tensor};

extern "C" {
    fn ddbench_autocast_set(
        cuda: c_int,
        enabled: c_int,
        bf16: c_int,
        was_enabled: *mut c_int,
        was_bf16: *mut c_int,
    ) -> c_int;
    fn ddbench_channels_last_(t: *mut c_void) -> c_int;
    fn ddbench_is_channels_last(t: *mut c_void) -> c_int;
    fn ddbench_cpu_has_native_bf16() -> c_int;
    fn ddbench_autocast_clear_cache();
}

/// Whether `device` computes bf16 natively: CUDA, or a CPU with native bf16 — where bf16
/// autocast is a speed lever rather than an emulation.
pub fn computes_bf16(device: Device) -> bool {
    device.is_cuda() || cpu_has_native_bf16()
}

/// Tells autocast the weights changed: its cached low-precision copies of them, kept while an
/// autocast region lasts, are dropped. Call after an update made outside `optim::Optimizer`
/// (whose steps do it) when training may run inside a long region.
pub fn weights_changed() {
    // SAFETY: no arguments; clearing a thread-local cache.
    unsafe { ddbench_autocast_clear_cache() }
}

/// Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16): where bf16 autocast on
/// the CPU is faster than float32 rather than an emulation.
pub fn cpu_has_native_bf16() -> bool {
    // SAFETY: no arguments; the C++ side catches everything.
    unsafe { ddbench_cpu_has_native_bf16() != 0 }
}

/// Autocast on `device` to bfloat16 while this lives (then the previous state comes back and
/// the autocast cache is cleared). Thread-local, as libtorch's autocast state is.
pub struct AutocastBf16 {
    cuda: bool,
    was: (c_int, c_int),
}

fn set(cuda: bool, enabled: bool, bf16: bool) -> Result<(c_int, c_int), String> {
    let (mut e, mut b) = (0, 0);
    // SAFETY: plain values in, two ints out.
    let rc = unsafe {
        ddbench_autocast_set(
            cuda as c_int,
            enabled as c_int,
            bf16 as c_int,
            &mut e,
            &mut b,
        )
    };
    if rc != 0 {
        return Err(format!(
            "libtorch refused autocast on {}",
            if cuda { "CUDA" } else { "CPU" }
        ));
    }
    Ok((e, b))
}

impl AutocastBf16 {
    pub fn new(device: Device) -> Result<AutocastBf16, String> {
        let cuda = device.is_cuda();
        Ok(AutocastBf16 {
            cuda,
            was: set(cuda, true, true)?,
        })
    }
}

impl Drop for AutocastBf16 {
    fn drop(&mut self) {
        let _ = set(self.cuda, self.was.0 != 0, self.was.1 != 0);
    }
}

/// Rewrites `t` in place in channels-last layout when it is 4-D (a parameter stays the same
/// variable, as `model.to(memory_format=torch.channels_last)` keeps it).
pub fn channels_last_(t: &Tensor) -> Result<(), String> {
    // SAFETY: a tch tensor is a pointer to an at::Tensor, alive for the call.
    let rc = unsafe { ddbench_channels_last_(t.as_ptr() as *mut c_void) };
    if rc != 0 {
        return Err("libtorch could not lay the tensor out channels-last".into());
    }
    Ok(())
}

/// Whether `t` is 4-D and laid out channels-last.
pub fn is_channels_last(t: &Tensor) -> bool {
    // SAFETY: as above.
    unsafe { ddbench_is_channels_last(t.as_ptr() as *mut c_void) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn autocast_bf16_computes_matmuls_in_bf16_while_it_lives() {
        // CPU autocast is real libtorch autocast (its bf16 path), so the shim is checked here
        let a = Tensor::rand([8, 8], (Kind::Float, Device::Cpu));
        assert_eq!(a.matmul(&a).kind(), Kind::Float);
        {
            let _g = AutocastBf16::new(Device::Cpu).unwrap();
            let y = a.matmul(&a);
            assert_eq!(y.kind(), Kind::BFloat16);
            let diff = (y.to_kind(Kind::Float) - a.matmul(&a).to_kind(Kind::Float))
                .abs()
                .max();
            assert_eq!(
                diff.double_value(&[]),
                0.0,
                "both inside: the same bf16 result"
            );
        }
        assert_eq!(a.matmul(&a).kind(), Kind::Float, "restored on drop");
    }

    #[test]
    fn native_bf16_is_what_the_cpu_flags_say() {
        let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let has = flags
            .split_whitespace()
            .any(|f| f == "avx512_bf16" || f == "amx_bf16");
        assert_eq!(cpu_has_native_bf16(), has);
    }

    #[test]
    fn channels_last_keeps_values_and_identity() {
        let x = Tensor::rand([2, 3, 4, 5], (Kind::Float, Device::Cpu));
        let before = x.copy();
        assert!(!is_channels_last(&x));
        channels_last_(&x).unwrap();
        assert!(is_channels_last(&x));
        assert!(x.equal(&before));
        assert_eq!(x.stride(), vec![60, 1, 15, 3]);
        // other ranks are left alone
        let v = Tensor::rand([3], (Kind::Float, Device::Cpu));
        channels_last_(&v).unwrap();
        assert!(!is_channels_last(&v));
    }
}
