//! Which data set a run uses (`--dataset`, `--data-dir`), and where to find it when no folder is given.

use super::{cifar, idx, image_folder, RawDataset};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    FashionMnist,
    Mnist,
    Cifar10,
    Cifar100,
    /// `DIR/train/<class>/*.jpg|png` and `DIR/test/<class>/...` (or `val/`).
    Imagefolder,
}

const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Loads the data set, with an error that says what to do when it is not there.
pub fn load(kind: DatasetKind, dir: Option<&Path>) -> Result<RawDataset> {
    let dir: PathBuf = match (kind, dir) {
        (_, Some(d)) => d.to_path_buf(),
        (DatasetKind::FashionMnist, None) => {
            let d = PathBuf::from(idx::DEBIAN_FASHION_MNIST);
            if !d.is_dir() {
                bail!(
                    "Fashion-MNIST not found in {} (no --data-dir given). Install it with \
                     'sudo apt-get install dataset-fashion-mnist', or download it with \
                     'ddbench data fetch fashion-mnist --to DIR' and pass --data-dir DIR",
                    d.display()
                );
            }
            d
        }
        (k, None) => bail!(
            "--data-dir is required for {k:?} (download CIFAR with 'ddbench data fetch cifar10 --to DIR')"
        ),
    };
    if !dir.is_dir() {
        bail!("--data-dir {}: no such folder", dir.display());
    }
    let raw = match kind {
        DatasetKind::FashionMnist => idx::load_fashion_mnist(&dir),
        DatasetKind::Mnist => idx::load_mnist_like(&dir, "mnist", &MNIST_CLASSES),
        DatasetKind::Cifar10 => cifar::load_cifar10(&dir),
        DatasetKind::Cifar100 => cifar::load_cifar100(&dir, cifar::Cifar100Label::Fine),
        DatasetKind::Imagefolder => image_folder::load_image_folder(&dir),
    };
    raw.with_context(|| format!("loading {kind:?} from {}", dir.display()))
}
