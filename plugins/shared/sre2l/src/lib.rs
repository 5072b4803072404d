//! SRe2L (Yin et al. 2023: squeeze → recover → relabel) and its robust variants as one library:
//! GUARD (Xue et al., AAAI 2025) trains the teacher with a curvature regularizer, `sre2l-at` with
//! PGD adversarial training. The method plugins `sre2l`, `guard` and `sre2l-at` are thin wrappers.

pub mod checkpoint;
pub mod config;
pub mod flavour_config;
pub mod method;
pub mod recover;
pub mod regularizer;
pub mod squeeze;
pub mod teacher_cache;
pub mod teacher_sgd;

pub use config::Sre2lConfig;
pub use flavour_config::FlavourConfig;
pub use method::{Flavour, Guard, Plain, Sre2l, Sre2lAt};
pub use regularizer::{GuardVariant, Regularizer};
