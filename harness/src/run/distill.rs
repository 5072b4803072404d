//! The distillation stage: a method plugin makes a cell's distilled set; its typed hints give
//! the student's DD settings and, for SRe2L-style methods, the teacher.

use super::checkpoints::CellFiles;
use super::grid::Cell;
use super::kept_set as kept;
use super::teacher::Teacher;
use super::Ctx;
use crate::plugin::{self, DistillOutcome};
use ddbench_nn::TrainConfig;
use ddbench_plugin_api::Hints;
use std::time::Instant;

/// A cell's distilled set and what comes with it.
pub struct Distilled {
    pub set: DistillOutcome,
    /// The DD protocol's settings for this set (the run's, overridden by the method's hints).
    pub dd: TrainConfig,
    pub teacher: Option<Teacher>,
    pub seconds: f64,
}

/// Runs the cell's method — or takes the set a stopped run of the same cell kept — then the
/// hints' settings and teacher; a failure is the cell's (reported, the run goes on).
pub fn distill(ctx: &Ctx, cell: &Cell) -> Result<Distilled, String> {
    let label = cell.label();
    let method = cell.method;
    let file = CellFiles::of(&ctx.cfg.out, cell).distilled;
    let (set, seconds) = match kept::load(&file, ctx.device)? {
        Some(kept) => {
            ctx.ui.log(&format!(
                "{label}: distilled set from {} (the method's run took {:.1}s)",
                file.display(),
                kept.1
            ));
            kept
        }
        None => {
            let (set, seconds) = run_method(ctx, cell)?;
            // a long distillation is kept until the cell's rows are recorded (not `full`'s copy)
            if seconds >= ctx.cfg.checkpoint_every && cell.method_ipc() > 0 {
                if let Err(e) = kept::save(&file, &set, seconds) {
                    ctx.ui.warn(&format!("{label}: {e}"));
                }
            }
            (set, seconds)
        }
    };
    let dd = dd_settings(&ctx.cfg.train, &set.hints)
        .map_err(|e| format!("{label}: method '{}' hints: {e}", method.name))?;
    let teacher = set
        .hints
        .teacher
        .as_ref()
        .map(|h| Teacher::load(h, ctx.device))
        .transpose()
        .map_err(|e| format!("{label}: method '{}': {e}", method.name))?;
    Ok(Distilled {
        set,
        dd,
        teacher,
        seconds,
    })
}

/// The method's run: its set and seconds.
fn run_method(ctx: &Ctx, cell: &Cell) -> Result<(DistillOutcome, f64), String> {
    let label = cell.label();
    let method = cell.method;
    let t = Instant::now();
    let bar = ctx.ui.bar(1, "distil");
    bar.set_message(label.clone());
    let conf = super::RunConfig::config_of(&ctx.cfg.method_config, &method.name);
    let set = plugin::run_distill(
        method,
        ctx.data,
        cell.method_ipc(),
        cell.seed,
        &conf,
        &ctx.cfg.cache_dir,
        &|d, n| {
            bar.set_length(n.max(1));
            bar.set_position(d);
        },
        &|m| ctx.ui.log(&format!("[{}] {m}", method.name)),
    );
    bar.finish_and_clear();
    let seconds = t.elapsed().as_secs_f64();
    let set = set.map_err(|e| format!("{label}: {e}"))?;
    Ok((set, seconds))
}

/// The DD protocol's settings for one distilled set: the run's, overridden by the hints.
fn dd_settings(base: &TrainConfig, hints: &Hints) -> Result<TrainConfig, String> {
    let mut cfg = base.clone();
    cfg.epochs = hints.epochs.unwrap_or(cfg.epochs);
    cfg.batch_size = hints.batch_size.unwrap_or(cfg.batch_size);
    cfg.lr = hints.lr.unwrap_or(cfg.lr);
    if cfg.epochs < 1 || cfg.batch_size < 1 || cfg.lr.is_nan() || cfg.lr <= 0.0 {
        return Err(format!("invalid training settings after hints: {cfg:?}"));
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_override_the_run_settings_and_bad_ones_are_refused() {
        let base = TrainConfig::default();
        let h = Hints {
            epochs: Some(2),
            lr: Some(0.5),
            ..Hints::default()
        };
        let c = dd_settings(&base, &h).unwrap();
        assert_eq!((c.epochs, c.batch_size, c.lr), (2, base.batch_size, 0.5));
        assert_eq!(dd_settings(&base, &Hints::default()).unwrap(), base);
        let bad = Hints {
            batch_size: Some(0),
            ..Hints::default()
        };
        assert!(dd_settings(&base, &bad)
            .unwrap_err()
            .contains("invalid training settings"));
    }
}
