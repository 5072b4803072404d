//! libtorch's SGD and AdamW — the very classes tch's `nn::sgd(..).build(..)` and
//! `nn::adamw(..).build(..)` make, stepping the same way — whose state can be saved and loaded
//! ([`Optimizer::state`], [`Optimizer::load_state`]): what a training stopped between epochs
//! needs to go on exactly as if it had not stopped. Each steps either as libtorch does (a few
//! kernels per parameter) or with ATen's fused multi-tensor kernel ([`Kernels::Fused`]).

use crate::err::ErrBuf;
use std::ffi::{c_char, c_int, c_void};
use tch::Tensor;

type Sink = extern "C" fn(*mut c_void, *const c_void, usize);

extern "C" {
    #[allow(clippy::too_many_arguments)]
    fn ddbench_optim_sgd(
        params: *mut *mut c_void,
        n: usize,
        lr: f64,
        momentum: f64,
        dampening: f64,
        weight_decay: f64,
        nesterov: c_int,
        fused: c_int,
        err: *mut c_char,
        err_len: usize,
    ) -> *mut c_void;
    #[allow(clippy::too_many_arguments)]
    fn ddbench_optim_adamw(
        params: *mut *mut c_void,
        n: usize,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        fused: c_int,
        err: *mut c_char,
        err_len: usize,
    ) -> *mut c_void;
    #[allow(clippy::too_many_arguments)]
    fn ddbench_fused_sgd_(
        params: *mut *mut c_void,
        grads: *mut *mut c_void,
        bufs: *mut *mut c_void,
        n: usize,
        lr: f64,
        momentum: f64,
        dampening: f64,
        weight_decay: f64,
        nesterov: c_int,
        first: c_int,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn ddbench_optim_free(o: *mut c_void);
    fn ddbench_optim_set_lr(o: *mut c_void, lr: f64);
    fn ddbench_optim_zero_grad(o: *mut c_void, err: *mut c_char, err_len: usize) -> c_int;
    fn ddbench_optim_step(o: *mut c_void, err: *mut c_char, err_len: usize) -> c_int;
    fn ddbench_optim_save(
        o: *mut c_void,
        sink: Sink,
        ctx: *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn ddbench_optim_load(
        o: *mut c_void,
        data: *const c_char,
        len: usize,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

/// Which optimiser, with its settings (the learning rate is given apart).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Algorithm {
    /// `nn::sgd(momentum, dampening, weight_decay, nesterov)`.
    Sgd {
        momentum: f64,
        dampening: f64,
        weight_decay: f64,
        nesterov: bool,
    },
    /// `nn::adamw(beta1, beta2, weight_decay)` (eps 1e-8, no AMSGrad, as tch's default).
    AdamW {
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
    },
}

/// How a step runs: libtorch's loop over the parameters (a few kernels each), or ATen's fused
/// multi-tensor kernel (`_fused_sgd_` / `_fused_adamw_`, as PyTorch's `fused=True`: one kernel
/// for all parameters). The same update, rounded differently: numbers of one are not the other's.
/// Either loads a state the other saved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kernels {
    #[default]
    PerParameter,
    Fused,
}

impl Kernels {
    /// `Fused` when `fused`, else `PerParameter`.
    pub fn fused_if(fused: bool) -> Kernels {
        if fused {
            Kernels::Fused
        } else {
            Kernels::PerParameter
        }
    }
}

fn ptrs(ts: &[Tensor]) -> Vec<*mut c_void> {
    ts.iter().map(|t| t.as_ptr() as *mut c_void).collect()
}

/// One fused SGD step (`alg` must be [`Algorithm::Sgd`]) over `params` with their `grads` and,
/// when the momentum is not 0, their momentum `bufs` (written as a first step's when `first`, else
/// updated): the update libtorch's SGD makes, for code that keeps its own buffers (the teacher's,
/// by name in its checkpoints). The autocast cache is dropped, as after an optimiser's step.
pub fn fused_sgd_(
    params: &[Tensor],
    grads: &[Tensor],
    bufs: &[Tensor],
    lr: f64,
    alg: Algorithm,
    first: bool,
) -> Result<(), String> {
    let Algorithm::Sgd {
        momentum,
        dampening,
        weight_decay,
        nesterov,
    } = alg
    else {
        return Err("a fused SGD step needs SGD's settings".into());
    };
    if grads.len() != params.len() || (momentum != 0.0 && bufs.len() != params.len()) {
        return Err(format!(
            "a fused SGD step over {} parameters got {} gradients and {} momentum buffers",
            params.len(),
            grads.len(),
            bufs.len()
        ));
    }
    let (mut p, mut g, mut b) = (ptrs(params), ptrs(grads), ptrs(bufs));
    let mut err = ErrBuf::new();
    // SAFETY: the pointers are live `at::Tensor*` for the call (the buffers' only read when the
    // momentum is not 0, checked above to be as many as the parameters).
    let rc = unsafe {
        ddbench_fused_sgd_(
            p.as_mut_ptr(),
            g.as_mut_ptr(),
            b.as_mut_ptr(),
            params.len(),
            lr,
            momentum,
            dampening,
            weight_decay,
            nesterov as c_int,
            first as c_int,
            err.ptr(),
            err.len(),
        )
    };
    err.check(rc).map_err(|e| format!("fused SGD step: {e}"))
}

/// A libtorch optimiser over a fixed list of parameters.
pub struct Optimizer {
    raw: *mut c_void,
    /// Kept alive as long as the optimiser refers to them.
    _params: Vec<Tensor>,
}

// SAFETY: the optimiser is owned by this value alone; libtorch's optimisers have no thread
// affinity (tch's own COptimizer is Send for the same reason).
unsafe impl Send for Optimizer {}

impl Optimizer {
    /// An optimiser over `params` in this order (a VarStore's `trainable_variables()`, as tch's
    /// `build` adds them).
    pub fn new(
        params: Vec<Tensor>,
        lr: f64,
        alg: Algorithm,
        kernels: Kernels,
    ) -> Result<Optimizer, String> {
        let mut ptrs = ptrs(&params);
        let fused = (kernels == Kernels::Fused) as c_int;
        let mut err = ErrBuf::new();
        let (p, n) = (ptrs.as_mut_ptr(), ptrs.len());
        // SAFETY: `ptrs` are live `at::Tensor*` (tch's C_tensor) for the call; the shim copies
        // the tensors (shared storage) into the optimiser.
        let raw = unsafe {
            match alg {
                Algorithm::Sgd {
                    momentum,
                    dampening,
                    weight_decay,
                    nesterov,
                } => ddbench_optim_sgd(
                    p,
                    n,
                    lr,
                    momentum,
                    dampening,
                    weight_decay,
                    nesterov as c_int,
                    fused,
                    err.ptr(),
                    err.len(),
                ),
                Algorithm::AdamW {
                    beta1,
                    beta2,
                    weight_decay,
                } => ddbench_optim_adamw(
                    p,
                    n,
                    lr,
                    beta1,
                    beta2,
                    weight_decay,
                    1e-8,
                    fused,
                    err.ptr(),
                    err.len(),
                ),
            }
        };
        if raw.is_null() {
            return Err(format!("creating the optimiser: {}", err.message()));
        }
        Ok(Optimizer {
            raw,
            _params: params,
        })
    }

    /// The learning rate of every parameter group.
    pub fn set_lr(&mut self, lr: f64) {
        // SAFETY: `raw` is a live optimiser.
        unsafe { ddbench_optim_set_lr(self.raw, lr) }
    }

    pub fn zero_grad(&mut self) -> Result<(), String> {
        let mut err = ErrBuf::new();
        // SAFETY: `raw` is a live optimiser; the error buffer outlives the call.
        let rc = unsafe { ddbench_optim_zero_grad(self.raw, err.ptr(), err.len()) };
        err.check(rc)
    }

    pub fn step(&mut self) -> Result<(), String> {
        let mut err = ErrBuf::new();
        // SAFETY: as in `zero_grad`.
        let rc = unsafe { ddbench_optim_step(self.raw, err.ptr(), err.len()) };
        err.check(rc).map_err(|e| format!("optimiser step: {e}"))
    }

    /// Zeroes the gradients, back-propagates `loss` and steps (tch's `backward_step`).
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<(), String> {
        self.zero_grad()?;
        loss.f_backward().map_err(|e| e.to_string())?;
        self.step()
    }

    /// The whole state (buffers, moments, step counts, each group's options) as bytes.
    pub fn state(&self) -> Result<Vec<u8>, String> {
        extern "C" fn append(ctx: *mut c_void, data: *const c_void, len: usize) {
            // SAFETY: `ctx` is the Vec passed below; `data` holds `len` bytes during the call.
            unsafe {
                let out = &mut *(ctx as *mut Vec<u8>);
                out.extend_from_slice(std::slice::from_raw_parts(data as *const u8, len));
            }
        }
        let mut out: Vec<u8> = Vec::new();
        let mut err = ErrBuf::new();
        // SAFETY: `raw` is live; `append` only extends `out`, which outlives the call.
        let rc = unsafe {
            ddbench_optim_save(
                self.raw,
                append,
                &mut out as *mut _ as *mut c_void,
                err.ptr(),
                err.len(),
            )
        };
        err.check(rc)
            .map_err(|e| format!("saving the optimiser: {e}"))?;
        Ok(out)
    }

    /// Puts back a state [`Optimizer::state`] gave, saved by an optimiser of the same kind over
    /// parameters of the same shapes in the same order.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut err = ErrBuf::new();
        // SAFETY: `raw` is live; `bytes` outlives the call.
        let rc = unsafe {
            ddbench_optim_load(
                self.raw,
                bytes.as_ptr() as *const c_char,
                bytes.len(),
                err.ptr(),
                err.len(),
            )
        };
        err.check(rc)
            .map_err(|e| format!("loading the optimiser's state: {e}"))
    }
}

impl Drop for Optimizer {
    fn drop(&mut self) {
        // SAFETY: `raw` came from the shim's constructor and is freed once.
        unsafe { ddbench_optim_free(self.raw) }
    }
}
