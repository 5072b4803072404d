//! R+FGSM's own tests, through ddbench_plugin_api::testing (no ddbench host needed).

use super::*;
use ddbench_plugin_api::serde_json::json;
use ddbench_plugin_api::testing::{check_preflight, refused_up_front, run_attack_on};
use ddbench_plugin_api::testing::{test_images, AttackRun, TestModel};

#[test]
fn passes_the_host_checks() {
    check_preflight::<Rfgsm>(10, Norm::Linf, 8.0 / 255.0, json!({})).unwrap();
    check_preflight::<Rfgsm>(10, Norm::Linf, 0.3, json!({"alpha": 0.0, "steps": 3})).unwrap();
}

/// R+FGSM against a fixed linear model on 16 images it classifies by construction as labelled.
fn attack(model: &TestModel, eps: f64, config: serde_json::Value) -> (AttackRun, Tensor) {
    let x = test_images([16, 1, 8, 8]);
    let y = model.model().predict(&x).unwrap().argmax(-1, false);
    (
        run_attack_on::<Rfgsm>(model, &x, &y, Norm::Linf, eps, config),
        y,
    )
}

#[test]
fn is_fgsm_from_a_random_sign_step() {
    let model = TestModel::linear([1, 8, 8], 10);
    let eps = 0.1;
    let (run, y) = attack(&model, eps, json!({"alpha": 0.25}));
    run.check().unwrap();
    assert_eq!((run.forwards, run.backwards), (1, 1));
    // rebuild it: x' = clip(x + α·s), then x' + (ε − α)·sign(∇), clipped to the ball and [0, 1]
    let x = &run.images;
    let signs = Tensor::from_slice(&random_signs(x.numel(), 0)).view([16, 1, 8, 8]);
    let start = project(&(x + signs * (0.25 * eps)), x, Norm::Linf, eps);
    let (_, g) = model
        .model()
        .value_and_grad(&start, |l| ce_sum(l, &y))
        .unwrap();
    let want = project(&(&start + g.sign() * (0.75 * eps)), x, Norm::Linf, eps);
    let got = run.result.as_ref().unwrap();
    assert!(f64::try_from((got - want).abs().max()).unwrap() < 1e-6);
}

#[test]
fn fools_a_linear_model_and_depends_on_the_seed_only() {
    let model = TestModel::linear([1, 8, 8], 10);
    let (run, y) = attack(&model, 0.3, json!({}));
    let adv = run.result.as_ref().unwrap();
    let right = model
        .model()
        .predict(adv)
        .unwrap()
        .argmax(-1, false)
        .eq_tensor(&y);
    assert!(right.sum(Kind::Int64).int64_value(&[]) < 16);
    let (again, _) = attack(&model, 0.3, json!({}));
    assert!(adv.equal(again.result.as_ref().unwrap()));
    let signs = random_signs(10_000, 7);
    let plus = signs.iter().filter(|&&s| s > 0.0).count();
    assert!(
        (4_800..5_200).contains(&plus),
        "{plus} of 10000 signs are +1"
    );
    assert_ne!(signs, random_signs(10_000, 8));
}

#[test]
fn refuses_l2_and_bad_settings_before_any_model_pass() {
    let refused = |norm, cfg| refused_up_front::<Rfgsm>([2, 1, 28, 28], 10, norm, 0.1, cfg);
    assert_eq!(
        refused(Norm::L2, json!({})),
        "rfgsm is an L-infinity attack (use --norm linf)"
    );
    assert_eq!(
        refused(Norm::Linf, json!({"alpha": 1.0})),
        "config 'alpha' = 1: expected a finite number in [0, 1)"
    );
    assert_eq!(
        refused(Norm::Linf, json!({"steps": 0})),
        "config 'steps' = 0: expected an integer ≥ 1"
    );
    let msg = refused(Norm::Linf, json!({"alhpa": 0.5}));
    assert!(msg.contains("unknown field `alhpa`"), "{msg}");
}
