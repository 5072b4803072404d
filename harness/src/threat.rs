//! The threat model's radius: parsing ε as users write it and refusing radii that say nothing.
//! Pixels live in [0, 1], so an L∞ ball of radius ≥ 1 is the whole box: such an ε is refused
//! unless written `inf` (no bound, for the minimal-perturbation attacks `cw` and `deepfool`).

use anyhow::{bail, Result};
use ddbench_plugin_api::Norm;

/// Parses `8/255`, `0.031`, `0.5`, and `inf` (no bound: minimal-perturbation attacks such as
/// `cw` and `deepfool` report their unbounded result; the ε-ball check passes everything).
pub fn parse_eps(s: &str) -> Result<f64> {
    let v = match s.split_once('/') {
        Some((a, b)) => a.trim().parse::<f64>()? / b.trim().parse::<f64>()?,
        None => s.trim().parse::<f64>()?,
    };
    if !((v.is_finite() && v >= 0.0) || (v == f64::INFINITY && s.trim() == "inf")) {
        bail!("eps '{s}' must be a finite non-negative number, or inf for no bound");
    }
    Ok(v)
}

/// Refuses a finite L∞ radius of 1 or more (the whole [0, 1] box: every image is reachable, so
/// the number would only measure the attack's step size); `inf` says so on purpose.
pub fn check_eps(norm: Norm, eps: f64) -> Result<()> {
    if norm == Norm::Linf && eps.is_finite() && eps >= 1.0 {
        bail!(
            "eps {eps} under linf is ≥ 1, the whole [0, 1] pixel box (did you mean {eps}/255?); \
             write `inf` for an unbounded attack"
        );
    }
    Ok(())
}

pub fn norm_name(n: Norm) -> &'static str {
    match n {
        Norm::Linf => "linf",
        Norm::L2 => "l2",
    }
}

pub fn parse_norm(s: &str) -> Result<Norm> {
    match s {
        "linf" => Ok(Norm::Linf),
        "l2" => Ok(Norm::L2),
        _ => bail!("norm must be \"linf\" or \"l2\", got \"{s}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_inf_and_the_whole_box() {
        assert_eq!(parse_eps("8/255").unwrap(), 8.0 / 255.0);
        assert_eq!(parse_eps("inf").unwrap(), f64::INFINITY);
        assert!(parse_eps("-1").is_err());
        assert!(parse_eps("1e400").is_err(), "overflow to inf is not `inf`");
        let e = check_eps(Norm::Linf, parse_eps("300/255").unwrap()).unwrap_err();
        assert!(e.to_string().contains("whole [0, 1] pixel box"), "{e}");
        assert!(check_eps(Norm::Linf, 1.0).is_err());
        assert!(check_eps(Norm::Linf, f64::INFINITY).is_ok());
        assert!(check_eps(Norm::Linf, 0.9).is_ok());
        assert!(
            check_eps(Norm::L2, 3.0).is_ok(),
            "an L2 radius of 3 is a real ball"
        );
    }
}
