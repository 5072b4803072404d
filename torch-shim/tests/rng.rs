//! The default generator's state, read and put back, repeats the same draws. Alone in its test
//! binary: other tests drawing from the same generator in parallel threads would interleave.

use ddbench_torch_shim::rng;
use tch::{Device, Kind, Tensor};

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
