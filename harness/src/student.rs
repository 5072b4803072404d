//! Student training under a named protocol: `dd` (the DD evaluation protocol: SGD on the
//! distilled set, hard labels or the method's soft labels) or `soft-label` (SRe2L / GUARD: AdamW,
//! mixup, a teacher relabelling every batch online). `auto` picks `soft-label` when the method
//! hands over a teacher.

use crate::plugin::DistillOutcome;
use ddbench_nn::soft_label::{train_with_teacher, SoftLabelConfig};
use ddbench_nn::{Model, ModelSpec, TrainConfig};
use tch::Device;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Auto,
    Dd,
    SoftLabel,
}

/// The teacher a method handed over in its hints, with its cost.
pub struct TeacherInfo {
    pub model: Model,
    pub weights: String,
    pub regularizer: String,
    pub seconds: f64,
    pub forward_passes: u64,
    pub backward_passes: u64,
}

/// Reads `hints.teacher` (`weights`, `spec`, cost fields) and loads the teacher, frozen.
pub fn load_teacher(
    hints: &serde_json::Value,
    device: Device,
) -> Result<Option<TeacherInfo>, String> {
    let Some(t) = hints.get("teacher") else {
        return Ok(None);
    };
    let weights = t
        .get("weights")
        .and_then(|w| w.as_str())
        .ok_or("hint 'teacher.weights' must be a path")?;
    let spec: ModelSpec = serde_json::from_value(t.get("spec").cloned().unwrap_or_default())
        .map_err(|e| format!("hint 'teacher.spec': {e}"))?;
    let mut model = Model::new(&spec, device);
    model
        .vs
        .load(weights)
        .map_err(|e| format!("loading the teacher {weights}: {e}"))?;
    model.vs.freeze();
    let num = |k: &str| t.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
    Ok(Some(TeacherInfo {
        model,
        weights: weights.to_string(),
        regularizer: t
            .get("regularizer")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string(),
        seconds: num("seconds"),
        forward_passes: num("forward_passes") as u64,
        backward_passes: num("backward_passes") as u64,
    }))
}

/// What the student training did.
pub struct Trained {
    pub protocol: &'static str,
    pub epochs: i64,
}

/// Trains `student` on the distilled set under `protocol`.
#[allow(clippy::too_many_arguments)]
pub fn train(
    student: &mut Model,
    d: &DistillOutcome,
    teacher: Option<&TeacherInfo>,
    protocol: Protocol,
    dd: &TrainConfig,
    soft: &SoftLabelConfig,
    seed: u64,
    on_epoch: &mut dyn FnMut(i64, i64),
) -> Result<Trained, String> {
    let use_soft = match protocol {
        Protocol::Dd => false,
        Protocol::SoftLabel => true,
        Protocol::Auto => teacher.is_some(),
    };
    if use_soft {
        let teacher =
            teacher.ok_or("the soft-label protocol needs a teacher, and this method gave none")?;
        let mut cfg = soft.clone();
        if let Some(t) = d.hints.get("temperature").and_then(|v| v.as_f64()) {
            cfg.temperature = t;
        }
        train_with_teacher(student, &teacher.model, &d.images, &cfg, seed, on_epoch)
            .map_err(|e| e.to_string())?;
        Ok(Trained {
            protocol: "soft-label",
            epochs: cfg.epochs,
        })
    } else {
        let labels = d.soft_labels.as_ref().unwrap_or(&d.labels);
        ddbench_nn::train_classifier(student, &d.images, labels, dd, on_epoch)
            .map_err(|e| e.to_string())?;
        Ok(Trained {
            protocol: "dd",
            epochs: dd.epochs,
        })
    }
}
