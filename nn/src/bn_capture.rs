//! BatchNorm layers that can report the batch statistics of their inputs during a forward pass,
//! next to their running statistics: what SRe2L-style recovery matches.

use std::cell::RefCell;
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// One BatchNorm layer's view of a forward pass.
pub struct BnStats {
    /// Per-channel mean and (biased) variance of this batch's input to the layer.
    pub mean: Tensor,
    pub var: Tensor,
    /// The layer's running statistics (what the teacher saw in training).
    pub running_mean: Tensor,
    pub running_var: Tensor,
}

thread_local! {
    static CAPTURE: RefCell<Option<Vec<BnStats>>> = const { RefCell::new(None) };
}

/// Runs `f` (a forward pass) and returns what every capturing BatchNorm layer saw, in layer order.
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<BnStats>) {
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let out = f();
    let stats = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (out, stats)
}

/// A 2-D BatchNorm (libtorch's, same parameters and names) that reports to `capture`.
pub fn batch_norm2d(p: nn::Path, channels: i64) -> impl ModuleT {
    let bn = nn::batch_norm2d(p, channels, Default::default());
    nn::func_t(move |x, train| {
        CAPTURE.with(|c| {
            if let Some(v) = c.borrow_mut().as_mut() {
                let mean = x.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
                let var = x.var_dim([0i64, 2, 3].as_slice(), false, false);
                v.push(BnStats {
                    mean,
                    var,
                    running_mean: bn.running_mean.shallow_clone(),
                    running_var: bn.running_var.shallow_clone(),
                });
            }
        });
        x.apply_t(&bn, train)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn captures_batch_and_running_statistics_in_order() {
        let vs = nn::VarStore::new(Device::Cpu);
        let a = batch_norm2d(vs.root() / "a", 3);
        let b = batch_norm2d(vs.root() / "b", 3);
        let x = Tensor::randn([8, 3, 4, 4], (Kind::Float, Device::Cpu)) * 2.0 + 5.0;
        let (_, stats) = capture(|| x.apply_t(&a, false).apply_t(&b, false));
        assert_eq!(stats.len(), 2);
        let m = x.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
        assert!(stats[0].mean.allclose(&m, 1e-5, 1e-5, false));
        assert!(stats[0].running_var.allclose(
            &Tensor::ones([3], (Kind::Float, Device::Cpu)),
            0.0,
            0.0,
            false
        ));
        // outside `capture` nothing is recorded
        let _ = x.apply_t(&a, false);
        let (_, none) = capture(|| ());
        assert!(none.is_empty());
    }
}
