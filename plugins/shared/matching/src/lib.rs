//! The matching methods of VICO-UoE/DatasetCondensation, shared by the `dc`, `dsa` and `dm`
//! method plugins:
//!
//! - [`common`]: what all three share: the randomly initialised ConvNet (`get_network`), the
//!   synthetic images' SGD with momentum (`optimizer_img`), the per-class real batches
//!   (`get_images`), the normalised space and its way back to pixels;
//! - [`gm`]: gradient matching as `main.py --method DC|DSA` (`get_loops`, `distance_wb`,
//!   `match_loss`, the inner-loop `epoch`), one outer iteration driven by a [`gm::GmSource`] of
//!   random numbers;
//! - [`config`]: the `dc` and `dsa` settings with their official defaults;
//! - [`method`]: the whole `dc` / `dsa` distillation ([`distill_gm`]);
//! - [`resume`]: the state of a distillation saved between outer iterations, for a rerun.

pub mod common;
pub mod config;
pub mod gm;
pub mod method;
pub mod resume;

pub use common::{class_labels, draw_batches, random_net, ImageSgd, Normalised};
pub use config::{DcConfig, DsaConfig, GmSettings};
pub use method::distill_gm;
