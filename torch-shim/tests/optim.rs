//! The shim's optimisers step exactly as tch's `nn::sgd` / `nn::adamw` (bit for bit), and one
//! saved after k steps, loaded into a new optimiser over a copy of the weights, takes the
//! remaining steps to the very weights of an uninterrupted run. The fused kernels make the same
//! update (to float rounding), and either kind resumes the other's state.

use ddbench_torch_shim::optim::{fused_sgd_, Algorithm, Kernels, Optimizer};
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
    steps_with(alg, Kernels::PerParameter, lr, n)
}

fn steps_with(alg: Algorithm, kernels: Kernels, lr: f64, n: usize) -> Vec<Tensor> {
    let (x, y) = data();
    let (vs, net) = model();
    let mut opt = Optimizer::new(vs.trainable_variables(), lr, alg, kernels).unwrap();
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
        let mut opt =
            Optimizer::new(vs.trainable_variables(), lr, alg, Kernels::PerParameter).unwrap();
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
            let mut opt =
                Optimizer::new(vs2.trainable_variables(), lr, alg, Kernels::PerParameter).unwrap();
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
    let mut opt =
        Optimizer::new(vs.trainable_variables(), 0.1, SGD, Kernels::PerParameter).unwrap();
    let e = opt.load_state(b"not an archive").unwrap_err();
    assert!(e.contains("loading the optimiser's state"), "{e}");
}

#[test]
fn a_step_inside_a_long_autocast_region_is_seen_by_the_next_forward() {
    // autocast caches its bf16 copies of the weights while its region lasts; ddbench's region
    // spans a whole training, so a step must drop them or every forward reuses the first weights
    for kernels in [Kernels::PerParameter, Kernels::Fused] {
        a_step_inside_a_region_is_seen(kernels);
    }
}

fn a_step_inside_a_region_is_seen(kernels: Kernels) {
    let (vs, net) = model();
    let (x, y) = data();
    let mut opt = Optimizer::new(vs.trainable_variables(), 0.5, SGD, kernels).unwrap();
    let bf16 = ddbench_torch_shim::levers::AutocastBf16::new(Device::Cpu).unwrap();
    let before = net.forward(&x);
    assert_eq!(before.kind(), Kind::BFloat16, "autocast is on");
    opt.backward_step(&loss(&net, &x, &y)).unwrap();
    let after = net.forward(&x);
    assert!(
        !before.equal(&after),
        "{kernels:?}: the forward after a step used the cached bf16 copies of the old weights"
    );
    drop(bf16); // leaving the region clears autocast's cache
    let _bf16 = ddbench_torch_shim::levers::AutocastBf16::new(Device::Cpu).unwrap();
    let fresh = net.forward(&x);
    assert!(
        after.equal(&fresh),
        "after a step, the forward uses the new weights"
    );
}

/// Largest |a - b| over the weights, relative to the largest |a|.
fn rel_diff(a: &[Tensor], b: &[Tensor]) -> f64 {
    let (mut d, mut m) = (0f64, 0f64);
    for (a, b) in a.iter().zip(b) {
        d = d.max((a - b).abs().max().double_value(&[]));
        m = m.max(a.abs().max().double_value(&[]));
    }
    d / m
}

const SGD_FORMS: [Algorithm; 4] = [
    SGD,
    Algorithm::Sgd {
        momentum: 0.9,
        dampening: 0.1,
        weight_decay: 1e-3,
        nesterov: false,
    },
    Algorithm::Sgd {
        momentum: 0.8,
        dampening: 0.0,
        weight_decay: 0.0,
        nesterov: true,
    },
    Algorithm::Sgd {
        momentum: 0.0,
        dampening: 0.0,
        weight_decay: 5e-4,
        nesterov: false,
    },
];

#[test]
fn fused_kernels_make_libtorchs_update() {
    for (alg, lr) in SGD_FORMS.iter().map(|a| (*a, 0.05)).chain([(ADAMW, 0.01)]) {
        let ours = steps_with(alg, Kernels::PerParameter, lr, 8);
        let fused = steps_with(alg, Kernels::Fused, lr, 8);
        let moved = rel_diff(&ours, &weights(&model().0));
        let d = rel_diff(&ours, &fused);
        assert!(moved > 1e-3, "{alg:?}: the weights moved ({moved})");
        eprintln!("{alg:?}: fused vs per-parameter after 8 steps: {d:e}");
        assert!(
            d < 1e-6,
            "{alg:?}: fused within rounding of libtorch's ({d:e})"
        );
    }
}

#[test]
fn either_kind_resumes_the_others_state() {
    let (x, y) = data();
    for (alg, lr) in [(SGD, 0.05), (ADAMW, 0.01)] {
        let straight = steps_with(alg, Kernels::Fused, lr, 7);
        for (first, then) in [
            (Kernels::Fused, Kernels::PerParameter),
            (Kernels::PerParameter, Kernels::Fused),
        ] {
            let (vs, net) = model();
            let mut opt = Optimizer::new(vs.trainable_variables(), lr, alg, first).unwrap();
            for _ in 0..3 {
                opt.backward_step(&loss(&net, &x, &y)).unwrap();
            }
            let state = opt.state().unwrap();
            let mut opt = Optimizer::new(vs.trainable_variables(), lr, alg, then).unwrap();
            opt.load_state(&state).unwrap();
            for _ in 0..4 {
                opt.backward_step(&loss(&net, &x, &y)).unwrap();
            }
            let d = rel_diff(&straight, &weights(&vs));
            assert!(d < 1e-6, "{alg:?} {first:?} then {then:?}: {d:e}");
        }
        // a fresh state (no momentum, step 0) lands elsewhere: the state was used
        let (vs, net) = model();
        for n in [3, 4] {
            let mut opt =
                Optimizer::new(vs.trainable_variables(), lr, alg, Kernels::Fused).unwrap();
            for _ in 0..n {
                opt.backward_step(&loss(&net, &x, &y)).unwrap();
            }
        }
        assert!(rel_diff(&straight, &weights(&vs)) > 1e-4, "{alg:?}");
    }
}

#[test]
fn a_parameter_without_a_gradient_waits_as_in_libtorch() {
    // the first steps reach only the first layer: the second's momentum buffer / step count start
    // later, so fused steps mix first and later steps within one call
    let (x, y) = data();
    for (alg, lr) in [(SGD, 0.05), (ADAMW, 0.01)] {
        let run = |kernels| {
            let (vs, net) = model();
            let mut opt = Optimizer::new(vs.trainable_variables(), lr, alg, kernels).unwrap();
            let first = vs.root().sub("a").get("weight").unwrap();
            for i in 0..6 {
                let l = if i < 2 {
                    first.square().sum(Kind::Float) * 1e-2
                } else {
                    loss(&net, &x, &y)
                };
                opt.backward_step(&l).unwrap();
            }
            weights(&vs)
        };
        let d = rel_diff(&run(Kernels::PerParameter), &run(Kernels::Fused));
        assert!(d < 1e-6, "{alg:?}: {d:e}");
    }
}

#[test]
fn a_fused_step_over_buffers_kept_apart_is_the_optimisers() {
    // the teacher keeps its momentum buffers by name: the free fused step must update them as the
    // optimiser would
    let (x, y) = data();
    let straight = steps_with(SGD, Kernels::PerParameter, 0.05, 5);
    let (vs, net) = model();
    let params = vs.trainable_variables();
    let bufs: Vec<Tensor> = params.iter().map(|p| p.zeros_like()).collect();
    for i in 0..5 {
        for p in &params {
            p.grad().defined().then(|| p.grad().zero_());
        }
        loss(&net, &x, &y).backward();
        let grads: Vec<Tensor> = params.iter().map(|p| p.grad()).collect();
        fused_sgd_(&params, &grads, &bufs, 0.05, SGD, i == 0).unwrap();
    }
    let d = rel_diff(&straight, &weights(&vs));
    assert!(d < 1e-6, "{d:e}");
    let e = fused_sgd_(&params, &[], &bufs, 0.05, SGD, false).unwrap_err();
    assert!(e.contains("over 4 parameters got 0 gradients"), "{e}");
    let e = fused_sgd_(&params, &params, &bufs, 0.05, ADAMW, false).unwrap_err();
    assert!(e.contains("needs SGD's settings"), "{e}");
}
