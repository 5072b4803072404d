//! The shim's optimisers step exactly as tch's `nn::sgd` / `nn::adamw` (bit for bit), and one
//! saved after k steps, loaded into a new optimiser over a copy of the weights, takes the
//! remaining steps to the very weights of an uninterrupted run. The default generator's state,
//! read and put back, repeats the same draws.

use ddbench_torch_shim::optim::{Algorithm, Optimizer};
use ddbench_torch_shim::rng;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

const SGD: Algorithm = Algorithm::Sgd {
    momentum: 0.9,
    dampening: 0.0,
    weight_decay: 5e-4,
    nesterov: false,
};
const ADAMW: Algorithm = Algorithm::AdamW {
    beta1: 0.9,
    beta2: 0.999,
    weight_decay: 0.01,
};

/// A deterministic regression task (no generator involved).
fn data() -> (Tensor, Tensor) {
    let x = (Tensor::arange(64 * 6, (Kind::Float, Device::Cpu)) * 0.37)
        .sin()
        .view([64, 6]);
    let y = (Tensor::arange(64 * 3, (Kind::Float, Device::Cpu)) * 0.11)
        .cos()
        .view([64, 3]);
    (x, y)
}

/// Two layers with fixed starting weights.
fn model() -> (nn::VarStore, impl Module) {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = nn::seq()
        .add(nn::linear(vs.root() / "a", 6, 8, Default::default()))
        .add_fn(|x| x.tanh())
        .add(nn::linear(vs.root() / "b", 8, 3, Default::default()));
    tch::no_grad(|| {
        for (i, mut v) in vs.trainable_variables().into_iter().enumerate() {
            let n = v.numel() as i64;
            let w = (Tensor::arange(n, (Kind::Float, Device::Cpu)) * (0.7 + i as f64)).sin() * 0.3;
            v.copy_(&w.view(v.size().as_slice()));
        }
    });
    (vs, net)
}

fn loss(net: &impl Module, x: &Tensor, y: &Tensor) -> Tensor {
    net.forward(x).mse_loss(y, tch::Reduction::Mean)
}

fn weights(vs: &nn::VarStore) -> Vec<Tensor> {
    vs.trainable_variables().iter().map(|t| t.copy()).collect()
}

fn same(a: &[Tensor], b: &[Tensor]) -> bool {
    a.iter().zip(b).all(|(a, b)| a.equal(b))
}

fn steps_with_shim(alg: Algorithm, lr: f64, n: usize) -> Vec<Tensor> {
    let (x, y) = data();
    let (vs, net) = model();
    let mut opt = Optimizer::new(vs.trainable_variables(), lr, alg).unwrap();
    for _ in 0..n {
        opt.backward_step(&loss(&net, &x, &y)).unwrap();
    }
    weights(&vs)
}

#[test]
fn steps_bit_for_bit_as_tch_optimisers() {
    let (x, y) = data();
    for (alg, lr) in [(SGD, 0.05), (ADAMW, 0.01)] {
        let (vs, net) = model();
        let mut opt = match alg {
            Algorithm::Sgd { .. } => nn::sgd(0.9, 0.0, 5e-4, false).build(&vs, lr).unwrap(),
            Algorithm::AdamW { .. } => nn::adamw(0.9, 0.999, 0.01).build(&vs, lr).unwrap(),
        };
        let before = weights(&vs);
        for _ in 0..6 {
            opt.backward_step(&loss(&net, &x, &y));
        }
        let ours = steps_with_shim(alg, lr, 6);
        assert!(!same(&before, &ours), "{alg:?}: the weights moved");
        assert!(same(&weights(&vs), &ours), "{alg:?}: equal to tch's");
    }
}

#[test]
fn a_saved_state_resumes_to_the_uninterrupted_weights() {
    let (x, y) = data();
    for (alg, lr) in [(SGD, 0.05), (ADAMW, 0.01)] {
        let straight = steps_with_shim(alg, lr, 8);
        // 3 steps, then the weights and the state go to a new model and optimiser
        let (vs, net) = model();
        let mut opt = Optimizer::new(vs.trainable_variables(), lr, alg).unwrap();
        for _ in 0..3 {
            opt.backward_step(&loss(&net, &x, &y)).unwrap();
        }
        let state = opt.state().unwrap();
        let saved = weights(&vs);
        drop(opt);
        let (vs2, net2) = model();
        tch::no_grad(|| {
            for (mut v, w) in vs2.trainable_variables().into_iter().zip(&saved) {
                v.copy_(w);
            }
        });
        let resume = |load: bool| {
            let mut opt = Optimizer::new(vs2.trainable_variables(), lr, alg).unwrap();
            if load {
                opt.load_state(&state).unwrap();
            }
            for _ in 0..5 {
                opt.backward_step(&loss(&net2, &x, &y)).unwrap();
            }
        };
        resume(true);
        assert!(
            same(&weights(&vs2), &straight),
            "{alg:?}: resumed = straight"
        );
        // without the state (fresh momentum / moments) the run differs: the test can fail
        tch::no_grad(|| {
            for (mut v, w) in vs2.trainable_variables().into_iter().zip(&saved) {
                v.copy_(w);
            }
        });
        resume(false);
        assert!(
            !same(&weights(&vs2), &straight),
            "{alg:?}: the state matters"
        );
    }
}

#[test]
fn a_broken_state_is_an_error() {
    let (vs, _net) = model();
    let mut opt = Optimizer::new(vs.trainable_variables(), 0.1, SGD).unwrap();
    let e = opt.load_state(b"not an archive").unwrap_err();
    assert!(e.contains("loading the optimiser's state"), "{e}");
}

#[test]
fn the_generator_state_repeats_the_draws() {
    tch::manual_seed(5);
    let _ = Tensor::randn([7], (Kind::Float, Device::Cpu));
    let s = rng::state(Device::Cpu).unwrap();
    let a = Tensor::randn([16], (Kind::Float, Device::Cpu));
    let p = Tensor::randperm(20, (Kind::Int64, Device::Cpu));
    tch::manual_seed(99);
    rng::set_state(Device::Cpu, &s).unwrap();
    assert!(a.equal(&Tensor::randn([16], (Kind::Float, Device::Cpu))));
    assert!(p.equal(&Tensor::randperm(20, (Kind::Int64, Device::Cpu))));
    let e = rng::set_state(Device::Cpu, &Tensor::zeros([3], (Kind::Uint8, Device::Cpu)));
    assert!(e.is_err(), "a state of the wrong size is refused");
}

#[test]
fn a_step_inside_a_long_autocast_region_is_seen_by_the_next_forward() {
    // autocast caches its bf16 copies of the weights while its region lasts; ddbench's region
    // spans a whole training, so a step must drop them or every forward reuses the first weights
    let (vs, net) = model();
    let (x, y) = data();
    let mut opt = Optimizer::new(vs.trainable_variables(), 0.5, SGD).unwrap();
    let bf16 = ddbench_torch_shim::levers::AutocastBf16::new(Device::Cpu).unwrap();
    let before = net.forward(&x);
    assert_eq!(before.kind(), Kind::BFloat16, "autocast is on");
    opt.backward_step(&loss(&net, &x, &y)).unwrap();
    let after = net.forward(&x);
    assert!(
        !before.equal(&after),
        "the forward after a step used the cached bf16 copies of the old weights"
    );
    drop(bf16); // leaving the region clears autocast's cache
    let _bf16 = ddbench_torch_shim::levers::AutocastBf16::new(Device::Cpu).unwrap();
    let fresh = net.forward(&x);
    assert!(
        after.equal(&fresh),
        "after a step, the forward uses the new weights"
    );
}
