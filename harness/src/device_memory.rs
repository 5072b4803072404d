//! Peak memory of the run's device, for the cost columns: on CPU the process's peak resident
//! memory; on CUDA the most device memory in use beyond what was in use when the run started.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tch::Device;

/// How often the CUDA sampler reads the device's free memory.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// Watches one device from `start` until dropped.
pub struct PeakMemory {
    dev: Device,
    cuda: Option<CudaSampler>,
}

struct CudaSampler {
    mem_get_info: MemGetInfo,
    baseline: u64,
    peak_used: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type MemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> i32;

/// `cudaMemGetInfo` from the CUDA runtime libtorch_cuda already loaded (None without CUDA).
fn mem_get_info() -> Option<MemGetInfo> {
    crate::device::cudart_symbol(&[b"cudaMemGetInfo\0"])
}

/// Device memory in use (total − free), bytes, on the calling thread's current CUDA device.
fn used(f: MemGetInfo) -> Option<u64> {
    let (mut free, mut total) = (0usize, 0usize);
    // SAFETY: two out-pointers to live locals, as the CUDA runtime API documents.
    (unsafe { f(&mut free, &mut total) } == 0).then(|| total.saturating_sub(free) as u64)
}

impl PeakMemory {
    /// Starts watching `dev`. On CUDA a background thread samples `cudaMemGetInfo` every 50 ms;
    /// the memory in use at this call (the CUDA context, other processes) is the baseline.
    pub fn start(dev: Device) -> PeakMemory {
        let cuda = match dev {
            Device::Cuda(_) => mem_get_info().and_then(|f| {
                let baseline = used(f)?;
                let peak_used = Arc::new(AtomicU64::new(baseline));
                let stop = Arc::new(AtomicBool::new(false));
                let (p, s) = (peak_used.clone(), stop.clone());
                let thread = std::thread::spawn(move || {
                    while !s.load(Ordering::Relaxed) {
                        if let Some(u) = used(f) {
                            p.fetch_max(u, Ordering::Relaxed);
                        }
                        std::thread::sleep(SAMPLE_EVERY);
                    }
                });
                Some(CudaSampler {
                    mem_get_info: f,
                    baseline,
                    peak_used,
                    stop,
                    thread: Some(thread),
                })
            }),
            _ => None,
        };
        PeakMemory { dev, cuda }
    }

    /// Peak so far in MiB: CUDA device memory above the baseline, or (CPU) the process's peak
    /// resident set. NaN when a CUDA device cannot be queried.
    pub fn peak_mib(&self) -> f64 {
        match (self.dev, &self.cuda) {
            (Device::Cuda(_), Some(c)) => {
                if let Some(u) = used(c.mem_get_info) {
                    c.peak_used.fetch_max(u, Ordering::Relaxed);
                }
                let peak = c.peak_used.load(Ordering::Relaxed);
                peak.saturating_sub(c.baseline) as f64 / (1024.0 * 1024.0)
            }
            (Device::Cuda(_), None) => f64::NAN,
            _ => peak_rss_mib(),
        }
    }
}

impl Drop for PeakMemory {
    fn drop(&mut self) {
        if let Some(c) = &mut self.cuda {
            c.stop.store(true, Ordering::Relaxed);
            if let Some(t) = c.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// The process's peak resident set size (getrusage), MiB.
pub fn peak_rss_mib() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return f64::NAN;
    }
    ru.ru_maxrss as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resident set now, from /proc (pages of 4 KiB), in MiB.
    fn resident_mib() -> f64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096.0 / (1024.0 * 1024.0)
    }

    /// The peak covers whatever is resident while a 256 MiB tensor lives. (Not "grows by 256
    /// MiB": the peak is the process's, and tests running beside this one may have raised it
    /// already.)
    #[test]
    fn cpu_peak_is_the_resident_set_and_covers_an_allocation() {
        let mem = PeakMemory::start(Device::Cpu);
        assert!(mem.peak_mib() > 1.0, "peak RSS {} MiB", mem.peak_mib());
        // ones() writes every page, so all 256 MiB become resident
        let t = tch::Tensor::ones([64, 1024, 1024], (tch::Kind::Float, Device::Cpu));
        let resident = resident_mib();
        assert!(resident >= 256.0, "resident {resident} MiB");
        let peak = mem.peak_mib();
        assert!(
            peak >= resident - 1.0,
            "peak {peak} MiB < resident {resident} MiB"
        );
        assert_eq!(t.size()[0], 64);
    }
}
