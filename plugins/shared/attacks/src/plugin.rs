//! What the attack plugins of this family do around their algorithm: seed, start from the clean
//! predictions, run, log how many points stayed robust, hand back the adversarial images.

use crate::targets::{resolve_count, top_k_targets};
use crate::{Outcome, Problem};
use ddbench_plugin_api::{AttackInput, Host, Model, PluginResult};
use tch::Tensor;

/// Seeds with the run's seed, starts from the clean predictions (points the model already
/// misclassifies count as fooled), runs `attack` on the call's [`Problem`] with the clean logits
/// and the outcome, logs `"{summary}: {robust} of {B} robust"` and returns the adversarial
/// images.
pub fn run_and_log(
    input: &AttackInput,
    host: &Host,
    summary: &str,
    attack: impl FnOnce(&Problem, &Tensor, &mut Outcome) -> PluginResult<()>,
) -> PluginResult<Tensor> {
    let p = Problem::of(input);
    let _rng = ddbench_plugin_api::SeedScope::new(input.seed);
    let clean = p.model.predict(p.x)?;
    let mut out = Outcome::from_clean_logits(p.x, p.y, &clean);
    attack(&p, &clean, &mut out)?;
    host.log(&format!(
        "{summary}: {} of {} robust",
        out.robust_count(),
        p.x.size()[0]
    ));
    Ok(out.adv)
}

/// A targeted attack's two settings that choose its number of target classes:
/// `n_target_classes` (AutoAttack's name) or `n_classes` (torchattacks' name), each absent by
/// default. Every targeted plugin declares both fields in its own config struct (serde's
/// `flatten` does not combine with `deny_unknown_fields`) and hands them over in this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Targets {
    pub n_target_classes: Option<i64>,
    pub n_classes: Option<i64>,
}

impl Targets {
    /// The number of target classes asked for, for `model` (see [`resolve_count`]).
    pub fn count(&self, model: &Model) -> PluginResult<i64> {
        resolve_count(self.n_target_classes, self.n_classes, model.num_classes())
    }
}

/// A targeted attack's algorithm (`apgd::run_targeted`, `fab::run_targeted`): the batch, its
/// settings, the `[B, k]` target classes, the outcome, and a callback `(done, k)` per target class.
pub type RunTargeted<C> =
    fn(&Problem, &C, &Tensor, &mut Outcome, &mut dyn FnMut(i64, i64)) -> PluginResult<()>;

/// A targeted attack plugin (APGD-T, FAB-T): [`run_and_log`] with each point's `k` most likely
/// wrong classes (`k` from [`Targets::count`], see [`top_k_targets`]) as targets, run by
/// `run_targeted` with its settings `cfg`, reporting progress per target class to the host.
pub fn run_targeted_and_log<C>(
    input: &AttackInput,
    host: &Host,
    summary: &str,
    run_targeted: RunTargeted<C>,
    cfg: &C,
    targets: Targets,
) -> PluginResult<Tensor> {
    let k = targets.count(&input.model)?;
    let summary = format!("{summary} target classes={k}");
    run_and_log(input, host, &summary, |p, clean, out| {
        let targets = top_k_targets(clean, p.y, k)?;
        let mut progress = |done: i64, total: i64| host.progress(done as u64, total as u64);
        run_targeted(p, cfg, &targets, out, &mut progress)
    })
}
