//! The plugin interface of ddbench: the stable C ABI (`abi`), and the safe side plugin authors
//! use — the `Method` / `Attack` traits and the `declare_method!` / `declare_attack!` macros that
//! generate the entry symbol and the panic-catching `extern "C"` wrappers.

pub mod abi;
mod attack;
mod config;
#[doc(hidden)]
pub mod entry;
mod host;
mod method;
mod min_norm;
pub mod testing;

pub use attack::{Attack, AttackInput, Model, Norm};
pub use config::{
    check_in, config_expect_keys, config_get, config_get_in, config_get_min, ConfigNumber,
    ValueRange,
};
pub use host::Host;
pub use method::{DistillInput, Distilled, Method};
pub use min_norm::{keep_within_eps, per_sample_norm, read_bound};
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

/// Projection onto the threat model's ball around `x`, then onto the pixel box [0, 1].
/// `adv`, `x`: float `[B, C, H, W]`; the L2 radius is per sample.
pub fn project(adv: &tch::Tensor, x: &tch::Tensor, norm: Norm, eps: f64) -> tch::Tensor {
    let delta = adv - x;
    let delta = match norm {
        Norm::Linf => delta.clamp(-eps, eps),
        Norm::L2 => {
            let b = delta.size()[0];
            let n = delta.view([b, -1]).norm_scalaropt_dim(2.0, [1], false);
            let factor = (eps / (n + 1e-12)).clamp_max(1.0).view([b, 1, 1, 1]);
            delta * factor
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
