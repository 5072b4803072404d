//! ResNet-18 in its CIFAR form (He et al. 2016; the variant of kuangliu/pytorch-cifar used by
//! SRe2L/GUARD on CIFAR): 3×3 stem, no max-pool, BatchNorm, [2, 2, 2, 2] basic blocks.

use crate::bn_capture::batch_norm2d;
use crate::model::ModelSpec;
use tch::nn::{self, ModuleT};
use tch::Tensor;

fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding: k / 2,
        bias: false,
        ..Default::default()
    };
    nn::conv2d(p, c_in, c_out, k, cfg)
}

fn basic_block(p: &nn::Path, c_in: i64, c_out: i64, stride: i64) -> impl ModuleT {
    let conv1 = conv(p / "conv1", c_in, c_out, 3, stride);
    let bn1 = batch_norm2d(p / "bn1", c_out);
    let conv2 = conv(p / "conv2", c_out, c_out, 3, 1);
    let bn2 = batch_norm2d(p / "bn2", c_out);
    let shortcut = if stride != 1 || c_in != c_out {
        let sp = p / "shortcut";
        Some((
            conv(&sp / "conv", c_in, c_out, 1, stride),
            batch_norm2d(&sp / "bn", c_out),
        ))
    } else {
        None
    };
    nn::func_t(move |x: &Tensor, train| {
        let y = x
            .apply(&conv1)
            .apply_t(&bn1, train)
            .relu()
            .apply(&conv2)
            .apply_t(&bn2, train);
        let s = match &shortcut {
            Some((c, b)) => x.apply(c).apply_t(b, train),
            None => x.shallow_clone(),
        };
        (y + s).relu()
    })
}

pub fn resnet18(p: &nn::Path, spec: &ModelSpec) -> nn::SequentialT {
    let mut seq = nn::seq_t()
        .add(conv(p / "conv1", spec.in_channels, 64, 3, 1))
        .add(batch_norm2d(p / "bn1", 64))
        .add_fn(|x| x.relu());
    let mut c_in = 64;
    for (i, (c_out, stride)) in [(64, 1), (128, 2), (256, 2), (512, 2)]
        .into_iter()
        .enumerate()
    {
        for b in 0..2 {
            let bp = p / format!("layer{}", i + 1) / format!("{b}");
            seq = seq.add(basic_block(
                &bp,
                c_in,
                c_out,
                if b == 0 { stride } else { 1 },
            ));
            c_in = c_out;
        }
    }
    seq.add_fn(|x| x.adaptive_avg_pool2d([1, 1]).flatten(1, -1))
        .add(nn::linear(
            p / "fc",
            512,
            spec.num_classes,
            Default::default(),
        ))
}

#[cfg(test)]
mod tests {
    use crate::model::{Arch, Model, ModelSpec};
    use tch::{Device, Kind, Tensor};

    #[test]
    fn resnet18_cifar_shape_and_size() {
        let mut spec = ModelSpec::convnet([3, 32, 32], 10, vec![0.5; 3], vec![0.25; 3]);
        spec.arch = Arch::Resnet18;
        let m = Model::new(&spec, Device::Cpu);
        let x = Tensor::rand([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        assert_eq!(m.forward_t(&x, true).size(), vec![2, 10]);
        // ResNet-18 (CIFAR form) for 10 classes has 11,173,962 trainable parameters.
        let n: i64 =
            m.vs.trainable_variables()
                .iter()
                .map(|t| t.numel() as i64)
                .sum();
        assert_eq!(n, 11_173_962);
    }
}
