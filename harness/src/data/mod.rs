//! Data sets: strict readers for the official on-disk formats (CIFAR binary, IDX, ImageFolder),
//! the downloader, and the device-resident tensor form the pipeline uses.

pub mod cifar;
pub mod fetch;
pub mod idx;
pub mod image_folder;
pub mod normalization;
pub mod resident;
pub mod source;

pub use normalization::{Normalization, NormalizationChoice};
pub use resident::{stratified_subset, DeviceDataset};

use std::path::PathBuf;

/// One split (train or test) as read from disk: uint8 pixels in NCHW order, labels in 0..classes.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSplit {
    /// `n * channels * height * width` bytes, NCHW, values 0..=255.
    pub images: Vec<u8>,
    /// `n` labels, each in `0..num_classes`.
    pub labels: Vec<i64>,
    pub n: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// A whole data set as read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct RawDataset {
    /// Short name: "cifar10", "cifar100", "fashion-mnist", or the folder name for ImageFolder.
    pub name: String,
    pub train: RawSplit,
    pub test: RawSplit,
    pub num_classes: usize,
    /// Class names in label order.
    pub class_names: Vec<String>,
}

/// Why a data file was refused. Every message names the file and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: at byte offset {offset}: {message}")]
    Format {
        path: PathBuf,
        offset: u64,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{0}")]
    Other(String),
}
