//! ddbench: a benchmark harness for adversarially robust dataset distillation. Loads data sets,
//! method and attack plugins, runs distil → train → evaluate, and records the results.

pub mod data;
