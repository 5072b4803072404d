//! The AutoAttack family as a library (Croce & Hein 2020; Andriushchenko et al. 2020): APGD,
//! FAB-T, Square and the ensemble, written as batched tensor code on the host's [`Model`] so the
//! attack plugins are thin wrappers and the `autoattack` ensemble reuses the same code.

pub mod apgd;
pub mod autoattack;
pub mod boxproj;
pub mod fab;
pub mod losses;
pub mod outcome;
pub mod square;
pub mod targets;

pub use outcome::Outcome;

use ddbench_plugin_api::{Norm, PluginResult};
use tch::Tensor;

/// Per-sample norm of `delta` (`[B, ...]` → `[B]`) under the threat model's norm.
pub fn norm_per_sample(delta: &Tensor, norm: Norm) -> Tensor {
    let flat = delta.flatten(1, -1);
    match norm {
        Norm::Linf => flat.abs().amax([1], false),
        Norm::L2 => flat.norm_scalaropt_dim(2.0, [1], false),
    }
}

/// Broadcasts a per-sample `[B]` mask or value to `[B, 1, 1, 1]` for image tensors.
pub(crate) fn per_image(t: &Tensor) -> Tensor {
    t.view([-1, 1, 1, 1])
}

/// Refuses inputs the algorithms cannot handle: non-image tensors or an empty batch.
pub(crate) fn check_images(x: &Tensor) -> PluginResult<()> {
    let s = x.size();
    if s.len() != 4 {
        return Err(format!("images must be [B, C, H, W], got shape {s:?}").into());
    }
    Ok(())
}
