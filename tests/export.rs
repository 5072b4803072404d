//! `--save-distilled`, `--save-student`, `--save-adversarial`: what a run writes re-checks its
//! own rows — the saved student, loaded afresh, has the recorded clean accuracy on the test
//! split and the recorded robust accuracy on the saved adversarial images, which lie in [0, 1]
//! and in the ε-ball of the test images their indices name — and the saved distilled set,
//! imported back (`import`), trains a student of exactly the same accuracy (same seed).

use ddbench_nn::{Model, ModelSpec};
use ddbench_tests::{ddbench_in, read_rows, text, write_tiny_idx};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

type Row = HashMap<String, String>;

/// A tiny run of `method` at IPC 2, seed 0, with `extra` arguments: its rows.
fn run(dir: &Path, out: &str, method: &str, extra: &[&str]) -> Vec<Row> {
    let mut args = vec![
        "run",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        "data",
        "--out",
        out,
        "--method",
        method,
        "--ipc",
        "2",
        "--width",
        "8",
        "--epochs",
        "20",
        "--n-attack",
        "20",
        "--attacks",
        "pgd",
        "--eps",
        "8/255",
        "--device",
        "cpu",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let r = ddbench_in(dir, &args);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    read_rows(&dir.join(out).join("results.csv"))
}

/// The test split of the tiny IDX set as [0, 1] pixels and labels.
fn test_split(data: &Path) -> (Tensor, Tensor) {
    let img = std::fs::read(data.join("t10k-images-idx3-ubyte")).unwrap();
    let lab = std::fs::read(data.join("t10k-labels-idx1-ubyte")).unwrap();
    let n = (lab.len() - 8) as i64;
    let x = Tensor::from_slice(&img[16..])
        .reshape([n, 1, 28, 28])
        .to_kind(Kind::Float)
        / 255.0;
    (x, Tensor::from_slice(&lab[8..]).to_kind(Kind::Int64))
}

fn named(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .collect()
}

fn pct(correct: &Tensor) -> f64 {
    100.0
        * correct
            .to_kind(Kind::Double)
            .mean(Kind::Double)
            .double_value(&[])
}

#[test]
fn saved_artefacts_recheck_the_rows_and_the_distilled_set_imports_back() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    write_tiny_idx(&dir.path().join("data"), 200, 60);
    let saves = ["--save-distilled", "--save-student", "--save-adversarial"];
    let rows = run(dir.path(), "out", "random", &saves);
    let cell = dir
        .path()
        .join("out/artifacts/fashion-mnist_random_ipc2_convnet_seed0");

    // the student, loaded from its files, gives the recorded clean accuracy
    let card: Value =
        serde_json::from_str(&std::fs::read_to_string(cell.join("student.json")).unwrap()).unwrap();
    let spec: ModelSpec = serde_json::from_value(card["spec"].clone()).unwrap();
    let mut model = Model::new(&spec, Device::Cpu);
    model.vs.load(cell.join("student.safetensors")).unwrap();
    let (x, y) = test_split(&dir.path().join("data"));
    let clean = pct(&ddbench_nn::predict(&model, &x, 100).eq_tensor(&y));
    let row = |attack: &str| rows.iter().find(|r| r["attack"] == attack).unwrap();
    let recorded: f64 = row("pgd")["clean_acc"].parse().unwrap();
    // (the host averages in float32: equal to 1e-4, one test image being 1.67 points)
    assert!((clean - recorded).abs() < 1e-4, "{clean} vs {recorded}");
    assert_eq!(card["clean_acc"].as_f64().unwrap(), recorded);

    // the adversarial images: in [0, 1], within 8/255 of their test images, and the loaded
    // student's robust accuracy on them (clean and adversarial both right) is the row's
    let adv = named(&cell.join("adversarial_pgd_linf_0.031373.safetensors"));
    let idx = &adv["indices"];
    let (xs, ys) = (x.index_select(0, idx), y.index_select(0, idx));
    assert!(adv["labels"].equal(&ys));
    let a = &adv["images"];
    assert_eq!(a.size(), [20, 1, 28, 28]);
    assert!(a.min().double_value(&[]) >= 0.0 && a.max().double_value(&[]) <= 1.0);
    let dist = (a - &xs).abs().max().double_value(&[]);
    assert!(dist <= 8.0 / 255.0 + 1e-6, "L∞ distance {dist}");
    let both = ddbench_nn::predict(&model, a, 100)
        .eq_tensor(&ys)
        .logical_and(&ddbench_nn::predict(&model, &xs, 100).eq_tensor(&ys));
    let robust: f64 = row("pgd")["robust_acc"].parse().unwrap();
    assert!(
        (pct(&both) - robust).abs() < 1e-4,
        "{} vs {robust}",
        pct(&both)
    );

    // the distilled set and its card; imported back it trains the same student
    let set = named(&cell.join("distilled.safetensors"));
    assert_eq!(set["images"].size(), [20, 1, 28, 28]);
    assert_eq!(set["labels"].size(), [20]);
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(cell.join("distilled.json")).unwrap())
            .unwrap();
    assert_eq!(sidecar["method"], "random");
    assert_eq!(sidecar["ipc"], 2);
    assert_eq!(sidecar["dataset_sha256"].as_str().unwrap().len(), 64);
    let import = format!("import={}", sidecar["import"]["config"]);
    let back = run(dir.path(), "back", "import", &["--method-config", &import]);
    let acc = |rows: &[Row]| rows[0]["clean_acc"].clone();
    assert_eq!(acc(&back), acc(&rows), "export → import: the same student");
    grid_shows_the_set(dir.path(), &set);
}

/// `ddbench report` draws the saved set as a grid: ten class rows of two 28×28 images with
/// 2-pixel gaps (58 × 298), each image's pixels in its place.
fn grid_shows_the_set(dir: &Path, set: &HashMap<String, Tensor>) {
    let r = ddbench_in(dir, &["report", "out", "--published", "none"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let png = dir.join("out/charts/grid_fashion-mnist_random_ipc2.png");
    let md = std::fs::read_to_string(dir.join("out/leaderboard.md")).unwrap();
    assert!(
        md.contains("charts/grid_fashion-mnist_random_ipc2.png"),
        "{md}"
    );
    let img = image::open(&png).unwrap().to_luma8();
    assert_eq!(img.dimensions(), (58, 298));
    let labels = Vec::<i64>::try_from(&set["labels"]).unwrap();
    for class in [0i64, 7] {
        let k = labels.iter().position(|&l| l == class).unwrap() as i64;
        let want = (set["images"].get(k).get(0) * 255.0)
            .round()
            .to_kind(Kind::Uint8);
        let want = Vec::<u8>::try_from(want.reshape([-1])).unwrap();
        let top = class as u32 * 30;
        let got: Vec<u8> = (0..28u32)
            .flat_map(|y| (0..28u32).map(move |x| (x, y)))
            .map(|(x, y)| img.get_pixel(x, top + y).0[0])
            .collect();
        assert_eq!(got, want, "class {class}'s first image");
    }
}

/// `ddbench bench --save-student --save-distilled` hands the flags to every cell's run, which
/// writes under the cell's folder; the flags are outputs, not inputs: a rerun with them reuses
/// the recorded rows.
#[test]
fn bench_passes_the_save_flags_to_its_cells_without_changing_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    write_tiny_idx(&dir.path().join("data"), 200, 60);
    let lb = r#"name = "save"
ipc = [2]
seeds = 1
[student]
width = 8
epochs = 2
n_attack = 10
[[datasets]]
name = "fashion-mnist"
data_dir = "data"
[[methods]]
name = "random"
[[attacks]]
name = "fgsm"
eps = ["8/255"]
"#;
    std::fs::write(dir.path().join("lb.toml"), lb).unwrap();
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            "lb.toml",
            "--out",
            "out",
            "--device",
            "cpu",
            "--quiet",
            "--no-report",
        ];
        args.extend_from_slice(extra);
        let r = ddbench_in(dir.path(), &args);
        assert_eq!(r.status.code(), Some(0), "{}", text(&r));
        text(&r)
    };
    bench(&[]);
    let before = std::fs::read_to_string(dir.path().join("out/results.csv")).unwrap();
    bench(&["--save-student", "--save-distilled"]);
    let after = std::fs::read_to_string(dir.path().join("out/results.csv")).unwrap();
    assert_eq!(
        before, after,
        "the save flags are not part of a cell's key: rows reused"
    );
    // a fresh folder runs the cell and writes its artefacts
    let out2 = dir.path().join("out2");
    let r = ddbench_in(
        dir.path(),
        &[
            "bench",
            "lb.toml",
            "--out",
            "out2",
            "--device",
            "cpu",
            "--quiet",
            "--no-report",
            "--save-student",
            "--save-distilled",
        ],
    );
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let found: Vec<_> = walk(&out2.join("cells"))
        .into_iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| n == "student.safetensors" || n == "distilled.safetensors")
        .collect();
    assert_eq!(found.len(), 2, "{found:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
