//! Plugins: finding and checking shared libraries (`loader`), and calling them safely (`call`).

pub mod call;
pub mod loader;
pub mod selftest;

pub use call::{
    resolve_config, run_attack, run_distill, AttackError, AttackOutcome, DistillOutcome,
};
pub use loader::{default_plugin_dirs, discover, discover_named, Kind, Plugin, Registry};
