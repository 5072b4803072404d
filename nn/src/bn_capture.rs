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
    /// Values per channel in the batch (batch × height × width).
    pub count: i64,
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

/// A 2-D BatchNorm (libtorch's, same parameters and names) that reports to `capture`. Weights
/// start at 1 as in PyTorch's `nn.BatchNorm2d` (tch's default draws them from U(0, 1)).
pub fn batch_norm2d(p: nn::Path, channels: i64) -> impl ModuleT {
    let cfg = nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        ..Default::default()
    };
    let bn = nn::batch_norm2d(p, channels, cfg);
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
                    count: x.numel() as i64 / channels,
                });
            }
        });
        x.apply_t(&bn, train)
    })
}

/// Recomputes the running statistics of every capturing BatchNorm layer as the plain average,
/// over the batches of `images`, of the batch mean and unbiased variance each layer sees in a
/// train-mode forward pass (PyTorch's `momentum=None`). `forward` gets each batch as it is and
/// runs the model in train mode. This replaces the exponential average of the last few training steps, which
/// can lag far behind the final weights (the GUARD teacher, see the SRe2L plugins' README).
pub fn recalibrate(forward: impl Fn(&Tensor) -> Tensor, images: &Tensor, batch: i64) {
    let _guard = tch::no_grad_guard();
    let n = images.size()[0];
    let mut sums: Vec<(Tensor, Tensor, Tensor, Tensor)> = Vec::new();
    let mut batches = 0.0;
    for start in (0..n).step_by(batch.max(1) as usize) {
        let x = images.narrow(0, start, batch.min(n - start));
        let (_, stats) = capture(|| forward(&x));
        for (i, s) in stats.into_iter().enumerate() {
            // BatchNorm stores the unbiased variance
            let var = &s.var * (s.count as f64 / (s.count - 1).max(1) as f64);
            match sums.get_mut(i) {
                Some(acc) => {
                    acc.0 += &s.mean;
                    acc.1 += var;
                }
                None => sums.push((s.mean, var, s.running_mean, s.running_var)),
            }
        }
        batches += 1.0;
    }
    for (mean, var, mut running_mean, mut running_var) in sums {
        running_mean.copy_(&(mean / batches));
        running_var.copy_(&(var / batches));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn recalibration_averages_batch_statistics_of_every_layer() {
        let vs = nn::VarStore::new(Device::Cpu);
        let a = batch_norm2d(vs.root() / "a", 2);
        let b = batch_norm2d(vs.root() / "b", 2);
        let scale = Tensor::from_slice(&[1.0f32, 3.0]).view([1, 2, 1, 1]);
        let x = Tensor::randn([12, 2, 3, 3], (Kind::Float, Device::Cpu)) * scale + 0.5;
        recalibrate(|v| v.apply_t(&a, true).apply_t(&b, true), &x, 6);
        let stats = capture(|| x.apply_t(&a, false).apply_t(&b, false)).1;
        // two batches of 6: the plain average of their means is the overall mean; the variance
        // is the average of the two unbiased batch variances (54 values per channel each)
        let dims = [0i64, 2, 3];
        let halves = [x.narrow(0, 0, 6), x.narrow(0, 6, 6)];
        let want_var = (halves[0].var_dim(dims.as_slice(), true, false)
            + halves[1].var_dim(dims.as_slice(), true, false))
            / 2.0;
        let want_mean = x.mean_dim(dims.as_slice(), false, Kind::Float);
        assert!(stats[0]
            .running_mean
            .allclose(&want_mean, 1e-5, 1e-5, false));
        assert!(stats[0].running_var.allclose(&want_var, 1e-5, 1e-5, false));
        // the second layer saw the first one's batch-normalised output (weights start at 1, as
        // in PyTorch): mean 0, variance 1 (biased), i.e. 54/53 unbiased
        let zeros = Tensor::zeros([2], (Kind::Float, Device::Cpu));
        assert!(stats[1].running_mean.allclose(&zeros, 0.0, 1e-5, false));
        let unbiased_one = Tensor::full([2], 54.0 / 53.0, (Kind::Float, Device::Cpu));
        assert!(stats[1]
            .running_var
            .allclose(&unbiased_one, 1e-3, 1e-3, false));
    }

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
