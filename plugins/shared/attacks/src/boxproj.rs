//! FAB's projection step: the smallest step `d` (L∞ or L2) that moves each point `t` onto the
//! hyperplane `w·z = b` while staying in the box [0, 1]; when the box makes the hyperplane
//! unreachable, the step that gets as close as the box allows. Batched: sort + cumsum, no search.

use ddbench_plugin_api::Norm;
use tch::{Kind, Tensor};

/// A stand-in for "never" as a breakpoint (finite, so `0 · BIG` stays 0).
const BIG: f64 = 1e12;

/// `t`, `w`: `[N, D]`; `b`: `[N]`. Returns `d` `[N, D]` with `w·(t + d) = b` where feasible,
/// `t + d ∈ [0, 1]^D`, and `‖d‖` minimal in the given norm.
///
/// With `s = sign(w·t − b)` the step must lower `s·w·t` by `|w·t − b|`; coordinate `i` moves
/// against `s·w_i` by `a_i ∈ [0, cap_i]` (its room to the box). The optimum is
/// `a_i = min(λ·r_i, cap_i)` with `r_i = 1` (L∞) or `|w_i|` (L2): the reduction is piecewise
/// linear and increasing in `λ`, so sorting the breakpoints `cap_i / r_i` finds `λ` exactly.
pub fn project_onto_hyperplane_in_box(t: &Tensor, w: &Tensor, b: &Tensor, norm: Norm) -> Tensor {
    let excess = (w * t).sum_dim_intlist(1, false, Kind::Float) - b;
    let side = excess.ge(0.0).to_kind(Kind::Float) * 2.0 - 1.0;
    let need = excess.abs().unsqueeze(1);
    let ws = w * side.unsqueeze(1);
    let absw = ws.abs();
    let cap = t.where_self(&ws.gt(0.0), &(1.0 - t));
    let rate = match norm {
        Norm::Linf => absw.ne(0.0).to_kind(Kind::Float),
        Norm::L2 => absw.shallow_clone(),
    };
    let moving = rate.gt(0.0);
    let breakpoint =
        (&cap / rate.clamp_min(1e-30)).where_self(&moving, &Tensor::full_like(&cap, BIG));
    let slope = &absw * &rate;
    let full = &absw * &cap;

    let (bp_sorted, order) = breakpoint.sort(1, false);
    let slope_s = slope.gather(1, &order, false);
    let full_s = full.gather(1, &order, false);
    let n = t.size()[0];
    let zero = Tensor::zeros([n, 1], (Kind::Float, t.device()));
    // reduction already used up by coordinates at their caps, and the slope of the rest
    let capped = full_s.cumsum(1, Kind::Float);
    let rest = slope_s.flip([1]).cumsum(1, Kind::Float).flip([1]);
    let rest_after = Tensor::cat(&[rest.narrow(1, 1, rest.size()[1] - 1), zero.copy()], 1);
    let reach = &capped + &bp_sorted * &rest_after;
    let idx = reach.lt_tensor(&need).sum_dim_intlist(1, true, Kind::Int64);
    let capped_before = Tensor::cat(&[zero.copy(), capped], 1).gather(1, &idx, false);
    let slope_from = Tensor::cat(&[rest.narrow(1, 0, 1), rest_after], 1).gather(1, &idx, false);
    let feasible = idx.lt(t.size()[1]).logical_and(&slope_from.gt(0.0));
    let lambda = ((&need - &capped_before) / slope_from.clamp_min(1e-30)).clamp_min(0.0);
    let amount = (&lambda * &rate).minimum(&cap).where_self(&feasible, &cap);
    -(ws.sign() * amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(norm: Norm) {
        tch::manual_seed(3);
        let t = Tensor::rand([64, 20], (Kind::Float, tch::Device::Cpu));
        let w = Tensor::randn([64, 20], (Kind::Float, tch::Device::Cpu));
        let b = (&w * &t).sum_dim_intlist(1, false, Kind::Float)
            + Tensor::randn([64], (Kind::Float, tch::Device::Cpu)) * 0.3;
        let d = project_onto_hyperplane_in_box(&t, &w, &b, norm);
        let z = &t + &d;
        assert!(z.min().double_value(&[]) >= -1e-6 && z.max().double_value(&[]) <= 1.0 + 1e-6);
        let resid = ((&w * &z).sum_dim_intlist(1, false, Kind::Float) - &b).abs();
        // feasible points land on the hyperplane
        let reachable = Vec::<f64>::try_from(resid.to_kind(Kind::Double)).unwrap();
        let hits = reachable.iter().filter(|&&r| r < 1e-4).count();
        assert!(hits > 40, "only {hits} of 64 reached the hyperplane");
        // minimality against random feasible steps: scaling the step down breaks the constraint
        let shrunk = &t + &d * 0.99;
        let resid2 = ((&w * &shrunk).sum_dim_intlist(1, false, Kind::Float) - &b).abs();
        let on = resid
            .lt(1e-4)
            .logical_and(&d.abs().sum_dim_intlist(1, false, Kind::Float).gt(1e-6));
        assert!(bool::try_from(resid2.gt(1e-6).logical_or(&on.logical_not()).all()).unwrap());
    }

    #[test]
    fn lands_on_the_hyperplane_inside_the_box() {
        check(Norm::Linf);
        check(Norm::L2);
    }

    #[test]
    fn linf_matches_a_known_answer() {
        // w = (1, 1), t = (0.5, 0.5), b = 0.4: lower w·t by 0.6 → each coordinate moves by 0.3
        let t = Tensor::from_slice(&[0.5f32, 0.5]).view([1, 2]);
        let w = Tensor::from_slice(&[1.0f32, 1.0]).view([1, 2]);
        let b = Tensor::from_slice(&[0.4f32]);
        let d =
            Vec::<f32>::try_from(project_onto_hyperplane_in_box(&t, &w, &b, Norm::Linf).view([-1]))
                .unwrap();
        assert!(
            (d[0] + 0.3).abs() < 1e-6 && (d[1] + 0.3).abs() < 1e-6,
            "{d:?}"
        );
        // t = (0.1, 0.5): coordinate 0 can only drop 0.1, so coordinate 1 drops 0.4 (L∞ 0.4)
        let t = Tensor::from_slice(&[0.1f32, 0.5]).view([1, 2]);
        let b = Tensor::from_slice(&[0.1f32]);
        let d =
            Vec::<f32>::try_from(project_onto_hyperplane_in_box(&t, &w, &b, Norm::Linf).view([-1]))
                .unwrap();
        assert!(
            (d[0] + 0.1).abs() < 1e-6 && (d[1] + 0.4).abs() < 1e-6,
            "{d:?}"
        );
        // L2, w = (1, 2), t = (0.5, 0.5), b = 1.0: d = −μ w with μ = 0.5 / 5 = 0.1
        let w = Tensor::from_slice(&[1.0f32, 2.0]).view([1, 2]);
        let t = Tensor::from_slice(&[0.5f32, 0.5]).view([1, 2]);
        let b = Tensor::from_slice(&[1.0f32]);
        let d =
            Vec::<f32>::try_from(project_onto_hyperplane_in_box(&t, &w, &b, Norm::L2).view([-1]))
                .unwrap();
        assert!(
            (d[0] + 0.1).abs() < 1e-6 && (d[1] + 0.2).abs() < 1e-6,
            "{d:?}"
        );
    }
}
