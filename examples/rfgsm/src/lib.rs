//! `rfgsm`: R+FGSM (Tramèr et al. 2018, "Ensemble Adversarial Training: Attacks and Defenses",
//! ICLR), under L∞: a random step x' = x + α·sign(N(0, I)), then a gradient-sign step of
//! size ε − α from x', kept in the ε-ball around x and in [0, 1]:
//!
//! x_adv = clip_{x,ε}( x' + (ε − α)·sign(∇ₓ′ L(x', y)) )
//!
//! `alpha` is α as a fraction of ε (default ½, the paper's α = ε/2); `steps` > 1 repeats the
//! gradient step from the current point, as torchattacks.RFGSM does.

use ddbench_plugin_api::{ce_sum, check_in, declare_attack, project, PluginConfig};
use ddbench_plugin_api::{Attack, AttackInput, Host, Norm, PluginResult, ValueRange};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// `--attack-config rfgsm='{"alpha": 0.25, "steps": 1}'`; unknown keys are refused.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The random step α as a fraction of ε, in [0, 1): 0 is plain FGSM.
    pub alpha: f64,
    /// Gradient steps of size ε − α (≥ 1).
    pub steps: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            alpha: 0.5,
            steps: 1,
        }
    }
}

/// The ranges, checked by the host before any work starts.
impl PluginConfig for Config {
    fn validate(&self) -> PluginResult<()> {
        check_in("alpha", self.alpha, ValueRange::right_open(0.0, 1.0))?;
        check_in("steps", self.steps, ValueRange::at_least(1))?;
        Ok(())
    }
}

/// ±1 with equal odds for each of `n` entries — the sign of a standard normal draw — from a
/// SplitMix64 stream seeded with `seed`: the same on every device, and tch's global generator
/// (shared with the host) is neither read nor reseeded.
pub fn random_signs(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            if (z ^ (z >> 31)) >> 63 == 1 {
                1.0
            } else {
                -1.0
            }
        })
        .collect()
}

pub struct Rfgsm;

impl Attack for Rfgsm {
    type Config = Config;
    fn attack(input: &AttackInput, cfg: &Config, _host: &Host) -> PluginResult<Tensor> {
        if input.norm != Norm::Linf {
            return Err("rfgsm is an L-infinity attack (use --norm linf)".into());
        }
        if !input.eps.is_finite() {
            return Err("rfgsm needs a finite ε (got --eps inf)".into());
        }
        let x = &input.images;
        let (alpha, step) = (cfg.alpha * input.eps, (1.0 - cfg.alpha) * input.eps);
        let signs = Tensor::from_slice(&random_signs(x.numel(), input.seed))
            .view(x.size().as_slice())
            .to_kind(Kind::Float)
            .to_device(x.device());
        // the random step, in [0, 1] before the model sees it
        let mut adv = project(&(x + signs * alpha), x, Norm::Linf, input.eps);
        for _ in 0..cfg.steps {
            let (_, grad) = input
                .model
                .value_and_grad(&adv, |logits| ce_sum(logits, &input.labels))?;
            adv = project(&(&adv + grad.sign() * step), x, Norm::Linf, input.eps);
        }
        Ok(adv)
    }
}

declare_attack!(
    Rfgsm,
    name = "rfgsm",
    version = "0.1.0",
    description = "R+FGSM (Tramer et al. 2018): random sign step, then FGSM; L-infinity"
);

#[cfg(test)]
mod tests;
