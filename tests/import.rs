//! The `import` method on one distilled set written by PyTorch in every layout the tools write
//! (tests/import_layouts.py: DC/DM's `res_*.pt` dict of normalised images, MTT's ZCA-whitened
//! `images_best.pt` + `labels_best.pt`, DATM's learned logits, `.npz` of uint8, safetensors,
//! SRe2L's PNG class folders): each maps to the same [0, 1] pixels and labels as the reference
//! tensors; malformed files are refused naming file and field; a file's content is part of the
//! resolved config; and a run through the binary trains students on imported sets, to the same
//! accuracy from the `.pt` as from the reference, recording the pixel range of sets that leave
//! [0, 1].

use ddbench_method_import::{config::ImportConfig, Import};
use ddbench_plugin_api::testing::TestHost;
use ddbench_plugin_api::{parse_config, DistillInput, Method};
use ddbench_tests::{ddbench_in, read_rows, text, write_tiny_idx};
use serde_json::{json, Value};
use std::path::Path;
use tch::{Device, Kind, Tensor};

const IPC: i64 = 2;

/// The tiny IDX data set and the layouts written from it.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (data, sets) = (dir.path().join("data"), dir.path().join("sets"));
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&sets).unwrap();
        write_tiny_idx(&data, 200, 60);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("import_layouts.py");
        let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
        let out = std::process::Command::new(python)
            .args([script.as_os_str(), data.as_os_str(), sets.as_os_str()])
            .arg(IPC.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Fixture { dir }
    }

    fn set(&self, name: &str) -> String {
        self.dir
            .path()
            .join("sets")
            .join(name)
            .to_string_lossy()
            .into_owned()
    }

    /// The training split as the host hands it to a method: uint8 images, int64 labels.
    fn input(&self) -> DistillInput {
        let data = self.dir.path().join("data");
        let img = std::fs::read(data.join("train-images-idx3-ubyte")).unwrap();
        let lab = std::fs::read(data.join("train-labels-idx1-ubyte")).unwrap();
        let n = (lab.len() - 8) as i64;
        DistillInput {
            images: Tensor::from_slice(&img[16..]).reshape([n, 1, 28, 28]),
            labels: Tensor::from_slice(&lab[8..]).to_kind(Kind::Int64),
            num_classes: 10,
            image_shape: [1, 28, 28],
            dataset: "fashion-mnist".into(),
            dataset_hash: "test".into(),
            ipc: IPC,
            seed: 0,
            device: Device::Cpu,
            cache_dir: self.dir.path().to_path_buf(),
        }
    }

    /// The plugin's set for `config` (parsed and resolved as the host does), or its error.
    fn import(&self, config: Value) -> Result<ddbench_plugin_api::Distilled, String> {
        let cfg: ImportConfig = parse_config(&config).map_err(|e| e.0)?;
        let host = TestHost::new();
        Import::distill(&self.input(), &cfg, &host.host()).map_err(|e| e.0)
    }

    fn reference(&self) -> (Tensor, Tensor) {
        let named = Tensor::read_safetensors(self.set("ref.safetensors")).unwrap();
        let get = |k: &str| {
            named
                .iter()
                .find(|(n, _)| n == k)
                .unwrap()
                .1
                .shallow_clone()
        };
        (get("images"), get("labels"))
    }
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn every_layout_gives_the_reference_pixels_and_labels() {
    let f = Fixture::new();
    let (x, y) = f.reference();
    // (config, largest pixel difference allowed: 0 where the same float32 operation made them)
    let cases = [
        (json!({"path": f.set("ref.safetensors")}), 0.0),
        (json!({"path": f.set("set.npz"), "space": "uint8"}), 0.0),
        (json!({"path": f.set("folder")}), 0.0),
        (json!({"path": f.set("mtt_nolabels")}), 0.0),
        (
            json!({"path": f.set("res_DM.pt"), "space": "normalized", "mean": [0.2861], "std": [0.3530]}),
            1e-6,
        ),
        (json!({"path": f.set("mtt"), "space": "zca"}), 1e-3),
    ];
    for (cfg, tol) in cases {
        let got = f
            .import(cfg.clone())
            .unwrap_or_else(|e| panic!("{cfg}: {e}"));
        let d = max_diff(&got.images, &x);
        assert!(d <= tol, "{cfg}: pixels differ by {d} (allowed {tol})");
        assert!(got.labels.equal(&y), "{cfg}: labels");
        assert!(got.soft_labels.is_none(), "{cfg}: soft labels");
    }
    // DC's second experiment: twice the normalised images
    let two = f
        .import(json!({"path": f.set("res_DM.pt"), "space": "normalized", "mean": [0.0], "std": [1.0], "experiment": 1}))
        .unwrap();
    let want = (&x - 0.2861) / 0.3530 * 2.0;
    assert!(max_diff(&two.images, &want) < 1e-5);
    // DATM: learned logits become softmax soft labels, argmax the hard labels
    let datm = f.import(json!({"path": f.set("datm")})).unwrap();
    let soft = datm.soft_labels.expect("soft labels from learned logits");
    let want = (y.one_hot(10).to_kind(Kind::Float) * 4.0 - 1.0).softmax(-1, Kind::Float);
    assert!(max_diff(&soft, &want) < 1e-6);
    assert!(datm.labels.equal(&y));
}

#[test]
fn malformed_files_are_refused_naming_file_and_field() {
    let f = Fixture::new();
    let err = |cfg: Value| f.import(cfg).map(|_| ()).expect_err("refused");
    let cases = [
        ("bad_classes.safetensors", "labels of shape [20, 7]"),
        (
            "bad_shape.safetensors",
            "images of shape [20, 3, 28, 28]; the data set's are [N, 1, 28, 28]",
        ),
        (
            "bad_label.safetensors",
            "labels in 0..=12; the data set has classes 0..9",
        ),
        ("bad_nan.safetensors", "images with NaN or infinite values"),
    ];
    for (file, want) in cases {
        let e = err(json!({"path": f.set(file)}));
        assert!(e.contains(file) && e.contains(want), "{file}: {e}");
    }
    let e = err(json!({"path": f.set("set.npz")}));
    assert!(
        e.contains("uint8 levels: set config 'space' = \"uint8\""),
        "{e}"
    );
    let e = err(json!({"path": f.set("res_DM.pt"), "space": "normalized"}));
    assert!(e.contains("needs 'mean' and 'std'"), "{e}");
    let e = err(
        json!({"path": f.set("res_DM.pt"), "experiment": 5, "space": "normalized", "mean": [0.0], "std": [1.0]}),
    );
    assert!(e.contains("res_DM.pt: config 'experiment' = 5"), "{e}");
    let e = err(json!({"paths": {"10": f.set("ref.safetensors")}}));
    assert!(
        e.contains("config 'paths': no set for IPC 2 (given for IPC 10)"),
        "{e}"
    );
    let e = err(json!({"path": f.set("missing.pt")}));
    assert!(
        e.contains("config 'path'") && e.contains("missing.pt"),
        "{e}"
    );
    // a set of IPC 2 for a cell of IPC 1
    let mut input = f.input();
    input.ipc = 1;
    let cfg: ImportConfig = parse_config(&json!({"path": f.set("ref.safetensors")})).unwrap();
    let e = Import::distill(&input, &cfg, &TestHost::new().host())
        .map(|_| ())
        .unwrap_err()
        .0;
    assert!(
        e.contains("2–2 images per class; this cell's IPC is 1"),
        "{e}"
    );
}

#[test]
fn the_resolved_config_holds_each_files_content_hash() {
    let f = Fixture::new();
    let path = f.set("ref.safetensors");
    let resolve = |v: Value| ddbench_plugin_api::resolve_config::<ImportConfig>(&v);
    let r = resolve(json!({"path": path})).unwrap();
    let hash = r["sha256"][&path].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 64);
    assert_eq!(resolve(r.clone()).unwrap(), r, "resolving is a fixed point");
    // the file changes: its hash, and so the cell, change; a pinned hash refuses it
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    assert_ne!(
        resolve(json!({"path": path})).unwrap()["sha256"][&path],
        hash.as_str()
    );
    let e = resolve(r).unwrap_err().0;
    assert!(
        e.contains("the file changed since the run resolved it"),
        "{e}"
    );
}

/// `ddbench run --method import` of one set: its rows.
fn run_import(
    f: &Fixture,
    out: &str,
    config: Value,
) -> Vec<std::collections::HashMap<String, String>> {
    let data = f.dir.path().join("data");
    let cfg = format!("import={config}");
    let args = [
        "run",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out,
        "--method",
        "import",
        "--method-config",
        &cfg,
        "--ipc",
        "2",
        "--width",
        "8",
        "--epochs",
        "20",
        "--n-attack",
        "10",
        "--attacks",
        "fgsm",
        "--device",
        "cpu",
        "--quiet",
    ];
    let r = ddbench_in(f.dir.path(), &args);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    read_rows(&f.dir.path().join(out).join("results.csv"))
}

#[test]
fn imported_sets_train_students_and_rows_record_their_range() {
    let f = Fixture::new();
    let reference = run_import(&f, "ref", json!({"path": f.set("ref.safetensors")}));
    let dc = run_import(
        &f,
        "dc",
        json!({"path": f.set("res_DM.pt"), "space": "normalized", "mean": [0.2861], "std": [0.3530]}),
    );
    let acc = |rows: &[std::collections::HashMap<String, String>]| -> f64 {
        rows[0]["clean_acc"].parse().unwrap()
    };
    // the same pixels to within 1e-6: the same student (60 test images: one image is 1.67 points)
    assert!(
        (acc(&reference) - acc(&dc)).abs() < 1.0,
        "{} vs {}",
        acc(&reference),
        acc(&dc)
    );
    assert!(
        acc(&reference) > 20.0,
        "a student of the reference set learns: {}",
        acc(&reference)
    );
    let range = |rows: &[std::collections::HashMap<String, String>]| -> (f64, f64) {
        (
            rows[0]["distilled_min"].parse().unwrap(),
            rows[0]["distilled_max"].parse().unwrap(),
        )
    };
    let (lo, hi) = range(&reference);
    assert!(lo >= 0.0 && hi <= 1.0 && hi > 0.5, "{lo} {hi}");
    // DC's second experiment (twice the normalised pixels, read as [0, 1] pixels): far outside
    // [0, 1], accepted for training and recorded
    let out_of_box = run_import(
        &f,
        "wide",
        json!({"path": f.set("res_DM.pt"), "space": "normalized", "mean": [0.0], "std": [1.0], "experiment": 1}),
    );
    let (lo, hi) = range(&out_of_box);
    assert!(lo < -1.0 && hi > 2.0, "{lo} {hi}");
    assert_eq!(out_of_box[0]["method"], "import");
    let recorded: Value = serde_json::from_str(&out_of_box[0]["method_config"]).unwrap();
    assert_eq!(recorded["sha256"].as_object().unwrap().len(), 1);
}
