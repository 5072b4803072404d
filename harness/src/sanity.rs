//! Sanity checks on the per-sample outcomes of one cell (one trained student, every attack and
//! ε run on it): robust ≤ clean, robust accuracy non-increasing in ε and in steps, AutoAttack no
//! weaker than its components, and gradient masking (an iterative gradient attack far weaker than
//! `square`, than itself with more steps, or weaker than single-step `fgsm`). Each check names
//! the row it flags.

use crate::record::ResultRow;
use std::collections::{BTreeMap, BTreeSet};

/// Slack, in accuracy points, for comparisons between stochastic attacks (random starts).
pub const TOLERANCE_POINTS: f64 = 0.5;
/// A gradient attack this many points above `square` (or itself with more steps) is suspect.
pub const MASKING_GAP_POINTS: f64 = 5.0;

/// The flag names, as written in the `flags` column (semicolon-separated).
pub const ROBUST_ABOVE_CLEAN: &str = "robust_above_clean";
pub const ROBUST_MISCOUNTED: &str = "robust_miscounted";
pub const EPS_NOT_MONOTONE: &str = "eps_not_monotone";
pub const STEPS_NOT_MONOTONE: &str = "steps_not_monotone";
pub const AUTOATTACK_ABOVE_COMPONENT: &str = "autoattack_above_component";
pub const GRADIENT_MASKING: &str = "gradient_masking";

/// One attacked point: test-set index, label, clean and adversarial predictions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub index: i64,
    pub label: i64,
    pub clean_pred: i64,
    pub adv_pred: i64,
}

impl Sample {
    /// Robust: right before and after the attack.
    pub fn robust(&self) -> bool {
        self.clean_pred == self.label && self.adv_pred == self.label
    }
}

/// One attack row of a cell with its per-sample outcomes.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The row's key (`ResultRow::key`).
    pub key: String,
    pub attack: String,
    pub norm: String,
    pub eps: f64,
    /// The `steps` the attack was configured with, if given.
    pub steps: Option<i64>,
    /// The robust accuracy (%) the row reports.
    pub reported_robust: f64,
    pub samples: Vec<Sample>,
}

impl Outcome {
    /// From a result row and its samples (steps read from the row's `attack_config`).
    pub fn from_row(row: &ResultRow, samples: Vec<Sample>) -> Outcome {
        let steps = serde_json::from_str::<serde_json::Value>(&row.attack_config)
            .ok()
            .and_then(|c| c.get("steps").and_then(|s| s.as_i64()));
        Outcome {
            key: row.key(),
            attack: row.attack.clone(),
            norm: row.norm.clone(),
            eps: row.eps,
            steps,
            reported_robust: row.robust_acc,
            samples,
        }
    }
}

/// Robust accuracy (%) of `o` restricted to the test indices in `on`.
fn robust_on(o: &Outcome, on: &BTreeSet<i64>) -> f64 {
    let pts: Vec<&Sample> = o.samples.iter().filter(|s| on.contains(&s.index)).collect();
    100.0 * pts.iter().filter(|s| s.robust()).count() as f64 / pts.len().max(1) as f64
}

/// Test indices both outcomes attacked.
fn common(a: &Outcome, b: &Outcome) -> BTreeSet<i64> {
    let ia: BTreeSet<i64> = a.samples.iter().map(|s| s.index).collect();
    b.samples
        .iter()
        .map(|s| s.index)
        .filter(|i| ia.contains(i))
        .collect()
}

fn is_gradient_attack(name: &str) -> bool {
    name == "fgsm" || is_iterative_gradient_attack(name)
}

/// Iterative gradient attacks: single-step FGSM is expected to trail `square`, these are not.
fn is_iterative_gradient_attack(name: &str) -> bool {
    matches!(name, "pgd" | "pgdl2" | "mim") || name.starts_with("apgd")
}

fn is_autoattack_component(name: &str) -> bool {
    name.starts_with("apgd") || name.starts_with("fab") || name == "square"
}

/// The flags of every outcome of one cell, by row key (rows without flags are absent).
pub fn check(outcomes: &[Outcome]) -> BTreeMap<String, Vec<&'static str>> {
    let mut flags: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    let mut raise = |key: &str, flag: &'static str| {
        let f = flags.entry(key.to_string()).or_default();
        if !f.contains(&flag) {
            f.push(flag);
        }
    };
    for o in outcomes.iter().filter(|o| !o.samples.is_empty()) {
        let n = o.samples.len() as f64;
        let clean = 100.0 * o.samples.iter().filter(|s| s.clean_pred == s.label).count() as f64 / n;
        let robust = 100.0 * o.samples.iter().filter(|s| s.robust()).count() as f64 / n;
        if o.reported_robust > clean + 50.0 / n {
            raise(&o.key, ROBUST_ABOVE_CLEAN);
        }
        // off by at least one point (the row's accuracy is a float32 mean)
        if (o.reported_robust - robust).abs() > 50.0 / n {
            raise(&o.key, ROBUST_MISCOUNTED);
        }
    }
    for a in outcomes {
        for b in outcomes {
            if a.key == b.key || a.norm != b.norm {
                continue;
            }
            let on = common(a, b);
            if on.is_empty() {
                continue;
            }
            let (ra, rb) = (robust_on(a, &on), robust_on(b, &on));
            let same_attack = a.attack == b.attack;
            // b at a larger ε (same attack, same steps) must not be more robust
            if same_attack && a.steps == b.steps && b.eps > a.eps && rb > ra + TOLERANCE_POINTS {
                raise(&b.key, EPS_NOT_MONOTONE);
            }
            // b with more steps (same attack, same ε) must not be more robust
            let more_steps = matches!((a.steps, b.steps), (Some(x), Some(y)) if y > x);
            if same_attack && a.eps == b.eps && more_steps {
                if rb > ra + TOLERANCE_POINTS {
                    raise(&b.key, STEPS_NOT_MONOTONE);
                }
                // a, with fewer steps, far weaker than b: the gradient may be masked
                if is_gradient_attack(&a.attack) && ra > rb + MASKING_GAP_POINTS {
                    raise(&a.key, GRADIENT_MASKING);
                }
            }
            if a.eps == b.eps
                && a.attack == "autoattack"
                && is_autoattack_component(&b.attack)
                && ra > rb + TOLERANCE_POINTS
            {
                raise(&a.key, AUTOATTACK_ABOVE_COMPONENT);
            }
            if a.eps == b.eps
                && is_iterative_gradient_attack(&a.attack)
                && b.attack == "square"
                && ra > rb + MASKING_GAP_POINTS
            {
                raise(&a.key, GRADIENT_MASKING);
            }
            // an iterative attack weaker than one FGSM step (Athalye et al. 2018's first sign)
            if a.eps == b.eps
                && a.attack == "fgsm"
                && is_iterative_gradient_attack(&b.attack)
                && rb > ra + TOLERANCE_POINTS
            {
                raise(&b.key, GRADIENT_MASKING);
            }
        }
    }
    flags
}

/// The run summary's line about the `flags` column of the attack rows.
pub fn summary_line(rows: &[ResultRow]) -> String {
    let attacked = rows.iter().filter(|r| r.attack != "none").count();
    let flagged: Vec<String> = rows
        .iter()
        .filter(|r| !r.flags.is_empty())
        .map(|r| {
            format!(
                "{} ipc {} seed {} {} eps {:.4}: {}",
                r.method, r.ipc, r.seed, r.attack, r.eps, r.flags
            )
        })
        .collect();
    if flagged.is_empty() {
        format!("sanity checks: no flags on {attacked} attack row(s)")
    } else {
        format!(
            "sanity checks: {} of {attacked} attack row(s) flagged — {}",
            flagged.len(),
            flagged.join("; ")
        )
    }
}

/// The `flags` column value for a row key (empty when none).
pub fn flags_text(flags: &BTreeMap<String, Vec<&'static str>>, key: &str) -> String {
    flags.get(key).map(|f| f.join(";")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outcome on points 0..n with labels 0, of which the first `clean` are clean-right and
    /// the first `robust` (≤ clean) stay right under attack.
    fn outcome(
        attack: &str,
        eps: f64,
        steps: Option<i64>,
        n: i64,
        clean: i64,
        robust: i64,
    ) -> Outcome {
        let samples: Vec<Sample> = (0..n)
            .map(|i| Sample {
                index: i,
                label: 0,
                clean_pred: if i < clean { 0 } else { 1 },
                adv_pred: if i < robust { 0 } else { 1 },
            })
            .collect();
        Outcome {
            key: format!("{attack}|{eps}|{steps:?}"),
            attack: attack.into(),
            norm: "linf".into(),
            eps,
            steps,
            reported_robust: 100.0 * robust as f64 / n as f64,
            samples,
        }
    }

    fn flags_of(outcomes: &[Outcome]) -> Vec<(String, Vec<&'static str>)> {
        check(outcomes).into_iter().collect()
    }

    #[test]
    fn a_normal_cell_has_no_flags() {
        let o = [
            outcome("fgsm", 0.03, None, 100, 80, 40),
            outcome("pgd", 0.01, None, 100, 80, 50),
            outcome("pgd", 0.03, None, 100, 80, 20),
            outcome("pgd", 0.03, Some(50), 100, 80, 18),
            outcome("square", 0.03, None, 100, 80, 22),
            outcome("apgd-ce", 0.03, None, 100, 80, 17),
            outcome("autoattack", 0.03, None, 100, 80, 15),
        ];
        assert!(flags_of(&o).is_empty(), "{:?}", flags_of(&o));
    }

    #[test]
    fn robust_above_clean_and_miscounts_are_flagged() {
        let mut a = outcome("pgd", 0.03, None, 100, 80, 20);
        a.reported_robust = 85.0;
        let mut b = outcome("fgsm", 0.03, None, 100, 80, 30);
        b.reported_robust = 31.0;
        // a point wrong on clean data but right after the attack does not count as robust
        let mut c = outcome("mim", 0.03, None, 10, 5, 5);
        c.samples[9].adv_pred = 0;
        let f = check(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(f[&a.key], vec![ROBUST_ABOVE_CLEAN, ROBUST_MISCOUNTED]);
        assert_eq!(f[&b.key], vec![ROBUST_MISCOUNTED]);
        assert!(!f.contains_key(&c.key), "{f:?}");
    }

    #[test]
    fn robust_rising_with_eps_is_flagged_on_the_larger_eps() {
        let small = outcome("pgd", 0.01, None, 100, 80, 30);
        let large = outcome("pgd", 0.03, None, 100, 80, 35);
        let f = check(&[small.clone(), large.clone()]);
        assert_eq!(flags_of(&[small.clone(), large.clone()]).len(), 1);
        assert_eq!(f[&large.key], vec![EPS_NOT_MONOTONE]);
        // within the tolerance (stochastic attacks): no flag
        let o = [
            outcome("pgd", 0.01, None, 1000, 800, 300),
            outcome("pgd", 0.03, None, 1000, 800, 304),
        ];
        assert!(check(&o).is_empty());
        // different attacks are not compared
        assert!(check(&[outcome("fgsm", 0.01, None, 100, 80, 30), large]).is_empty());
    }

    #[test]
    fn robust_rising_with_steps_is_flagged_and_far_fewer_steps_is_masking() {
        let few = outcome("pgd", 0.03, Some(10), 100, 80, 30);
        let many = outcome("pgd", 0.03, Some(100), 100, 80, 34);
        assert_eq!(
            check(&[few.clone(), many.clone()])[&many.key],
            vec![STEPS_NOT_MONOTONE]
        );
        let many = outcome("pgd", 0.03, Some(100), 100, 80, 20);
        assert_eq!(
            check(&[few.clone(), many.clone()])[&few.key],
            vec![GRADIENT_MASKING]
        );
        let many = outcome("pgd", 0.03, Some(100), 100, 80, 27);
        assert!(check(&[few, many]).is_empty());
    }

    #[test]
    fn autoattack_above_a_component_is_flagged() {
        let aa = outcome("autoattack", 0.03, None, 100, 80, 25);
        for comp in ["apgd-ce", "apgd-t", "fab-t", "square"] {
            let c = outcome(comp, 0.03, None, 100, 80, 20);
            assert_eq!(
                check(&[aa.clone(), c])[&aa.key],
                vec![AUTOATTACK_ABOVE_COMPONENT],
                "{comp}"
            );
        }
        // not against a non-component, nor at another ε
        assert!(check(&[aa.clone(), outcome("pgd", 0.03, None, 100, 80, 20)]).is_empty());
        assert!(check(&[aa, outcome("square", 0.01, None, 100, 80, 20)]).is_empty());
    }

    #[test]
    fn a_gradient_attack_far_weaker_than_square_is_masking() {
        let sq = outcome("square", 0.03, None, 100, 80, 20);
        for g in ["pgd", "mim", "apgd-ce"] {
            let a = outcome(g, 0.03, None, 100, 80, 26);
            assert_eq!(
                check(&[a.clone(), sq.clone()])[&a.key],
                vec![GRADIENT_MASKING],
                "{g}"
            );
            let a = outcome(g, 0.03, None, 100, 80, 24);
            assert!(check(&[a, sq.clone()]).is_empty(), "{g} within the gap");
        }
        // single-step FGSM trailing square is expected; a non-gradient attack is not flagged
        assert!(check(&[outcome("fgsm", 0.03, None, 100, 80, 40), sq.clone()]).is_empty());
        assert!(check(&[outcome("cw", 0.03, None, 100, 80, 40), sq]).is_empty());
    }

    #[test]
    fn an_iterative_attack_weaker_than_fgsm_is_masking() {
        let fgsm = outcome("fgsm", 0.03, None, 100, 80, 30);
        let pgd = outcome("pgd", 0.03, None, 100, 80, 33);
        assert_eq!(
            check(&[fgsm.clone(), pgd.clone()])[&pgd.key],
            vec![GRADIENT_MASKING]
        );
        let pgd = outcome("pgd", 0.03, None, 100, 80, 20);
        assert!(check(&[fgsm.clone(), pgd]).is_empty());
        // at another ε there is nothing to compare
        assert!(check(&[fgsm, outcome("pgd", 0.01, None, 100, 80, 33)]).is_empty());
    }

    #[test]
    fn only_common_points_are_compared() {
        // the larger ε attacked other points (indices 100..200) with a higher accuracy: no flag
        let small = outcome("pgd", 0.01, None, 100, 80, 10);
        let mut large = outcome("pgd", 0.03, None, 100, 80, 50);
        for s in &mut large.samples {
            s.index += 100;
        }
        assert!(check(&[small, large]).is_empty());
    }
}
