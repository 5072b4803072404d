//! The AutoAttack family as a library (Croce & Hein 2020; Andriushchenko et al. 2020): APGD,
//! FAB-T, Square and the ensemble, written as batched tensor code on the host's [`Model`] so the
//! attack plugins are thin wrappers and the `autoattack` ensemble reuses the same code.

pub mod apgd;
pub mod autoattack;
pub mod boxproj;
pub mod fab;
pub mod losses;
pub mod outcome;
pub mod plugin;
pub mod square;
pub mod targets;

pub use outcome::Outcome;

use ddbench_plugin_api::{check_in, AttackInput, Model, Norm, PluginResult, ValueRange};
use tch::Tensor;

/// A batch under attack: the model, clean images `x` (`[B, C, H, W]`) and labels `y` (`[B]`),
/// and the threat model's norm and radius ε.
#[derive(Clone, Copy)]
pub struct Problem<'a> {
    pub model: &'a Model<'a>,
    pub x: &'a Tensor,
    pub y: &'a Tensor,
    pub norm: Norm,
    pub eps: f64,
}

impl<'a> Problem<'a> {
    /// The batch and threat model of an attack plugin's call.
    pub fn of(input: &'a AttackInput<'a>) -> Problem<'a> {
        Problem {
            model: &input.model,
            x: &input.images,
            y: &input.labels,
            norm: input.norm,
            eps: input.eps,
        }
    }

    /// The same model and threat model on other points `(x, y)` (e.g. the ones still robust).
    pub fn on<'b>(&self, x: &'b Tensor, y: &'b Tensor) -> Problem<'b>
    where
        'a: 'b,
    {
        Problem { x, y, ..*self }
    }
}

/// Checks an algorithm's iteration budget: `name` (steps or queries) ≥ 1 and `n_restarts` ≥ 1.
pub(crate) fn check_budget(name: &str, n: i64, n_restarts: i64) -> PluginResult<()> {
    check_in(name, n, ValueRange::at_least(1))?;
    check_in("n_restarts", n_restarts, ValueRange::at_least(1))?;
    Ok(())
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
