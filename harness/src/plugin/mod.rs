//! Plugins: finding and checking shared libraries (`loader`), and calling them safely (`call`).

pub mod call;
pub mod loader;
pub mod selftest;

pub use call::{
    resolve_config, run_attack, run_distill, AttackError, AttackOutcome, DistillOutcome,
};
pub use loader::{default_plugin_dirs, discover, discover_named, Kind, Plugin, Registry};

/// `ddbench plugins`: every plugin found in `dirs` (and the defaults), then every file refused
/// with its reason.
pub fn print_found(dirs: &[std::path::PathBuf]) {
    let reg = discover(dirs);
    println!(
        "{:<8} {:<16} {:<10} {:<4} path",
        "kind", "name", "version", "abi"
    );
    for p in &reg.plugins {
        println!(
            "{:<8} {:<16} {:<10} v{:<3} {}  — {}",
            p.kind.to_string(),
            p.name,
            p.version,
            ddbench_plugin_api::abi::ABI_VERSION,
            p.path.display(),
            p.description
        );
    }
    for (path, why) in &reg.refused {
        println!("refused  {}: {why}", path.display());
    }
}
