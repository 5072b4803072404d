//! Calls into plugins: builds the C requests, serves the host callbacks (log, progress, model
//! forward with counting), takes ownership of returned tensors, and checks every output before
//! it is used. A plugin error, panic or bad output comes back as `Err`, never as a crash.
//!
//! `host`: the per-call callbacks; `config`: resolving a declared config; `distill`: method calls; `attack` and `model`: attack calls
//! and the model they query.

mod attack;
mod config;
mod distill;
mod host;
mod model;

pub use attack::{run_attack, AttackError, AttackOutcome};
pub use config::resolve_config;
pub use distill::{run_distill, DistillOutcome};
