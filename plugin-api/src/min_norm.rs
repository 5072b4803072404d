//! Helpers for minimal-perturbation attacks (CW, DeepFool): the `bound` setting, and keeping
//! a found example only when it lies inside the threat model's ε-ball.

use crate::{per_sample_norm, Norm, PluginResult};
use tch::Tensor;

/// Checks the `bound` setting (default true) against the call's ε. `bound: false` asks for the
/// unbounded attack, which the host runs with ε = inf (`--eps inf`); asking for it with a
/// finite ε is an error, so a run can never report unbounded examples under a finite ε label.
pub fn check_bound(bound: bool, eps: f64, attack: &str) -> PluginResult<bool> {
    if !bound && eps.is_finite() {
        return Err(format!(
            "{attack}: config key 'bound': false means unbounded and needs --eps inf (got eps {eps})"
        )
        .into());
    }
    Ok(bound)
}

/// Per sample: `adv` where `found` is true and its perturbation's norm is ≤ ε (always, for
/// ε = inf), else the clean image `x`. `found`: bool `[B]`.
pub fn keep_within_eps(adv: &Tensor, x: &Tensor, found: &Tensor, norm: Norm, eps: f64) -> Tensor {
    let keep = if eps.is_finite() {
        found.logical_and(&per_sample_norm(&(adv - x), norm).le(eps))
    } else {
        found.shallow_clone()
    };
    let mut shape = vec![1i64; x.dim()];
    shape[0] = -1;
    adv.where_self(&keep.view(shape.as_slice()), x)
}
