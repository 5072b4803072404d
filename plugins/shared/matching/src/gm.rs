//! Gradient matching, one outer iteration of the official `main.py` (`--method DC|DSA`,
//! `main.py:146-218`) with its helpers of `utils.py` (`get_loops`, `distance_wb`, `match_loss`,
//! `epoch`). Every random number comes from a [`GmSource`], so that a test can feed fixed ones.

use crate::common::ImageSgd;
use ddbench_nn::dsa::{DsaDraw, DsaParams};
use ddbench_nn::Model;
use tch::nn::{self, OptimizerConfig};
use tch::{Kind, Tensor};

/// The official `get_loops(ipc)` (`utils.py:275-293`): (outer_loop, inner_loop) for IPC 1, 10,
/// 20, 30, 40, 50; `None` for any other IPC (the official code exits there).
pub fn get_loops(ipc: i64) -> Option<(i64, i64)> {
    match ipc {
        1 => Some((1, 1)),
        10 => Some((10, 50)),
        20 => Some((20, 25)),
        30 => Some((30, 20)),
        40 => Some((40, 15)),
        50 => Some((50, 10)),
        _ => None,
    }
}

/// The official `distance_wb` (`utils.py:218-235`): a 4-D (conv, out × in × h × w) or 3-D
/// gradient is flattened to one row per output node, a 2-D (linear, out × in) one kept; the
/// distance is Σ_rows 1 − ⟨r, s⟩ / (‖r‖ ‖s‖ + 1e-6). A 1-D gradient (every bias, the norm
/// layers' weight and bias) counts 0 (`utils.py:228-231`): `None` here.
pub fn distance_wb(gwr: &Tensor, gws: &Tensor) -> Option<Tensor> {
    let shape = gwr.size();
    let (r, s) = match shape.len() {
        0 | 1 => return None,
        2 => (gwr.shallow_clone(), gws.shallow_clone()),
        _ => (gwr.reshape([shape[0], -1]), gws.reshape([shape[0], -1])),
    };
    let dot = (&r * &s).sum_dim_intlist(-1, false, Kind::Float);
    let norm = |t: &Tensor| t.norm_scalaropt_dim(2, [-1], false);
    let cos = dot / (norm(&r) * norm(&s) + 1e-6);
    Some((-cos + 1.0).sum(Kind::Float))
}

/// The official `match_loss` with `dis_metric 'ours'` (`utils.py:239-246`, `main.py:32`): the
/// sum of [`distance_wb`] over the parameters' gradients.
pub fn match_loss(gw_syn: &[Tensor], gw_real: &[Tensor]) -> Tensor {
    let dev = gw_syn.first().map_or(tch::Device::Cpu, |t| t.device());
    gw_real
        .iter()
        .zip(gw_syn)
        .filter_map(|(r, s)| distance_wb(r, s))
        .fold(Tensor::zeros([], (Kind::Float, dev)), |a, d| a + d)
}

/// The network's parameters in name order (`net.parameters()`, `main.py:149`).
pub fn parameters(net: &Model) -> Vec<Tensor> {
    let vars = net.vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    names.into_iter().map(|n| vars[n].shallow_clone()).collect()
}

/// Network forward and backward passes, for the cost line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Passes {
    pub forward: u64,
    pub backward: u64,
}

/// Where one outer iteration's random numbers come from.
pub trait GmSource {
    /// Each class's real batch for the next matching step, normalised (`get_images(c,
    /// batch_real)`, `main.py:180`).
    fn real_batches(&mut self) -> Vec<Tensor>;
    /// A Siamese DSA draw for a batch of `shape` (`DiffAugment(…, seed=seed)`, `main.py:185-188`).
    fn siamese(&mut self, p: &DsaParams, shape: &[i64]) -> DsaDraw;
    /// The order of the synthetic set for one training epoch (`DataLoader(shuffle=True)`,
    /// `main.py:213`).
    fn permutation(&mut self, n: i64) -> Vec<i64>;
    /// A per-sample DSA draw for a training batch (`DiffAugment(img, …)`, seed −1,
    /// `utils.py:309-311`).
    fn train_draw(&mut self, p: &DsaParams, shape: &[i64]) -> DsaDraw;
}

/// The settings of one outer iteration.
#[derive(Clone, Debug)]
pub struct GmLoop {
    pub ipc: i64,
    pub outer_loop: i64,
    pub inner_loop: i64,
    /// `optimizer_net` (`main.py:150`): plain SGD, lr `lr_net`.
    pub lr_net: f64,
    pub batch_train: i64,
    /// DSA (`args.dsa`, `main.py:38`) with its parameters, or DC (`None`).
    pub dsa: Option<DsaParams>,
}

/// The gradients of the mean cross-entropy of `net` on `x` (all of class `class`) with respect
/// to `params`: detached (`gw_real`, `main.py:190-193`) or with their graph (`gw_syn`,
/// `main.py:195-197`).
fn class_grads(net: &Model, params: &[Tensor], x: &Tensor, class: i64, graph: bool) -> Vec<Tensor> {
    let target = Tensor::full([x.size()[0]], class, (Kind::Int64, x.device()));
    let loss = net.forward_t(x, true).cross_entropy_for_logits(&target);
    let grads = Tensor::run_backward(&[&loss], params, graph, graph);
    match graph {
        true => grads,
        false => grads.into_iter().map(|g| g.detach()).collect(),
    }
}

/// One update of the synthetic images (`main.py:177-203`): per class c, the matching distance
/// between the gradients on c's real batch and on c's synthetic images (under one Siamese DSA
/// draw for DSA), summed over classes; its gradient; one step of `opt`. The loss (detached).
pub fn match_step(
    net: &Model,
    syn: &Tensor,
    real: &[Tensor],
    lp: &GmLoop,
    src: &mut impl GmSource,
    opt: &mut ImageSgd,
    passes: &mut Passes,
) -> Tensor {
    let params = parameters(net);
    let mut loss = Tensor::zeros([], (Kind::Float, syn.device()));
    for (c, real_c) in real.iter().enumerate() {
        let syn_c = syn.narrow(0, c as i64 * lp.ipc, lp.ipc);
        let (real_c, syn_c) = match &lp.dsa {
            Some(p) => {
                let draw = src.siamese(p, &real_c.size());
                (draw.apply(real_c, p), draw.apply(&syn_c, p))
            }
            None => (real_c.shallow_clone(), syn_c),
        };
        let gw_real = class_grads(net, &params, &real_c, c as i64, false);
        let gw_syn = class_grads(net, &params, &syn_c, c as i64, true);
        loss += match_loss(&gw_syn, &gw_real);
        passes.forward += 2;
        passes.backward += 2;
    }
    let grad = Tensor::run_backward(&[&loss], &[syn], false, false);
    passes.backward += 1;
    opt.step_with(syn, &grad[0]);
    loss.detach()
}

/// One training epoch of `net` on the synthetic set (the official `epoch('train', …)`,
/// `utils.py:297-333`): shuffled batches of `batch_train`, DSA per sample for DSA (`aug = True
/// if args.dsa`, `main.py:215`), mean cross-entropy, one step of `opt` per batch.
pub fn train_epoch(
    net: &Model,
    opt: &mut nn::Optimizer,
    images: &Tensor,
    labels: &Tensor,
    lp: &GmLoop,
    src: &mut impl GmSource,
    passes: &mut Passes,
) {
    let n = images.size()[0];
    let order = Tensor::from_slice(&src.permutation(n)).to_device(images.device());
    for start in (0..n).step_by(lp.batch_train.max(1) as usize) {
        let idx = order.narrow(0, start, lp.batch_train.min(n - start));
        let mut img = images.index_select(0, &idx);
        if let Some(p) = &lp.dsa {
            img = src.train_draw(p, &img.size()).apply(&img, p);
        }
        let loss = net
            .forward_t(&img, true)
            .cross_entropy_for_logits(&labels.index_select(0, &idx));
        opt.backward_step(&loss);
        passes.forward += 1;
        passes.backward += 1;
    }
}

/// One outer iteration on a fresh network `net` (`main.py:147-218`): `outer_loop` image updates
/// ([`match_step`]), each but the last followed by `inner_loop` epochs of training `net` (SGD, lr
/// `lr_net`) on a detached copy of the synthetic set (`main.py:206-215`). Returns the summed
/// matching loss (detached; the official `loss_avg` divides it by classes × outer_loop).
pub fn gm_iteration(
    net: &Model,
    syn: &Tensor,
    labels: &Tensor,
    lp: &GmLoop,
    src: &mut impl GmSource,
    opt: &mut ImageSgd,
    passes: &mut Passes,
) -> Tensor {
    let mut opt_net = nn::Sgd::default()
        .build(&net.vs, lp.lr_net)
        .expect("an SGD optimiser on the network's variables");
    let mut total = Tensor::zeros([], (Kind::Float, syn.device()));
    for ol in 0..lp.outer_loop {
        let real = src.real_batches();
        total += match_step(net, syn, &real, lp, src, opt, passes);
        if ol == lp.outer_loop - 1 {
            break;
        }
        let images = syn.detach().copy();
        for _ in 0..lp.inner_loop {
            train_epoch(net, &mut opt_net, &images, labels, lp, src, passes);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn loops_as_the_official_table() {
        let want = [(1, 1, 1), (10, 10, 50), (20, 20, 25), (30, 30, 20)];
        for (ipc, o, i) in want.into_iter().chain([(40, 40, 15), (50, 50, 10)]) {
            assert_eq!(get_loops(ipc), Some((o, i)));
        }
        assert_eq!(get_loops(2), None);
        assert_eq!(get_loops(100), None);
    }

    #[test]
    fn distance_skips_vectors_and_is_zero_for_parallel_rows() {
        let o = (Kind::Float, Device::Cpu);
        let v = Tensor::randn([5], o);
        assert!(distance_wb(&v, &(-&v)).is_none());
        let w = Tensor::randn([4, 3, 3, 3], o);
        let d = distance_wb(&w, &(&w * 2.0)).unwrap().double_value(&[]);
        assert!(d.abs() < 1e-5, "{d}");
        // opposite rows: 1 - (-1) = 2 per output node
        let d = distance_wb(&w, &(-&w)).unwrap().double_value(&[]);
        assert!((d - 8.0).abs() < 1e-4, "{d}");
        let l = Tensor::randn([3, 7], o);
        let total = match_loss(&[-&l, v.copy()], &[l.copy(), v]).double_value(&[]);
        assert!((total - 6.0).abs() < 1e-4, "{total}");
    }
}
