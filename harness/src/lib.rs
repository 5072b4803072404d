//! ddbench: a benchmark harness for adversarially robust dataset distillation. Loads data sets,
//! method and attack plugins, runs distil → train → evaluate, and records the results.

pub mod alloc;
pub mod bench;
pub mod cell_key;
pub mod charts;
pub mod cli;
pub mod data;
pub mod device;
pub mod device_memory;
pub mod folder_lock;
pub mod leaderboard;
pub mod metrics;
pub mod output;
pub mod per_sample;
pub mod plugin;
pub mod preflight;
pub mod record;
pub mod report;
#[cfg(test)]
mod report_bytes;
pub mod run;
pub mod sanity;
pub mod scaffold;
pub mod speed;
pub mod student;
pub mod summary;
pub mod threat;
pub mod whitening;
