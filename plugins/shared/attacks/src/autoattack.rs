//! The AutoAttack ensemble (Croce & Hein 2020): APGD-CE, APGD-T, FAB-T and Square in that
//! order, each on the points no earlier component fooled; per point the first successful
//! adversarial example is kept, so the result is the per-point worst case over the components.

use crate::apgd::{self, ApgdConfig, Schedule};
use crate::fab::{self, FabConfig};
use crate::losses::Loss;
use crate::square::{self, SquareConfig, Windows};
use crate::targets::top_k_targets;
use crate::{Outcome, Problem};
use ddbench_plugin_api::{check_in, PluginResult, ValueRange};

/// `standard`: the reference (100 iterations for APGD and FAB, 5000 Square queries);
/// `fast`: torchattacks.AutoAttack's defaults (10 iterations for APGD and FAB, 5000 queries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Standard,
    Fast,
}

impl Version {
    pub fn parse(s: &str) -> PluginResult<Version> {
        match s {
            "standard" => Ok(Version::Standard),
            "fast" => Ok(Version::Fast),
            other => Err(format!(
                "config key 'version': expected \"standard\" or \"fast\", got \"{other}\""
            )
            .into()),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Version::Standard => "standard",
            Version::Fast => "fast",
        }
    }
    /// APGD and FAB iterations of this version.
    pub fn steps(self) -> i64 {
        match self {
            Version::Standard => 100,
            Version::Fast => 10,
        }
    }
}

/// The ensemble's settings: the version's iteration counts unless overridden.
#[derive(Clone, Debug)]
pub struct AutoAttackConfig {
    pub version: Version,
    pub steps: i64,
    pub n_queries: i64,
    pub n_target_classes: i64,
    /// APGD-CE's and APGD-T's checkpoints (the reference code's by default).
    pub schedule: Schedule,
    /// Square's windows: one per batch as the reference draws them (default), or per image.
    pub windows: Windows,
}

impl AutoAttackConfig {
    pub fn new(version: Version, n_target_classes: i64) -> Self {
        AutoAttackConfig {
            version,
            steps: version.steps(),
            n_queries: 5000,
            n_target_classes,
            schedule: Schedule::Reference,
            windows: Windows::PerBatch,
        }
    }
    pub fn apgd(&self, loss: Loss) -> ApgdConfig {
        ApgdConfig {
            steps: self.steps,
            n_restarts: 1,
            rho: 0.75,
            loss,
            schedule: self.schedule,
        }
    }
    pub fn fab(&self) -> FabConfig {
        FabConfig {
            steps: self.steps,
            n_restarts: 1,
            alpha_max: 0.1,
            eta: 1.05,
            beta: 0.9,
        }
    }
    pub fn square(&self) -> SquareConfig {
        SquareConfig {
            n_queries: self.n_queries,
            n_restarts: 1,
            p_init: 0.8,
            windows: self.windows,
        }
    }
    /// Checks every component's settings (steps ≥ 1, n_queries ≥ 1, n_target_classes ≥ 1).
    pub fn validate(&self) -> PluginResult<()> {
        self.apgd(Loss::Ce).validate()?;
        self.fab().validate()?;
        self.square().validate()?;
        check_in(
            "n_target_classes",
            self.n_target_classes,
            ValueRange::at_least(1),
        )?;
        Ok(())
    }
}

/// The components in the order they run, for logs and records.
pub const COMPONENTS: [&str; 4] = ["apgd-ce", "apgd-t", "fab-t", "square"];

/// Runs the ensemble (each component seeded with `seed`). `log` receives one line per component with the points still robust.
/// Points the model already misclassifies are left clean (they count as fooled).
pub fn run(
    p: &Problem,
    cfg: &AutoAttackConfig,
    seed: u64,
    log: &dyn Fn(&str),
) -> PluginResult<Outcome> {
    let (x, y) = (p.x, p.y);
    // everything that can be refused is refused before the first component runs
    cfg.validate()?;
    square::check_input(x, p.norm)?;
    let clean_logits = p.model.predict(x)?;
    let targets = top_k_targets(&clean_logits, y, cfg.n_target_classes)?;
    let mut out = Outcome::from_clean_logits(x, y, &clean_logits);
    let total = x.size()[0];
    log(&format!(
        "autoattack version={} steps={} n_queries={} target classes={} schedule={} windows={}: clean {}/{total} robust",
        cfg.version.name(),
        cfg.steps,
        cfg.n_queries,
        cfg.n_target_classes,
        cfg.schedule.name(),
        cfg.windows.name(),
        out.robust_count()
    ));
    let mut quiet = |_: i64, _: i64| {};
    for name in COMPONENTS {
        if out.robust_indices().is_none() {
            break;
        }
        // every component starts from the same seed, as each standalone plugin does, so a
        // component's randomness does not depend on the ones before it
        tch::manual_seed(seed as i64);
        // each component works on a copy and only its successes enter the ensemble's result
        let mut part = Outcome {
            adv: out.adv.copy(),
            fooled: out.fooled.copy(),
        };
        match name {
            "apgd-ce" => apgd::run(p, &cfg.apgd(Loss::Ce), None, &mut part)?,
            "apgd-t" => {
                apgd::run_targeted(p, &cfg.apgd(Loss::Dlr), &targets, &mut part, &mut quiet)?
            }
            "fab-t" => fab::run_targeted(p, &cfg.fab(), &targets, &mut part, &mut quiet)?,
            _ => square::run(p, &cfg.square(), &mut part)?,
        }
        let newly = part.fooled.logical_and(&out.fooled.logical_not());
        out.adv = part.adv.where_self(&crate::per_image(&newly), &out.adv);
        out.fooled = out.fooled.logical_or(&part.fooled);
        log(&format!(
            "autoattack after {name}: {}/{total} robust",
            out.robust_count()
        ));
    }
    Ok(out)
}
