//! Helpers for the end-to-end tests: where the release build put the binary and plugins, plugin
//! folders for fixtures, running the CLI, and reading its results.

pub mod mirror;

use std::path::{Path, PathBuf};
use std::process::Output;

/// `target/release` (or wherever this test binary was built), holding `ddbench` and the plugins.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let deps = exe.parent().expect("deps folder");
    let dir = deps.parent().expect("profile folder").to_path_buf();
    assert!(
        dir.join("ddbench").exists(),
        "{} has no ddbench binary: build first with `cargo build --release --workspace` (make test does)",
        dir.display()
    );
    dir
}

pub fn ddbench_bin() -> PathBuf {
    build_dir().join("ddbench")
}

/// Path of a built plugin library by crate name (`ddbench-method-full` → `libddbench_method_full.so`).
pub fn plugin_lib(crate_name: &str) -> PathBuf {
    let p = build_dir().join(format!("lib{}.so", crate_name.replace('-', "_")));
    assert!(
        p.exists(),
        "{} not built (cargo build --release --workspace)",
        p.display()
    );
    p
}

/// Every plugin the build ships (`libddbench_method_*.so`, `libddbench_attack_*.so` in
/// [`build_dir`]), sorted.
pub fn shipped_plugins() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(build_dir())
        .expect("read the build folder")
        .map(|e| e.expect("folder entry").path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            (name.starts_with("libddbench_method_") || name.starts_with("libddbench_attack_"))
                && name.ends_with(".so")
        })
        .collect();
    found.sort();
    found
}

/// The test fixture plugins of tests/plugins (crate names), each broken in its own way.
pub const FIXTURE_PLUGINS: [&str; 4] = [
    "ddtest-panicky",
    "ddtest-bad-attack",
    "ddtest-wrong-abi",
    "ddtest-reseeding-attack",
];

/// A fresh folder holding copies of the given plugin libraries.
pub fn plugin_dir(crates: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    for c in crates {
        let src = plugin_lib(c);
        std::fs::copy(&src, d.path().join(src.file_name().unwrap())).expect("copy plugin");
    }
    d
}

/// The release build's `ddbench` as an [`assert_cmd::Command`].
pub fn ddbench_cmd() -> assert_cmd::Command {
    assert_cmd::Command::new(ddbench_bin())
}

/// Runs `ddbench ARGS` and returns its output.
pub fn ddbench(args: &[&str]) -> Output {
    ddbench_cmd().args(args).output().expect("run ddbench")
}

/// Runs `ddbench ARGS` in the folder `dir` and returns its output.
pub fn ddbench_in(dir: &Path, args: &[&str]) -> Output {
    ddbench_cmd()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run ddbench")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The rows of a results.csv as maps column → value.
pub fn read_rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut rd = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = rd.headers().unwrap().clone();
    rd.records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16 in /proc/cpuinfo): where
/// ddbench keeps bf16 autocast on the CPU.
pub fn cpu_has_native_bf16() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .split_whitespace()
        .any(|f| f == "avx512_bf16" || f == "amx_bf16")
}

/// Fashion-MNIST from Debian's package, if installed (the setup installs it).
pub fn fashion_mnist_dir() -> Option<PathBuf> {
    let d = PathBuf::from("/usr/share/datasets/fashion-mnist");
    d.join("train-images-idx3-ubyte.gz").exists().then_some(d)
}

/// Writes a tiny data set in exactly the Fashion-MNIST IDX layout (gzip-free): `n_train` /
/// `n_test` 28×28 images whose class is readable from the pixels (a bright horizontal band at
/// row 2·class), so models learn it quickly.
pub fn write_tiny_idx(dir: &Path, n_train: usize, n_test: usize) {
    let write = |name: &str, n: usize, seed: usize| {
        let mut img = vec![0u8, 0, 8, 3];
        img.extend((n as u32).to_be_bytes());
        img.extend(28u32.to_be_bytes());
        img.extend(28u32.to_be_bytes());
        let mut lab = vec![0u8, 0, 8, 1];
        lab.extend((n as u32).to_be_bytes());
        for i in 0..n {
            let class = (i + seed) % 10;
            for r in 0..28 {
                for c in 0..28 {
                    let noise = ((i * 31 + r * 7 + c * 13 + seed) % 17) as u8 * 3;
                    let band = if r / 2 == class + 2 { 200 } else { 0 };
                    img.push(band + noise);
                }
            }
            lab.push(class as u8);
        }
        std::fs::write(dir.join(format!("{name}-images-idx3-ubyte")), img).unwrap();
        std::fs::write(dir.join(format!("{name}-labels-idx1-ubyte")), lab).unwrap();
    };
    write("train", n_train, 0);
    write("t10k", n_test, 3);
}

/// `ddbench run` of `method` at IPC 5 on the tiny IDX set in `data` (`write_tiny_idx`): a
/// width-8 ConvNet trained `epochs` epochs, 20 attacked test images, FGSM and PGD, on the CPU,
/// quiet, writing to `out`.
pub fn tiny_run<'a>(data: &'a str, out: &'a str, method: &'a str, epochs: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        data,
        "--out",
        out,
        "--method",
        method,
        "--ipc",
        "5",
        "--width",
        "8",
        "--epochs",
        epochs,
        "--n-attack",
        "20",
        "--attacks",
        "fgsm,pgd",
        "--device",
        "cpu",
        "--quiet",
    ]
}

/// `args` with the value of `flag` replaced (or the flag and value appended).
pub fn with_flag<'a>(args: &[&'a str], flag: &'a str, value: &'a str) -> Vec<&'a str> {
    let mut v = args.to_vec();
    match v.iter().position(|a| *a == flag) {
        Some(i) => v[i + 1] = value,
        None => v.extend([flag, value]),
    }
    v
}

/// Columns of a bench results.csv that depend on the clock or the process, not on the inputs.
pub const MEASURED_COLUMNS: [&str; 7] = [
    "cell_wall_s",
    "peak_rss_mib",
    "peak_device_mib",
    "distill_s",
    "train_s",
    "attack_s",
    "teacher_s",
];

/// A results.csv as lines of fields (header first), in order, measured columns emptied.
pub fn comparable_results(path: &Path) -> Vec<Vec<String>> {
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let head = rows[0].clone();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(head.iter())
                .map(|(v, h)| if MEASURED_COLUMNS.contains(&h) { "" } else { v }.to_string())
                .collect()
        })
        .collect()
}
