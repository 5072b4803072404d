//! `ddbench plugins --check FILE.so …`: a self-test of built plugins, so an author learns of a
//! mistake without a whole run. Each file is loaded alone (the ELF, ABI and libtorch checks of
//! every load), described, its declared configuration resolved (`config`), then run on a tiny
//! synthetic problem built in memory (`problem`): a
//! method distils it (`method`), an attack attacks a small trained ConvNet (`attack`); the host's
//! own output checks apply, and the plugin must be deterministic for its seed and leave the
//! global random generator alone. One line per check (`report`); exit status 1 if any failed.

mod attack;
mod config;
mod method;
mod problem;
mod report;

pub use report::RESEEDS;

use crate::plugin::loader::{load, Kind, Plugin};
use report::Report;
use std::path::PathBuf;

/// Checks each file with `config` (JSON) as every plugin's config; returns the exit status.
pub fn run(files: &[PathBuf], config: &serde_json::Value) -> i32 {
    // the problem is tiny: more threads only wait for each other, the more so on a busy machine
    tch::set_num_threads(1);
    let data = problem::dataset();
    let model = problem::model(&data);
    let (images, labels) = problem::attack_batch(&data);
    let mut failed = Vec::new();
    let mut passed = 0;
    for file in files {
        let mut report = Report {
            file: file.display().to_string(),
            ..Report::default()
        };
        println!("{}", file.display());
        let loaded = loads(file, &mut report);
        let configured = loaded.and_then(|p| Some((config::check(&p, config, &mut report)?, p)));
        if let Some((config, plugin)) = configured {
            let target = attack::Target {
                model: &model,
                images: &images,
                labels: &labels,
                config: &config,
            };
            match plugin.kind {
                Kind::Method => method::check(&plugin, &data, &config, &mut report),
                Kind::Attack => attack::check(&plugin, &target, &mut report),
            }
        }
        passed += report.passed;
        failed.extend(report.failed);
    }
    summary(passed, &failed)
}

/// Loads the file alone and describes it, or says why it is refused. A bare file name means
/// the file in the current folder (not one the dynamic loader would search for).
fn loads(file: &std::path::Path, report: &mut Report) -> Option<Plugin> {
    let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    match load(&file) {
        Err(why) => {
            report.fail("loads", &why);
            None
        }
        Ok(p) => {
            report.ok(&format!(
                "loads: {} plugin '{}' version {}, ABI v{}, libtorch {} — {}",
                p.kind,
                p.name,
                p.version,
                ddbench_plugin_api::abi::ABI_VERSION,
                ddbench_plugin_api::abi::TORCH_VERSION,
                p.description
            ));
            Some(p)
        }
    }
}

fn summary(passed: usize, failed: &[String]) -> i32 {
    if failed.is_empty() {
        println!("all {passed} checks passed");
        return 0;
    }
    println!(
        "{} of {} checks failed:",
        failed.len(),
        passed + failed.len()
    );
    for f in failed {
        println!("  {f}");
    }
    1
}
