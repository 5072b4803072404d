//! The plugin interface of ddbench: the stable C ABI (`abi`), and the safe side plugin authors
//! use — the `Method` / `Attack` traits with their declared `PluginConfig`, and the
//! `declare_method!` / `declare_attack!` macros that generate the entry symbol and the
//! panic-catching `extern "C"` wrappers.

pub mod abi;
mod attack;
mod check;
mod config;
mod declared;
#[doc(hidden)]
pub mod entry;
mod hints;
mod host;
mod method;
mod min_norm;
mod rng;
pub mod testing;

pub use attack::{Attack, AttackInput, Model, Norm};
pub use check::check_adversarial;
pub use config::{check_in, ConfigNumber, ValueRange};
pub use declared::{parse_config, resolve_config, NoConfig, PluginConfig};
pub use hints::{Hints, TeacherHint};
pub use host::Host;
pub use method::{DistillInput, Distilled, Method};
pub use min_norm::{check_bound, keep_within_eps};
pub use rng::SeedScope;
pub use serde;
pub use serde_json;
pub use tch;

/// The error a plugin returns. Anything printable converts into it, so `?` works on tch, serde
/// and I/O errors alike; `PluginError::from("text")` for plain messages.
#[derive(Debug)]
pub struct PluginError(pub String);

impl<E: std::fmt::Display> From<E> for PluginError {
    fn from(e: E) -> Self {
        PluginError(e.to_string())
    }
}

pub type PluginResult<T> = Result<T, PluginError>;

/// Per-sample norm of `delta` (`[B, ...]` → `[B]`) under `norm`: the largest absolute entry
/// (L∞) or the Euclidean length (L2) of each sample. The one definition every plugin and the
/// host use. Computed in float32 (float64 for float64 input, as [`ce_sum`]).
pub fn per_sample_norm(delta: &tch::Tensor, norm: Norm) -> tch::Tensor {
    let flat = delta.flatten(1, -1);
    let flat = match flat.kind() {
        tch::Kind::Float | tch::Kind::Double => flat,
        _ => flat.to_kind(tch::Kind::Float),
    };
    match norm {
        Norm::Linf => flat.abs().amax([1], false),
        Norm::L2 => flat.norm_scalaropt_dim(2.0, [1], false),
    }
}

/// [`per_sample_norm`] shaped `[B, 1, 1, 1]`, to scale image batches per sample.
pub fn per_image_norm(delta: &tch::Tensor, norm: Norm) -> tch::Tensor {
    per_sample_norm(delta, norm).view([-1, 1, 1, 1])
}

/// Projection onto the threat model's ball around `x`, then onto the pixel box [0, 1].
/// `adv`, `x`: float `[B, C, H, W]`; the L2 radius is per sample.
pub fn project(adv: &tch::Tensor, x: &tch::Tensor, norm: Norm, eps: f64) -> tch::Tensor {
    let delta = adv - x;
    let delta = match norm {
        Norm::Linf => delta.clamp(-eps, eps),
        Norm::L2 => {
            let n = per_image_norm(&delta, Norm::L2);
            delta * (eps / (n + 1e-12)).clamp_max(1.0)
        }
    };
    (x + delta).clamp(0.0, 1.0)
}

/// Summed cross-entropy of `logits` against hard `labels` (summing keeps per-sample gradients),
/// computed in float32 (float64 for float64 logits).
pub fn ce_sum(logits: &tch::Tensor, labels: &tch::Tensor) -> tch::Tensor {
    let kind = match logits.kind() {
        tch::Kind::Double => tch::Kind::Double,
        _ => tch::Kind::Float,
    };
    logits
        .log_softmax(-1, kind)
        .nll_loss_nd::<tch::Tensor>(labels, None, tch::Reduction::Sum, -100)
}
