//! Build script shared by every crate that produces a binary, test binary or plugin: it gives the
//! output a RUNPATH to the libtorch folder torch-sys linked against, so nothing needs
//! LD_LIBRARY_PATH on the machine that built it (LD_LIBRARY_PATH still wins elsewhere).
fn main() {
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-link-arg=-Wl,--enable-new-dtags");
    }
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
}
