//! APGD's step-size control: the checkpoints at which the step size may halve, and the test a
//! checkpoint applies. Two forms: the reference code's (fra31/auto-attack `autopgd_base.py`,
//! ported by torchattacks 3.5.1 `APGD`/`APGDT`), the default, and the paper's real-valued one.

use ddbench_plugin_api::PluginResult;
use tch::{Kind, Tensor};

/// Which form of the step-size schedule APGD follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Schedule {
    /// As the reference code runs it: integer window lengths, the first `max(⌊0.22·n⌋, 1)`
    /// iterations long, each next one `max(⌊0.03·n⌋, 1)` shorter down to `max(⌊0.06·n⌋, 1)`;
    /// a checkpoint halves where at most `rho·window` of the window's steps improved.
    #[default]
    Reference,
    /// As the paper writes it (Croce & Hein 2020, §3.2): `w_j = ⌈p_j·n⌉`, and a checkpoint
    /// halves where fewer than `rho·window` steps improved.
    Paper,
}

impl Schedule {
    pub fn parse(s: &str) -> PluginResult<Schedule> {
        match s {
            "reference" => Ok(Schedule::Reference),
            "paper" => Ok(Schedule::Paper),
            other => Err(format!(
                "config key 'schedule': expected \"reference\" or \"paper\", got \"{other}\""
            )
            .into()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Schedule::Reference => "reference",
            Schedule::Paper => "paper",
        }
    }

    /// The iterations (1-based counts, each ≤ `steps`) after which a checkpoint runs.
    pub fn checkpoints(self, steps: i64) -> Vec<i64> {
        match self {
            Schedule::Reference => reference_checkpoints(steps),
            Schedule::Paper => paper_checkpoints(steps),
        }
    }
}

/// `⌊f·n⌋` as Python's `int(f * n)` computes it (same float product, truncated), at least 1.
fn fraction_of(f: f64, n: i64) -> i64 {
    ((f * n as f64) as i64).max(1)
}

/// The reference's checkpoints: a counter runs up to a window length `k` (first
/// `max(⌊0.22·n⌋, 1)`), a checkpoint fires, the counter restarts and `k` shrinks by
/// `max(⌊0.03·n⌋, 1)`, never below `max(⌊0.06·n⌋, 1)`.
pub fn reference_checkpoints(steps: i64) -> Vec<i64> {
    let shortest = fraction_of(0.06, steps);
    let shrink = fraction_of(0.03, steps);
    let mut window = fraction_of(0.22, steps);
    let mut at = window;
    let mut out = Vec::new();
    while at <= steps {
        out.push(at);
        window = (window - shrink).max(shortest);
        at += window;
    }
    out
}

/// The paper's checkpoints `w_j = ⌈p_j · steps⌉` with `p_0 = 0`, `p_1 = 0.22`,
/// `p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)`, for `0 < w_j ≤ steps` (strictly increasing).
pub fn paper_checkpoints(steps: i64) -> Vec<i64> {
    // p_j in hundredths, so the schedule is exact integer arithmetic
    let (mut prev, mut cur) = (0i64, 22i64);
    let mut out: Vec<i64> = Vec::new();
    while cur <= 100 {
        let w = (cur * steps + 99) / 100;
        if w > 0 && w <= steps && out.last().is_none_or(|&l| w > l) {
            out.push(w);
        }
        let next = cur + (cur - prev - 3).max(6);
        prev = cur;
        cur = next;
    }
    out
}

/// The per-point state the checkpoints look at: improving steps since the last checkpoint,
/// the previous iterate's loss, whether the last checkpoint halved, and the best loss then.
pub struct StepControl {
    schedule: Schedule,
    rho: f64,
    checks: Vec<i64>,
    next: usize,
    last_check: i64,
    n_improving: Tensor,
    loss_prev: Tensor,
    reduced_last: Tensor,
    loss_max_last: Tensor,
}

impl StepControl {
    /// The control for `steps` iterations from a start whose loss is `start_loss` (`[B]`).
    pub fn new(schedule: Schedule, rho: f64, steps: i64, start_loss: &Tensor) -> StepControl {
        // The reference keeps the iterates' losses in a zero-filled history and compares the
        // first iterate with the slot before it, which wraps to an unfilled row: 0, not the
        // start's loss. The paper compares with the start.
        let loss_prev = match schedule {
            Schedule::Reference => start_loss.zeros_like(),
            Schedule::Paper => start_loss.copy(),
        };
        StepControl {
            schedule,
            rho,
            checks: schedule.checkpoints(steps),
            next: 0,
            last_check: 0,
            n_improving: start_loss.zeros_like().to_kind(Kind::Float),
            loss_prev,
            reduced_last: start_loss.ones_like().to_kind(Kind::Bool),
            loss_max_last: start_loss.copy(),
        }
    }

    /// Counts the loss of the iterate just reached (`[B]`).
    pub fn observe(&mut self, loss: &Tensor) {
        self.n_improving += loss.gt_tensor(&self.loss_prev).to_kind(Kind::Float);
        self.loss_prev = loss.copy();
    }

    /// After iteration `i` (0-based) with best losses `loss_max`: at a checkpoint, the points
    /// whose step size halves and which restart from their best point; elsewhere `None`.
    pub fn check(&mut self, i: i64, loss_max: &Tensor) -> Option<Tensor> {
        let at = *self.checks.get(self.next)?;
        if i + 1 != at {
            return None;
        }
        let limit = self.rho * (at - self.last_check) as f64;
        let too_few = match self.schedule {
            Schedule::Reference => self.n_improving.le(limit),
            Schedule::Paper => self.n_improving.lt(limit),
        };
        let stalled = self
            .reduced_last
            .logical_not()
            .logical_and(&loss_max.le_tensor(&self.loss_max_last));
        let reduce = too_few.logical_or(&stalled);
        if self.schedule == Schedule::Paper {
            // the next step is compared with the point it restarts from
            self.loss_prev = loss_max.where_self(&reduce, &self.loss_prev);
        }
        self.reduced_last = reduce.copy();
        self.loss_max_last = loss_max.copy();
        self.n_improving = self.n_improving.zero_();
        self.last_check = at;
        self.next += 1;
        Some(reduce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers worked out by hand from the reference formulas (and checked against a
    // replay of the reference's counter loop in Python):
    // n = 5: k = 1, 1, …; n = 10: k = 2, 1, …; n = 20: k = 4, 3, 2, 1, …;
    // n = 100: k = 22, 19, 16, 13, 10, 7, 6, 6 (the next would end at 105).
    #[test]
    fn reference_checkpoints_known_answers() {
        let r = |n| Schedule::Reference.checkpoints(n);
        assert_eq!(r(1), vec![1]);
        assert_eq!(r(5), vec![1, 2, 3, 4, 5]);
        assert_eq!(r(10), vec![2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(
            r(20),
            vec![4, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
        );
        assert_eq!(r(100), vec![22, 41, 57, 70, 80, 87, 93, 99]);
    }

    // p = 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99, times n, rounded up, repeats dropped
    #[test]
    fn paper_checkpoints_known_answers() {
        let p = |n| Schedule::Paper.checkpoints(n);
        assert_eq!(p(5), vec![2, 3, 4, 5]);
        assert_eq!(p(10), vec![3, 5, 6, 7, 8, 9, 10]);
        assert_eq!(p(20), vec![5, 9, 12, 14, 16, 18, 19, 20]);
        assert_eq!(p(100), vec![22, 41, 57, 70, 80, 87, 93, 99]);
    }

    #[test]
    fn schedule_names_parse_back() {
        for s in [Schedule::Reference, Schedule::Paper] {
            assert_eq!(Schedule::parse(s.name()).unwrap(), s);
        }
        let e = Schedule::parse("linear").unwrap_err().0;
        assert!(e.contains("'schedule'") && e.contains("\"linear\""), "{e}");
    }

    /// Two iterations of 4, rho 0.75, window 2 at the reference's first checkpoint (n = 10):
    /// one improving step of two is 1 ≤ 1.5, so the reference halves; with two improving
    /// steps (2 > 1.5) it does not. The reference counts the first step against 0.
    #[test]
    fn reference_check_counts_against_zero_and_halves_at_the_limit() {
        let start = Tensor::from_slice(&[5.0f32, 5.0]);
        let mut c = StepControl::new(Schedule::Reference, 0.75, 10, &start);
        c.observe(&Tensor::from_slice(&[1.0f32, -1.0]));
        assert!(c.check(0, &start).is_none());
        c.observe(&Tensor::from_slice(&[2.0f32, 0.5]));
        let reduce = Vec::<bool>::try_from(c.check(1, &start).unwrap()).unwrap();
        // point 0: 1 > 0 and 2 > 1 improve (2 > 1.5, kept); point 1: only 0.5 > −1 (halves)
        assert_eq!(reduce, vec![false, true]);
    }
}
