//! A small seeded host-side generator (SplitMix64) for draws that must be identical on every
//! device and cost no device round trip: subset picks, jitter offsets, mixup coefficients.

use std::f64::consts::PI;

pub struct HostRng(u64);

impl HostRng {
    pub fn new(seed: u64) -> Self {
        HostRng(seed ^ 0xD1B5_4A32_D192_ED03)
    }

    /// The generator's whole state (for a checkpoint).
    pub fn state(&self) -> u64 {
        self.0
    }

    /// A generator in the state [`HostRng::state`] gave.
    pub fn from_state(state: u64) -> Self {
        HostRng(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in [lo, hi] (inclusive).
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (2.0 * PI * self.uniform()).cos()
    }

    /// Gamma(shape, 1) by Marsaglia & Tsang (with the U^(1/a) boost for shape < 1).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            return self.gamma(shape + 1.0) * self.uniform().powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v > 0.0 && self.uniform().ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Beta(a, b).
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        x / (x + self.gamma(b))
    }

    /// The first `k` entries of a seeded Fisher–Yates shuffle of `items` (in place).
    pub fn partial_shuffle<T>(&mut self, items: &mut [T], k: usize) {
        for i in 0..k.min(items.len()) {
            let j = i + self.below((items.len() - i) as u64) as usize;
            items.swap(i, j);
        }
    }
}

/// For each class `c`, `want(c)` indices of that class drawn without replacement with a seeded
/// shuffle (all of them if the class has fewer), in draw order.
pub fn pick_per_class(
    labels: &[i64],
    num_classes: i64,
    want: impl Fn(usize) -> usize,
    seed: u64,
) -> Vec<Vec<i64>> {
    let mut rng = HostRng::new(seed);
    let mut members: Vec<Vec<i64>> = vec![Vec::new(); num_classes.max(0) as usize];
    for (i, &l) in labels.iter().enumerate() {
        if let Some(m) = members.get_mut(l as usize) {
            m.push(i as i64);
        }
    }
    for (c, m) in members.iter_mut().enumerate() {
        let k = want(c).min(m.len());
        rng.partial_shuffle(m, k);
        m.truncate(k);
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_and_gamma_have_the_right_moments() {
        let mut r = HostRng::new(1);
        let n = 100_000;
        let g: f64 = (0..n).map(|_| r.gamma(0.8)).sum::<f64>() / n as f64;
        assert!((g - 0.8).abs() < 0.02, "E[Gamma(0.8)] = 0.8, got {g}");
        let v: Vec<f64> = (0..n).map(|_| r.beta(0.8, 0.8)).collect();
        let m = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
        // Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)) = 0.0962 for a = 0.8
        assert!(
            (m - 0.5).abs() < 0.01 && (var - 1.0 / (4.0 * 2.6)).abs() < 0.005,
            "{m} {var}"
        );
        assert!(v.iter().all(|&x| (0.0..=1.0).contains(&x)));
    }

    #[test]
    fn picks_per_class_without_repeats() {
        let labels: Vec<i64> = (0..300).map(|i| i % 3).collect();
        let p = pick_per_class(&labels, 3, |c| [5, 200, 0][c], 1);
        assert_eq!(p.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 100, 0]);
        assert!(p[0].iter().all(|&i| labels[i as usize] == 0));
        let mut all: Vec<i64> = p.concat();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 105);
        assert_eq!(p, pick_per_class(&labels, 3, |c| [5, 200, 0][c], 1));
        assert_ne!(p[0], pick_per_class(&labels, 3, |c| [5, 200, 0][c], 2)[0]);
    }

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b) = (HostRng::new(7), HostRng::new(7));
        assert!((0..10).all(|_| a.next_u64() == b.next_u64()));
        assert_ne!(HostRng::new(7).next_u64(), HostRng::new(8).next_u64());
    }
}
