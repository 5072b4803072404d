//! The model an attack queries: its `ModelHandle`, the forward callback (which checks each query's
//! shape, dtype and device, counts calls and notes queries outside [0, 1]) and the backward counter.

use ddbench_nn::{Model, ModelSpec};
use ddbench_plugin_api::abi::*;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::{Kind, Tensor};

/// The model behind an attack's `ModelHandle`, with the host's counters.
pub(super) struct ModelState<'a> {
    model: &'a Model,
    pub(super) forwards: Cell<u64>,
    pub(super) backwards: Cell<u64>,
    /// Device-side flag: did any query leave [0, 1]? Read once after the attack (no per-step sync).
    out_of_box: RefCell<Option<Tensor>>,
    pub(super) error: RefCell<Option<String>>,
}

impl<'a> ModelState<'a> {
    pub(super) fn new(model: &'a Model) -> Self {
        ModelState {
            model,
            forwards: Cell::new(0),
            backwards: Cell::new(0),
            out_of_box: RefCell::new(None),
            error: RefCell::new(None),
        }
    }

    /// The handle a plugin calls the model through; valid while `self` is.
    pub(super) fn handle(&self) -> ModelHandle {
        ModelHandle {
            ctx: self as *const ModelState as *mut c_void,
            num_classes: self.model.spec.num_classes,
            forward: cb_forward,
            note_backward: cb_note_backward,
        }
    }

    /// Whether any query left [0, 1] (one read of the device-side flag).
    pub(super) fn queried_outside(&self) -> bool {
        self.out_of_box
            .borrow()
            .as_ref()
            .map(|f| bool::try_from(f).unwrap_or(true))
            .unwrap_or(false)
    }
}

unsafe extern "C" fn cb_forward(
    ctx: *mut c_void,
    x: *const C_tensor,
    out: *mut *mut C_tensor,
) -> Status {
    let s = &*(ctx as *const ModelState);
    if x.is_null() || out.is_null() {
        *s.error.borrow_mut() = Some("model forward called with a null pointer".into());
        return STATUS_ERROR;
    }
    let r = catch_unwind(AssertUnwindSafe(|| {
        // Borrowed handle: wrapped, never freed here.
        let x = ManuallyDrop::new(Tensor::from_ptr(x as *mut C_tensor));
        check_query(&x, &s.model.spec, s.model.device())?;
        let _no_grad = tch::no_grad_guard();
        let bad = x.lt(-1e-6).any().logical_or(&x.gt(1.0 + 1e-6).any());
        let mut flag = s.out_of_box.borrow_mut();
        *flag = Some(match flag.take() {
            Some(f) => f.logical_or(&bad),
            None => bad,
        });
        drop(_no_grad);
        Ok(s.model.forward_t(&x, false))
    }));
    match r {
        Ok(Err(e)) => {
            *s.error.borrow_mut() = Some(e);
            STATUS_ERROR
        }
        Ok(Ok(logits)) => {
            s.forwards.set(s.forwards.get() + 1);
            *out = ddbench_plugin_api::entry::give_tensor(logits);
            STATUS_OK
        }
        Err(p) => {
            let m = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            *s.error.borrow_mut() =
                Some(format!("model forward failed: {}", m.unwrap_or_default()));
            STATUS_ERROR
        }
    }
}

/// A query must be what the model takes: float32 `[N, C, H, W]` with the data set's image shape,
/// on the model's device. Anything else is one line naming what was sent, not a libtorch trace.
fn check_query(x: &Tensor, spec: &ModelSpec, device: tch::Device) -> Result<(), String> {
    let size = x.size();
    let want = [spec.in_channels, spec.height, spec.width_px];
    if size.len() != 4 || size[1..] != want || x.kind() != Kind::Float || x.device() != device {
        return Err(format!(
            "model queried with a {:?} tensor of shape {size:?} on {:?}; expected float32 [N, {}, {}, {}] on {device:?}",
            x.kind(),
            x.device(),
            want[0],
            want[1],
            want[2]
        ));
    }
    Ok(())
}

unsafe extern "C" fn cb_note_backward(ctx: *mut c_void, _batch: i64) {
    let s = &*(ctx as *const ModelState);
    s.backwards.set(s.backwards.get() + 1);
}
