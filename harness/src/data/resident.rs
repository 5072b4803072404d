//! The data set as the pipeline uses it: uint8 tensors resident on the run's device, loaded
//! once, with a content hash for the manifest and per-channel statistics for the model.

use super::normalization::{Normalization, NormalizationChoice};
use super::source::DatasetKind;
use super::RawDataset;
use sha2::{Digest, Sha256};
use tch::{Device, Tensor};

pub struct DeviceDataset {
    pub name: String,
    pub device: Device,
    /// uint8 `[N, C, H, W]`.
    pub train_images: Tensor,
    /// int64 `[N]`.
    pub train_labels: Tensor,
    pub test_images: Tensor,
    pub test_labels: Tensor,
    pub num_classes: i64,
    pub class_names: Vec<String>,
    /// `[C, H, W]`.
    pub shape: [i64; 3],
    /// SHA-256 over both splits' pixels and labels (hex).
    pub hash: String,
    /// Per-channel normalisation the models use (pixel units): `normalization`'s values.
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub normalization: Normalization,
}

/// Content hash of a raw data set: pixels and labels of both splits, with their shapes.
pub fn content_hash(raw: &RawDataset) -> String {
    let mut h = Sha256::new();
    for s in [&raw.train, &raw.test] {
        for d in [s.n, s.channels, s.height, s.width] {
            h.update((d as u64).to_le_bytes());
        }
        h.update(&s.images);
        for l in &s.labels {
            h.update(l.to_le_bytes());
        }
    }
    hex::encode(h.finalize())
}

fn split_tensors(s: &super::RawSplit, device: Device) -> (Tensor, Tensor) {
    let shape = [
        s.n as i64,
        s.channels as i64,
        s.height as i64,
        s.width as i64,
    ];
    (
        Tensor::from_slice(&s.images).view(shape).to_device(device),
        Tensor::from_slice(&s.labels).to_device(device),
    )
}

impl DeviceDataset {
    /// Moves a raw data set onto `device` (one host-to-device copy per split); its models
    /// normalise with `normalization` (resolve it with `Normalization::resolve`, or
    /// `data::resident::load`).
    pub fn new(raw: &RawDataset, device: Device, normalization: Normalization) -> DeviceDataset {
        let hash = content_hash(raw);
        let (train_images, train_labels) = split_tensors(&raw.train, device);
        let (test_images, test_labels) = split_tensors(&raw.test, device);
        let shape = [
            raw.train.channels as i64,
            raw.train.height as i64,
            raw.train.width as i64,
        ];
        DeviceDataset {
            name: raw.name.clone(),
            device,
            train_images,
            train_labels,
            test_images,
            test_labels,
            num_classes: raw.num_classes as i64,
            class_names: raw.class_names.clone(),
            shape,
            hash,
            mean: normalization.mean.clone(),
            std: normalization.std.clone(),
            normalization,
        }
    }
}

/// Moves a raw data set of reader `kind` onto `device` with the normalisation `choice` resolves to.
pub fn load(
    raw: &RawDataset,
    kind: DatasetKind,
    choice: NormalizationChoice,
    device: Device,
) -> anyhow::Result<DeviceDataset> {
    let (train_images, _) = split_tensors(&raw.train, Device::Cpu);
    let normalization = Normalization::resolve(choice, kind, &train_images)?;
    Ok(DeviceDataset::new(raw, device, normalization))
}

/// A class-stratified subset of `labels`: `n / classes` indices per class (the remainder goes to
/// the first classes), each class's pick a seeded shuffle; sorted. Same seed → same subset.
pub fn stratified_subset(labels: &[i64], num_classes: i64, n: usize, seed: u64) -> Vec<i64> {
    let k = num_classes.max(1) as usize;
    let mut out = ddbench_nn::rng::pick_per_class(
        labels,
        num_classes,
        |c| n / k + usize::from(c < n % k),
        seed,
    )
    .concat();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_subset_is_balanced_seeded_and_distinct() {
        let labels: Vec<i64> = (0..1000).map(|i| (i * 7 % 10) as i64).collect();
        let s = stratified_subset(&labels, 10, 105, 0);
        assert_eq!(s.len(), 105);
        let mut counts = [0; 10];
        for &i in &s {
            counts[labels[i as usize] as usize] += 1;
        }
        assert_eq!(counts, [11, 11, 11, 11, 11, 10, 10, 10, 10, 10]);
        assert_eq!(s, stratified_subset(&labels, 10, 105, 0));
        assert_ne!(s, stratified_subset(&labels, 10, 105, 1));
        let mut d = s.clone();
        d.dedup();
        assert_eq!(d.len(), s.len());
    }
}
