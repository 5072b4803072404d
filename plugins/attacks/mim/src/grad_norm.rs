//! How MIM scales each step's gradient before adding it to the momentum.

use ddbench_plugin_api::PluginResult;
use tch::{Kind, Tensor};

/// The gradient's normalisation (config key `grad_norm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradNorm {
    /// `"per-sample"`: each image's gradient divided by its own mean absolute value,
    /// `grad / mean(|grad|, dim=(1, 2, 3))` (torchattacks.MIFGSM, mifgsm.py line 72).
    PerSample,
    /// `"batch"`: every gradient divided by the L1 norm of the whole batch's gradient tensor,
    /// `grad / torch.norm(grad, p=1)` (the sum of |grad| over all images and pixels: GUARD's
    /// `mim_attack`, relabel/relabel_cifar.py line 87, train/train_FKD.py line 407). The result
    /// then depends on which images share the batch.
    Batch,
}

impl GradNorm {
    pub fn parse(s: &str) -> PluginResult<GradNorm> {
        match s {
            "per-sample" => Ok(GradNorm::PerSample),
            "batch" => Ok(GradNorm::Batch),
            other => Err(format!(
                "config key 'grad_norm': expected \"per-sample\" (each image's gradient over its mean |gradient|, torchattacks.MIFGSM) or \"batch\" (every gradient over the L1 norm of the whole batch's gradient, GUARD's mim_attack), got \"{other}\""
            )
            .into()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GradNorm::PerSample => "per-sample",
            GradNorm::Batch => "batch",
        }
    }

    /// `g` (`[B, C, H, W]`) divided as this normalisation says. A zero gradient gives NaN, as in
    /// both references (and `sign` of NaN is 0 in libtorch: no step).
    pub fn apply(self, g: &Tensor) -> Tensor {
        match self {
            GradNorm::PerSample => g / g.abs().mean_dim([1i64, 2, 3].as_slice(), true, Kind::Float),
            GradNorm::Batch => g / g.abs().sum(Kind::Float),
        }
    }
}
