//! Classic coreset baselines of dataset distillation, as in the DC paper's (Zhao et al., ICLR
//! 2021) comparison: per class, IPC real training images picked in the feature space of a
//! ConvNet-3 trained on the real training set (`features`), by herding or greedy k-center
//! (`select`, pure functions on a feature matrix). The method plugins `herding` and `kcenter`
//! are thin wrappers over [`Coreset`]; both share [`CoresetConfig`] and one cached network.
//!
//! Sources: the official DatasetCondensation code (VICO-UoE) ships no herding or k-center code
//! (only precomputed herding sets for its continual-learning script), so the feature network
//! follows its `ConvNet` / `ConvNet.embed` (penultimate layer, flattened) and the DD training
//! protocol; herding follows Welling (2009) / Rebuffi et al. (iCaRL, 2017); k-center is the
//! greedy farthest-point rule (Gonzalez 1985; Sener & Savarese, 2018), started at the sample
//! nearest the class mean.

pub mod config;
pub mod features;
pub mod method;
pub mod select;

pub use config::CoresetConfig;
pub use method::{class_members, Coreset, Herding, KCenter, Selection};
pub use select::{herding, kcenter};
