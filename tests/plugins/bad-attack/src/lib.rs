//! Test fixture: an attack plugin that breaks the rules on purpose
//! (`{"mode": "outside-ball" | "outside-box" | "wrong-shape" | "query-outside" | "query-shape" |
//! "query-dtype" | "panic"}`), or
//! one that is valid but inconsistent: `{"mode": "clean-above", "threshold": t}` is FGSM for
//! ε ≤ t and returns the clean images for ε > t (robust accuracy rising with ε).

use ddbench_plugin_api::{declare_attack, Attack, AttackInput, Host, PluginConfig, PluginResult};
use tch::Tensor;

pub struct BadAttack;

/// The fixture's settings.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BadAttackConfig {
    /// How to misbehave (an unknown mode fails when the attack runs).
    pub mode: String,
    /// `clean-above`: the largest ε at which the fixture still attacks.
    pub threshold: f64,
}

impl Default for BadAttackConfig {
    fn default() -> Self {
        BadAttackConfig {
            mode: "outside-ball".into(),
            threshold: 0.0,
        }
    }
}

impl PluginConfig for BadAttackConfig {}

impl Attack for BadAttack {
    type Config = BadAttackConfig;
    fn attack(input: &AttackInput, cfg: &BadAttackConfig, _host: &Host) -> PluginResult<Tensor> {
        let x = &input.images;
        match cfg.mode.as_str() {
            "outside-ball" => {
                // move every pixel 3ε towards the far side of the box: in [0, 1], outside the ball
                let dir = x.lt(0.5).to_kind(tch::Kind::Float) * 2.0 - 1.0;
                Ok((x + dir * (3.0 * input.eps)).clamp(0.0, 1.0))
            }
            "outside-box" => Ok(x + 2.0),
            "wrong-shape" => Ok(x.narrow(0, 0, 1)),
            "query-outside" => {
                let _ = input.model.predict(&(x * 4.0 - 2.0))?;
                Ok(x.copy())
            }
            "query-shape" => {
                // the images flattened: a shape the model cannot take
                let _ = input.model.predict(&x.flatten(1, -1))?;
                Ok(x.copy())
            }
            "query-dtype" => {
                let _ = input.model.predict(&x.to_kind(tch::Kind::Double))?;
                Ok(x.copy())
            }
            "panic" => panic!("deliberate panic inside attack"),
            "clean-above" => {
                if input.eps > cfg.threshold {
                    return Ok(x.copy());
                }
                let (_, g) = input
                    .model
                    .value_and_grad(x, |l| ddbench_plugin_api::ce_sum(l, &input.labels))?;
                Ok((x + g.sign() * input.eps).clamp(0.0, 1.0))
            }
            other => Err(format!("unknown mode {other}").into()),
        }
    }
}

declare_attack!(
    BadAttack,
    name = "bad-attack",
    version = "0.0.1",
    description = "test fixture: returns invalid adversarial examples"
);
