//! The two selections, as pure functions of one class's feature matrix `[n, d]` (float32 or
//! float64, on any device): each returns `k` distinct row indices in pick order. Every step stays
//! on the device; the picks are read back once at the end. Ties go to the lowest index (torch's
//! `argmin` / `argmax`, as NumPy's). `tests/coreset_mirror.py` is a NumPy mirror of both.

use tch::{Kind, Tensor};

fn checked(features: &Tensor, k: i64) -> (i64, Kind) {
    let size = features.size();
    assert_eq!(size.len(), 2, "features must be [n, d], got {size:?}");
    assert!(
        (0..=size[0]).contains(&k),
        "cannot pick {k} of {} samples",
        size[0]
    );
    let kind = match features.kind() {
        Kind::Double => Kind::Double,
        _ => Kind::Float,
    };
    (size[0], kind)
}

/// Squared Euclidean distance of every row of `f` (`[n, d]`) to the row vector `c` (`[1, d]`).
fn sq_dist(f: &Tensor, c: &Tensor, kind: Kind) -> Tensor {
    (f - c).square().sum_dim_intlist(1, false, kind)
}

fn to_host(picks: &[Tensor]) -> Vec<i64> {
    if picks.is_empty() {
        return Vec::new();
    }
    Vec::<i64>::try_from(Tensor::cat(picks, 0).to_device(tch::Device::Cpu)).expect("int64 picks")
}

/// Herding (Welling 2009; the exemplar selection of Rebuffi et al., iCaRL 2017, Alg. 4): with
/// μ the mean of all rows and s the sum of the rows picked so far, step t = 1..k picks the
/// unpicked row i minimising ‖μ − (s + fᵢ)/t‖² (no feature normalisation: the penultimate
/// ConvNet features as they are).
pub fn herding(features: &Tensor, k: i64) -> Vec<i64> {
    let (n, kind) = checked(features, k);
    let f = features.to_kind(kind);
    let mean = f.mean_dim(0, true, kind);
    let mut sum = Tensor::zeros_like(&mean);
    let mut taken = Tensor::zeros([n], (Kind::Bool, f.device()));
    let mut picks = Vec::with_capacity(k as usize);
    for t in 1..=k {
        let dist = sq_dist(&((&sum + &f) / t as f64), &mean, kind);
        let i = dist.masked_fill(&taken, f64::INFINITY).argmin(0, true);
        sum += f.index_select(0, &i);
        taken = taken.index_fill(0, &i, 1);
        picks.push(i);
    }
    to_host(&picks)
}

/// Greedy k-center (Gonzalez 1985; Sener & Savarese 2018's coreset): the first centre is the
/// row nearest the mean of all rows (a deterministic, seed-free start that makes `k = 1` the
/// class's most central sample, the same pick as herding's first); then each step picks the
/// unpicked row farthest from its nearest centre. Euclidean distances, compared squared (the
/// same order).
pub fn kcenter(features: &Tensor, k: i64) -> Vec<i64> {
    let (n, kind) = checked(features, k);
    if k == 0 {
        return Vec::new();
    }
    let f = features.to_kind(kind);
    let mean = f.mean_dim(0, true, kind);
    let first = sq_dist(&f, &mean, kind).argmin(0, true);
    let mut nearest = sq_dist(&f, &f.index_select(0, &first), kind);
    let mut taken = Tensor::zeros([n], (Kind::Bool, f.device())).index_fill(0, &first, 1);
    let mut picks = vec![first];
    for _ in 1..k {
        let i = nearest.masked_fill(&taken, -1.0).argmax(0, true);
        nearest = nearest.minimum(&sq_dist(&f, &f.index_select(0, &i), kind));
        taken = taken.index_fill(0, &i, 1);
        picks.push(i);
    }
    to_host(&picks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn points(rows: &[[f64; 2]]) -> Tensor {
        Tensor::from_slice(&rows.concat()).view([-1, 2])
    }

    #[test]
    fn herding_picks_by_hand() {
        // mean (1, 0): the centre first, then the pair whose running mean returns to it
        let f = points(&[[0.0, 0.0], [1.0, 0.1], [2.0, 0.0], [5.0, -0.1], [-3.0, 0.0]]);
        assert_eq!(herding(&f, 1), vec![1]);
        // t = 2: (f1 + fi)/2 nearest (1, 0): fi = (1, -0.1) is absent; (0,0) → (0.5, 0.05),
        // (2,0) → (1.5, 0.05), (5,-0.1) → (3, 0), (-3,0) → (-1, 0.05): a tie of 0.5 vs 0.5
        // in x between rows 0 and 2, same y: the lower index wins
        assert_eq!(herding(&f, 2), vec![1, 0]);
        // t = 3 with s = (1, 0.1): 2 → (1, 0.033); 3 → (2, 0); 4 → (-2/3, 0.033)
        assert_eq!(herding(&f, 3), vec![1, 0, 2]);
        assert_eq!(herding(&f, 5).len(), 5);
    }

    #[test]
    fn kcenter_picks_by_hand_and_never_repeats() {
        let f = points(&[[0.0, 0.0], [1.0, 0.1], [2.0, 0.0], [5.0, -0.1], [-3.0, 0.0]]);
        // nearest the mean (1, 0): row 1; farthest from it: row 3 (16.04); then row 4 (16.01
        // from row 1, 64.01 from row 3); then rows 0 and 2, both 1.01 from row 1: lower first
        assert_eq!(kcenter(&f, 3), vec![1, 3, 4]);
        assert_eq!(kcenter(&f, 5), vec![1, 3, 4, 0, 2]);
        // duplicates: every row once even when distances are all zero
        let same = Tensor::ones([4, 3], (Kind::Float, Device::Cpu));
        assert_eq!(kcenter(&same, 4), vec![0, 1, 2, 3]);
        assert_eq!(herding(&same, 4), vec![0, 1, 2, 3]);
        assert!(kcenter(&same, 0).is_empty() && herding(&same, 0).is_empty());
    }

    #[test]
    #[should_panic(expected = "cannot pick 3 of 2 samples")]
    fn more_picks_than_samples_is_a_bug_of_the_caller() {
        herding(&Tensor::zeros([2, 2], (Kind::Float, Device::Cpu)), 3);
    }
}
