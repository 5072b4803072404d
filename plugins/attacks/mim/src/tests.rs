use super::*;
use ddbench_plugin_api::serde_json::json;
use ddbench_plugin_api::testing::{check_preflight, run_attack, run_attack_on, TestModel};
use tch::Kind;

ddbench_plugin_api::refused_up_front_test!(Mim, Norm::Linf, 8.0 / 255.0, [
    ({"steps": 0}, "config 'steps' = 0: expected an integer ≥ 1"),
    ({"alpha": 0}, "config 'alpha' = 0: expected a finite number > 0"),
    ({"decay": -0.5}, "config 'decay' = -0.5: expected a finite number ≥ 0"),
    ({"grad_norm": "batch-l2"}, "config key 'grad_norm': expected \"per-sample\" (each image's gradient over its mean |gradient|, torchattacks.MIFGSM) or \"batch\" (every gradient over the L1 norm of the whole batch's gradient, GUARD's mim_attack), got \"batch-l2\""),
]);

#[test]
fn runs_on_two_images_of_any_shape_and_any_model() {
    check_preflight::<Mim>(10, Norm::Linf, 8.0 / 255.0, json!({})).unwrap();
    check_preflight::<Mim>(10, Norm::Linf, 8.0 / 255.0, json!({"decay": 0})).unwrap();
    let batch = json!({"grad_norm": "batch"});
    check_preflight::<Mim>(10, Norm::Linf, 8.0 / 255.0, batch).unwrap();
}

#[test]
fn the_default_is_per_sample_and_both_names_parse() {
    assert_eq!(MimConfig::default().grad_norm, "per-sample");
    for g in [GradNorm::PerSample, GradNorm::Batch] {
        assert_eq!(GradNorm::parse(g.name()).unwrap(), g);
    }
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1).to_kind(Kind::Float)).unwrap()
}

#[test]
fn the_two_normalisations_give_the_known_numbers() {
    // two images of two pixels: gradients (1, −3) and (10, 10)
    let g = Tensor::from_slice(&[1.0f32, -3.0, 10.0, 10.0]).view([2, 1, 1, 2]);
    // per sample: over each image's mean |g| (2 and 10)
    assert_eq!(
        values(&GradNorm::PerSample.apply(&g)),
        [0.5, -1.5, 1.0, 1.0]
    );
    // batch: over the whole tensor's L1 norm, 1 + 3 + 10 + 10 = 24 (torch.norm(g, p=1))
    let want = [1.0f32 / 24.0, -3.0 / 24.0, 10.0 / 24.0, 10.0 / 24.0];
    let got = values(&GradNorm::Batch.apply(&g));
    for (a, b) in got.iter().zip(want) {
        assert!((a - b).abs() < 1e-7, "{got:?} vs {want:?}");
    }
}

/// Images of one pixel at 0.5, label 0, logits `(0, −(x − c_i)²)` for image i (centre c_i): the loss gradient is
/// `σ(f) · 2 (c_i − x)`. Image A (c = 0.55) gradient flips sign from x = 0.5 to 0.6 with the same
/// size (0.04994 both times); image B (c = 0.9) keeps its sign and shrinks (0.3681 → 0.2865).
fn parabolas(centres: &[f32]) -> (TestModel, Tensor, Tensor) {
    let n = centres.len() as i64;
    let c = Tensor::from_slice(centres).view([n, 1]);
    let model = TestModel::new(2, move |x| {
        let f = -(x.flatten(1, -1).to_kind(Kind::Float) - &c).square();
        Tensor::cat(&[f.zeros_like(), f], 1)
    });
    let images = Tensor::full([n, 1, 1, 1], 0.5, (Kind::Float, tch::Device::Cpu));
    let labels = Tensor::zeros([n], (Kind::Int64, tch::Device::Cpu));
    (model, images, labels)
}

fn mim(model: &TestModel, x: &Tensor, y: &Tensor, grad_norm: &str) -> Vec<f32> {
    // GUARD's setting: ε = α (here 0.1), decay 1, two steps
    let cfg = json!({"alpha": 0.1, "steps": 2, "decay": 1.0, "grad_norm": grad_norm});
    let run = run_attack_on::<Mim>(model, x, y, Norm::Linf, 0.1, cfg);
    run.check().unwrap();
    values(run.result.as_ref().unwrap())
}

#[test]
fn batch_normalisation_differs_from_per_sample_when_gradient_scales_differ() {
    let (model, x, y) = parabolas(&[0.55, 0.9]);
    // Step 1 both images go up to 0.6. Step 2, per sample: A's momentum is +1 − 1 = 0 exactly
    // (one pixel: each normalised gradient is ±1), so A stays at 0.6.
    let per_sample = mim(&model, &x, &y, "per-sample");
    // Batch: A's momentum is 0.0499/(0.0499 + 0.3681) − 0.0499/(0.0499 + 0.2865) = −0.029 < 0,
    // so A steps back to 0.5; B keeps climbing and stays clamped at 0.6.
    let batch = mim(&model, &x, &y, "batch");
    assert!((per_sample[0] - 0.6).abs() < 1e-6, "{per_sample:?}");
    assert!((per_sample[1] - 0.6).abs() < 1e-6, "{per_sample:?}");
    assert!((batch[0] - 0.5).abs() < 1e-6, "{batch:?}");
    assert!((batch[1] - 0.6).abs() < 1e-6, "{batch:?}");
}

#[test]
fn alone_in_its_batch_an_image_gets_the_same_attack_either_way() {
    // with one image, the batch's L1 norm is the image's mean |g| times its pixel count: the
    // momentum only scales by that constant, its sign and so the attack do not change
    for c in [0.55, 0.9] {
        let (model, x, y) = parabolas(&[c]);
        let a = mim(&model, &x, &y, "per-sample");
        assert_eq!(a, mim(&model, &x, &y, "batch"), "image of centre {c}");
    }
    // and on a larger image under the linear test model, over 10 steps
    let run = |g: &str| {
        let cfg = json!({"steps": 10, "grad_norm": g});
        let r = run_attack::<Mim>([1, 3, 8, 12], 10, Norm::Linf, 8.0 / 255.0, cfg);
        r.check().unwrap();
        (r.result.unwrap(), r.images)
    };
    let ((a, x), (b, _)) = (run("per-sample"), run("batch"));
    assert_eq!(values(&a), values(&b));
    assert!(
        values(&(a - x)).iter().any(|d| *d != 0.0),
        "the attack moved"
    );
}
