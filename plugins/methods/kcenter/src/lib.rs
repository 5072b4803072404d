//! `kcenter`: per class, the IPC real images picked by greedy k-center in the feature space of
//! a ConvNet-3 trained on the real training set — the K-Center baseline of the DC paper (Zhao et
//! al., ICLR 2021, Table 1).
//!
//! Where each choice comes from:
//! - selection: greedy farthest-point k-center (Gonzalez 1985; the coreset of Sener & Savarese,
//!   ICLR 2018): each step picks the image farthest (Euclidean) from its nearest picked centre.
//!   The first centre is the image nearest the class mean — ddbench's choice, since the rule
//!   needs a start and neither paper fixes one for selection from scratch: it is deterministic
//!   (no draw to seed), and at IPC 1 gives the class's most central image (herding's first pick)
//!   instead of an arbitrary one. Ties to the lowest index (`ddbench_coreset::kcenter`);
//! - features: as `herding` — the official DC `ConvNet.embed` of a ConvNet-3 trained on the
//!   real training set with the DD protocol's optimiser; `feature_epochs` 20, `feature_width`
//!   128, `feature_subset` all are ddbench's budget (`ddbench_coreset::CoresetConfig`); the
//!   network is seeded with the run's seed and cached, shared with `herding`;
//! - output: the real images (uint8 / 255) with hard labels, as `random`.

use ddbench_coreset::{Coreset, KCenter};
use ddbench_plugin_api::declare_method;

// 0.2.0 (2026-12-02): its networks' instance norm runs on group-norm kernels
// (`ddbench_nn::convnet::INSTANCE_NORM_KERNEL`), other rounding than 0.1.0's batch-norm kernels.
declare_method!(
    Coreset<KCenter>,
    name = "kcenter",
    version = "0.2.0",
    description = "greedy k-center coreset in the features of a ConvNet trained on the real data"
);
