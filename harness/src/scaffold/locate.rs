//! Where this installation of ddbench keeps what a new plugin crate builds against: the
//! checkout's `plugin-api` folder, its libtorch and its `Cargo.lock`.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// The checkout's root seen from the running binary (`<root>/target/release/ddbench`, or any
/// target folder below the root) or, failing that, the one this binary was compiled in.
pub fn checkout_root() -> Option<PathBuf> {
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .skip(1)
            .find(|d| is_root(d))
            .map(Path::to_path_buf)
    });
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    from_exe
        .or_else(|| is_root(&compiled).then_some(compiled))
        .and_then(|p| p.canonicalize().ok())
}

fn is_root(dir: &Path) -> bool {
    dir.join("plugin-api/Cargo.toml").is_file() && dir.join("Cargo.toml").is_file()
}

/// The absolute path of the checkout's `plugin-api` folder (`--plugin-api` overrides it).
pub fn plugin_api_dir(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = given {
        if !dir.join("Cargo.toml").is_file() {
            bail!(
                "--plugin-api {}: no Cargo.toml there (expected ddbench's plugin-api folder)",
                dir.display()
            );
        }
        return Ok(dir.canonicalize()?);
    }
    match checkout_root() {
        Some(root) => Ok(root.join("plugin-api")),
        None => bail!(
            "cannot find ddbench's plugin-api: this ddbench binary is not inside a ddbench \
             checkout, and the folder it was built in ({}/..) is gone; pass \
             --plugin-api <ddbench checkout>/plugin-api",
            env!("CARGO_MANIFEST_DIR")
        ),
    }
}

/// The libtorch this ddbench was built with: `LIBTORCH` as cargo set it at compile time (the
/// checkout's `.cargo/config.toml`), else `<root>/.venv/libtorch`, else `LIBTORCH` now; `None`
/// if none of these is a folder.
pub fn libtorch_dir(root: Option<&Path>) -> Option<PathBuf> {
    let compiled = option_env!("LIBTORCH").map(PathBuf::from);
    let venv = root.map(|r| r.join(".venv/libtorch"));
    let now = std::env::var_os("LIBTORCH").map(PathBuf::from);
    [compiled, venv, now]
        .into_iter()
        .flatten()
        .find(|p| p.is_absolute() && p.is_dir())
}

/// The checkout's `Cargo.lock`: copied into a new crate, it pins the versions ddbench was built
/// with (so a shared target folder reuses tch and torch-sys, and no registry is needed).
pub fn lock_file(root: Option<&Path>) -> Option<PathBuf> {
    root.map(|r| r.join("Cargo.lock")).filter(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_checkout() {
        let root = checkout_root().expect("the test binary runs inside the checkout");
        assert!(root.join("plugin-api/Cargo.toml").is_file());
        assert_eq!(plugin_api_dir(None).unwrap(), root.join("plugin-api"));
        assert!(plugin_api_dir(Some(Path::new("/nonexistent")))
            .unwrap_err()
            .to_string()
            .contains("no Cargo.toml there"));
    }
}
