//! The plugin ABI seen from the host: version checks, ownership of tensors across the boundary
//! (1,000 round trips with flat memory), and misbehaving plugins reported as errors.

use ddbench::data::source::DatasetKind;
use ddbench::data::{DeviceDataset, RawDataset, RawSplit};
use ddbench::plugin::{self, loader, run_attack, run_distill};
use ddbench_nn::{Model, ModelSpec};
use ddbench_plugin_api::Norm;
use ddbench_tests::{plugin_dir, plugin_lib};
use tch::{Device, Kind, Tensor};

fn tiny_dataset(n: usize) -> DeviceDataset {
    let split = |n: usize, off: usize| RawSplit {
        images: (0..n * 784).map(|i| ((i * 7 + off) % 256) as u8).collect(),
        labels: (0..n).map(|i| (i % 10) as i64).collect(),
        n,
        channels: 1,
        height: 28,
        width: 28,
    };
    let raw = RawDataset {
        name: "tiny".into(),
        train: split(n, 0),
        test: split(50, 3),
        num_classes: 10,
        class_names: (0..10).map(|c| c.to_string()).collect(),
    };
    ddbench::data::resident::load(
        &raw,
        DatasetKind::Imagefolder,
        ddbench::data::NormalizationChoice::Data,
        Device::Cpu,
    )
    .unwrap()
}

fn tiny_model() -> Model {
    let mut spec = ModelSpec::convnet([1, 28, 28], 10, vec![0.5], vec![0.25]);
    spec.width = 8;
    Model::new(&spec, Device::Cpu)
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn quiet(_: &str) {}

#[test]
fn a_plugin_of_another_abi_version_is_refused_before_anything_is_called() {
    let lib = plugin_lib("ddtest-wrong-abi");
    let err = loader::load(&lib).unwrap_err();
    assert!(
        err.contains("plugin ABI version 1, but this ddbench speaks ABI version 2"),
        "{err}"
    );
    // and the CLI lists it as refused, with the reason, beside the good plugins
    let dir = plugin_dir(&["ddtest-wrong-abi"]);
    let out = ddbench_tests::ddbench(&["plugins", "--dir", dir.path().to_str().unwrap()]);
    let text = ddbench_tests::text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("refused")
            && text.contains("libddtest_wrong_abi.so")
            && text.contains("ABI version 1"),
        "{text}"
    );
    for name in ["random", "full", "fgsm", "pgd"] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(name)),
            "{name} missing:\n{text}"
        );
    }
}

#[test]
fn a_library_without_the_entry_symbol_is_not_a_plugin() {
    // the wrong-ABI fixture has no v1 symbol; a plain shared object has none at all
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libnothing.so");
    std::fs::write(&fake, b"not an ELF file").unwrap();
    let err = loader::load(&fake).unwrap_err();
    assert!(err.starts_with("cannot load"), "{err}");
}

#[test]
fn tensors_cross_the_abi_1000_times_with_flat_memory() {
    let full = loader::load(&plugin_lib("ddbench-method-full")).unwrap();
    let fgsm = loader::load(&plugin_lib("ddbench-attack-fgsm")).unwrap();
    let data = tiny_dataset(500); // each distill returns a 1.5 MB float copy: a leak would show
    let model = tiny_model();
    let x = Tensor::rand([64, 1, 28, 28], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(10, [64], (Kind::Int64, Device::Cpu));
    let cfg = serde_json::json!({});
    let tmp = std::env::temp_dir();
    let round = |i: usize| {
        let d = run_distill(&full, &data, 0, i as u64, &cfg, &tmp, &|_, _| {}, &quiet).unwrap();
        assert_eq!(d.images.size(), vec![500, 1, 28, 28]);
        let a = run_attack(
            &fgsm,
            &model,
            &x,
            &y,
            Norm::Linf,
            8.0 / 255.0,
            i as u64,
            &cfg,
            &quiet,
        )
        .unwrap();
        assert_eq!((a.forward_calls, a.backward_calls), (1, 1));
    };
    for i in 0..100 {
        round(i);
    }
    let before = rss_bytes();
    for i in 100..1000 {
        round(i);
    }
    let grown = rss_bytes().saturating_sub(before);
    // 900 leaked distill outputs alone would be 1.35 GB; allow allocator noise.
    assert!(
        grown < 40 << 20,
        "resident memory grew by {} MB over 900 round trips",
        grown >> 20
    );
    // the borrowed inputs are still alive and intact
    assert_eq!(data.train_images.size(), vec![500, 1, 28, 28]);
    assert_eq!(x.size(), vec![64, 1, 28, 28]);
}

#[test]
fn a_panicking_or_lying_method_is_reported_and_the_host_goes_on() {
    let dir = plugin_dir(&["ddtest-panicky"]);
    let reg = plugin::discover(&[dir.path().to_path_buf()]);
    let panicky = reg.get(loader::Kind::Method, "panicky").unwrap();
    let random = reg.get(loader::Kind::Method, "random").unwrap();
    let data = tiny_dataset(100);
    let run = |mode: &str| {
        run_distill(
            panicky,
            &data,
            1,
            0,
            &serde_json::json!({ "mode": mode }),
            &std::env::temp_dir(),
            &|_, _| {},
            &quiet,
        )
        .err()
        .unwrap_or_else(|| panic!("mode {mode} must fail"))
    };
    let e = run("panic");
    assert!(
        e.contains(
            "method plugin 'panicky' panicked: plugin panicked: deliberate panic inside distill"
        ),
        "{e}"
    );
    let e = run("bad-labels");
    assert!(
        e.contains("returned labels in 1000..=1009; expected 0..10"),
        "{e}"
    );
    let e = run("nan");
    assert!(e.contains("NaN"), "{e}");
    let e = run("unknown");
    assert!(e.contains("failed: unknown mode unknown"), "{e}");
    // the host is unharmed: a good plugin still works
    let d = run_distill(
        random,
        &data,
        2,
        0,
        &serde_json::json!({}),
        &std::env::temp_dir(),
        &|_, _| {},
        &quiet,
    )
    .unwrap();
    assert_eq!(d.labels.size(), vec![20]);
    // a config key the plugin does not know is an error, not a silent default
    let e = run_distill(
        random,
        &data,
        2,
        0,
        &serde_json::json!({"ipcc": 3}),
        &std::env::temp_dir(),
        &|_, _| {},
        &quiet,
    )
    .err()
    .unwrap();
    assert!(e.contains("config: unknown field 'ipcc'"), "{e}");
}

#[test]
fn invalid_attack_outputs_are_errors_not_numbers() {
    let dir = plugin_dir(&["ddtest-bad-attack"]);
    let reg = plugin::discover(&[dir.path().to_path_buf()]);
    let bad = reg.get(loader::Kind::Attack, "bad-attack").unwrap();
    let model = tiny_model();
    let x = Tensor::rand([8, 1, 28, 28], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(10, [8], (Kind::Int64, Device::Cpu));
    let eps = 8.0 / 255.0;
    let run = |mode: &str, norm: Norm| {
        run_attack(
            bad,
            &model,
            &x,
            &y,
            norm,
            eps,
            0,
            &serde_json::json!({ "mode": mode }),
            &quiet,
        )
        .err()
        .unwrap_or_else(|| panic!("mode {mode} must be rejected"))
    };
    let e = run("outside-ball", Norm::Linf);
    assert!(
        e.contains("a perturbation of L-inf norm") && e.contains("> eps 0.031373"),
        "{e}"
    );
    let e = run("outside-ball", Norm::L2);
    assert!(e.contains("a perturbation of L2 norm"), "{e}");
    let e = run("outside-box", Norm::Linf);
    assert!(e.contains("images outside [0, 1]"), "{e}");
    let e = run("wrong-shape", Norm::Linf);
    assert!(
        e.contains("shape [1, 1, 28, 28]; expected float32 [8, 1, 28, 28]"),
        "{e}"
    );
    let e = run("query-outside", Norm::Linf);
    assert!(e.contains("queried the model outside [0, 1]"), "{e}");
    // a malformed query is one line naming what was sent, not a libtorch trace
    for (mode, sent) in [
        ("query-shape", "Float tensor of shape [8, 784]"),
        ("query-dtype", "Double tensor of shape [8, 1, 28, 28]"),
    ] {
        let e = run(mode, Norm::Linf);
        assert!(
            e.contains(&format!(
                "model queried with a {sent} on Cpu; expected float32 [N, 1, 28, 28] on Cpu"
            )),
            "{mode}: {e}"
        );
        assert!(!e.contains('\n'), "{mode}: more than one line: {e}");
    }
    let e = run("panic", Norm::Linf);
    assert!(
        e.contains("panicked") && e.contains("deliberate panic inside attack"),
        "{e}"
    );
    // a correct attack on the same inputs passes the same checks
    let pgd = reg.get(loader::Kind::Attack, "pgd").unwrap();
    let ok = run_attack(
        pgd,
        &model,
        &x,
        &y,
        Norm::Linf,
        eps,
        0,
        &serde_json::json!({"steps": 3}),
        &quiet,
    )
    .unwrap();
    assert_eq!((ok.forward_calls, ok.backward_calls), (3, 3)); // 3 gradient steps, no final check
    let d = (&ok.adversarial - &x).abs().max().double_value(&[]);
    assert!(
        d <= eps + 1e-6 && d > eps * 0.5,
        "PGD used {d} of eps {eps}"
    );
}

#[test]
fn pgd_restarts_keep_the_first_adversarial_example_and_otherwise_the_last_try() {
    let reg = plugin::discover(&[]);
    let pgd = reg.get(loader::Kind::Attack, "pgd").unwrap();
    let model = tiny_model();
    let x = Tensor::rand([64, 1, 28, 28], (Kind::Float, Device::Cpu));
    // half of the labels are the model's own prediction, half another class: at a tiny ε the
    // first half stays right and the second wrong, whatever the random model is
    let pred = model.forward_t(&x, false).argmax(-1, false);
    let other = (&pred + 1).remainder(10);
    let half = Tensor::arange(64, (Kind::Int64, Device::Cpu)).lt(32);
    let y = pred.where_self(&half, &other);
    let eps = 1e-4;
    let attack = |restarts: i64| {
        let cfg = serde_json::json!({"steps": 2, "alpha": 5e-5, "restarts": restarts});
        run_attack(pgd, &model, &x, &y, Norm::Linf, eps, 7, &cfg, &quiet).unwrap()
    };
    let (one, two) = (attack(1), attack(2));
    // the first restart draws the same start in both calls; the second adds 2 steps + 1 check
    assert_eq!((one.forward_calls, one.backward_calls), (2, 2));
    assert_eq!((two.forward_calls, two.backward_calls), (5, 4));
    let wrong = model
        .forward_t(&one.adversarial, false)
        .argmax(-1, false)
        .ne_tensor(&y);
    let n_wrong = wrong.sum(Kind::Int64).int64_value(&[]);
    assert!((16..=48).contains(&n_wrong), "{n_wrong} of 64 fooled");
    let same = (&two.adversarial - &one.adversarial)
        .abs()
        .amax([1, 2, 3], false)
        .eq(0.0);
    // fooled by the first try: kept as it was; not fooled: the second try's iterate
    assert!(
        same.eq_tensor(&wrong).all().int64_value(&[]) == 1,
        "per point, kept ⇔ fooled by the first restart"
    );
}
