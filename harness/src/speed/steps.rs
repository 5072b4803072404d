//! The hot loops' fixed-shape steps as self-contained closures, the form a CUDA graph captures
//! (`graphed.rs`): each call is one whole step on a fixed batch — gradients zeroed, augmentation
//! drawn on the device, forward, backward, optimiser — and reads nothing on the host. The eager
//! figures run the training loops themselves (`train_classifier`, `train_teacher`); these are the
//! same steps without the per-epoch shuffle (one batch has nothing to shuffle) and at a fixed
//! learning rate (a captured step replays the rate it was captured with).

use ddbench_nn::{Model, TrainConfig};
use ddbench_sre2l::regularizer::Regularizer;
use ddbench_sre2l::squeeze::{pixel_std, teacher_step};
use ddbench_sre2l::Sre2lConfig;
use std::collections::HashMap;
use std::rc::Rc;
use tch::{Kind, Tensor};

/// One self-contained step.
pub type Step = Box<dyn FnMut() -> Result<(), String>>;

/// The cross-entropy of `model` on float pixels `x` (eval mode, no augmentation, no gradient),
/// read on the host: how far a step's training has gone.
pub fn batch_loss(model: &Model, x: &Tensor, y: &Tensor) -> f64 {
    tch::no_grad(|| {
        model
            .forward_t(x, false)
            .log_softmax(-1, Kind::Float)
            .nll_loss(y)
            .double_value(&[])
    })
}

/// A student's SGD step (`cfg`'s optimiser, augmentation and learning rate) on the float batch
/// `x`, hard labels `y`.
pub fn train(model: Rc<Model>, x: &Tensor, y: &Tensor, cfg: &TrainConfig) -> Result<Step, String> {
    let mut opt = ddbench_nn::train::optimizer(model.vs.trainable_variables(), cfg)?;
    let (x, y, cfg) = (x.shallow_clone(), y.shallow_clone(), cfg.clone());
    Ok(Box::new(move || {
        let xa = cfg.augment.apply(&x, cfg.crop_pad, cfg.flip);
        let loss = model
            .forward_t(&xa, true)
            .log_softmax(-1, Kind::Float)
            .nll_loss(&y);
        opt.backward_step(&loss)
    }))
}

/// A teacher's step under `reg` (`squeeze::teacher_step`: crop + flip of the uint8 batch `x8`,
/// SGD with momentum at the first epoch's learning rate, `cfg.teacher_lr`).
pub fn teacher(
    model: Rc<Model>,
    x8: &Tensor,
    y: &Tensor,
    reg: Regularizer,
    cfg: Sre2lConfig,
) -> Step {
    let vars = model.vs.variables();
    let mut momentum = HashMap::new();
    let std = pixel_std(&model);
    let (x8, y) = (x8.shallow_clone(), y.shallow_clone());
    Box::new(move || {
        let x = ddbench_nn::augment::crop_flip(&(x8.to_kind(Kind::Float) / 255.0), 4, true);
        let (lr, v) = (cfg.teacher_lr, &vars);
        teacher_step(&model, &x, &y, &reg, &std, lr, v, &mut momentum, &cfg).map(|_| ())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_nn::{Arch, ModelSpec};
    use ddbench_sre2l::regularizer::GuardVariant;
    use tch::Device;

    fn convnet(seed: i64) -> Model {
        tch::manual_seed(seed);
        let spec = ModelSpec::convnet([3, 16, 16], 4, vec![0.5; 3], vec![0.25; 3]);
        Model::new(
            &ModelSpec {
                arch: Arch::Convnet,
                ..spec
            },
            Device::Cpu,
        )
    }

    fn batch() -> (Tensor, Tensor) {
        tch::manual_seed(11);
        let x = Tensor::rand([8, 3, 16, 16], (Kind::Float, Device::Cpu));
        (x, Tensor::from_slice(&[0i64, 1, 2, 3, 0, 1, 2, 3]))
    }

    /// The largest absolute difference between the two models' variables.
    fn max_diff(a: &Model, b: &Model) -> f64 {
        let (va, vb) = (a.vs.variables(), b.vs.variables());
        va.iter()
            .map(|(k, v)| (v - &vb[k]).abs().max().double_value(&[]))
            .fold(0.0, f64::max)
    }

    /// Fills every gradient of `model` with a large constant: what a step that does not zero its
    /// gradients would add to its own.
    fn pollute_gradients(model: &Model) {
        for v in model.vs.trainable_variables() {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.fill_(1e3);
            }
        }
    }

    /// Runs `make`'s step three times on two identical models, the second's gradients polluted
    /// before each call, with the same seeds: a self-contained step ends with the same weights.
    fn assert_self_contained(make: &dyn Fn(Rc<Model>) -> Step, what: &str) {
        let (a, b) = (Rc::new(convnet(1)), Rc::new(convnet(1)));
        let (mut sa, mut sb) = (make(a.clone()), make(b.clone()));
        for i in 0..3 {
            tch::manual_seed(100 + i);
            sa().unwrap();
            pollute_gradients(&b);
            tch::manual_seed(100 + i);
            sb().unwrap();
        }
        let d = max_diff(&a, &b);
        assert_eq!(
            d, 0.0,
            "{what}: leftover gradients changed the step (max diff {d})"
        );
        assert!(
            max_diff(&a, &convnet(1)) > 1e-4,
            "{what}: the steps trained"
        );
    }

    #[test]
    fn a_students_step_is_self_contained() {
        let (x, y) = batch();
        let cfg = TrainConfig::default();
        assert_self_contained(&|m| train(m, &x, &y, &cfg).unwrap(), "student step");
    }

    #[test]
    fn the_teachers_steps_are_self_contained() {
        let (x, y) = batch();
        let x8 = (&x * 255.0).to_kind(Kind::Uint8);
        let d = Sre2lConfig::default();
        let guard = |variant, shared_pass| Regularizer::Guard {
            variant,
            h: d.h,
            lambda: d.lambda,
            beta: d.beta,
            shared_pass,
        };
        let at = Regularizer::PgdAt {
            eps: 8.0 / 255.0,
            alpha: 2.0 / 255.0,
            steps: 3,
        };
        for (reg, fused) in [
            (guard(GuardVariant::Cifar, false), false),
            (guard(GuardVariant::Simplified, true), true),
            (at, false),
        ] {
            let cfg = Sre2lConfig {
                teacher_fused_sgd: fused,
                ..Sre2lConfig::default()
            };
            let what = format!("teacher step {reg:?}, fused {fused}");
            assert_self_contained(&|m| teacher(m, &x8, &y, reg.clone(), cfg.clone()), &what);
        }
    }

    #[test]
    fn a_students_step_is_the_training_loops_step() {
        // one epoch of one batch, no augmentation: the loop's shuffle only reorders the batch,
        // and a one-epoch run takes its ×0.1 decay before the first step
        let (x, y) = batch();
        let cfg = TrainConfig {
            epochs: 1,
            batch_size: 8,
            crop_pad: 0,
            flip: false,
            ..TrainConfig::default()
        };
        let mut looped = convnet(2);
        ddbench_nn::train_classifier(&mut looped, &x, &y, &cfg, &mut |_, _| {}).unwrap();
        let stepped = Rc::new(convnet(2));
        let decayed = TrainConfig {
            lr: cfg.lr * 0.1,
            ..cfg
        };
        train(stepped.clone(), &x, &y, &decayed).unwrap()().unwrap();
        let moved = max_diff(&looped, &convnet(2));
        let d = max_diff(&looped, &stepped);
        // float32 summation order: ~1e-9 here; a wrong rate or loss moves them by ~`moved`
        assert!(moved > 1e-4, "the step trained: {moved:e}");
        assert!(
            d < 1e-3 * moved,
            "the same step up to rounding: {d:e} of {moved:e}"
        );
    }
}
