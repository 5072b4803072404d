//! The attacked subset: a fixed (seed 0), class-stratified sample of the test split, shared by
//! every method and seed; a split with fewer images of some class gives fewer than asked.

use crate::data::{stratified_subset, DeviceDataset};
use crate::output::Ui;
use anyhow::Result;
use tch::{Kind, Tensor};

/// The seed of the subset's sample (recorded in the cell key).
pub const SUBSET_SEED: u64 = 0;

pub struct AttackSubset {
    /// Indices into the test split.
    pub indices: Vec<i64>,
    /// float `[n, C, H, W]` in [0, 1], on the run's device.
    pub x: Tensor,
    /// int64 `[n]` on the run's device.
    pub y: Tensor,
    /// The labels, on the host.
    pub labels: Vec<i64>,
}

impl AttackSubset {
    /// Takes up to `asked` test images, saying once when the split gives fewer.
    pub fn take(data: &DeviceDataset, asked: usize, ui: &Ui) -> Result<AttackSubset> {
        let test_labels = Vec::<i64>::try_from(data.test_labels.to_device(tch::Device::Cpu))?;
        let indices = stratified_subset(&test_labels, data.num_classes, asked, SUBSET_SEED);
        if indices.len() < asked {
            ui.log(&format!(
                "the test split gives {n} of the {asked} images asked for the attacked subset (class-stratified); attacking {n}",
                n = indices.len()
            ));
        }
        Self::of_indices(data, indices)
    }

    /// The test images at `indices` (checked against the split's size).
    pub fn of_indices(data: &DeviceDataset, indices: Vec<i64>) -> Result<AttackSubset> {
        let n = data.test_labels.size()[0];
        if let Some(bad) = indices.iter().find(|&&i| i < 0 || i >= n) {
            anyhow::bail!("test index {bad} is outside the test split (0..{n})");
        }
        if indices.is_empty() {
            anyhow::bail!("no test images to attack");
        }
        let idx = Tensor::from_slice(&indices).to_device(data.device);
        let x = data.test_images.index_select(0, &idx).to_kind(Kind::Float) / 255.0;
        let y = data.test_labels.index_select(0, &idx);
        let labels = Vec::<i64>::try_from(y.to_device(tch::Device::Cpu))?;
        Ok(AttackSubset {
            indices,
            x,
            y,
            labels,
        })
    }

    /// Images attacked.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The first `n` images and labels (fewer when the subset is smaller).
    pub fn head(&self, n: usize) -> (Tensor, Tensor) {
        let n = n.min(self.len()) as i64;
        (self.x.narrow(0, 0, n), self.y.narrow(0, 0, n))
    }
}
