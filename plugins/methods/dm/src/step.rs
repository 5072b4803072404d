//! One DM outer iteration (official `main_DM.py`, the `'BN' not in args.model` branch): a fresh
//! randomly initialised ConvNet, then for every class c the same Siamese DSA draw a_c on a batch
//! of real images and on the class's synthetic images, and the loss
//! Σ_c ‖mean embed(a_c(real_c)) − mean embed(a_c(syn_c))‖² (real side detached), one backward,
//! one SGD step with momentum on the synthetic images. Everything here works in the data set's
//! normalised space, as the official code (its images are normalised by the data loader).

pub use ddbench_matching::ImageSgd;
use ddbench_nn::dsa::{DsaDraw, DsaParams};
use ddbench_nn::Model;
use tch::{Device, Kind, Tensor};

/// The official random `ConvNet` (`ddbench_matching::random_net`), frozen: DM only embeds.
pub fn random_net(shape: [i64; 3], classes: i64, width: i64, depth: i64, dev: Device) -> Model {
    let mut model = ddbench_matching::random_net(shape, classes, width, depth, dev);
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
