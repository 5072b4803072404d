//! Finds plugin libraries, checks their ELF headers before handing them to the dynamic loader,
//! checks their entry symbol, ABI and libtorch versions before calling anything else, and keeps
//! them loaded for the life of the process (never unloaded).
//!
//! `elf`: checking a file's headers; `open`: loading one library and checking its descriptor;
//! `discover`: the plugin folders; `registry`: what is found.

mod discover;
mod elf;
mod open;
mod registry;

pub use discover::{default_plugin_dirs, discover, discover_named};
pub use elf::{check_elf, check_file};
pub use open::load;
pub use registry::{Kind, Plugin, Registry, Shadowed};
