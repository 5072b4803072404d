//! Teachers: the typed `Teacher` a method hands over (loaded from its `TeacherHint`), and the
//! teacher-evaluation stage — clean accuracy on the test set and PGD-10 (L∞ 8/255) accuracy on
//! the attacked subset, once per teacher however many cells use it.

use super::manifest::TeacherEval;
use super::subset::AttackSubset;
use crate::data::DeviceDataset;
use crate::output::Ui;
use crate::plugin::{self, Plugin};
use ddbench_nn::Model;
use ddbench_plugin_api::{Norm, TeacherHint};
use std::collections::BTreeMap;

/// A teacher, loaded and frozen, with what training it cost.
pub struct Teacher {
    pub model: Model,
    /// Its weights file: the teacher's identity in the manifest.
    pub weights: String,
    pub regularizer: String,
    pub seconds: f64,
    pub forward_passes: u64,
    pub backward_passes: u64,
}

impl Teacher {
    /// Loads the teacher a method described.
    pub fn load(hint: &TeacherHint, device: tch::Device) -> Result<Teacher, String> {
        let mut model = Model::new(&hint.spec, device);
        model
            .vs
            .load(&hint.weights)
            .map_err(|e| format!("loading the teacher {}: {e}", hint.weights.display()))?;
        model.vs.freeze();
        Ok(Teacher {
            model,
            weights: hint.weights.display().to_string(),
            regularizer: hint.regularizer.clone(),
            seconds: hint.seconds,
            forward_passes: hint.forward_passes,
            backward_passes: hint.backward_passes,
        })
    }
}

/// Each teacher's evaluation, by weights file, computed on first use.
pub struct TeacherEvals<'a> {
    pgd: Option<&'a Plugin>,
    eval_batch: i64,
    pub done: BTreeMap<String, TeacherEval>,
}

impl<'a> TeacherEvals<'a> {
    pub fn new(pgd: Option<&'a Plugin>, eval_batch: i64) -> TeacherEvals<'a> {
        TeacherEvals {
            pgd,
            eval_batch,
            done: BTreeMap::new(),
        }
    }

    /// `teacher`'s evaluation (NaN PGD accuracy when no `pgd` plugin is loaded).
    pub fn of(
        &mut self,
        teacher: &Teacher,
        data: &DeviceDataset,
        subset: &AttackSubset,
        ui: &Ui,
    ) -> TeacherEval {
        if let Some(e) = self.done.get(&teacher.weights) {
            return *e;
        }
        let m = &teacher.model;
        let clean_acc =
            100.0 * ddbench_nn::accuracy(m, &data.test_images, &data.test_labels, self.eval_batch);
        let pgd10_8_255_acc = self.pgd.map_or(f64::NAN, |p| self.pgd_acc(m, subset, p));
        ui.log(&format!(
            "teacher: clean accuracy {clean_acc:.2}%, PGD-10 8/255 accuracy {pgd10_8_255_acc:.2}%"
        ));
        let e = TeacherEval {
            clean_acc,
            pgd10_8_255_acc,
        };
        self.done.insert(teacher.weights.clone(), e);
        e
    }

    fn pgd_acc(&self, m: &Model, subset: &AttackSubset, pgd: &Plugin) -> f64 {
        let (x, y) = (&subset.x, &subset.y);
        let clean = ddbench_nn::predict(m, x, self.eval_batch).eq_tensor(y);
        let cfg = serde_json::json!({});
        match plugin::run_attack(pgd, m, x, y, Norm::Linf, 8.0 / 255.0, 0, &cfg, &|_| {}) {
            Ok(o) => super::evaluate::pct(
                &ddbench_nn::predict(m, &o.adversarial, self.eval_batch)
                    .eq_tensor(y)
                    .logical_and(&clean),
            ),
            Err(_) => f64::NAN,
        }
    }
}
