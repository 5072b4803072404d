//! Student training under a named protocol: `dd` (the DD evaluation protocol: SGD on the
//! distilled set, hard labels or the method's soft labels) or `soft-label` (SRe2L / GUARD: AdamW,
//! mixup, a teacher relabelling every batch online). `auto` picks `soft-label` when the method
//! hands over a teacher.

use crate::plugin::DistillOutcome;
use ddbench_nn::soft_label::{train_with_teacher, SoftLabelConfig};
use ddbench_nn::{Model, Resume, TrainConfig, TrainError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Auto,
    Dd,
    SoftLabel,
}

/// What the student training did.
pub struct Trained {
    pub protocol: &'static str,
    pub epochs: i64,
    /// Seconds of training (earlier sessions of a resumed training included).
    pub seconds: f64,
}

/// The settings of both protocols for one distilled set.
pub struct Settings<'a> {
    pub protocol: Protocol,
    /// DD protocol (already overridden by the method's hints).
    pub dd: &'a TrainConfig,
    pub soft: &'a SoftLabelConfig,
    pub seed: u64,
    /// Where the training keeps its checkpoint, if anywhere.
    pub resume: Option<&'a Resume<'a>>,
}

/// Trains `student` on the distilled set `d` under `s.protocol`; `teacher` is the model the
/// method handed over, if any.
pub fn train(
    student: &mut Model,
    d: &DistillOutcome,
    teacher: Option<&Model>,
    s: &Settings,
    on_epoch: &mut dyn FnMut(i64, i64),
) -> Result<Trained, TrainError> {
    let use_soft = match s.protocol {
        Protocol::Dd => false,
        Protocol::SoftLabel => true,
        Protocol::Auto => teacher.is_some(),
    };
    if use_soft {
        let teacher = teacher.ok_or_else(|| {
            TrainError::Failed(
                "the soft-label protocol needs a teacher, and this method gave none".into(),
            )
        })?;
        let mut cfg = s.soft.clone();
        if let Some(t) = d.hints.temperature {
            cfg.temperature = t;
        }
        let stats = train_with_teacher(
            student, teacher, &d.images, &cfg, s.seed, s.resume, on_epoch,
        )?;
        Ok(Trained {
            protocol: "soft-label",
            epochs: cfg.epochs,
            seconds: stats.seconds,
        })
    } else {
        let labels = d.soft_labels.as_ref().unwrap_or(&d.labels);
        let stats =
            ddbench_nn::train_resumable(student, &d.images, labels, s.dd, s.resume, on_epoch)?;
        Ok(Trained {
            protocol: "dd",
            epochs: s.dd.epochs,
            seconds: stats.seconds,
        })
    }
}
