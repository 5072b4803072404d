//! A method's self-test: distil the synthetic set at IPC 1 and 2 (the host checks each result),
//! twice at IPC 1 from different host generator states with one plugin seed: the same set both
//! times (deterministic for its seed), and the host's next draws differ (not reseeded).

use super::problem::{global_draw, same};
use super::report::{generator_left_alone, Report};
use crate::data::DeviceDataset;
use crate::plugin::{run_distill, DistillOutcome, Plugin};
use std::path::Path;

const PLUGIN_SEED: u64 = 3;

/// One distillation from host generator state `host_seed`, with what the host draws after it.
fn distill(
    plugin: &Plugin,
    data: &DeviceDataset,
    ipc: i64,
    host_seed: i64,
    config: &serde_json::Value,
    cache: &Path,
) -> Result<(DistillOutcome, Vec<f64>), String> {
    tch::manual_seed(host_seed);
    let out = run_distill(
        plugin,
        data,
        ipc,
        PLUGIN_SEED,
        config,
        cache,
        &|_, _| {},
        &|_| {},
    )?;
    Ok((out, global_draw()))
}

fn same_set(a: &DistillOutcome, b: &DistillOutcome) -> Result<(), String> {
    let soft = match (&a.soft_labels, &b.soft_labels) {
        (None, None) => true,
        (Some(x), Some(y)) => same(x, y),
        _ => false,
    };
    if same(&a.images, &b.images) && same(&a.labels, &b.labels) && soft {
        Ok(())
    } else {
        Err(format!(
            "two calls with seed {PLUGIN_SEED} gave different sets: draw every random number from that seed"
        ))
    }
}

/// Runs the method checks, printing one line each.
pub fn check(
    plugin: &Plugin,
    data: &DeviceDataset,
    config: &serde_json::Value,
    report: &mut Report,
) {
    let cache = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return report.fail("cache folder", &e.to_string()),
    };
    let first = distill(plugin, data, 1, 11, config, cache.path());
    let Ok((a, draw_a)) = first else {
        let why = first.err().unwrap_or_default();
        return report.fail("distils at IPC 1 (checked by the host)", &why);
    };
    report.ok(&format!(
        "distils at IPC 1 (checked by the host): {} images",
        a.images.size()[0]
    ));
    match distill(plugin, data, 1, 12, config, cache.path()) {
        Err(why) => report.fail("distils again at IPC 1", &why),
        Ok((b, draw_b)) => {
            report.check("deterministic for a fixed seed", same_set(&a, &b));
            report.check(
                "leaves the global random generator alone",
                generator_left_alone(&draw_a, &draw_b),
            );
        }
    }
    match distill(plugin, data, 2, 11, config, cache.path()) {
        Err(why) => report.fail("distils at IPC 2 (checked by the host)", &why),
        Ok((c, _)) => report.ok(&format!(
            "distils at IPC 2 (checked by the host): {} images",
            c.images.size()[0]
        )),
    }
}
