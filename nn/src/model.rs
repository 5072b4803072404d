//! A classifier that takes pixels in [0, 1]: the data set's mean/std normalisation is its first
//! layer, so attacks and the threat model live in pixel space. An optional ZCA whitening
//! ([`crate::zca`], MTT / DATM on CIFAR) follows it as a fixed, non-trainable second layer.

use crate::zca::Zca;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// Architectures the harness and plugins can build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// ConvNet-D (default D = 3), the standard dataset-distillation evaluation network.
    Convnet,
    /// ResNet-18 in its CIFAR form (3×3 stem, no max-pool).
    Resnet18,
}

impl std::str::FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "convnet" => Ok(Arch::Convnet),
            "resnet18" => Ok(Arch::Resnet18),
            other => Err(format!(
                "unknown arch '{other}' (expected convnet or resnet18)"
            )),
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arch::Convnet => "convnet",
            Arch::Resnet18 => "resnet18",
        })
    }
}

/// Normalisation layer inside ConvNet blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    /// Instance norm with affine parameters (GroupNorm with one group per channel), the DD default.
    Instance,
    Batch,
    None,
}

/// Everything needed to build a model for a data set.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelSpec {
    pub arch: Arch,
    /// ConvNet width (channels per block); default 128.
    pub width: i64,
    /// ConvNet depth (blocks); default 3.
    pub depth: i64,
    pub norm: NormKind,
    pub in_channels: i64,
    pub height: i64,
    pub width_px: i64,
    pub num_classes: i64,
    /// Per-channel mean and std of the data set, in [0, 1] pixel units.
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl ModelSpec {
    /// The per-channel mean and std as float32 `[1, C, 1, 1]` tensors on the CPU (move them
    /// with `.to(device)`), to normalise or unnormalise image batches.
    pub fn channel_stats(&self) -> (Tensor, Tensor) {
        let per_channel = |v: &[f64]| {
            Tensor::from_slice(v)
                .to_kind(Kind::Float)
                .view([1, self.in_channels, 1, 1])
        };
        (per_channel(&self.mean), per_channel(&self.std))
    }

    /// The DD-protocol ConvNet-3 (width 128, instance norm) for images of `shape = [C, H, W]`.
    pub fn convnet(shape: [i64; 3], num_classes: i64, mean: Vec<f64>, std: Vec<f64>) -> Self {
        ModelSpec {
            arch: Arch::Convnet,
            width: 128,
            depth: 3,
            norm: NormKind::Instance,
            in_channels: shape[0],
            height: shape[1],
            width_px: shape[2],
            num_classes,
            mean,
            std,
        }
    }
}

/// Per-channel mean and (biased) std of uint8 images `[N, C, H, W]`, in [0, 1] pixel units: the
/// normalisation a model uses when the data set has no published one.
pub fn channel_stats(images: &Tensor) -> (Vec<f64>, Vec<f64>) {
    let x = images.to_kind(Kind::Float) / 255.0;
    let dims = [0i64, 2, 3];
    let host = |t: Tensor| {
        Vec::<f64>::try_from(t.to_kind(Kind::Double).to_device(Device::Cpu)).unwrap_or_default()
    };
    (
        host(x.mean_dim(dims.as_slice(), false, Kind::Float)),
        host(x.std_dim(dims.as_slice(), false, false)),
    )
}

/// A built model: parameters in `vs`, pixel-space input.
pub struct Model {
    pub vs: nn::VarStore,
    pub spec: ModelSpec,
    /// Both architectures are a sequence ending in the linear classifier, so the layer before
    /// it is the flattened feature vector ([`Model::embed_t`]).
    net: nn::SequentialT,
    mean: Tensor,
    inv_std: Tensor,
    /// Applied after the mean/std normalisation; not a parameter (not in `vs`) and not part of
    /// `spec` (the harness records [`Zca::hash`] instead).
    zca: Option<Zca>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Model({:?})", self.spec)
    }
}

impl Model {
    /// Builds a freshly initialised model on `device` (seed libtorch first for reproducibility).
    pub fn new(spec: &ModelSpec, device: Device) -> Model {
        assert_eq!(
            spec.mean.len() as i64,
            spec.in_channels,
            "mean has one value per channel"
        );
        assert_eq!(
            spec.std.len() as i64,
            spec.in_channels,
            "std has one value per channel"
        );
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let net = match spec.arch {
            Arch::Convnet => crate::convnet::convnet(&(&root / "net"), spec),
            Arch::Resnet18 => crate::resnet::resnet18(&(&root / "net"), spec),
        };
        let (mean, std) = spec.channel_stats();
        Model {
            vs,
            spec: spec.clone(),
            net,
            mean: mean.to(device),
            inv_std: std.reciprocal().to(device),
            zca: None,
        }
    }

    /// Whitens the network's input with `zca` (moved to the model's device) from now on, in
    /// training and evaluation alike; fit it on [`Model::net_input`] of the training images
    /// taken before this call. Replaces any previous one.
    pub fn set_zca(&mut self, zca: Zca) {
        self.zca = Some(zca.to_device(self.device()));
    }

    pub fn zca(&self) -> Option<&Zca> {
        self.zca.as_ref()
    }

    /// What the network proper sees for pixels `x`: the mean/std normalisation, then the ZCA
    /// whitening if one is set. Differentiable with respect to `x`.
    pub fn net_input(&self, x: &Tensor) -> Tensor {
        let z = (x - &self.mean) * &self.inv_std;
        match &self.zca {
            Some(zca) => zca.apply(&z),
            None => z,
        }
    }

    /// Logits for pixels `x` in [0, 1], float32 `[B, C, H, W]`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.net.forward_t(&self.net_input(x), train)
    }

    /// The penultimate layer for pixels `x`: the flattened features the linear classifier
    /// reads (the official DC/DM `ConvNet.embed`), float32 `[B, D]`.
    pub fn embed_t(&self, x: &Tensor, train: bool) -> Tensor {
        let layers = self.net.len() as usize;
        let mut outs = self
            .net
            .forward_all_t(&self.net_input(x), train, Some(layers - 1));
        outs.pop().expect("a network has layers")
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }
}
