//! Leaderboard metrics: statistics over seeds (mean, sample std, Student-t 95 % interval), worst
//! case over attacks, area under the robust-accuracy-vs-ε curve, and the published composite
//! scores BEARD RR / AE / CREI and ROME I-RR (definitions and their weaknesses in README.md).

/// Mean, sample standard deviation and the half-width of the two-sided 95 % Student-t interval
/// over `n` values (std 0 and interval NaN for one value).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
    pub ci95: f64,
    pub n: usize,
}

/// Mean (NaN for no values) and sample standard deviation (0 for fewer than two values).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = mean(v);
    let s = if v.len() > 1 {
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (m, s)
}

/// The mean of `v` (NaN for no values).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The 0.975 quantile of Student's t with `dof` degrees of freedom (NaN for 0), rounded to three
/// decimals as printed tables give it (so the intervals of up to 31 seeds are the table's).
pub fn t975(dof: usize) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    match StudentsT::new(0.0, 1.0, dof as f64) {
        Ok(t) if dof > 0 => (t.inverse_cdf(0.975) * 1000.0).round() / 1000.0,
        _ => f64::NAN,
    }
}

/// Statistics of the finite values of `v` (NaN mean when none).
pub fn stat(v: &[f64]) -> Stat {
    let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len();
    if n == 0 {
        return Stat {
            mean: f64::NAN,
            std: f64::NAN,
            ci95: f64::NAN,
            n,
        };
    }
    let (mean, std) = mean_std(&v);
    let ci95 = t975(n.saturating_sub(1)) * std / (n as f64).sqrt();
    Stat { mean, std, ci95, n }
}

/// Attack success per attack: ASR_i = clean − robust_i (accuracy points).
pub fn asr(clean: f64, robust: &[f64]) -> Vec<f64> {
    robust.iter().map(|r| clean - r).collect()
}

/// BEARD's Robustness Ratio: RR = 100 · (1 − mean ASR / max ASR); 0 when max ASR is 0 (as the
/// official code). With a single attack it is always 0; it ignores clean accuracy.
pub fn beard_rr(clean: f64, robust: &[f64]) -> f64 {
    let a = asr(clean, robust);
    if a.is_empty() {
        return f64::NAN;
    }
    let mean = mean(&a);
    let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == 0.0 {
        return 0.0;
    }
    100.0 * (1.0 - mean / max)
}

/// BEARD's Attack Efficiency Ratio: AE = 100 · (mean T − T₀) / (max T − T₀) over the attacks'
/// times T (seconds); T₀ is the clean inference time (0 here: ddbench does not time a separate
/// clean pass). 0 when max T = T₀.
pub fn beard_ae(clean_time: f64, attack_times: &[f64]) -> f64 {
    if attack_times.is_empty() {
        return f64::NAN;
    }
    let mean = mean(attack_times);
    let max = attack_times
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    if max == clean_time {
        return 0.0;
    }
    100.0 * (mean - clean_time) / (max - clean_time)
}

/// BEARD's Comprehensive Robustness-Efficiency Index with α = ½: CREI = ½ RR + ½ AE.
pub fn crei(rr: f64, ae: f64) -> f64 {
    0.5 * rr + 0.5 * ae
}

/// ROME's Improved Robustness Ratio: I-RR = 100 · (1 − mean ASR · max ASR / A²), A = clean accuracy.
pub fn rome_irr(clean: f64, robust: &[f64]) -> f64 {
    let a = asr(clean, robust);
    if a.is_empty() || clean == 0.0 {
        return f64::NAN;
    }
    let mean = mean(&a);
    let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    100.0 * (1.0 - mean * max / (clean * clean))
}

/// Normalised area under the robust-accuracy-vs-ε curve: the trapezoid rule over (0, clean) and
/// the points `(ε, robust)`, divided by the largest ε — so it is an accuracy in [0, 100], the
/// mean robust accuracy over ε ∈ [0, ε_max]. NaN when there is no ε > 0.
pub fn auc(clean: f64, curve: &[(f64, f64)]) -> f64 {
    let mut pts: Vec<(f64, f64)> = curve.iter().copied().filter(|p| p.0 > 0.0).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let Some(&(emax, _)) = pts.last() else {
        return f64::NAN;
    };
    let mut prev = (0.0, clean);
    let mut area = 0.0;
    for p in pts {
        area += (p.0 - prev.0) * (p.1 + prev.1) / 2.0;
        prev = p;
    }
    area / emax
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn statistics_by_hand() {
        // 70, 72, 74: mean 72, squared deviations 4 + 0 + 4 = 8, variance 8/2 = 4, std 2,
        // 95 % half-width t(2) · 2 / √3 = 4.303 · 1.154700538 = 4.968676...
        let s = stat(&[70.0, 72.0, 74.0]);
        assert!(close(s.mean, 72.0) && close(s.std, 2.0));
        assert!(close(s.ci95, 4.303 * 2.0 / 3f64.sqrt()));
        assert_eq!(s.n, 3);
        let one = stat(&[5.0]);
        assert_eq!((one.mean, one.std), (5.0, 0.0));
        assert!(one.ci95.is_nan());
        assert!(stat(&[f64::NAN]).mean.is_nan());
    }

    #[test]
    fn composite_scores_by_hand() {
        // clean 80; robust 60 (FGSM), 40 (PGD), 50 (MIM): ASR 20, 40, 30; mean 30, max 40
        let (c, r) = (80.0, [60.0, 40.0, 50.0]);
        // RR = 100 · (1 − 30/40) = 25
        assert!(close(beard_rr(c, &r), 25.0));
        // I-RR = 100 · (1 − 30 · 40 / 80²) = 100 · (1 − 1200/6400) = 81.25
        assert!(close(rome_irr(c, &r), 81.25));
        // times 1, 5, 3 s, T₀ = 0: AE = 100 · 3/5 = 60; with T₀ = 1: 100 · (3 − 1)/(5 − 1) = 50
        assert!(close(beard_ae(0.0, &[1.0, 5.0, 3.0]), 60.0));
        assert!(close(beard_ae(1.0, &[1.0, 5.0, 3.0]), 50.0));
        // CREI = ½ 25 + ½ 60 = 42.5
        assert!(close(crei(25.0, 60.0), 42.5));
        // one attack: RR is 0 whatever the robustness (a known weakness)
        assert_eq!(beard_rr(80.0, &[79.0]), 0.0);
        // no attack succeeds: max ASR 0 → 0 (as BEARD's code)
        assert_eq!(beard_rr(80.0, &[80.0, 80.0]), 0.0);
    }

    #[test]
    fn auc_by_hand() {
        // clean 80 at ε 0, 60 at 4/255, 40 at 8/255: trapezoids (4/255)·(80+60)/2 + (4/255)·(60+40)/2
        // = (4/255)·120, divided by 8/255 → 60
        let e = 1.0 / 255.0;
        assert!(close(auc(80.0, &[(8.0 * e, 40.0), (4.0 * e, 60.0)]), 60.0));
        // a single ε: (clean + robust)/2
        assert!(close(auc(80.0, &[(8.0 * e, 40.0)]), 60.0));
        assert!(auc(80.0, &[]).is_nan());
    }

    #[test]
    fn t_quantiles_known_answers() {
        assert_eq!((t975(1), t975(9), t975(35)), (12.706, 2.262, 2.030));
        // what the hand-written table gave 31–40 degrees of freedom: t(40)
        assert_eq!(t975(40), 2.021);
        assert_eq!((t975(60), t975(120), t975(1000)), (2.000, 1.980, 1.962));
        assert!(t975(0).is_nan());
        // the printed table (1..=30 degrees of freedom), which the report used before statrs
        const TABLE: [f64; 30] = [
            12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
            2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
            2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
        ];
        for (i, t) in TABLE.iter().enumerate() {
            assert_eq!(t975(i + 1), *t, "{} degrees of freedom", i + 1);
        }
    }

    #[test]
    fn mean_and_sample_std_by_hand() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum to 32, variance 32/7
        let (m, s) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!(close(m, 5.0) && close(s, (32.0f64 / 7.0).sqrt()));
        assert_eq!(mean_std(&[3.5]), (3.5, 0.0));
        assert!(mean(&[]).is_nan());
    }
}
