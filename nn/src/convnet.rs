//! ConvNet-D, the standard dataset-distillation evaluation network (Gidaris & Komodakis 2018, as
//! used by DC/DM/MTT): D × [conv 3×3 → norm → ReLU → avg-pool 2], then a linear classifier.
//! As in the DC reference code, 28×28 single-channel inputs get padding 3 in the first conv (→ 32×32).

use crate::model::{ModelSpec, NormKind};
use tch::nn;

/// Output side length after the blocks for an input side `s`.
fn feature_side(spec: &ModelSpec, mut s: i64) -> i64 {
    for d in 0..spec.depth {
        s = s + 2 * first_padding(spec, d) - 2;
        s /= 2;
    }
    s
}

fn first_padding(spec: &ModelSpec, block: i64) -> i64 {
    if block == 0 && spec.in_channels == 1 && spec.height == 28 && spec.width_px == 28 {
        3
    } else {
        1
    }
}

pub fn convnet(p: &nn::Path, spec: &ModelSpec) -> nn::SequentialT {
    let mut seq = nn::seq_t();
    let mut c_in = spec.in_channels;
    for d in 0..spec.depth {
        let bp = p / format!("block{d}");
        let conv_cfg = nn::ConvConfig { padding: first_padding(spec, d), ..Default::default() };
        seq = seq.add(nn::conv2d(&bp / "conv", c_in, spec.width, 3, conv_cfg));
        seq = match spec.norm {
            NormKind::Instance => seq.add(nn::group_norm(
                &bp / "norm",
                spec.width,
                spec.width,
                nn::GroupNormConfig { eps: 1e-5, ..Default::default() },
            )),
            NormKind::Batch => {
                seq.add(nn::batch_norm2d(&bp / "norm", spec.width, Default::default()))
            }
            NormKind::None => seq,
        };
        seq = seq.add_fn(|x| x.relu()).add_fn(|x| x.avg_pool2d_default(2));
        c_in = spec.width;
    }
    let feat = spec.width * feature_side(spec, spec.height) * feature_side(spec, spec.width_px);
    assert!(feat > 0, "image {}x{} too small for ConvNet depth {}", spec.height, spec.width_px, spec.depth);
    seq.add_fn(|x| x.flatten(1, -1))
        .add(nn::linear(p / "classifier", feat, spec.num_classes, Default::default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use tch::{Device, Kind, Tensor};

    #[test]
    fn shapes_for_mnist_and_cifar() {
        for (shape, classes) in [([1, 28, 28], 10), ([3, 32, 32], 100), ([3, 64, 64], 200)] {
            let spec = ModelSpec::convnet(shape, classes, vec![0.5; shape[0] as usize], vec![0.25; shape[0] as usize]);
            let m = Model::new(&spec, Device::Cpu);
            let x = Tensor::rand([2, shape[0], shape[1], shape[2]], (Kind::Float, Device::Cpu));
            assert_eq!(m.forward_t(&x, false).size(), vec![2, classes]);
        }
        // 28x28 grey is padded to 32x32 in the first conv: 128 * 4 * 4 features.
        let spec = ModelSpec::convnet([1, 28, 28], 10, vec![0.5], vec![0.25]);
        assert_eq!(feature_side(&spec, 28), 4);
        let spec = ModelSpec::convnet([3, 32, 32], 10, vec![0.5; 3], vec![0.25; 3]);
        assert_eq!(feature_side(&spec, 32), 4);
    }

    #[test]
    fn parameter_count_matches_reference() {
        // ConvNet-3, width 128, instancenorm, CIFAR-10: 320,010 parameters (as in the DC code).
        let spec = ModelSpec::convnet([3, 32, 32], 10, vec![0.5; 3], vec![0.25; 3]);
        let m = Model::new(&spec, Device::Cpu);
        let n: i64 = m.vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(n, 320_010);
    }
}
