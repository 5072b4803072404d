//! Test doubles for plugins' own unit tests: a [`Host`] that records what it is told and a model
//! under attack backed by a Rust closure, so an [`Attack`] impl can be called directly, without
//! the ddbench host; [`run_attack`] does that on a small deterministic batch and
//! [`AttackRun::check`] applies the host's output checks.

use crate::abi::{c_text, C_tensor, Status};
use crate::abi::{HostServices, ModelHandle, STATUS_ERROR, STATUS_OK};
use crate::entry::give_tensor;
use crate::{check_adversarial, Attack, AttackInput, Host, Model, Norm, PluginResult};
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::{Kind, Tensor};

/// Host callbacks that keep the log lines, the last progress report and the error.
#[derive(Default)]
struct HostRecord {
    logs: RefCell<Vec<String>>,
    progress: Cell<(u64, u64)>,
    error: RefCell<Option<String>>,
}

unsafe extern "C" fn cb_log(ctx: *mut c_void, _level: u32, msg: *const c_char) {
    (*(ctx as *const HostRecord))
        .logs
        .borrow_mut()
        .push(c_text(msg));
}
unsafe extern "C" fn cb_progress(ctx: *mut c_void, done: u64, total: u64) {
    (*(ctx as *const HostRecord)).progress.set((done, total));
}
unsafe extern "C" fn cb_set_error(ctx: *mut c_void, msg: *const c_char) {
    *(*(ctx as *const HostRecord)).error.borrow_mut() = Some(c_text(msg));
}
unsafe extern "C" fn cb_set_hints(_ctx: *mut c_void, _json: *const c_char) {}
unsafe extern "C" fn cb_set_config(_ctx: *mut c_void, _json: *const c_char) {}

/// A host for direct plugin calls in tests.
pub struct TestHost {
    record: Box<HostRecord>,
    services: HostServices,
}

impl Default for TestHost {
    fn default() -> Self {
        Self::new()
    }
}

impl TestHost {
    pub fn new() -> Self {
        let record = Box::<HostRecord>::default();
        let services = HostServices {
            ctx: &*record as *const HostRecord as *mut c_void,
            log: cb_log,
            progress: cb_progress,
            set_error: cb_set_error,
            set_hints: cb_set_hints,
            set_config: cb_set_config,
        };
        TestHost { record, services }
    }

    pub fn host(&self) -> Host<'_> {
        // SAFETY: the services and their context live as long as `self`.
        unsafe { Host::from_raw(&self.services) }
    }

    /// The lines the plugin logged so far.
    pub fn logs(&self) -> Vec<String> {
        self.record.logs.borrow().clone()
    }
}

type Forward = dyn Fn(&Tensor) -> Tensor;

struct ModelRecord {
    f: Box<Forward>,
    forwards: Cell<u64>,
    backwards: Cell<u64>,
    outside_box: Cell<bool>,
}

unsafe extern "C" fn cb_forward(
    ctx: *mut c_void,
    x: *const C_tensor,
    out: *mut *mut C_tensor,
) -> Status {
    let m = &*(ctx as *const ModelRecord);
    let x = Tensor::clone_from_ptr(x as *mut C_tensor);
    let run = catch_unwind(AssertUnwindSafe(|| {
        // the host's test: NaN is not flagged here (the host refuses NaN in the result)
        let outside = tch::no_grad(|| x.lt(-1e-6).any().logical_or(&x.gt(1.0 + 1e-6).any()));
        if bool::try_from(outside).unwrap_or(true) {
            m.outside_box.set(true);
        }
        (m.f)(&x)
    }));
    match run {
        Ok(logits) => {
            m.forwards.set(m.forwards.get() + 1);
            *out = give_tensor(logits);
            STATUS_OK
        }
        Err(_) => STATUS_ERROR,
    }
}

unsafe extern "C" fn cb_note_backward(ctx: *mut c_void, _batch: i64) {
    let m = &*(ctx as *const ModelRecord);
    m.backwards.set(m.backwards.get() + 1);
}

/// A model under attack for tests: any differentiable function from images to logits, with
/// counts of the passes made and whether it was ever queried outside [0, 1].
pub struct TestModel {
    record: Box<ModelRecord>,
    handle: ModelHandle,
}

impl TestModel {
    /// A model computing `f(x)` (`[B, num_classes]` logits for images `x`).
    pub fn new(num_classes: i64, f: impl Fn(&Tensor) -> Tensor + 'static) -> Self {
        let record = Box::new(ModelRecord {
            f: Box::new(f),
            forwards: Cell::new(0),
            backwards: Cell::new(0),
            outside_box: Cell::new(false),
        });
        let handle = ModelHandle {
            ctx: &*record as *const ModelRecord as *mut c_void,
            num_classes,
            forward: cb_forward,
            note_backward: cb_note_backward,
        };
        TestModel { record, handle }
    }

    /// A fixed linear classifier on images of `[C, H, W]` pixels (deterministic weights, no
    /// random number generator involved).
    pub fn linear(image_shape: [i64; 3], num_classes: i64) -> Self {
        let d = image_shape.iter().product::<i64>();
        let w = (Tensor::arange(d * num_classes, (Kind::Float, tch::Device::Cpu)) * 0.7 + 0.3)
            .sin()
            .view([d, num_classes])
            * (3.0 / (d as f64).sqrt());
        let b = Tensor::arange(num_classes, (Kind::Float, tch::Device::Cpu)) * 0.01;
        TestModel::new(num_classes, move |x| {
            x.flatten(1, -1).to_kind(Kind::Float).matmul(&w) + &b
        })
    }

    /// A model whose logits do not depend on the input (zero input gradient, connected to the
    /// graph): the predicted class is `num_classes − 1` for every image.
    pub fn flat(num_classes: i64) -> Self {
        let b = Tensor::arange(num_classes, (Kind::Float, tch::Device::Cpu)) * 0.1;
        TestModel::new(num_classes, move |x| {
            x.flatten(1, -1).sum_dim_intlist(1, true, Kind::Float) * 0.0 + &b
        })
    }

    /// The safe handle an [`AttackInput`] takes.
    pub fn model(&self) -> Model<'_> {
        Model::from_raw(&self.handle)
    }

    pub fn forwards(&self) -> u64 {
        self.record.forwards.get()
    }

    pub fn backwards(&self) -> u64 {
        self.record.backwards.get()
    }

    pub fn queried_outside_box(&self) -> bool {
        self.record.outside_box.get()
    }
}

/// Deterministic images in [0, 1] of the given `[B, C, H, W]` shape.
pub fn test_images(shape: [i64; 4]) -> Tensor {
    let n = shape.iter().product::<i64>();
    ((Tensor::arange(n, (Kind::Float, tch::Device::Cpu)) * 0.37).sin() * 0.5 + 0.5)
        .view(shape.as_slice())
}

/// What one direct call of an attack did.
pub struct AttackRun {
    pub result: PluginResult<Tensor>,
    pub images: Tensor,
    pub norm: Norm,
    pub eps: f64,
    pub forwards: u64,
    pub backwards: u64,
    pub queried_outside_box: bool,
    pub logs: Vec<String>,
}

impl AttackRun {
    /// The error message of a refused call (panics if the call succeeded).
    pub fn error(&self) -> String {
        match &self.result {
            Ok(_) => panic!("the attack succeeded; an error was expected"),
            Err(e) => e.0.clone(),
        }
    }

    /// The host's checks of an attack's output: success, float32 of the input's shape, finite,
    /// in [0, 1] and inside the ε-ball (with the host's tolerances), and the model never
    /// queried outside [0, 1].
    pub fn check(&self) -> Result<(), String> {
        let adv = self.result.as_ref().map_err(|e| e.0.clone())?;
        check_adversarial(adv, &self.images, self.norm, self.eps)?;
        if self.queried_outside_box {
            return Err("the model was queried outside [0, 1]".into());
        }
        Ok(())
    }
}

/// Calls attack `A` directly on deterministic images of `shape`, labelled with the linear test
/// model's own predictions (so every point starts correctly classified), with `num_classes`
/// classes, the threat model `(norm, eps)`, seed 0 and the JSON `config`.
pub fn run_attack<A: Attack>(
    shape: [i64; 4],
    num_classes: i64,
    norm: Norm,
    eps: f64,
    config: serde_json::Value,
) -> AttackRun {
    let model = TestModel::linear([shape[1], shape[2], shape[3]], num_classes);
    let images = test_images(shape);
    let labels = tch::no_grad(|| (model.record.f)(&images).argmax(-1, false));
    run_attack_on::<A>(&model, &images, &labels, norm, eps, config)
}

/// Calls attack `A` directly on `model` with the given images and labels, seed 0, its `config`
/// parsed as the declared `A::Config` first (as the host does: a refused config never reaches
/// the attack).
pub fn run_attack_on<A: Attack>(
    model: &TestModel,
    images: &Tensor,
    labels: &Tensor,
    norm: Norm,
    eps: f64,
    config: serde_json::Value,
) -> AttackRun {
    let host = TestHost::new();
    let (forwards, backwards) = (model.forwards(), model.backwards());
    let input = AttackInput {
        model: model.model(),
        images: images.shallow_clone(),
        labels: labels.shallow_clone(),
        norm,
        eps,
        seed: 0,
    };
    let result = crate::parse_config::<A::Config>(&config)
        .and_then(|config| A::attack(&input, &config, &host.host()));
    AttackRun {
        result,
        images: images.shallow_clone(),
        norm,
        eps,
        forwards: model.forwards() - forwards,
        backwards: model.backwards() - backwards,
        queried_outside_box: model.queried_outside_box(),
        logs: host.logs(),
    }
}

/// Calls attack `A` as [`run_attack`] does and asserts that it refused `config` before any
/// model pass (no forward, no backward); returns the error message. Panics naming the case
/// where the attack succeeded or called the model.
pub fn refused_up_front<A: Attack>(
    shape: [i64; 4],
    num_classes: i64,
    norm: Norm,
    eps: f64,
    config: serde_json::Value,
) -> String {
    let case = format!(
        "{} with config {config} on {shape:?}, {num_classes} classes, {norm:?} eps {eps}",
        std::any::type_name::<A>()
    );
    let run = run_attack::<A>(shape, num_classes, norm, eps, config);
    let msg = match &run.result {
        Ok(_) => panic!("{case}: the attack succeeded; a refusal was expected"),
        Err(e) => e.0.clone(),
    };
    assert_eq!(
        (run.forwards, run.backwards),
        (0, 0),
        "{case}: refused ({msg}) only after calling the model"
    );
    msg
}

/// Each `(config, message)` case: attack `A` under `(norm, eps)` on 2 images of `[1, 28, 28]`
/// with 10 classes must refuse `config` with exactly `message`, before any model pass
/// ([`refused_up_front`]). Panics naming the first case that fails.
pub fn assert_refused_up_front<A: Attack>(
    norm: Norm,
    eps: f64,
    cases: &[(serde_json::Value, &str)],
) {
    for (config, message) in cases {
        let got = refused_up_front::<A>([2, 1, 28, 28], 10, norm, eps, config.clone());
        assert_eq!(
            got,
            *message,
            "{} with config {config}: the refusal's message",
            std::any::type_name::<A>()
        );
    }
}

/// A `#[test]` named `out_of_range_settings_are_refused_before_any_model_call` that runs
/// [`assert_refused_up_front`] for attack `$attack` under `($norm, $eps)` on the
/// `(config, message)` cases, each config a JSON object literal:
///
/// ```ignore
/// ddbench_plugin_api::refused_up_front_test!(Pgd, Norm::Linf, 8.0 / 255.0, [
///     ({"steps": 0}, "config 'steps' = 0: expected an integer ≥ 1"),
/// ]);
/// ```
#[macro_export]
macro_rules! refused_up_front_test {
    ($attack:ty, $norm:expr, $eps:expr, [$(($config:tt, $message:expr)),* $(,)?]) => {
        #[test]
        fn out_of_range_settings_are_refused_before_any_model_call() {
            $crate::testing::assert_refused_up_front::<$attack>(
                $norm,
                $eps,
                &[$(($crate::serde_json::json!($config), $message)),*],
            );
        }
    };
}

/// The host's preflight, widened: attack `A` with `config` under `(norm, eps)` on 2 images of
/// shapes `[2, 1, 28, 28]` and `[2, 3, 8, 12]`, against a linear model and a flat one (zero
/// input gradient) with `num_classes` classes, must pass [`AttackRun::check`]. The error names
/// the failing case.
pub fn check_preflight<A: Attack>(
    num_classes: i64,
    norm: Norm,
    eps: f64,
    config: serde_json::Value,
) -> Result<(), String> {
    for shape in [[2, 1, 28, 28], [2, 3, 8, 12]] {
        let run = run_attack::<A>(shape, num_classes, norm, eps, config.clone());
        run.check()
            .map_err(|e| format!("linear model, {shape:?}, {norm:?} eps {eps}: {e}"))?;
        let flat = TestModel::flat(num_classes);
        let images = test_images(shape);
        let labels = Tensor::full([shape[0]], num_classes - 1, (Kind::Int64, tch::Device::Cpu));
        let run = run_attack_on::<A>(&flat, &images, &labels, norm, eps, config.clone());
        run.check()
            .map_err(|e| format!("flat model, {shape:?}, {norm:?} eps {eps}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct OneStepConfig {
        steps: i64,
    }
    impl Default for OneStepConfig {
        fn default() -> Self {
            OneStepConfig { steps: 1 }
        }
    }
    impl crate::PluginConfig for OneStepConfig {
        fn validate(&self) -> PluginResult<()> {
            crate::check_in("steps", self.steps, crate::ValueRange::at_least(1)).map(drop)
        }
    }

    struct OneStep;
    impl Attack for OneStep {
        type Config = OneStepConfig;
        fn attack(input: &AttackInput, cfg: &OneStepConfig, host: &Host) -> PluginResult<Tensor> {
            let steps = cfg.steps;
            let (_, g) = input
                .model
                .value_and_grad(&input.images, |l| crate::ce_sum(l, &input.labels))?;
            host.log(&format!("steps {steps}"));
            Ok((&input.images + g.sign() * input.eps).clamp(0.0, 1.0))
        }
    }

    #[test]
    fn a_direct_call_counts_passes_and_passes_the_host_checks() {
        let run = run_attack::<OneStep>([2, 1, 28, 28], 10, Norm::Linf, 0.1, serde_json::json!({}));
        run.check().unwrap();
        assert_eq!((run.forwards, run.backwards), (1, 1));
        assert_eq!(run.logs, vec!["steps 1".to_string()]);
        let bad = run_attack::<OneStep>(
            [2, 1, 4, 4],
            3,
            Norm::Linf,
            0.1,
            serde_json::json!({"steps": 0}),
        );
        assert_eq!(bad.error(), "config 'steps' = 0: expected an integer ≥ 1");
        assert_eq!(bad.forwards, 0);
    }

    #[test]
    fn the_flat_model_has_a_zero_gradient_and_predicts_the_last_class() {
        let m = TestModel::flat(4);
        let x = test_images([2, 1, 5, 5]);
        let (logits, g) = m
            .model()
            .value_and_grad(&x, |l| crate::ce_sum(l, &Tensor::from_slice(&[0i64, 1])))
            .unwrap();
        assert_eq!(
            Vec::<i64>::try_from(logits.argmax(-1, false)).unwrap(),
            [3, 3]
        );
        assert_eq!(g.abs().max().double_value(&[]), 0.0);
        check_preflight::<OneStep>(10, Norm::Linf, 0.1, serde_json::json!({})).unwrap();
    }

    crate::refused_up_front_test!(OneStep, Norm::Linf, 0.1, [
        ({"steps": 0}, "config 'steps' = 0: expected an integer ≥ 1"),
        ({"steps": -2}, "config 'steps' = -2: expected an integer ≥ 1"),
    ]);

    #[test]
    #[should_panic(expected = "with config {\"steps\":0}: the refusal's message")]
    fn another_refusal_message_fails_naming_the_case() {
        let cases = [(serde_json::json!({"steps": 0}), "config 'steps': too small")];
        assert_refused_up_front::<OneStep>(Norm::Linf, 0.1, &cases);
    }

    #[test]
    #[should_panic(expected = "with config {}")]
    fn an_accepted_config_fails_naming_the_case() {
        refused_up_front::<OneStep>([2, 1, 4, 4], 3, Norm::Linf, 0.1, serde_json::json!({}));
    }

    #[test]
    #[should_panic(expected = "refused (late) only after calling the model")]
    fn a_refusal_after_a_model_call_fails() {
        struct Late;
        impl Attack for Late {
            type Config = crate::NoConfig;
            fn attack(input: &AttackInput, _: &crate::NoConfig, _: &Host) -> PluginResult<Tensor> {
                let _logits = input.model.forward(&input.images)?;
                Err(crate::PluginError("late".into()))
            }
        }
        refused_up_front::<Late>([2, 1, 4, 4], 3, Norm::Linf, 0.1, serde_json::json!({}));
    }

    #[test]
    fn the_checks_catch_a_perturbation_outside_the_ball() {
        struct TooFar;
        impl Attack for TooFar {
            type Config = crate::NoConfig;
            fn attack(input: &AttackInput, _: &crate::NoConfig, _: &Host) -> PluginResult<Tensor> {
                Ok((&input.images + 2.0 * input.eps).clamp(0.0, 1.0))
            }
        }
        let run = run_attack::<TooFar>([2, 1, 8, 8], 2, Norm::Linf, 0.1, serde_json::json!({}));
        assert!(run.check().unwrap_err().contains("perturbation"));
    }
}
