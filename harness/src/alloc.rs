//! glibc malloc tuning for CPU runs: libtorch allocates every batch's activations afresh, and
//! glibc serves blocks that large with mmap/munmap, so each step pays page faults (a third of a
//! CPU run's time went to the kernel). Serving them from the heap and never trimming it lets the
//! memory be reused: measured 25.6 s → 17.9 s wall, 12.6 s → 0.9 s system time on a 30-epoch run.

/// Applies the tuning; call once at start-up, before large allocations. No-op off glibc.
pub fn tune_for_tensors() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_TRIM_THRESHOLD: libc::c_int = -1;
        const M_MMAP_MAX: libc::c_int = -4;
        // SAFETY: mallopt only changes allocator parameters; called before other threads start.
        unsafe {
            libc::mallopt(M_MMAP_MAX, 0);
            libc::mallopt(M_TRIM_THRESHOLD, libc::c_int::MAX);
        }
    }
}
