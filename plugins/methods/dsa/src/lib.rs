//! `dsa`: Dataset Condensation with Differentiable Siamese Augmentation (Zhao & Bilen, ICML
//! 2021), as the official `main.py --method DSA` of VICO-UoE/DatasetCondensation: DC's gradient
//! matching with one DSA draw per class and step applied to both the real batch and the
//! synthetic images (Siamese), and per-sample DSA in the inner-loop network training. The loop
//! lives in `ddbench-matching` (`plugins/shared/matching`), shared with `dc`; every setting and
//! its source is in `ddbench_matching::config`.

use ddbench_matching::{distill_gm, DsaConfig};
use ddbench_plugin_api::{declare_method, DistillInput, Distilled, Host, Method, PluginResult};

pub struct Dsa;

impl Method for Dsa {
    type Config = DsaConfig;
    fn distill(input: &DistillInput, cfg: &DsaConfig, host: &Host) -> PluginResult<Distilled> {
        distill_gm(input, &cfg.settings(), host, "DSA")
    }
}

// 0.2.0 (2026-12-02): its networks' instance norm runs on group-norm kernels
// (`ddbench_nn::convnet::INSTANCE_NORM_KERNEL`), other rounding than 0.1.0's batch-norm kernels.
declare_method!(
    Dsa,
    name = "dsa",
    version = "0.2.0",
    description = "DSA (Zhao & Bilen 2021): gradient matching with Differentiable Siamese Augmentation of real and synthetic batches"
);
