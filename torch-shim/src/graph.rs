//! CUDA graphs (`src/graph.cpp`, libtorch's `at::cuda::CUDAGraph`): a fixed-shape step captured
//! once and replayed as one launch, so a GPU no longer waits on the host between its kernels.
//! The step's tensors keep their memory across replays: new inputs are copied into the tensors
//! the step was captured with.

use crate::err::ErrBuf;
use std::ffi::{c_char, c_int, c_void};
use tch::Device;

extern "C" {
    fn ddbench_graph_built() -> c_int;
    fn ddbench_graph_new(dev: c_int, err: *mut c_char, err_len: usize) -> *mut c_void;
    fn ddbench_graph_free(g: *mut c_void);
    fn ddbench_graph_enter(g: *mut c_void, err: *mut c_char, err_len: usize) -> c_int;
    fn ddbench_graph_leave(g: *mut c_void, err: *mut c_char, err_len: usize) -> c_int;
    fn ddbench_graph_capture_begin(g: *mut c_void, err: *mut c_char, err_len: usize) -> c_int;
    fn ddbench_graph_capture_end(g: *mut c_void, err: *mut c_char, err_len: usize) -> c_int;
    fn ddbench_graph_replay(g: *mut c_void, err: *mut c_char, err_len: usize) -> c_int;
}

type Entry = unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> c_int;

/// Whether this build has CUDA graphs (compiled against the CUDA headers).
pub fn built() -> bool {
    // SAFETY: no arguments.
    unsafe { ddbench_graph_built() != 0 }
}

/// A captured step.
pub struct CudaGraph {
    raw: *mut c_void,
}

impl CudaGraph {
    fn call(&self, f: Entry, what: &str) -> Result<(), String> {
        let mut err = ErrBuf::new();
        // SAFETY: `raw` is a live graph; the buffer outlives the call.
        let rc = unsafe { f(self.raw, err.ptr(), err.len()) };
        err.check(rc).map_err(|e| format!("CUDA graph {what}: {e}"))
    }

    /// Captures `step` on `dev`: `warmup` eager calls on a side stream (libraries settle their
    /// workspaces, optimisers make their buffers), then one captured call. Only the kernels a
    /// call queues are replayed, so `step` must be self-contained: it zeroes (or drops) its own
    /// gradients, reads no value on the host, and each call does one whole step.
    pub fn capture(
        dev: Device,
        warmup: usize,
        step: &mut dyn FnMut() -> Result<(), String>,
    ) -> Result<CudaGraph, String> {
        let Device::Cuda(index) = dev else {
            return Err(format!("CUDA graphs need a CUDA device, not {dev:?}"));
        };
        let mut err = ErrBuf::new();
        // SAFETY: plain values and a buffer that outlives the call.
        let raw = unsafe { ddbench_graph_new(index as c_int, err.ptr(), err.len()) };
        if raw.is_null() {
            return Err(format!("CUDA graph: {}", err.message()));
        }
        let g = CudaGraph { raw };
        g.call(ddbench_graph_enter, "side stream")?;
        let captured = g.warm_and_capture(warmup, step);
        let left = g.call(ddbench_graph_leave, "side stream");
        captured.and(left)?;
        Ok(g)
    }

    fn warm_and_capture(
        &self,
        warmup: usize,
        step: &mut dyn FnMut() -> Result<(), String>,
    ) -> Result<(), String> {
        for _ in 0..warmup {
            step()?;
        }
        self.call(ddbench_graph_capture_begin, "capture")?;
        let stepped = step();
        let ended = self.call(ddbench_graph_capture_end, "capture");
        stepped.and(ended)
    }

    /// Runs the captured step again (on the thread's current stream).
    pub fn replay(&self) -> Result<(), String> {
        self.call(ddbench_graph_replay, "replay")
    }
}

impl Drop for CudaGraph {
    fn drop(&mut self) {
        // SAFETY: `raw` came from the constructor and is freed once.
        unsafe { ddbench_graph_free(self.raw) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_is_refused_with_a_message_not_a_crash() {
        let mut calls = 0;
        let e = CudaGraph::capture(Device::Cpu, 2, &mut || {
            calls += 1;
            Ok(())
        })
        .err()
        .unwrap();
        assert!(e.contains("need a CUDA device"), "{e}");
        assert_eq!(calls, 0, "nothing ran");
    }

    #[test]
    fn the_build_has_graphs_where_the_headers_were() {
        // the venv's CUDA torch wheel brings the headers (nvidia/cu13/include): the graphs are
        // compiled in; a CPU-only wheel builds stubs that say so
        assert_eq!(built(), option_env!("DDBENCH_CUDA_HEADERS").is_some());
    }

    #[test]
    fn a_cuda_device_that_is_not_there_is_an_error_not_a_crash() {
        if tch::Cuda::is_available() {
            return; // a machine with a GPU captures for real (scripts/gpu-next.sh)
        }
        let e = CudaGraph::capture(Device::Cuda(0), 1, &mut || Ok(()))
            .err()
            .unwrap();
        eprintln!("{e}");
        assert!(e.starts_with("CUDA graph"), "{e}");
    }
}
