//! Mapping stored images to the student's input space, [0, 1] pixels (values of distilled
//! training images may leave [0, 1]; the host records their range).

use crate::config::{ImportConfig, Space};
use ddbench_nn::Zca;
use ddbench_plugin_api::{DistillInput, PluginResult};
use tch::{Kind, Tensor};

/// `images` (float `[N, C, H, W]`, in `cfg.space`) as [0, 1] pixels, and a line saying what was done.
pub fn to_pixels(
    images: &Tensor,
    cfg: &ImportConfig,
    input: &DistillInput,
) -> PluginResult<(Tensor, String)> {
    if images.kind() == Kind::Uint8 && cfg.space != Space::Uint8 {
        return Err(format!(
            "the stored images are uint8 levels: set config 'space' = \"uint8\" (it is {:?})",
            cfg.space
        )
        .into());
    }
    let x = images.to_kind(Kind::Float).to_device(input.device);
    let c = input.image_shape[0];
    Ok(match cfg.space {
        Space::Unit => (x, "pixels in [0, 1] as stored".into()),
        Space::Uint8 => (x / 255.0, "uint8 levels divided by 255".into()),
        Space::Normalized => {
            let (mean, std) = (cfg.mean.clone().unwrap(), cfg.std.clone().unwrap());
            if mean.len() as i64 != c {
                return Err(format!(
                    "config 'mean'/'std' hold {} values; the data set has {c} channels",
                    mean.len()
                )
                .into());
            }
            let col = |v: &[f64]| {
                Tensor::from_slice(v)
                    .to_kind(Kind::Float)
                    .to_device(input.device)
                    .reshape([1, c, 1, 1])
            };
            (
                x * col(&std) + col(&mean),
                format!("un-normalised: x·std + mean with mean {mean:?}, std {std:?}"),
            )
        }
        Space::Zca => {
            let train = input.images.to_kind(Kind::Float) / 255.0;
            let zca = Zca::fit(&train, cfg.zca_eps);
            (
                zca.invert(&x),
                format!(
                    "un-whitened by the ZCA (eps {}) fitted on the training split (hash {})",
                    cfg.zca_eps,
                    &zca.hash()[..16]
                ),
            )
        }
    })
}
