//! What DC, DSA and DM share in the official code (VICO-UoE/DatasetCondensation `main.py`,
//! `main_DM.py`, `utils.py`): the randomly initialised ConvNet, the synthetic images' SGD, the
//! per-class real batches (`get_images`), the normalised space and the class-major labels.

use ddbench_nn::rng::HostRng;
use ddbench_nn::{Model, ModelSpec};
use ddbench_plugin_api::DistillInput;
use tch::{Device, Kind, Tensor};

/// The official `ConvNet` (`get_network('ConvNet')`, `utils.py:124-131` with
/// `get_default_convnet_setting`, `utils.py:118-120`: conv 3×3 → instance norm (GroupNorm with
/// one group per channel) → ReLU → avg-pool 2, `depth` times; width `width`) for already
/// normalised inputs (identity mean / std), initialised as PyTorch initialises `Conv2d` and
/// `Linear` (weight and bias U(−1/√fan_in, 1/√fan_in); norm weight 1, bias 0), trainable.
pub fn random_net(shape: [i64; 3], classes: i64, width: i64, depth: i64, dev: Device) -> Model {
    let c = shape[0] as usize;
    let mut spec = ModelSpec::convnet(shape, classes, vec![0.0; c], vec![1.0; c]);
    (spec.width, spec.depth) = (width, depth);
    let model = Model::new(&spec, dev);
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
    model
}

/// PyTorch's SGD with momentum and no dampening, on one tensor (the official `optimizer_img`,
/// `main.py:100`, `main_DM.py`): buf = grad on the first step, then buf = momentum · buf + grad;
/// x −= lr · buf.
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

    /// The momentum buffer (none before the first step).
    pub fn buffer(&self) -> Option<&Tensor> {
        self.buf.as_ref()
    }

    /// Puts back a momentum buffer [`ImageSgd::buffer`] gave.
    pub fn set_buffer(&mut self, buf: Tensor) {
        self.buf = Some(buf);
    }

    /// One step on `x` (a leaf with its gradient filled in), then its gradient zeroed.
    pub fn step(&mut self, x: &Tensor) {
        let grad = x.grad();
        self.step_with(x, &grad);
        let _ = tch::no_grad(|| grad.shallow_clone().zero_());
    }

    /// One step on `x` with the gradient `grad`.
    pub fn step_with(&mut self, x: &Tensor, grad: &Tensor) {
        tch::no_grad(|| {
            let buf = match self.buf.take() {
                None => grad.copy(),
                Some(b) => b * self.momentum + grad,
            };
            let mut x = x.shallow_clone();
            x -= &buf * self.lr;
            self.buf = Some(buf);
        });
    }
}

/// `k` random members of each class (the official `get_images(c, k)`:
/// `np.random.permutation(indices_class[c])[:k]`, `main.py:79-81`), one index tensor on `dev`
/// and the count per class.
pub fn draw_batches(
    rng: &mut HostRng,
    members: &mut [Vec<i64>],
    k: i64,
    dev: Device,
) -> (Tensor, Vec<i64>) {
    let mut idx = Vec::new();
    let mut counts = Vec::with_capacity(members.len());
    for m in members.iter_mut() {
        let n = (k as usize).min(m.len());
        rng.partial_shuffle(m, n);
        idx.extend_from_slice(&m[..n]);
        counts.push(n as i64);
    }
    (Tensor::from_slice(&idx).to_device(dev), counts)
}

/// The data set's normalised space: the official loaders normalise by the channel mean / std
/// (`utils.py` `get_dataset`); here the training set's (`ddbench_nn::channel_stats`).
pub struct Normalised<'a> {
    images: &'a Tensor,
    pub mean: Tensor,
    pub std: Tensor,
}

impl<'a> Normalised<'a> {
    pub fn new(input: &'a DistillInput) -> Self {
        let dev = input.images.device();
        let (mean, std) = ddbench_nn::channel_stats(&input.images);
        let stat = |v: Vec<f64>| {
            Tensor::from_slice(&v)
                .to_kind(Kind::Float)
                .view([1, -1, 1, 1])
                .to_device(dev)
        };
        Normalised {
            images: &input.images,
            mean: stat(mean),
            std: stat(std),
        }
    }

    /// The training images `idx`, normalised.
    pub fn images(&self, idx: &Tensor) -> Tensor {
        (self.images.index_select(0, idx).to_kind(Kind::Float) / 255.0 - &self.mean) / &self.std
    }

    /// Normalised images back to pixels (x · std + mean), unclipped as the official code keeps
    /// them (it clips only its saved visualisations, `main.py:139-142`).
    pub fn to_pixels(&self, x: &Tensor) -> Tensor {
        x.detach() * &self.std + &self.mean
    }
}

/// The class-major hard labels `[0]·ipc, [1]·ipc, …` (`label_syn`, `main.py:89`).
pub fn class_labels(classes: i64, ipc: i64, dev: Device) -> Tensor {
    Tensor::arange(classes, (Kind::Int64, dev)).repeat_interleave_self_int(ipc, 0, None::<i64>)
}

/// The initial synthetic set `[classes · ipc, C, H, W]` in the normalised space: `real` draws
/// ipc random real images per class (`main.py:91-94`), anything else standard normal noise
/// (`torch.randn`, `main.py:88`; the caller holds the seed scope).
pub fn initial_images(
    input: &DistillInput,
    norm: &Normalised,
    init: &str,
    rng: &mut HostRng,
    members: &mut [Vec<i64>],
) -> Tensor {
    let dev = input.images.device();
    let [c, h, w] = input.image_shape;
    let syn = match init {
        "real" => norm.images(&draw_batches(rng, members, input.ipc, dev).0),
        _ => Tensor::randn([input.num_classes * input.ipc, c, h, w], (Kind::Float, dev)),
    };
    syn.detach().set_requires_grad(true)
}
