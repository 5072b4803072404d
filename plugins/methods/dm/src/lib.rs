//! `dm`: Dataset Condensation with Distribution Matching (Zhao & Bilen, WACV 2023), as the
//! official `main_DM.py` of VICO-UoE/DatasetCondensation (ConvNet branch):
//!
//! - synthetic images initialised from random real images of their class (`--init real`) in
//!   the data set's normalised space (official: images normalised by the loader; here with the
//!   training set's channel mean / std, `ddbench_nn::channel_stats`);
//! - each outer iteration (`iterations`, official 20000) a fresh randomly initialised ConvNet
//!   (width 128, depth 3, instance norm, PyTorch's default initialisation), frozen;
//! - per class: `batch_real` (256) random real images of the class, one DSA draw
//!   (`color_crop_cutout_flip_scale_rotate`, `ParamDiffAug` defaults, mode S, Siamese: the same
//!   group and values for the real and the synthetic batch, `ddbench_nn::dsa`), and the squared
//!   distance between the mean embeddings (`ConvNet.embed`, the real side detached), summed
//!   over classes;
//! - SGD on the images, lr 1.0, momentum 0.5 (`optimizer_img`), one step per iteration.
//!
//! The result is mapped back to pixels (x · std + mean), unclipped as the official code keeps
//! its normalised images (values may leave [0, 1]: the host trains on them and records their
//! range; attacks still run on [0, 1] test images), with hard labels.
//! Every random number comes from the call's seed (`SeedScope` for the networks and DSA draws, a
//! `HostRng` for the real batches). `tests/dm.rs` checks two outer iterations against a PyTorch
//! mirror of the official loop.

pub mod config;
pub mod step;

use config::DmConfig;
use ddbench_coreset::class_members;
use ddbench_matching::common::initial_images;
use ddbench_matching::resume::{Saver, State};
use ddbench_matching::{class_labels, draw_batches, Normalised};
use ddbench_nn::dsa::{self, parse_strategy, DsaParams};
use ddbench_nn::rng::HostRng;
use ddbench_plugin_api::{declare_method, DistillInput, Distilled, Host, Method, PluginResult};
use step::{outer_step, random_net, ImageSgd};
use tch::{Device, Kind, Tensor};

pub struct Dm;

impl Method for Dm {
    type Config = DmConfig;
    fn distill(input: &DistillInput, cfg: &DmConfig, host: &Host) -> PluginResult<Distilled> {
        let dev = input.images.device();
        let _scope = ddbench_plugin_api::SeedScope::new(input.seed);
        let mut rng = HostRng::new(input.seed);
        let labels = Vec::<i64>::try_from(input.labels.to_device(Device::Cpu))?;
        let mut members = class_members(&labels, input.num_classes, input.ipc)?;
        let norm = Normalised::new(input);
        let (classes, ipc) = (input.num_classes, input.ipc);
        let syn = initial_images(input, &norm, &cfg.init, &mut rng, &mut members);
        let p = DsaParams {
            strategy: parse_strategy(&cfg.dsa_strategy)?,
            ..DsaParams::default()
        };
        let mut opt = ImageSgd::new(cfg.lr_img, cfg.momentum);
        let mut last = Tensor::zeros([], (Kind::Float, dev));
        host.log(&format!(
            "DM: {} iterations, {} real images per class",
            cfg.iterations, cfg.batch_real
        ));
        let mut passes = ddbench_matching::gm::Passes::default();
        let code = concat!("DM ", env!("CARGO_PKG_VERSION"));
        let mut saver = Saver::new(input, code, &format!("{cfg:?}"));
        let total = cfg.iterations as u64;
        let first = saver.resume(&mut State {
            syn: &syn,
            opt: &mut opt,
            rng: &mut rng,
            members: &mut members,
            passes: &mut passes,
        })?;
        if first > 0 {
            host.log(&format!("DM: resuming after iteration {first}/{total}"));
        }
        for it in first as i64..cfg.iterations {
            let net = random_net(
                input.image_shape,
                classes,
                cfg.net_width,
                cfg.net_depth,
                dev,
            );
            let (idx, counts) = draw_batches(&mut rng, &mut members, cfg.batch_real, dev);
            let real = norm.images(&idx).split_with_sizes(&counts, 0);
            let draws: Vec<_> = real
                .iter()
                .map(|r| dsa::sample(&p, &r.size(), true, (Kind::Float, dev)))
                .collect();
            last = outer_step(&net, &syn, ipc, &real, &draws, &p, &mut opt);
            host.progress(it as u64 + 1, total);
            let st = State {
                syn: &syn,
                opt: &mut opt,
                rng: &mut rng,
                members: &mut members,
                passes: &mut passes,
            };
            saver.after(&st, it as u64 + 1, total)?;
        }
        saver.finish();
        if cfg.iterations > 0 {
            host.log(&format!(
                "DM: final loss {:.4}",
                last.double_value(&[]) / classes as f64
            ));
        }
        let images = norm.to_pixels(&syn);
        let labels = class_labels(classes, ipc, dev);
        Ok(Distilled {
            images,
            labels,
            soft_labels: None,
            hints: None,
        })
    }
}

// 0.2.0 (2026-12-02): its networks' instance norm runs on group-norm kernels
// (`ddbench_nn::convnet::INSTANCE_NORM_KERNEL`), other rounding than 0.1.0's batch-norm kernels.
declare_method!(
    Dm,
    name = "dm",
    version = "0.2.0",
    description = "Distribution Matching (Zhao & Bilen 2023): per-class mean embeddings of random ConvNets with DSA"
);
