//! The coreset selections of `ddbench-coreset` (herding, greedy k-center) pick exactly the
//! indices of a NumPy mirror written from the papers' definitions (tests/coreset_mirror.py, in
//! the project's virtualenv), on random feature matrices (Gaussian and uniform, float64 and
//! float32, 7 to 300 rows, 2 to 64 dimensions) and on matrices with duplicated rows (exact ties:
//! the lowest index wins in both), for k from 1 to every row.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use tch::{Device, Kind, Tensor};

/// The project's virtualenv python, or `DDBENCH_PYTHON`.
fn venv_python() -> PathBuf {
    match std::env::var_os("DDBENCH_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    }
}

type Picks = HashMap<String, HashMap<String, HashMap<String, Vec<i64>>>>;

/// Runs the mirror on `cases` (name, features, the k to pick); its picks.
fn mirror(cases: &[(String, Tensor, Vec<i64>)]) -> Picks {
    let dir = tempfile::tempdir().unwrap();
    let tensors: Vec<(&str, &Tensor)> = cases.iter().map(|(n, f, _)| (n.as_str(), f)).collect();
    Tensor::write_safetensors(&tensors, dir.path().join("features.safetensors")).unwrap();
    let ks: HashMap<&str, &Vec<i64>> = cases.iter().map(|(n, _, k)| (n.as_str(), k)).collect();
    std::fs::write(
        dir.path().join("cases.json"),
        serde_json::to_vec(&ks).unwrap(),
    )
    .unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("coreset_mirror.py");
    let out = Command::new(venv_python())
        .arg(&script)
        .arg(dir.path())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "coreset_mirror.py failed (scripts/setup.sh installs numpy and safetensors in .venv):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(dir.path().join("picks.json")).unwrap()).unwrap()
}

/// Rows `[n, d]`: Gaussian, uniform on [0, 100), or `n / 2` Gaussian rows each appearing
/// twice, in a shuffled order (exact ties).
fn matrix(shape: &str, n: i64, d: i64, kind: Kind) -> Tensor {
    let opts = (Kind::Double, Device::Cpu);
    let m = match shape {
        "gauss" => Tensor::randn([n, d], opts),
        "uniform" => Tensor::rand([n, d], opts) * 100.0,
        "dup" => {
            let half = Tensor::randn([n / 2, d], opts);
            Tensor::cat(&[&half, &half], 0)
                .index_select(0, &Tensor::randperm(n, (Kind::Int64, Device::Cpu)))
        }
        other => panic!("no shape {other}"),
    };
    m.to_kind(kind)
}

fn cases() -> Vec<(String, Tensor, Vec<i64>)> {
    tch::manual_seed(13);
    let specs: [(&str, i64, i64, Kind); 8] = [
        ("gauss", 7, 3, Kind::Double),
        ("gauss", 40, 16, Kind::Double),
        ("gauss", 300, 64, Kind::Double),
        ("uniform", 60, 2, Kind::Double),
        ("uniform", 120, 8, Kind::Double),
        ("gauss", 50, 32, Kind::Float),
        ("dup", 20, 5, Kind::Double),
        ("dup", 64, 3, Kind::Double),
    ];
    specs
        .iter()
        .enumerate()
        .map(|(i, &(shape, n, d, kind))| {
            let mut ks = vec![1, 2, 5, n / 2, n];
            ks.sort();
            ks.dedup();
            (format!("{shape}{i}_{n}x{d}"), matrix(shape, n, d, kind), ks)
        })
        .collect()
}

#[test]
fn herding_and_kcenter_pick_what_the_numpy_mirror_picks() {
    let cases = cases();
    let want = mirror(&cases);
    let mut compared = 0;
    for (name, f, ks) in &cases {
        for &k in ks {
            let ours = [
                ("herding", ddbench_coreset::herding(f, k)),
                ("kcenter", ddbench_coreset::kcenter(f, k)),
            ];
            for (method, picks) in ours {
                let theirs = &want[name][method][&k.to_string()];
                assert_eq!(&picks, theirs, "{method} on {name}, k = {k}");
                let mut distinct = picks.clone();
                distinct.sort();
                distinct.dedup();
                assert_eq!(distinct.len() as i64, k, "{method} on {name}: repeats");
                compared += 1;
            }
        }
        // a longer run extends a shorter one: both are greedy
        let all = ddbench_coreset::herding(f, ks[ks.len() - 1]);
        assert_eq!(
            all[..ks[1] as usize],
            ddbench_coreset::herding(f, ks[1])[..]
        );
    }
    assert_eq!(compared, 2 * cases.iter().map(|c| c.2.len()).sum::<usize>());
    eprintln!("{compared} selections agree with the NumPy mirror");
}
