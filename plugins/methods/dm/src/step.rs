//! One DM outer iteration (official `main_DM.py`, the `'BN' not in args.model` branch): a fresh
//! randomly initialised ConvNet, then for every class c the same Siamese DSA draw a_c on a batch
//! of real images and on the class's synthetic images, and the loss
//! Σ_c ‖mean embed(a_c(real_c)) − mean embed(a_c(syn_c))‖² (real side detached), one backward,
//! one SGD step with momentum on the synthetic images. Everything here works in the data set's
//! normalised space, as the official code (its images are normalised by the data loader).

use ddbench_nn::dsa::{DsaDraw, DsaParams};
use ddbench_nn::{Model, ModelSpec};
use tch::{Device, Kind, Tensor};

/// The official `ConvNet` (`get_network('ConvNet')`: conv 3×3 → instance norm (GroupNorm with
/// one group per channel) → ReLU → avg-pool 2, `depth` times; width `width`) for already
/// normalised inputs (identity mean / std), initialised as PyTorch initialises `Conv2d` and
/// `Linear` (weight and bias U(−1/√fan_in, 1/√fan_in); norm weight 1, bias 0), frozen.
pub fn random_net(shape: [i64; 3], classes: i64, width: i64, depth: i64, dev: Device) -> Model {
    let c = shape[0] as usize;
    let mut spec = ModelSpec::convnet(shape, classes, vec![0.0; c], vec![1.0; c]);
    (spec.width, spec.depth) = (width, depth);
    let mut model = Model::new(&spec, dev);
    let vars = model.vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    tch::no_grad(|| {
        for name in names {
            let Some(layer) = name
                .strip_suffix(".weight")
                .or_else(|| name.strip_suffix(".bias"))
                .filter(|l| !l.ends_with(".norm"))
            else {
                continue;
            };
            let weight = &vars[&format!("{layer}.weight")];
            let fan_in: i64 = weight.size()[1..].iter().product();
            let bound = 1.0 / (fan_in as f64).sqrt();
            let _ = vars[name].shallow_clone().uniform_(-bound, bound);
        }
    });
    model.vs.freeze();
    model
}

/// The DM loss of one iteration. `syn`: the synthetic images `[classes · ipc, C, H, W]`,
/// class-major; `real[c]`: class c's real batch; `draws[c]`: class c's DSA draw (no ops: no
/// augmentation), applied to both sides with `p`.
pub fn dm_loss(
    net: &Model,
    syn: &Tensor,
    ipc: i64,
    real: &[Tensor],
    draws: &[DsaDraw],
    p: &DsaParams,
) -> Tensor {
    let mut loss = Tensor::zeros([], (Kind::Float, syn.device()));
    for (c, (real_c, draw)) in real.iter().zip(draws).enumerate() {
        let syn_c = syn.narrow(0, c as i64 * ipc, ipc);
        let mean = |t: Tensor| t.mean_dim(0, false, Kind::Float);
        let out_real = tch::no_grad(|| mean(net.embed_t(&draw.apply(real_c, p), true)));
        let out_syn = mean(net.embed_t(&draw.apply(&syn_c, p), true));
        loss += (out_real - out_syn).square().sum(Kind::Float);
    }
    loss
}

/// PyTorch's SGD with momentum and no dampening, on one tensor (the official `optimizer_img`):
/// buf = grad on the first step, then buf = momentum · buf + grad; x −= lr · buf.
pub struct ImageSgd {
    pub lr: f64,
    pub momentum: f64,
    buf: Option<Tensor>,
}

impl ImageSgd {
    pub fn new(lr: f64, momentum: f64) -> Self {
        ImageSgd {
            lr,
            momentum,
            buf: None,
        }
    }

    /// One step on `x` (a leaf with its gradient filled in), then its gradient zeroed.
    pub fn step(&mut self, x: &Tensor) {
        tch::no_grad(|| {
            let grad = x.grad();
            let buf = match self.buf.take() {
                None => grad.copy(),
                Some(b) => b * self.momentum + &grad,
            };
            let mut x = x.shallow_clone();
            x -= &buf * self.lr;
            let _ = grad.shallow_clone().zero_();
            self.buf = Some(buf);
        });
    }
}

/// One outer iteration: the loss, its backward, the step; the loss (detached, on the device).
pub fn outer_step(
    net: &Model,
    syn: &Tensor,
    ipc: i64,
    real: &[Tensor],
    draws: &[DsaDraw],
    p: &DsaParams,
    opt: &mut ImageSgd,
) -> Tensor {
    let loss = dm_loss(net, syn, ipc, real, draws, p);
    loss.backward();
    opt.step(syn);
    loss.detach()
}
