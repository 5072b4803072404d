//! What a cell's stages produced, as records: its clean row, each attack row and that row's
//! per-sample lines.

use super::distill::Distilled;
use super::evaluate::{AttackRun, CleanEval};
use super::grid::Cell;
use super::manifest::TeacherEval;
use super::train::Student;
use super::Ctx;
use crate::per_sample::SampleRow;
use crate::plugin::Plugin;
use crate::record::ResultRow;
use crate::sanity::Sample;
use crate::threat::norm_name;

/// A recorded attack row and its per-sample lines.
pub struct RowOutcome {
    pub row: ResultRow,
    pub samples: Vec<Sample>,
    pub sample_rows: Vec<SampleRow>,
}

/// The cell's row without an attack (`attack = none`): every column an attack row shares.
pub fn clean_row(
    ctx: &Ctx,
    cell: &Cell,
    d: &Distilled,
    s: &Student,
    clean: &CleanEval,
    teacher_eval: Option<TeacherEval>,
) -> ResultRow {
    let t = d.teacher.as_ref();
    ResultRow {
        dataset: ctx.data.name.clone(),
        method: cell.method.name.clone(),
        method_version: cell.method.version.clone(),
        ipc: cell.ipc,
        arch: ctx.cfg.arch.to_string(),
        seed: cell.seed,
        attack: "none".into(),
        attack_version: String::new(),
        norm: String::new(),
        eps: 0.0,
        clean_acc: clean.acc,
        subset_clean_acc: clean.subset_acc,
        robust_acc: f64::NAN,
        n_test: ctx.data.test_labels.size()[0],
        n_attack: 0,
        distilled_images: d.set.images.size()[0],
        train_epochs: s.epochs,
        protocol: s.protocol.to_string(),
        teacher_regularizer: t.map(|t| t.regularizer.clone()).unwrap_or_default(),
        teacher_s: t.map_or(0.0, |t| t.seconds),
        teacher_forward: t.map_or(0, |t| t.forward_passes),
        teacher_backward: t.map_or(0, |t| t.backward_passes),
        teacher_clean_acc: teacher_eval.map_or(f64::NAN, |e| e.clean_acc),
        teacher_pgd_acc: teacher_eval.map_or(f64::NAN, |e| e.pgd10_8_255_acc),
        distill_s: d.seconds,
        train_s: s.seconds,
        attack_s: 0.0,
        forward_calls: 0,
        backward_calls: 0,
        pert_mean: f64::NAN,
        pert_max: f64::NAN,
        pert_median_success: f64::NAN,
        pert_mean_success: f64::NAN,
        attack_config: String::new(),
        flags: String::new(),
        peak_device_mib: ctx.memory.peak_mib(),
        key_hash: String::new(),
        attack_label: String::new(),
        method_config: super::RunConfig::config_of(&ctx.cfg.method_config, &cell.method.name)
            .to_string(),
        augment: ctx.cfg.train.augment.name().into(),
        whitening: crate::whitening::record(ctx.zca),
        distilled_min: d.set.range.0,
        distilled_max: d.set.range.1,
    }
}

/// The row of `attack` at `eps` (with its per-sample lines), from the cell's clean row.
pub fn attack_row(
    ctx: &Ctx,
    base: &ResultRow,
    attack: &Plugin,
    eps: f64,
    run: AttackRun,
    key_hash: String,
) -> RowOutcome {
    let stats = PerturbationStats::new(&run.pert, &run.samples);
    let conf = super::RunConfig::config_of(&ctx.cfg.attack_config, &attack.name);
    let row = ResultRow {
        attack: attack.name.clone(),
        attack_version: attack.version.clone(),
        norm: norm_name(ctx.cfg.norm).into(),
        eps,
        robust_acc: run.robust_acc,
        n_attack: run.samples.len() as i64,
        attack_s: run.seconds,
        forward_calls: run.forward_calls,
        backward_calls: run.backward_calls,
        pert_mean: stats.mean,
        pert_max: stats.max,
        pert_median_success: stats.median_success,
        pert_mean_success: stats.mean_success,
        attack_config: conf.to_string(),
        peak_device_mib: ctx.memory.peak_mib(),
        key_hash,
        ..base.clone()
    };
    let sample_rows = sample_rows(&row, &run.samples, &run.pert);
    RowOutcome {
        row,
        samples: run.samples,
        sample_rows,
    }
}

fn sample_rows(row: &ResultRow, samples: &[Sample], pert: &[f64]) -> Vec<SampleRow> {
    samples
        .iter()
        .zip(pert)
        .map(|(s, &p)| SampleRow {
            dataset: row.dataset.clone(),
            method: row.method.clone(),
            ipc: row.ipc,
            arch: row.arch.clone(),
            seed: row.seed,
            attack: row.attack.clone(),
            norm: row.norm.clone(),
            eps: row.eps,
            index: s.index,
            label: s.label,
            clean_pred: s.clean_pred,
            adv_pred: s.adv_pred,
            pert_norm: p,
            key_hash: row.key_hash.clone(),
        })
        .collect()
}

/// Perturbation norms of one attack row (see `ResultRow::pert_*`).
struct PerturbationStats {
    mean: f64,
    max: f64,
    median_success: f64,
    mean_success: f64,
}

impl PerturbationStats {
    fn new(pert: &[f64], samples: &[Sample]) -> PerturbationStats {
        let n = pert.len().max(1) as f64;
        let mut succ: Vec<f64> = pert
            .iter()
            .zip(samples)
            .filter(|(_, s)| s.clean_pred == s.label && s.adv_pred != s.label)
            .map(|(&p, _)| p)
            .collect();
        succ.sort_by(f64::total_cmp);
        let median_success = match succ.len() {
            0 => f64::NAN,
            m if m % 2 == 1 => succ[m / 2],
            m => 0.5 * (succ[m / 2 - 1] + succ[m / 2]),
        };
        PerturbationStats {
            mean: pert.iter().sum::<f64>() / n,
            max: pert.iter().cloned().fold(0.0, f64::max),
            median_success,
            mean_success: if succ.is_empty() {
                f64::NAN
            } else {
                succ.iter().sum::<f64>() / succ.len() as f64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(label: i64, clean_pred: i64, adv_pred: i64) -> Sample {
        Sample {
            index: 0,
            label,
            clean_pred,
            adv_pred,
        }
    }

    #[test]
    fn perturbation_statistics_by_hand() {
        // successes: points 0 and 2 (right → wrong); point 1 was wrong already; point 3 held
        let s = [
            sample(1, 1, 0),
            sample(1, 0, 0),
            sample(2, 2, 1),
            sample(3, 3, 3),
        ];
        let p = PerturbationStats::new(&[0.1, 0.5, 0.3, 0.2], &s);
        assert!((p.mean - 0.275).abs() < 1e-12 && p.max == 0.5);
        assert!((p.median_success - 0.2).abs() < 1e-12);
        assert!((p.mean_success - 0.2).abs() < 1e-12);
        let none = PerturbationStats::new(&[0.1], &[sample(1, 1, 1)]);
        assert!(none.median_success.is_nan() && none.mean_success.is_nan());
    }
}
