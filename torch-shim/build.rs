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
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let root = PathBuf::from(std::env::var("LIBTORCH").expect(
        "LIBTORCH is not set: run scripts/setup.sh (it links .venv/libtorch, named in .cargo/config.toml)",
    ));
    let include = root.join("include");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .file("src/pickle.cpp")
        .file("src/levers.cpp")
        .file("src/optim.cpp")
        .file("src/fused_optim.cpp")
        .file("src/rng.cpp")
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
