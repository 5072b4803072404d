//! Compiles the shims in `src/*.cpp` against the headers of the libtorch that torch-sys links (the torch
//! wheel of the project's virtualenv: `LIBTORCH`, set in .cargo/config.toml).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/pickle.cpp");
    println!("cargo:rerun-if-changed=src/levers.cpp");
    println!("cargo:rerun-if-changed=src/optim.cpp");
    println!("cargo:rerun-if-changed=src/fused_optim.cpp");
    println!("cargo:rerun-if-changed=src/fused_optim.h");
    println!("cargo:rerun-if-changed=src/rng.cpp");
    println!("cargo:rerun-if-changed=src/graph.cpp");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let root = PathBuf::from(std::env::var("LIBTORCH").expect(
        "LIBTORCH is not set: run scripts/setup.sh (it links .venv/libtorch, named in .cargo/config.toml)",
    ));
    let include = root.join("include");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    let mut build = cc::Build::new();
    // CUDA graphs need the CUDA runtime headers: the torch wheel's nvidia packages bring them
    if let Some(dirs) = cuda_include(&root) {
        println!("cargo:rustc-env=DDBENCH_CUDA_HEADERS={}", dirs[0].display());
        build.includes(dirs).define("DDBENCH_CUDA_GRAPHS", None);
        // the streams (c10::cuda) live in their own library beside libtorch_cuda
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
    }
    build
        .cpp(true)
        .file("src/pickle.cpp")
        .file("src/levers.cpp")
        .file("src/optim.cpp")
        .file("src/fused_optim.cpp")
        .file("src/rng.cpp")
        .file("src/graph.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
        .warnings(false)
        .compile("ddbench_torch_shim");
    // this crate's test binaries find libtorch as the others do (build/rpath.rs)
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-link-arg=-Wl,--enable-new-dtags");
    }
}

/// The folders of the CUDA runtime headers: where `cuda_runtime_api.h` is (beside the torch
/// wheel: the `nvidia-cuda-runtime` package of CUDA 13 or 12; else `CUDA_HOME`, else
/// /usr/local/cuda), and, where that folder lacks `crt/` (the pip packages leave it to nvcc),
/// the copy that Triton, a dependency of the torch wheel, ships.
fn cuda_include(torch: &std::path::Path) -> Option<Vec<PathBuf>> {
    let torch = std::fs::canonicalize(torch).unwrap_or_else(|_| torch.to_path_buf());
    let site = torch.parent()?.to_path_buf();
    let home = std::env::var("CUDA_HOME").unwrap_or_else(|_| "/usr/local/cuda".into());
    let has = |d: &PathBuf, f: &str| d.join(f).is_file();
    let runtime = [
        site.join("nvidia/cu13/include"),
        site.join("nvidia/cuda_runtime/include"),
        PathBuf::from(home).join("include"),
    ]
    .into_iter()
    .find(|d| has(d, "cuda_runtime_api.h"))?;
    if has(&runtime, "crt/host_config.h") {
        return Some(vec![runtime]);
    }
    let crt = site.join("triton/backends/nvidia/include");
    has(&crt, "crt/host_config.h").then(|| vec![runtime, crt])
}
