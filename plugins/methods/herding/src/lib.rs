//! `herding`: per class, the IPC real images picked by herding in the feature space of a
//! ConvNet-3 trained on the real training set — the herding baseline of the DC paper (Zhao et
//! al., ICLR 2021, Table 1).
//!
//! Where each choice comes from:
//! - selection: herding (Welling 2009) as the exemplar selection of iCaRL (Rebuffi et al. 2017,
//!   Alg. 4): step t picks the unpicked image whose features, added to the t − 1 picked, bring
//!   their mean closest (Euclidean) to the class mean; raw penultimate features (no L2
//!   normalisation, which iCaRL adds); ties to the lowest index (`ddbench_coreset::herding`);
//! - features: the official DC `ConvNet.embed` (ConvNet-3, instance norm, the penultimate layer
//!   flattened), trained on the real training set with the DD protocol's optimiser (SGD lr 0.01,
//!   momentum 0.9, weight decay 5e-4, ×0.1 at half, batch 256, crop + flip). The official code
//!   has no herding script, so the budget is ddbench's: `feature_epochs` 20, `feature_width`
//!   128, `feature_subset` all (config keys, `ddbench_coreset::CoresetConfig`); the network is
//!   seeded with the run's seed and cached, shared with `kcenter`;
//! - output: the real images (uint8 / 255) with hard labels, as `random`.

use ddbench_coreset::{Coreset, Herding};
use ddbench_plugin_api::declare_method;

// 0.2.0 (2026-12-02): its networks' instance norm runs on group-norm kernels
// (`ddbench_nn::convnet::INSTANCE_NORM_KERNEL`), other rounding than 0.1.0's batch-norm kernels.
declare_method!(
    Coreset<Herding>,
    name = "herding",
    version = "0.2.0",
    description =
        "herding coreset (Welling 2009) in the features of a ConvNet trained on the real data"
);
