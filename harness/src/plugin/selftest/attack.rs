//! An attack's self-test, under L∞ (ε 8/255) and L2 (ε 0.5): attack the synthetic batch (the
//! host checks shape, [0, 1] and the ε-ball), twice from different host generator states with one
//! plugin seed: the same images both times, and the host's next draws differ (not reseeded). A
//! norm the plugin refuses is said, not failed; refusing both is a failure.

use super::problem::{global_draw, same};
use super::report::{generator_left_alone, Report};
use crate::plugin::{run_attack, AttackError, Plugin};
use ddbench_nn::Model;
use ddbench_plugin_api::Norm;
use tch::Tensor;

const PLUGIN_SEED: u64 = 5;

/// The attack problem: model, clean batch, config.
pub struct Target<'a> {
    pub model: &'a Model,
    pub images: &'a Tensor,
    pub labels: &'a Tensor,
    pub config: &'a serde_json::Value,
}

/// One attack from host generator state `host_seed`, with what the host draws after it.
fn attack(
    plugin: &Plugin,
    t: &Target,
    norm: Norm,
    eps: f64,
    host_seed: i64,
) -> Result<(Tensor, Vec<f64>), AttackError> {
    tch::manual_seed(host_seed);
    let out = run_attack(
        plugin,
        t.model,
        t.images,
        t.labels,
        norm,
        eps,
        PLUGIN_SEED,
        t.config,
        &|_| {},
    )?;
    Ok((out.adversarial, global_draw()))
}

/// The checks under one norm; false when the plugin refused the norm.
fn check_norm(plugin: &Plugin, t: &Target, norm: Norm, report: &mut Report) -> bool {
    let (name, eps, eps_text) = match norm {
        Norm::Linf => ("L∞", 8.0 / 255.0, "8/255"),
        Norm::L2 => ("L2", 0.5, "0.5"),
    };
    let (a, draw_a) = match attack(plugin, t, norm, eps, 11) {
        Ok(done) => done,
        Err(e) if e.refused => {
            report.ok(&format!("{name}: does not support {name} ({})", e.message));
            return false;
        }
        Err(e) => {
            report.fail(&format!("{name} ε={eps_text} (checked by the host)"), &e);
            return true;
        }
    };
    report.ok(&format!(
        "{name} ε={eps_text} (checked by the host: shape, [0, 1], ε-ball)"
    ));
    match attack(plugin, t, norm, eps, 12) {
        Err(e) => report.fail(&format!("{name}: attacks again"), &e),
        Ok((b, draw_b)) => {
            let same_adv = if same(&a, &b) {
                Ok(())
            } else {
                Err(format!(
                    "two calls with seed {PLUGIN_SEED} gave different images: draw every random number from that seed"
                ))
            };
            report.check(&format!("{name}: deterministic for a fixed seed"), same_adv);
            report.check(
                &format!("{name}: leaves the global random generator alone"),
                generator_left_alone(&draw_a, &draw_b),
            );
        }
    }
    true
}

/// Runs the attack checks, printing one line each.
pub fn check(plugin: &Plugin, t: &Target, report: &mut Report) {
    let linf = check_norm(plugin, t, Norm::Linf, report);
    let l2 = check_norm(plugin, t, Norm::L2, report);
    if !linf && !l2 {
        report.fail("supports a norm", "refuses both L∞ and L2 (see above)");
    }
}
