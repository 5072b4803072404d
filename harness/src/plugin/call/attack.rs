//! Attack calls: the attack request, and the checks of the adversarial batch.

use super::host::{services, status_error, take, HostState};
use super::model::ModelState;
use crate::plugin::loader::Plugin;
use ddbench_nn::Model;
use ddbench_plugin_api::abi::*;
use ddbench_plugin_api::{check_adversarial, Norm};
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::Tensor;

/// A checked attack result on one batch.
pub struct AttackOutcome {
    pub adversarial: Tensor,
    pub forward_calls: u64,
    pub backward_calls: u64,
}

/// Why an attack call gave no usable result. Reads as its message (`Display`, `Deref<str>`).
#[derive(Clone, Debug, PartialEq)]
pub struct AttackError {
    /// The plugin itself answered with an error (a setting it refuses, a norm it lacks): its
    /// verdict on the request. Otherwise the plugin is broken (it panicked, or the host refused
    /// what it returned).
    pub refused: bool,
    pub message: String,
}

impl std::fmt::Display for AttackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::ops::Deref for AttackError {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

impl From<String> for AttackError {
    fn from(message: String) -> Self {
        AttackError {
            refused: false,
            message,
        }
    }
}

impl From<&str> for AttackError {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

/// Runs an attack plugin on a batch and checks the output: shape, finiteness, [0, 1], ε-ball.
#[allow(clippy::too_many_arguments)]
pub fn run_attack(
    plugin: &Plugin,
    model: &Model,
    images: &Tensor,
    labels: &Tensor,
    norm: Norm,
    eps: f64,
    seed: u64,
    config: &serde_json::Value,
    log: &dyn Fn(&str),
) -> Result<AttackOutcome, AttackError> {
    let f = plugin.desc.attack.ok_or("not an attack plugin")?;
    let nothing = |_: u64, _: u64| {};
    let state = HostState::new(&nothing, log);
    let host = services(&state);
    let ms = ModelState::new(model);
    let cfg = CString::new(config.to_string()).map_err(|e| e.to_string())?;
    let req = AttackRequest {
        model: ms.handle(),
        images: images.as_ptr(),
        labels: labels.as_ptr(),
        threat: ThreatModel {
            norm: norm.to_raw(),
            eps,
        },
        seed,
        config_json: cfg.as_ptr(),
    };
    let mut out = std::ptr::null_mut();
    let status = unsafe { f(&req, &host, &mut out) };
    let adv = unsafe { take(out) };
    check_status(plugin, status, &state, &ms)?;
    let adv = check_output(plugin, &ms, adv, images, norm, eps)?;
    Ok(AttackOutcome {
        adversarial: adv,
        forward_calls: ms.forwards.get(),
        backward_calls: ms.backwards.get(),
    })
}

/// Whether the call itself went wrong: a failed model query, or a status other than OK (an
/// error status is the plugin refusing the request).
fn check_status(
    plugin: &Plugin,
    status: Status,
    state: &HostState,
    ms: &ModelState,
) -> Result<(), AttackError> {
    if let Some(e) = ms.error.borrow().clone() {
        return Err(format!("attack plugin '{}': {e}", plugin.name).into());
    }
    if status != STATUS_OK {
        return Err(AttackError {
            refused: status == STATUS_ERROR,
            message: status_error(plugin, status, state),
        });
    }
    Ok(())
}

/// Checks what an attack returned: a tensor, from queries inside [0, 1] only, and a valid
/// adversarial batch of `images` under the threat model.
fn check_output(
    plugin: &Plugin,
    ms: &ModelState,
    adv: Option<Tensor>,
    images: &Tensor,
    norm: Norm,
    eps: f64,
) -> Result<Tensor, AttackError> {
    let bad = |what: String| format!("attack plugin '{}' returned {what}", plugin.name);
    let adv = adv.ok_or_else(|| bad("no tensor".into()))?;
    if ms.queried_outside() {
        return Err(format!(
            "attack plugin '{}' queried the model outside [0, 1]",
            plugin.name
        )
        .into());
    }
    catch_unwind(AssertUnwindSafe(|| {
        check_adversarial(&adv, images, norm, eps)
    }))
    .unwrap_or_else(|_| Err("a tensor that could not be inspected".into()))
    .map_err(bad)?;
    Ok(adv)
}
