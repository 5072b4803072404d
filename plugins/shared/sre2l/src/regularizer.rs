//! Teacher regularizers. GUARD's curvature term follows the official CIFAR script, converted to
//! ddbench's pixel-space models: the official code works on normalised inputs x̂ = (x − μ)/σ, so
//! a step of length h there is z = σ ⊙ h·ĝ/‖ĝ‖ in pixels (ĝ = σ ⊙ ∇ₓℓ is the gradient w.r.t. x̂),
//! and gradients w.r.t. x̂ are σ ⊙ gradients w.r.t. x. Both conversions are exact.

use ddbench_plugin_api::{ce_sum, per_sample_norm, project, Norm};
use tch::Tensor;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GuardVariant {
    /// λ · mean_b ‖∇ₓ̂[CE(x̂+z) − CE(x̂)]‖₂, z = h·ĝ/‖ĝ‖ — the official CIFAR script. CE is the
    /// batch mean there (PyTorch's default), so each sample's gradient carries a 1/B factor: with
    /// B = 128 and λ = 100 the per-sample weight is λ/B ≈ 0.78. ddbench keeps that convention.
    Cifar,
    /// β · |CE(x̂+z) − CE(x̂)| (batch means), single backprop — the ImageNet-scale script.
    Simplified,
    /// λ · mean_b ‖∇ₓ̂[CE(x̂+z) − CE(x̂)]‖₂², z = h·sign(ĝ)/‖sign(ĝ)‖ — the original CURE.
    Cure,
}

impl std::str::FromStr for GuardVariant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cifar" => Ok(GuardVariant::Cifar),
            "simplified" => Ok(GuardVariant::Simplified),
            "cure" => Ok(GuardVariant::Cure),
            o => Err(format!(
                "config key 'variant': unknown '{o}' (cifar, simplified, cure)"
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Regularizer {
    /// Plain SRe2L: cross-entropy only.
    None,
    Guard {
        variant: GuardVariant,
        h: f64,
        lambda: f64,
        beta: f64,
        /// One clean forward (and its input gradient) serves both ĝ and the curvature term
        /// (`guard_term_shared`) instead of the official code's two: the same value and
        /// gradients, one forward and one input backward fewer, rounded differently.
        shared_pass: bool,
    },
    /// Madry PGD adversarial training in [0, 1] pixel space.
    PgdAt { eps: f64, alpha: f64, steps: i64 },
}

/// Forward and backward passes (of one batch) one training step costs, for the cost records.
pub fn passes_per_step(r: &Regularizer) -> (u64, u64) {
    match r {
        Regularizer::None => (1, 1),
        // ĝ: 1 + 1; the two regularizer forwards; the CE forward; one (double) backward. Shared:
        // the clean forward serves ĝ and the term, so its ĝ backward is the term's clean half
        Regularizer::Guard {
            variant: GuardVariant::Simplified,
            shared_pass,
            ..
        } => (4 - u64::from(*shared_pass), 2),
        Regularizer::Guard { shared_pass, .. } => (4 - u64::from(*shared_pass), 3),
        Regularizer::PgdAt { steps, .. } => (*steps as u64 + 1, *steps as u64 + 1),
    }
}

/// ∇ₓ Σ CE(f(x), y) (per-sample gradients), detached from the model's graph.
pub fn ce_input_grad(f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, y: &Tensor) -> Tensor {
    let x = x.detach().set_requires_grad(true);
    Tensor::run_backward(&[ce_sum(&f(&x), y)], &[&x], false, false).remove(0)
}

/// The step z (pixels) along which curvature is measured: length h in normalised units, along
/// ĝ (or sign ĝ for CURE), detached. `f` maps pixels to logits (the model in eval mode, as the
/// official code); `std` is the per-channel σ shaped `[1, C, 1, 1]`.
pub fn guard_step(
    f: &dyn Fn(&Tensor) -> Tensor,
    x: &Tensor,
    y: &Tensor,
    std: &Tensor,
    variant: GuardVariant,
    h: f64,
) -> Tensor {
    step_along(&(ce_input_grad(f, x, y) * std), std, variant, h)
}

/// z from ĝ (the gradient w.r.t. the normalised input): length h in normalised units along ĝ (or
/// sign ĝ for CURE), in pixels, detached.
fn step_along(g_hat: &Tensor, std: &Tensor, variant: GuardVariant, h: f64) -> Tensor {
    let b = g_hat.size()[0];
    let dir = if variant == GuardVariant::Cure {
        g_hat.sign()
    } else {
        g_hat.shallow_clone()
    };
    let n = per_sample_norm(&dir, Norm::L2)
        .clamp_min(1e-12)
        .view([b, 1, 1, 1]);
    (dir / n * h * std).detach()
}

/// The regularizer's value for step `z`, differentiable w.r.t. the model's parameters (double
/// backprop through `create_graph` for `cifar` and `cure`).
#[allow(clippy::too_many_arguments)]
pub fn curvature(
    f: &dyn Fn(&Tensor) -> Tensor,
    x: &Tensor,
    y: &Tensor,
    z: &Tensor,
    std: &Tensor,
    variant: GuardVariant,
    lambda: f64,
    beta: f64,
) -> Tensor {
    let x1 = x.detach().set_requires_grad(true);
    match variant {
        GuardVariant::Simplified => {
            let b = x.size()[0] as f64;
            let d = (ce_sum(&f(&(&x1 + z)), y) - ce_sum(&f(&x1), y)) / b;
            d.abs() * beta
        }
        _ => {
            // batch-mean CE, as the official script: per-sample gradients scaled by 1/B
            let b = x.size()[0] as f64;
            let diff = (ce_sum(&f(&(&x1 + z)), y) - ce_sum(&f(&x1), y)) / b;
            let d = Tensor::run_backward(&[diff], &[&x1], true, true).remove(0) * std;
            gradient_norm_term(&d, variant, lambda)
        }
    }
}

/// λ · mean_b ‖d‖₂ (CURE: ‖d‖₂²) for the per-sample gradient differences `d` (normalised units).
fn gradient_norm_term(d: &Tensor, variant: GuardVariant, lambda: f64) -> Tensor {
    let n = per_sample_norm(d, Norm::L2);
    let n = if variant == GuardVariant::Cure {
        n.square()
    } else {
        n
    };
    n.mean(n.kind()) * lambda
}

/// `curvature(guard_step(..))` with one clean pass: the forward at x and its input gradient
/// (kept differentiable for the double-backprop forms) give both ĝ and the term's clean half,
/// so a step costs one forward and one input backward fewer than the official code's. The same
/// value and parameter gradients (∇[CE(x+z) − CE(x)] = ∇CE(x+z) − ∇CE(x)), rounded differently.
#[allow(clippy::too_many_arguments)]
pub fn guard_term_shared(
    f: &dyn Fn(&Tensor) -> Tensor,
    x: &Tensor,
    y: &Tensor,
    std: &Tensor,
    variant: GuardVariant,
    h: f64,
    lambda: f64,
    beta: f64,
) -> Tensor {
    let b = x.size()[0] as f64;
    let double = variant != GuardVariant::Simplified;
    let x1 = x.detach().set_requires_grad(true);
    let clean = ce_sum(&f(&x1), y);
    let g1 = Tensor::run_backward(&[&clean], &[&x1], true, double).remove(0);
    let z = step_along(&(g1.detach() * std), std, variant, h);
    let moved = ce_sum(&f(&(&x1 + z)), y);
    if !double {
        return ((moved - clean) / b).abs() * beta;
    }
    // batch-mean CE, as the official script: per-sample gradients scaled by 1/B
    let g2 = Tensor::run_backward(&[&moved], &[&x1], true, true).remove(0);
    gradient_norm_term(&((g2 - g1) / b * std), variant, lambda)
}

/// PGD adversarial examples (L∞, random start) for adversarial training, in pixel space.
pub fn pgd_examples(
    f: &dyn Fn(&Tensor) -> Tensor,
    x: &Tensor,
    y: &Tensor,
    eps: f64,
    alpha: f64,
    steps: i64,
) -> Tensor {
    let mut adv = (x + Tensor::empty_like(x).uniform_(-eps, eps)).clamp(0.0, 1.0);
    for _ in 0..steps {
        let g = ce_input_grad(f, &adv, y);
        adv = project(&(adv + g.sign() * alpha), x, Norm::Linf, eps);
    }
    adv.detach()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device, Kind};

    /// A tiny smooth model in float64: pixels → normalise → linear → tanh → linear.
    fn tiny() -> (nn::VarStore, impl Fn(&Tensor) -> Tensor, Tensor) {
        let vs = nn::VarStore::new(Device::Cpu);
        let l1 = nn::linear(vs.root() / "l1", 2 * 3 * 3, 6, Default::default());
        let l2 = nn::linear(vs.root() / "l2", 6, 3, Default::default());
        let mut vs = vs;
        vs.double();
        let mean = Tensor::from_slice(&[0.4f64, 0.6]).view([1, 2, 1, 1]);
        let std = Tensor::from_slice(&[0.2f64, 0.3]).view([1, 2, 1, 1]);
        let s2 = std.shallow_clone();
        let f = move |x: &Tensor| {
            ((x - &mean) / &s2)
                .flatten(1, -1)
                .apply(&l1)
                .tanh()
                .apply(&l2)
        };
        (vs, f, std)
    }

    #[test]
    fn guard_gradient_matches_a_finite_difference() {
        tch::manual_seed(3);
        let (vs, f, std) = tiny();
        let x = Tensor::rand([5, 2, 3, 3], (Kind::Double, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 1, 0]);
        let w = vs.variables()["l1.weight"].shallow_clone();
        for variant in [
            GuardVariant::Cifar,
            GuardVariant::Cure,
            GuardVariant::Simplified,
        ] {
            // z carries no gradient (detached, as in the official code): hold it fixed
            let z = guard_step(&f, &x, &y, &std, variant, 0.7);
            let value = || curvature(&f, &x, &y, &z, &std, variant, 2.0, 0.5);
            let grad = Tensor::run_backward(&[value()], &[&w], false, false).remove(0);
            let (i, j, e) = (2, 5, 1e-6);
            let at = |d: f64| {
                tch::no_grad(|| {
                    let _ = w.get(i).get(j).g_add_scalar_(d);
                });
                let v = value().double_value(&[]);
                tch::no_grad(|| {
                    let _ = w.get(i).get(j).g_add_scalar_(-d);
                });
                v
            };
            let fd = (at(e) - at(-e)) / (2.0 * e);
            let an = grad.double_value(&[i, j]);
            assert!(
                an.abs() > 1e-6,
                "{variant:?}: a vanishing gradient proves nothing"
            );
            assert!(
                (fd - an).abs() < 1e-5 * (1.0 + an.abs()),
                "{variant:?}: autograd {an} vs finite difference {fd}"
            );
        }
    }

    #[test]
    fn the_step_has_length_h_in_normalised_units() {
        let (_vs, f, std) = tiny();
        let x = Tensor::rand([4, 2, 3, 3], (Kind::Double, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 1]);
        for variant in [GuardVariant::Cifar, GuardVariant::Cure] {
            let z = guard_step(&f, &x, &y, &std, variant, 3.0);
            let n = per_sample_norm(&(z / &std), Norm::L2);
            assert!(
                n.allclose(
                    &Tensor::full([4], 3.0, (Kind::Double, Device::Cpu)),
                    1e-9,
                    1e-9,
                    false
                ),
                "{variant:?}"
            );
        }
    }

    #[test]
    fn the_shared_pass_gives_the_official_term_and_gradients() {
        tch::manual_seed(5);
        let (vs, f, std) = tiny();
        let x = Tensor::rand([6, 2, 3, 3], (Kind::Double, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 1, 0, 2]);
        let vars: Vec<Tensor> = vs.trainable_variables();
        for variant in [
            GuardVariant::Cifar,
            GuardVariant::Cure,
            GuardVariant::Simplified,
        ] {
            let official = {
                let z = guard_step(&f, &x, &y, &std, variant, 0.9);
                curvature(&f, &x, &y, &z, &std, variant, 3.0, 0.7)
            };
            let shared = guard_term_shared(&f, &x, &y, &std, variant, 0.9, 3.0, 0.7);
            let (a, b) = (official.double_value(&[]), shared.double_value(&[]));
            assert!(
                a.abs() > 1e-3,
                "{variant:?}: a vanishing term proves nothing"
            );
            assert!((a - b).abs() < 1e-12 * a.abs(), "{variant:?}: {a} vs {b}");
            let ga = Tensor::run_backward(&[official], &vars, false, false);
            let gb = Tensor::run_backward(&[shared], &vars, false, false);
            for (p, q) in ga.iter().zip(&gb) {
                let scale = p.abs().max().double_value(&[]);
                let d = (p - q).abs().max().double_value(&[]);
                assert!(scale > 1e-6, "{variant:?}: vanishing gradient");
                assert!(d < 1e-12 * scale, "{variant:?}: gradients {d:e} apart");
            }
        }
    }

    #[test]
    fn the_shared_pass_saves_a_forward_in_the_cost_records() {
        let guard = |variant, shared_pass| Regularizer::Guard {
            variant,
            h: 3.0,
            lambda: 100.0,
            beta: 1e-4,
            shared_pass,
        };
        assert_eq!(passes_per_step(&guard(GuardVariant::Cifar, false)), (4, 3));
        assert_eq!(passes_per_step(&guard(GuardVariant::Cifar, true)), (3, 3));
        assert_eq!(
            passes_per_step(&guard(GuardVariant::Simplified, false)),
            (4, 2)
        );
        assert_eq!(
            passes_per_step(&guard(GuardVariant::Simplified, true)),
            (3, 2)
        );
    }
}
