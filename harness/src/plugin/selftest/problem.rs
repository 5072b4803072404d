//! The synthetic problem a self-test runs plugins on, built in memory: ten classes of 3×8×8
//! images whose class is readable from the pixels, and a small ConvNet trained on them for a few
//! SGD steps (so its gradients are not those of a constant).

use crate::data::{DeviceDataset, Normalization, RawDataset, RawSplit};
use ddbench_nn::rng::HostRng;
use ddbench_nn::{train_classifier, Model, ModelSpec, NormKind, TrainConfig};
use tch::{Device, Tensor};

pub const CLASSES: usize = 10;
const SHAPE: [usize; 3] = [3, 8, 8];
/// Training images per class (IPC 2 leaves a choice).
const TRAIN_PER_CLASS: usize = 3;

/// `per_class` images of each class: a bright pixel block whose place and channel give the class,
/// over seeded noise.
fn split(per_class: usize, seed: u64) -> RawSplit {
    let [c, h, w] = SHAPE;
    let mut rng = HostRng::new(seed);
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for i in 0..per_class * CLASSES {
        let class = i % CLASSES;
        for ch in 0..c {
            for r in 0..h {
                for col in 0..w {
                    let lit = ch == class % c && r / 2 == class / c && col / 4 == class % 2;
                    let noise = rng.below(60) as u8;
                    images.push(if lit { 180 + noise } else { noise });
                }
            }
        }
        labels.push(class as i64);
    }
    RawSplit {
        images,
        labels,
        n: per_class * CLASSES,
        channels: c,
        height: h,
        width: w,
    }
}

/// The synthetic data set, on the CPU.
pub fn dataset() -> DeviceDataset {
    let raw = RawDataset {
        name: "selftest".into(),
        train: split(TRAIN_PER_CLASS, 1),
        test: split(1, 2),
        num_classes: CLASSES,
        class_names: (0..CLASSES).map(|c| format!("class{c}")).collect(),
    };
    let norm = Normalization {
        name: "data".into(),
        mean: vec![0.3; SHAPE[0]],
        std: vec![0.3; SHAPE[0]],
    };
    DeviceDataset::new(&raw, Device::Cpu, norm)
}

/// A width-8, depth-2 ConvNet trained for 40 full-batch SGD steps from a fixed seed; the
/// global generator is reseeded here, before any plugin runs.
pub fn model(data: &DeviceDataset) -> Model {
    tch::manual_seed(0);
    let mut spec = ModelSpec::convnet(
        data.shape,
        data.num_classes,
        data.mean.clone(),
        data.std.clone(),
    );
    spec.width = 8;
    spec.depth = 2;
    spec.norm = NormKind::Instance;
    let mut model = Model::new(&spec, Device::Cpu);
    let cfg = TrainConfig {
        epochs: 40,
        batch_size: 64,
        lr: 0.1,
        crop_pad: 0,
        flip: false,
        ..TrainConfig::default()
    };
    let x = data.train_images.to_kind(tch::Kind::Float) / 255.0;
    // a tiny model on a tiny set: training cannot fail short of a libtorch bug
    let _ = train_classifier(&mut model, &x, &data.train_labels, &cfg, &mut |_, _| {});
    model
}

/// The test split as float pixels in [0, 1] and labels: the batch attacks get.
pub fn attack_batch(data: &DeviceDataset) -> (Tensor, Tensor) {
    (
        data.test_images.to_kind(tch::Kind::Float) / 255.0,
        data.test_labels.shallow_clone(),
    )
}

/// Four values from libtorch's global generator: what the host would draw next.
pub fn global_draw() -> Vec<f64> {
    let t = Tensor::rand([4], (tch::Kind::Double, Device::Cpu));
    Vec::<f64>::try_from(t).unwrap_or_default()
}

/// Whether two optional tensors are equal in shape and every value.
pub fn same(a: &Tensor, b: &Tensor) -> bool {
    a.size() == b.size() && a.kind() == b.kind() && a.equal(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synthetic_problem_is_small_readable_and_the_same_every_time() {
        let data = dataset();
        assert_eq!(data.train_images.size(), [30, 3, 8, 8]);
        assert_eq!(data.test_images.size(), [10, 3, 8, 8]);
        assert_eq!(data.hash, dataset().hash);
        let m = model(&data);
        let (x, y) = attack_batch(&data);
        let acc = ddbench_nn::accuracy(&m, &x, &y, 64);
        assert!(acc >= 0.8, "40 SGD steps learn the pixel blocks: {acc}");
        assert!(same(&x, &attack_batch(&dataset()).0));
    }

    #[test]
    fn equal_draws_after_different_host_seeds_mean_a_reseed() {
        use super::super::report::{generator_left_alone, RESEEDS};
        assert_eq!(generator_left_alone(&[0.5], &[0.5]), Err(RESEEDS.into()));
        assert_eq!(generator_left_alone(&[0.5], &[0.25]), Ok(()));
    }
}
