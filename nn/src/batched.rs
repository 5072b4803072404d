//! Batched students: S ConvNet students of one spec (the seeds of a cell, or several methods'
//! sets of one IPC) trained together as one grouped model, so that a GPU runs one convolution of
//! S groups instead of S tiny ones. Member k keeps its own initialisation (copied in from its
//! [`Model`]), its own data order and its own augmentation draws; its loss is its own mean loss
//! (the batched loss is their sum), and SGD with momentum and weight decay acts elementwise, so
//! each member's update is the one it would get trained alone. When training ends, every member's
//! weights are written back into its `Model`.
//!
//! Grouped layout: block convolutions have `S × width` output channels and `groups = S` (member
//! k's inputs are channels `k·C .. (k+1)·C`); instance norm is per channel and so per member;
//! the classifier is a batched matmul over `[S, K, F]` weights.

use crate::model::{Arch, Model, NormKind};
use crate::resume::{Checkpoints, Resume, TrainError};
use crate::train::{EpochLoss, TrainConfig, TrainStats};
use tch::nn;
use tch::{Kind, Tensor};

/// Why a set of models cannot be trained batched (the caller trains them one by one instead).
pub fn unsupported(models: &[Model]) -> Option<String> {
    let first = models.first()?;
    let s = &first.spec;
    if s.arch != Arch::Convnet {
        return Some(format!("architecture {} (batched: convnet only)", s.arch));
    }
    if s.norm == NormKind::Batch {
        return Some("batch norm (batched: instance norm or none)".into());
    }
    if models
        .iter()
        .any(|m| m.spec != *s || m.device() != first.device())
    {
        return Some("members differ in model spec or device".into());
    }
    None
}

/// The grouped parameters of S members.
struct Grouped {
    vs: nn::VarStore,
    /// Per block: conv weight `[S·W, C, 3, 3]`, conv bias `[S·W]`, norm weight and bias.
    blocks: Vec<[Tensor; 4]>,
    head_w: Tensor,
    head_b: Tensor,
    padding: Vec<i64>,
}

fn var(m: &Model, name: &str) -> Tensor {
    m.vs.variables()
        .remove(&format!("net.{name}"))
        .unwrap_or_else(|| panic!("ConvNet variable net.{name}"))
}

/// The first block's padding as the ConvNet builder sets it (3 for 28×28 grey images).
fn paddings(m: &Model) -> Vec<i64> {
    let s = &m.spec;
    (0..s.depth)
        .map(|d| {
            let grey28 = s.in_channels == 1 && s.height == 28 && s.width_px == 28;
            if d == 0 && grey28 {
                3
            } else {
                1
            }
        })
        .collect()
}

impl Grouped {
    fn new(models: &[Model]) -> Grouped {
        let m0 = &models[0];
        let vs = nn::VarStore::new(m0.device());
        let root = vs.root();
        let cat = |name: &str| {
            let parts: Vec<Tensor> = models.iter().map(|m| var(m, name).detach()).collect();
            Tensor::cat(&parts, 0)
        };
        let stack = |name: &str| {
            let parts: Vec<Tensor> = models.iter().map(|m| var(m, name).detach()).collect();
            Tensor::stack(&parts, 0)
        };
        let mut blocks = Vec::new();
        for d in 0..m0.spec.depth {
            let b = format!("block{d}");
            let one = |what: &str| {
                let t = if what.starts_with("norm") && m0.spec.norm == NormKind::None {
                    Tensor::zeros([0], (Kind::Float, m0.device()))
                } else {
                    cat(&format!("{b}.{what}"))
                };
                root.var_copy(&format!("{b}_{}", what.replace('.', "_")), &t)
            };
            blocks.push([
                one("conv.weight"),
                one("conv.bias"),
                one("norm.weight"),
                one("norm.bias"),
            ]);
        }
        let head_w = root.var_copy("head_w", &stack("classifier.weight"));
        let head_b = root.var_copy("head_b", &stack("classifier.bias"));
        Grouped {
            vs,
            blocks,
            head_w,
            head_b,
            padding: paddings(m0),
        }
    }

    /// Logits `[S, B, K]` for the members' network inputs `z` (`[B, S·C, H, W]`).
    fn forward(&self, mut z: Tensor, members: i64) -> Tensor {
        for (blk, pad) in self.blocks.iter().zip(&self.padding) {
            let [w, b, nw, nb] = blk;
            z = z.conv2d(w, Some(b), [1, 1], [*pad, *pad], [1, 1], members);
            if nw.numel() > 0 {
                z = crate::convnet::per_channel_norm(&z, nw, nb);
            }
            z = crate::convnet::avg_pool2(&z.relu());
        }
        let bsz = z.size()[0];
        let feats = z.reshape([bsz, members, -1]).transpose(0, 1); // [S, B, F] (copies if strided)
        self.head_b
            .unsqueeze(1)
            .baddbmm(&feats, &self.head_w.transpose(1, 2), 1.0, 1.0)
    }

    /// Member k's slice of every grouped parameter, copied into `m`.
    fn write_back(&self, k: i64, members: i64, m: &Model) {
        let _g = tch::no_grad_guard();
        let slice = |t: &Tensor| {
            let per = t.size()[0] / members;
            t.narrow(0, k * per, per)
        };
        let vars = m.vs.variables();
        let put = |name: &str, v: Tensor| {
            vars[&format!("net.{name}")].shallow_clone().copy_(&v);
        };
        for (d, [w, b, nw, nb]) in self.blocks.iter().enumerate() {
            put(&format!("block{d}.conv.weight"), slice(w));
            put(&format!("block{d}.conv.bias"), slice(b));
            if nw.numel() > 0 {
                put(&format!("block{d}.norm.weight"), slice(nw));
                put(&format!("block{d}.norm.bias"), slice(nb));
            }
        }
        put("classifier.weight", self.head_w.get(k));
        put("classifier.bias", self.head_b.get(k));
    }
}

/// One member's training set: images `[N, C, H, W]` and hard (`[N]`) or soft (`[N, K]`) labels,
/// and the seed of its draws.
pub struct MemberSet<'a> {
    pub images: &'a Tensor,
    pub labels: &'a Tensor,
    /// Member k's shuffles and augmentation draws come from libtorch's generator seeded from
    /// (this seed, epoch, step) alone, so its student does not depend on which other members
    /// it trains with.
    pub seed: u64,
}

impl<'a> MemberSet<'a> {
    /// One member per `(images, labels)` pair, seeded 0, 1, 2, … in order.
    pub fn seeded(sets: &'a [(Tensor, Tensor)]) -> Vec<MemberSet<'a>> {
        sets.iter()
            .zip(0..)
            .map(|((images, labels), seed)| MemberSet {
                images,
                labels,
                seed,
            })
            .collect()
    }
}

/// The generator seed of a member's draws at `(epoch, step)` (step 0: the epoch's shuffle).
fn stream(seed: u64, epoch: i64, step: i64) -> i64 {
    let mut r = crate::rng::HostRng::new(seed ^ ((epoch as u64) << 24) ^ step as u64);
    (r.next_u64() >> 1) as i64
}

/// Trains `models` (S ConvNets of one spec, each freshly initialised as its seed makes it) on
/// their own sets, as [`crate::train_classifier`] trains one, but as one grouped model; each
/// member draws its own shuffles and augmentation from its own seed ([`MemberSet::seed`]). All
/// sets must have the same size and label kind. The trained weights end up in `models`.
pub fn train_batched(
    models: &mut [Model],
    sets: &[MemberSet],
    cfg: &TrainConfig,
    on_epoch: &mut dyn FnMut(i64, i64),
) -> Result<TrainStats, String> {
    train_batched_resumable(models, sets, cfg, None, on_epoch).map_err(|e| e.to_string())
}

/// [`train_batched`], saving the grouped model as `resume` says and starting from its file when
/// there is one ([`crate::resume`]).
pub fn train_batched_resumable(
    models: &mut [Model],
    sets: &[MemberSet],
    cfg: &TrainConfig,
    resume: Option<&Resume>,
    on_epoch: &mut dyn FnMut(i64, i64),
) -> Result<TrainStats, TrainError> {
    if let Some(why) = unsupported(models) {
        return Err(format!("cannot train these students batched: {why}").into());
    }
    check_sets(models.len(), sets)?;
    let members = models.len() as i64;
    let g = Grouped::new(models);
    let mut opt = crate::train::optimizer(g.vs.trainable_variables(), cfg)?;
    let (mut ck, mut p) = Checkpoints::open(resume, &g.vs, &mut opt, None)?;
    let n = sets[0].images.size()[0];
    let steps_per_epoch = (n + cfg.batch_size - 1) / cfg.batch_size;
    let decay_step = steps_per_epoch * cfg.epochs / 2;
    if p.stats.steps > decay_step {
        opt.set_lr(cfg.lr * 0.1);
    }
    let dev = models[0].device();
    for epoch in p.epoch..cfg.epochs {
        let mut epoch_loss = EpochLoss::new(dev);
        let perms: Vec<Tensor> = sets
            .iter()
            .map(|s| {
                tch::manual_seed(stream(s.seed, epoch, 0));
                Tensor::randperm(n, (Kind::Int64, dev))
            })
            .collect();
        for (step, start) in (0..n).step_by(cfg.batch_size.max(1) as usize).enumerate() {
            if p.stats.steps == decay_step {
                opt.set_lr(cfg.lr * 0.1);
            }
            let len = cfg.batch_size.min(n - start);
            let idx: Vec<Tensor> = perms.iter().map(|p| p.narrow(0, start, len)).collect();
            let draw = |k: usize| stream(sets[k].seed, epoch, step as i64 + 1);
            let loss = step_loss(&g, models, sets, &idx, cfg, &draw);
            opt.backward_step(&loss)?;
            epoch_loss.add(&(&loss / members as f64));
            p.stats.steps += 1;
            p.stats.images_seen += len * members;
        }
        p.epoch = epoch + 1;
        ck.epoch_done(&mut p, cfg.epochs, &epoch_loss, &g.vs, &opt, None)?;
        on_epoch(epoch + 1, cfg.epochs);
    }
    for (k, m) in models.iter().enumerate() {
        g.write_back(k as i64, members, m);
    }
    Ok(p.stats)
}

/// Trains every student on its set: batched when [`unsupported`] finds nothing against it, else
/// one by one (saying why through `log`). Returns whether they were batched.
pub fn train_all(
    models: &mut [Model],
    sets: &[MemberSet],
    cfg: &TrainConfig,
    log: &dyn Fn(&str),
) -> Result<bool, String> {
    if models.len() > 1 {
        match unsupported(models) {
            None => return train_batched(models, sets, cfg, &mut |_, _| {}).map(|_| true),
            Some(why) => log(&format!("students trained one by one, not batched: {why}")),
        }
    }
    check_sets(models.len(), sets)?;
    for (m, s) in models.iter_mut().zip(sets) {
        crate::train_classifier(m, s.images, s.labels, cfg, &mut |_, _| {})
            .map_err(|e| e.to_string())?;
    }
    Ok(false)
}

fn check_sets(members: usize, sets: &[MemberSet]) -> Result<(), String> {
    if sets.len() != members || members == 0 {
        return Err(format!(
            "{members} students but {} training sets",
            sets.len()
        ));
    }
    let (n, dim) = (sets[0].images.size()[0], sets[0].labels.dim());
    for (k, s) in sets.iter().enumerate() {
        if s.images.size()[0] != n || s.labels.dim() != dim || s.labels.size()[0] != n {
            return Err(format!(
                "batched students need sets of one size and label kind: member {k} has {} images \
                 and {}-d labels, member 0 {n} and {dim}-d",
                s.images.size()[0],
                s.labels.dim()
            ));
        }
    }
    Ok(())
}

/// The summed loss of every member on its own batch (indices `idx[k]` into its set).
fn step_loss(
    g: &Grouped,
    models: &[Model],
    sets: &[MemberSet],
    idx: &[Tensor],
    cfg: &TrainConfig,
    draw: &dyn Fn(usize) -> i64,
) -> Tensor {
    let members = models.len() as i64;
    let xs: Vec<Tensor> = sets
        .iter()
        .zip(idx)
        .enumerate()
        .map(|(k, (s, i))| {
            tch::manual_seed(draw(k));
            cfg.augment
                .apply(&s.images.index_select(0, i), cfg.crop_pad, cfg.flip)
        })
        .collect();
    let zs: Vec<Tensor> = models
        .iter()
        .zip(&xs)
        .map(|(m, x)| m.net_input(x))
        .collect();
    let z = Tensor::stack(&zs, 1); // [B, S, C, H, W]
    let sz = z.size();
    let logits = g.forward(z.view([sz[0], sz[1] * sz[2], sz[3], sz[4]]), members);
    let logp = logits.log_softmax(-1, Kind::Float); // [S, B, K]
    let ys: Vec<Tensor> = sets
        .iter()
        .zip(idx)
        .map(|(s, i)| s.labels.index_select(0, i))
        .collect();
    let y = Tensor::stack(&ys, 0);
    let per_sample = if y.dim() == 3 {
        -(logp * y).sum_dim_intlist(-1, false, Kind::Float)
    } else {
        -logp.gather(2, &y.unsqueeze(2), false).squeeze_dim(2)
    };
    // each member's mean, summed: member k's gradient is its own
    per_sample
        .mean_dim([1i64].as_slice(), false, Kind::Float)
        .sum(Kind::Float)
}
