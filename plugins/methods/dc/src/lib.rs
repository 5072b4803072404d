//! `dc`: Dataset Condensation with gradient matching (Zhao, Mopuri & Bilen, ICLR 2021), as the
//! official `main.py --method DC` of VICO-UoE/DatasetCondensation: per outer iteration a fresh
//! random ConvNet-3; per matching step and class, the layer-wise cosine distance between the
//! network's gradients on a real batch and on the class's synthetic images (`match_loss`,
//! `ours`), one SGD step (momentum 0.5) on the images, then `inner_loop` epochs of training the
//! network on them. The loop lives in `ddbench-matching` (`plugins/shared/matching`), shared
//! with `dsa`; every setting and its source is in `ddbench_matching::config`.

use ddbench_matching::{distill_gm, DcConfig};
use ddbench_plugin_api::{declare_method, DistillInput, Distilled, Host, Method, PluginResult};

pub struct Dc;

impl Method for Dc {
    type Config = DcConfig;
    fn distill(input: &DistillInput, cfg: &DcConfig, host: &Host) -> PluginResult<Distilled> {
        distill_gm(input, &cfg.settings(), host, "DC")
    }
}

// 0.2.0 (2026-12-02): its networks' instance norm runs on group-norm kernels
// (`ddbench_nn::convnet::INSTANCE_NORM_KERNEL`), other rounding than 0.1.0's batch-norm kernels.
declare_method!(
    Dc,
    name = "dc",
    version = "0.2.0",
    description = "Dataset Condensation (Zhao et al. 2021): layer-wise gradient matching on random ConvNets trained in an inner loop"
);
