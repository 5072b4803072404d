//! Times the pieces of one ConvNet training step on the current machine (development aid).
use ddbench_nn::{augment::crop_flip, Model, ModelSpec};
use std::time::Instant;
use tch::{nn::OptimizerConfig, Device, Kind, Tensor};

fn main() {
    let width: i64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(32);
    let mut spec = ModelSpec::convnet([1, 28, 28], 10, vec![0.5], vec![0.3]);
    spec.width = width;
    if std::env::args().nth(2).as_deref() == Some("none") {
        spec.norm = ddbench_nn::NormKind::None;
    }
    if std::env::args().nth(2).as_deref() == Some("batch") {
        spec.norm = ddbench_nn::NormKind::Batch;
    }
    let m = Model::new(&spec, Device::Cpu);
    let x = Tensor::rand([256, 1, 28, 28], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(10, [256], (Kind::Int64, Device::Cpu));
    let mut opt = tch::nn::sgd(0.9, 0.0, 5e-4, false)
        .build(&m.vs, 0.01)
        .unwrap();
    for _ in 0..2 {
        let t = Instant::now();
        let xa = crop_flip(&x, 4, true);
        let t_aug = t.elapsed();
        let t = Instant::now();
        let l = m
            .forward_t(&xa, true)
            .log_softmax(-1, Kind::Float)
            .nll_loss(&y);
        let _ = l.double_value(&[]);
        let t_fwd = t.elapsed();
        let t = Instant::now();
        opt.backward_step(&l);
        let t_bwd = t.elapsed();
        println!("width {width}: aug {t_aug:?} fwd {t_fwd:?} bwd+step {t_bwd:?} (batch 256)");
    }
}
