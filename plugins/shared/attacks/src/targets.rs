//! Target classes of the targeted attacks (APGD-T, FAB-T): per point, the non-true classes
//! ranked by the clean logits, most likely first, as in AutoAttack's multi-targeted runs.

use ddbench_plugin_api::{check_in, PluginResult, ValueRange};
use tch::Tensor;

/// Default number of target classes in AutoAttack (9, capped at `num_classes − 1`).
pub const DEFAULT_TARGET_CLASSES: i64 = 9;

/// `[B, k]` target classes: column `r` is each point's `r`-th most likely non-true class under
/// `clean_logits` `[B, K]`. Errors when `k` is not in `1..=K−1`.
pub fn top_k_targets(clean_logits: &Tensor, y: &Tensor, k: i64) -> PluginResult<Tensor> {
    let classes = clean_logits.size()[1];
    if k < 1 || k > classes - 1 {
        return Err(format!(
            "the number of target classes must be in 1..={} for a {classes}-class model, got {k}",
            classes - 1
        )
        .into());
    }
    let masked = clean_logits
        .detach()
        .scatter_value(1, &y.view([-1, 1]), f64::NEG_INFINITY);
    let (_, order) = masked.sort(1, true);
    Ok(order.narrow(1, 0, k))
}

/// Runs `attack_target` on each column of `targets` in turn (each point's most likely wrong
/// class first), reporting `on_target(done, k)` after each; stops as soon as `attack_target`
/// returns false (no point was left to attack).
pub fn for_each_target(
    targets: &Tensor,
    on_target: &mut dyn FnMut(i64, i64),
    mut attack_target: impl FnMut(&Tensor) -> PluginResult<bool>,
) -> PluginResult<()> {
    let k = targets.size()[1];
    for r in 0..k {
        if !attack_target(&targets.select(1, r))? {
            return Ok(());
        }
        on_target(r + 1, k);
    }
    Ok(())
}

/// Resolves the target-class count from the config's `n_target_classes` (AutoAttack's name) or
/// `n_classes` (torchattacks' name, meaning `n_classes − 1` targets, so it must equal the
/// model's class count); the default is 9, capped at `num_classes − 1`. An explicit
/// `n_target_classes` must be in `1..=num_classes − 1`; the model needs at least 2 classes.
pub fn resolve_count(
    n_target_classes: Option<i64>,
    n_classes: Option<i64>,
    num_classes: i64,
) -> PluginResult<i64> {
    if num_classes < 2 {
        return Err(format!(
            "targeted attacks need a model with at least 2 classes, got {num_classes}"
        )
        .into());
    }
    match (n_target_classes, n_classes) {
        (Some(_), Some(_)) => Err(
            "give either 'n_target_classes' or 'n_classes' (torchattacks' name: n_classes − 1 targets), not both"
                .into(),
        ),
        (Some(k), None) => check_in(
            "n_target_classes",
            k,
            ValueRange::closed(1, num_classes - 1),
        ),
        (None, Some(n)) => {
            if n != num_classes {
                return Err(format!(
                    "config key 'n_classes' is {n} but the model has {num_classes} classes"
                )
                .into());
            }
            Ok(n - 1)
        }
        (None, None) => Ok(DEFAULT_TARGET_CLASSES.min(num_classes - 1)),
    }
}
