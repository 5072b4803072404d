//! The safe side of an attack plugin: the model behind host callbacks, the inputs, the trait.

use crate::abi::{ModelHandle, NORM_L2, NORM_LINF};
use crate::Host;
use crate::{PluginError, PluginResult};
use tch::Tensor;

/// The threat model's norm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    Linf,
    L2,
}

impl Norm {
    pub fn from_raw(n: u32) -> Option<Norm> {
        match n {
            NORM_LINF => Some(Norm::Linf),
            NORM_L2 => Some(Norm::L2),
            _ => None,
        }
    }
    pub fn to_raw(self) -> u32 {
        match self {
            Norm::Linf => NORM_LINF,
            Norm::L2 => NORM_L2,
        }
    }
}

/// The model under attack. Every pass goes through the host, which counts it.
pub struct Model<'a> {
    raw: &'a ModelHandle,
}

impl<'a> Model<'a> {
    #[doc(hidden)]
    pub fn from_raw(raw: &'a ModelHandle) -> Self {
        Model { raw }
    }

    pub fn num_classes(&self) -> i64 {
        self.raw.num_classes
    }

    /// Logits for `x` (float32 in [0, 1]); autograd is on unless the caller holds a no-grad guard.
    pub fn forward(&self, x: &Tensor) -> PluginResult<Tensor> {
        let mut out = std::ptr::null_mut();
        let status = unsafe { (self.raw.forward)(self.raw.ctx, x.as_ptr(), &mut out) };
        if status != crate::abi::STATUS_OK || out.is_null() {
            return Err(PluginError("the host's model forward failed".into()));
        }
        // SAFETY: the host handed over an owned handle.
        Ok(unsafe { Tensor::from_ptr(out) })
    }

    /// Logits without autograd (cheaper): for checking predictions.
    pub fn predict(&self, x: &Tensor) -> PluginResult<Tensor> {
        let _guard = tch::no_grad_guard();
        self.forward(x)
    }

    /// One forward and one backward pass: returns `(logits, d loss / d x)` where `loss` maps the
    /// logits to a scalar (sum the per-sample losses so each sample gets its own gradient).
    pub fn value_and_grad(
        &self,
        x: &Tensor,
        loss: impl FnOnce(&Tensor) -> Tensor,
    ) -> PluginResult<(Tensor, Tensor)> {
        let x = x.detach().set_requires_grad(true);
        let logits = self.forward(&x)?;
        let l = loss(&logits);
        let mut grads = Tensor::f_run_backward(&[l], &[&x], false, false)?;
        unsafe { (self.raw.note_backward)(self.raw.ctx, x.size()[0]) };
        Ok((logits.detach(), grads.remove(0)))
    }
}

/// What an attack gets: the model, clean images in [0, 1], labels and the threat model (its
/// configuration comes beside it, parsed: `Attack::Config`).
pub struct AttackInput<'a> {
    pub model: Model<'a>,
    pub images: Tensor,
    pub labels: Tensor,
    pub norm: Norm,
    pub eps: f64,
    /// The seed of this call: the attack's only source of randomness (random starts, restarts,
    /// queries). Draw from a generator of your own seeded with it (`ddbench_nn::rng::HostRng`) or
    /// hold a [`crate::SeedScope`] while using libtorch's samplers; never call `tch::manual_seed`
    /// (it reseeds the generator the host shares; `ddbench plugins --check` fails a plugin that
    /// does). Same seed, same adversarial images.
    pub seed: u64,
}

/// An adversarial attack. Implement it, then `declare_attack!(MyAttack, ...)`.
/// Return adversarial images shaped like the input, in [0, 1], inside the ε-ball: the host checks.
pub trait Attack {
    /// The attack's declared configuration (`NoConfig` for none).
    type Config: crate::PluginConfig;
    fn attack(input: &AttackInput, config: &Self::Config, host: &Host) -> PluginResult<Tensor>;
}
