//! The safe side of a method plugin: what it is given and what it returns.

use crate::Host;
use crate::PluginResult;
use tch::{Device, Tensor};

/// What a method gets: the training set (resident on `device`), its IPC and a seed (its
/// configuration comes beside it, parsed: `Method::Config`).
pub struct DistillInput {
    /// uint8 `[N, C, H, W]`.
    pub images: Tensor,
    /// int64 `[N]`.
    pub labels: Tensor,
    pub num_classes: i64,
    /// `[C, H, W]`.
    pub image_shape: [i64; 3],
    pub dataset: String,
    /// Hex SHA-256 of the data set (pixels and labels of both splits).
    pub dataset_hash: String,
    pub ipc: i64,
    /// The seed of this call: the method's only source of randomness. Draw from a generator of
    /// your own seeded with it (`ddbench_nn::rng::HostRng`) or hold a [`crate::SeedScope`] while
    /// using libtorch's samplers; never call `tch::manual_seed` (it reseeds the generator the
    /// host shares; `ddbench plugins --check` fails a plugin that does). Same seed, same set.
    pub seed: u64,
    pub device: Device,
    /// A folder for caching expensive artefacts across calls (created by the host).
    pub cache_dir: std::path::PathBuf,
}

/// A distilled set.
pub struct Distilled {
    /// float32 `[M, C, H, W]` in [0, 1], on any device.
    pub images: Tensor,
    /// int64 `[M]`.
    pub labels: Tensor,
    /// Optional float32 `[M, num_classes]` soft labels (rows sum to one).
    pub soft_labels: Option<Tensor>,
    /// Optional training hints for the student (`Hints`: epochs, a teacher, ...).
    pub hints: Option<crate::Hints>,
}

/// A data-set distillation method. Implement it, then `declare_method!(MyMethod, ...)`.
pub trait Method {
    /// The method's declared configuration (`NoConfig` for none).
    type Config: crate::PluginConfig;
    fn distill(input: &DistillInput, config: &Self::Config, host: &Host)
        -> PluginResult<Distilled>;
}
