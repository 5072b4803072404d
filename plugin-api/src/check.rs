//! The host's checks of an attack's output, shared by the ddbench host and the plugins' own unit
//! tests ([`crate::testing`]), so both refuse exactly the same outputs.

use crate::{per_sample_norm, Norm};
use tch::{Kind, Tensor};

/// Tolerances of the output checks: float rounding, not a loophole.
const BOX_TOL: f64 = 1e-6;
const LINF_TOL: f64 = 1e-5;
const L2_REL_TOL: f64 = 1e-4;

/// Checks adversarial images `adv` against the clean `x`: float32 of `x`'s shape on `x`'s
/// device, finite, in [0, 1], and every perturbation inside the `(norm, eps)` ball.
pub fn check_adversarial(adv: &Tensor, x: &Tensor, norm: Norm, eps: f64) -> Result<(), String> {
    if adv.kind() != Kind::Float || adv.size() != x.size() {
        return Err(format!(
            "a tensor of kind {:?} and shape {:?}; expected float32 {:?}",
            adv.kind(),
            adv.size(),
            x.size()
        ));
    }
    if adv.device() != x.device() {
        return Err(format!(
            "a tensor on {:?}; expected {:?}",
            adv.device(),
            x.device()
        ));
    }
    if !bool::try_from(adv.isfinite().all()).unwrap_or(false) {
        return Err("NaN or infinite values".into());
    }
    let (lo, hi) = (adv.min().double_value(&[]), adv.max().double_value(&[]));
    if lo < -BOX_TOL || hi > 1.0 + BOX_TOL {
        return Err(format!("images outside [0, 1] (min {lo}, max {hi})"));
    }
    let m = per_sample_norm(&(adv - x), norm).max().double_value(&[]);
    match norm {
        Norm::Linf if m > eps + LINF_TOL => Err(format!(
            "a perturbation of L-inf norm {m:.6} > eps {eps:.6}"
        )),
        Norm::L2 if m > eps * (1.0 + L2_REL_TOL) + BOX_TOL => {
            Err(format!("a perturbation of L2 norm {m:.6} > eps {eps:.6}"))
        }
        _ => Ok(()),
    }
}
