//! The teacher's SGD step (momentum, no dampening, weight decay on every trainable variable), its
//! momentum buffers kept by variable name so that a checkpoint can hold them: libtorch's update,
//! written out per variable, or (`teacher_fused_sgd`) as one fused multi-tensor kernel over all
//! of them (`ddbench_torch_shim::optim::fused_sgd_`, other rounding).

use crate::Sre2lConfig;
use ddbench_torch_shim::optim::{fused_sgd_, Algorithm};
use std::collections::HashMap;
use tch::Tensor;

/// One step at learning rate `lr` on the variables that have a gradient.
pub fn step(
    vars: &HashMap<String, Tensor>,
    momentum: &mut HashMap<String, Tensor>,
    lr: f64,
    cfg: &Sre2lConfig,
) -> Result<(), String> {
    if cfg.teacher_fused_sgd {
        return fused(vars, momentum, lr, cfg);
    }
    per_variable(vars, momentum, lr, cfg);
    Ok(())
}

/// The trainable variables that have a gradient, by name.
fn stepped(vars: &HashMap<String, Tensor>) -> impl Iterator<Item = (&String, &Tensor)> {
    vars.iter()
        .filter(|(_, p)| p.requires_grad() && p.grad().defined())
}

fn per_variable(
    vars: &HashMap<String, Tensor>,
    momentum: &mut HashMap<String, Tensor>,
    lr: f64,
    cfg: &Sre2lConfig,
) {
    tch::no_grad(|| {
        for (name, p) in stepped(vars) {
            let d = p.grad() + p * cfg.teacher_weight_decay;
            let buf = match momentum.get_mut(name) {
                Some(b) => {
                    let _ = b.g_mul_scalar_(cfg.teacher_momentum).g_add_(&d);
                    b.shallow_clone()
                }
                None => {
                    momentum.insert(name.clone(), d.copy());
                    d
                }
            };
            let _ = p.shallow_clone().g_sub_(&(buf * lr));
        }
    });
    ddbench_torch_shim::levers::weights_changed();
}

/// The same step as one fused kernel per call: the variables whose buffer exists, then those
/// taking their first step (their buffers made here, written by the kernel as the first step's).
fn fused(
    vars: &HashMap<String, Tensor>,
    momentum: &mut HashMap<String, Tensor>,
    lr: f64,
    cfg: &Sre2lConfig,
) -> Result<(), String> {
    let alg = Algorithm::Sgd {
        momentum: cfg.teacher_momentum,
        dampening: 0.0,
        weight_decay: cfg.teacher_weight_decay,
        nesterov: false,
    };
    let mut groups: [(Vec<Tensor>, Vec<Tensor>, Vec<Tensor>); 2] = Default::default();
    for (name, p) in stepped(vars) {
        let first = !momentum.contains_key(name);
        let buf = momentum
            .entry(name.clone())
            .or_insert_with(|| p.empty_like());
        let g = &mut groups[first as usize];
        g.0.push(p.shallow_clone());
        g.1.push(p.grad());
        g.2.push(buf.shallow_clone());
    }
    for (first, (params, grads, bufs)) in groups.iter().enumerate() {
        if !params.is_empty() {
            fused_sgd_(params, grads, bufs, lr, alg, first == 1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{self, Module, OptimizerConfig};
    use tch::{Device, Kind};

    /// Two layers with fixed weights and a fixed regression batch.
    fn net() -> (nn::VarStore, impl Module, Tensor, Tensor) {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = nn::seq()
            .add(nn::linear(vs.root() / "a", 5, 7, Default::default()))
            .add_fn(|x| x.tanh())
            .add(nn::linear(vs.root() / "b", 7, 2, Default::default()));
        tch::no_grad(|| {
            for (i, mut v) in vs.trainable_variables().into_iter().enumerate() {
                let n = v.numel() as i64;
                let w = (Tensor::arange(n, (Kind::Float, Device::Cpu)) * (0.3 + i as f64)).sin();
                v.copy_(&(w * 0.4).view(v.size().as_slice()));
            }
        });
        let x = (Tensor::arange(40, (Kind::Float, Device::Cpu)) * 0.7)
            .sin()
            .view([8, 5]);
        let y = (Tensor::arange(16, (Kind::Float, Device::Cpu)) * 0.3)
            .cos()
            .view([8, 2]);
        (vs, net, x, y)
    }

    fn weights(vs: &nn::VarStore) -> Vec<Tensor> {
        vs.trainable_variables().iter().map(|t| t.copy()).collect()
    }

    /// Steps of the teacher's SGD (`fused` or not); the first step reaches only layer `a`.
    fn teacher_steps(fused: bool, n: usize) -> (Vec<Tensor>, HashMap<String, Tensor>) {
        let (vs, net, x, y) = net();
        let cfg = Sre2lConfig {
            teacher_fused_sgd: fused,
            ..Default::default()
        };
        let (vars, mut momentum) = (vs.variables(), HashMap::new());
        for i in 0..n {
            vars.values().for_each(|v| v.shallow_clone().zero_grad());
            let loss = if i == 0 {
                vars["a.weight"].square().sum(Kind::Float)
            } else {
                net.forward(&x).mse_loss(&y, tch::Reduction::Mean)
            };
            loss.backward();
            step(&vars, &mut momentum, 0.1, &cfg).unwrap();
        }
        (weights(&vs), momentum)
    }

    /// Largest |a - b| relative to the largest |a|.
    fn rel(a: &[Tensor], b: &[Tensor]) -> f64 {
        let d = a
            .iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs().max().double_value(&[]));
        let m = a.iter().map(|a| a.abs().max().double_value(&[]));
        d.fold(0f64, f64::max) / m.fold(0f64, f64::max)
    }

    #[test]
    fn the_per_variable_step_is_libtorchs_sgd() {
        let (vs, net, x, y) = net();
        let mut opt = nn::sgd(0.9, 0.0, 5e-4, false).build(&vs, 0.1).unwrap();
        for i in 0..4 {
            let loss = if i == 0 {
                vs.variables()["a.weight"].square().sum(Kind::Float)
            } else {
                net.forward(&x).mse_loss(&y, tch::Reduction::Mean)
            };
            opt.backward_step(&loss);
        }
        let (ours, _) = teacher_steps(false, 4);
        // the same update, in other operations (g + p·wd, p − lr·buf): within rounding
        let d = rel(&weights(&vs), &ours);
        assert!(d < 1e-6, "{d:e}");
    }

    #[test]
    fn the_fused_step_is_the_same_update_with_the_same_buffers() {
        let (plain, m1) = teacher_steps(false, 4);
        let (fused, m2) = teacher_steps(true, 4);
        let start = weights(&net().0);
        assert!(rel(&plain, &start) > 1e-3, "the weights moved");
        let d = rel(&plain, &fused);
        assert!(
            d < 1e-6,
            "fused within rounding of the per-variable step: {d:e}"
        );
        let mut names: Vec<&String> = m1.keys().collect();
        names.sort();
        let mut fused_names: Vec<&String> = m2.keys().collect();
        fused_names.sort();
        assert_eq!(names, fused_names);
        for n in names {
            let d = (&m1[n] - &m2[n]).abs().max().double_value(&[]);
            assert!(d < 1e-5, "{n}: momentum buffers differ by {d:e}");
        }
    }

    #[test]
    fn fused_teachers_are_other_teachers_and_off_leaves_the_config_as_before() {
        let plain = Sre2lConfig::default();
        let text = serde_json::to_string(&plain).unwrap();
        assert!(!text.contains("fused"), "{text}");
        let fused = Sre2lConfig {
            teacher_fused_sgd: true,
            ..Default::default()
        };
        assert!(serde_json::to_string(&fused)
            .unwrap()
            .contains("\"teacher_fused_sgd\":true"));
        assert_ne!(plain.squeeze_part("guard"), fused.squeeze_part("guard"));
        let back: Sre2lConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, plain);
    }
}
