//! Per-sample losses on logits `[B, K]`: cross-entropy, the DLR loss and its targeted form
//! (Croce & Hein 2020, eq. 6 and the APGD-T variant), and the margin used by Square.

use ddbench_plugin_api::PluginResult;
use tch::{Kind, Tensor};

/// Which loss APGD ascends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    Ce,
    Dlr,
}

impl Loss {
    pub fn parse(s: &str) -> PluginResult<Loss> {
        match s {
            "ce" => Ok(Loss::Ce),
            "dlr" => Ok(Loss::Dlr),
            other => Err(
                format!("config key 'loss': expected \"ce\" or \"dlr\", got \"{other}\"").into(),
            ),
        }
    }
}

fn as_float(logits: &Tensor) -> Tensor {
    match logits.kind() {
        Kind::Double => logits.shallow_clone(),
        _ => logits.to_kind(Kind::Float),
    }
}

/// Cross-entropy per sample.
pub fn ce(logits: &Tensor, y: &Tensor) -> Tensor {
    let z = as_float(logits);
    let k = z.kind();
    -z.log_softmax(-1, k)
        .gather(1, &y.view([-1, 1]), false)
        .view([-1])
}

/// Logit of the true class and the largest other logit, per sample.
fn true_and_best_other(z: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
    let zy = z.gather(1, &y.view([-1, 1]), false).view([-1]);
    let others = z.scatter_value(1, &y.view([-1, 1]), f64::NEG_INFINITY);
    (zy, others.amax([1], false))
}

/// Margin `z_y − max_{j≠y} z_j`: negative exactly when the point is misclassified.
pub fn margin(logits: &Tensor, y: &Tensor) -> Tensor {
    let z = as_float(logits);
    let (zy, other) = true_and_best_other(&z, y);
    zy - other
}

/// DLR loss `−(z_y − max_{j≠y} z_j) / (z_π1 − z_π3)` (needs at least 3 classes).
pub fn dlr(logits: &Tensor, y: &Tensor) -> Tensor {
    let z = as_float(logits);
    let (sorted, _) = z.sort(1, true);
    let scale = sorted.select(1, 0) - sorted.select(1, 2) + 1e-12;
    let (zy, other) = true_and_best_other(&z, y);
    -(zy - other) / scale
}

/// Targeted DLR loss `−(z_y − z_t) / (z_π1 − (z_π3 + z_π4) / 2)` (needs at least 4 classes).
pub fn dlr_targeted(logits: &Tensor, y: &Tensor, target: &Tensor) -> Tensor {
    let z = as_float(logits);
    let (sorted, _) = z.sort(1, true);
    let scale = sorted.select(1, 0) - (sorted.select(1, 2) + sorted.select(1, 3)) * 0.5 + 1e-12;
    let zy = z.gather(1, &y.view([-1, 1]), false).view([-1]);
    let zt = z.gather(1, &target.view([-1, 1]), false).view([-1]);
    -(zy - zt) / scale
}
