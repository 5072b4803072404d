//! The running result of an attack over a batch: adversarial images and which points are fooled,
//! with the helpers that run a sub-attack only on the points still robust and merge it back.

use ddbench_plugin_api::PluginResult;
use tch::{Kind, Tensor};

/// Adversarial images `[B, C, H, W]` and a per-point `fooled` mask `[B]` (bool).
pub struct Outcome {
    pub adv: Tensor,
    pub fooled: Tensor,
}

impl Outcome {
    /// Nothing fooled yet: the clean images.
    pub fn clean(x: &Tensor) -> Outcome {
        Outcome {
            adv: x.copy(),
            fooled: Tensor::zeros([x.size()[0]], (Kind::Bool, x.device())),
        }
    }

    /// The clean images, with the points the model already misclassifies counted as fooled
    /// (as the reference does: attacks run only on the correctly classified points).
    pub fn from_clean_logits(x: &Tensor, y: &Tensor, clean_logits: &Tensor) -> Outcome {
        Outcome {
            adv: x.copy(),
            fooled: clean_logits.argmax(-1, false).ne_tensor(y),
        }
    }

    /// Indices of the points not fooled yet, or `None` when every point is fooled
    /// (one host sync: call it once per restart / component, not per step).
    pub fn robust_indices(&self) -> Option<Tensor> {
        let idx = self.fooled.logical_not().nonzero().view([-1]);
        (idx.size()[0] > 0).then_some(idx)
    }

    /// Number of points still robust (one host sync).
    pub fn robust_count(&self) -> i64 {
        self.fooled.logical_not().sum(Kind::Int64).int64_value(&[])
    }

    /// Writes a sub-attack's result on the points `idx` back. Points the sub-attack fooled take
    /// its adversarial example; the others take its strongest try, since none fooled them before.
    pub fn merge(&mut self, idx: &Tensor, sub: &Outcome) {
        self.adv = self.adv.index_copy(0, idx, &sub.adv);
        self.fooled = self.fooled.index_copy(0, idx, &sub.fooled);
    }

    /// Like [`Outcome::merge`], but keeps the current image of the points the sub-attack did not
    /// fool (the ensemble keeps the first success and otherwise the earlier component's try).
    pub fn merge_successes(&mut self, idx: &Tensor, sub: &Outcome) {
        let cur = self.adv.index_select(0, idx);
        let take = crate::per_image(&sub.fooled);
        let merged = sub.adv.where_self(&take, &cur);
        self.adv = self.adv.index_copy(0, idx, &merged);
        self.fooled = self.fooled.index_copy(
            0,
            idx,
            &self.fooled.index_select(0, idx).logical_or(&sub.fooled),
        );
    }

    /// Runs `attack` on the still-robust points (images `x`, labels `y`, optional per-point
    /// `extra` such as target classes) and merges the result; returns false when none was left.
    pub fn run_on_robust(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        extra: Option<&Tensor>,
        keep_earlier: bool,
        attack: impl FnOnce(&Tensor, &Tensor, Option<&Tensor>) -> PluginResult<Outcome>,
    ) -> PluginResult<bool> {
        let Some(idx) = self.robust_indices() else {
            return Ok(false);
        };
        let sub_extra = extra.map(|e| e.index_select(0, &idx));
        let sub = attack(
            &x.index_select(0, &idx),
            &y.index_select(0, &idx),
            sub_extra.as_ref(),
        )?;
        if keep_earlier {
            self.merge_successes(&idx, &sub);
        } else {
            self.merge(&idx, &sub);
        }
        Ok(true)
    }
}
