//! Neural-network pieces shared by the ddbench harness and its plugins: the evaluation models,
//! on-device augmentation, and the training / evaluation loops.

pub mod augment;
pub mod batched;
pub mod bn_capture;
pub mod convnet;
pub mod dsa;
pub mod model;
pub mod resnet;
pub mod resume;
pub mod rng;
pub mod soft_label;
pub mod train;
pub mod zca;

pub use augment::Augment;
pub use model::{channel_stats, Arch, Model, ModelSpec, NormKind};
pub use resume::{Resume, StopOnUsr1, TrainError};
pub use train::{accuracy, predict, train_classifier, train_resumable, TrainConfig, TrainStats};
pub use zca::Zca;
