//! The `dc` / `dsa` distillation: the official `main.py` training loop (`main.py:64-225`) around
//! [`crate::gm::gm_iteration`], its random numbers drawn from the call's seed.

use crate::common::{class_labels, draw_batches, initial_images, random_net, ImageSgd, Normalised};
use crate::config::GmSettings;
use crate::gm::{gm_iteration, GmLoop, GmSource, Passes};
use crate::resume::{Saver, State};
use ddbench_coreset::class_members;
use ddbench_nn::dsa::{self, parse_strategy, DsaDraw, DsaParams};
use ddbench_nn::rng::HostRng;
use ddbench_plugin_api::{DistillInput, Distilled, Host, PluginResult, SeedScope};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// The random numbers of a run: real batches and shuffles from a [`HostRng`] of the seed, DSA
/// draws from libtorch's generator (seeded by the caller's [`SeedScope`]).
pub struct SeededSource<'a> {
    pub rng: HostRng,
    pub members: Vec<Vec<i64>>,
    pub norm: &'a Normalised<'a>,
    pub batch_real: i64,
    pub dev: Device,
}

impl GmSource for SeededSource<'_> {
    fn real_batches(&mut self) -> Vec<Tensor> {
        let (idx, counts) =
            draw_batches(&mut self.rng, &mut self.members, self.batch_real, self.dev);
        self.norm.images(&idx).split_with_sizes(&counts, 0)
    }

    fn siamese(&mut self, p: &DsaParams, shape: &[i64]) -> DsaDraw {
        dsa::sample(p, shape, true, (Kind::Float, self.dev))
    }

    fn permutation(&mut self, n: i64) -> Vec<i64> {
        let mut order: Vec<i64> = (0..n).collect();
        self.rng.partial_shuffle(&mut order, n as usize);
        order
    }

    fn train_draw(&mut self, p: &DsaParams, shape: &[i64]) -> DsaDraw {
        dsa::sample(p, shape, false, (Kind::Float, self.dev))
    }
}

/// The loop settings for `ipc` (DSA when the strategy is not `none`).
pub fn gm_loop(s: &GmSettings, ipc: i64) -> PluginResult<GmLoop> {
    let (outer_loop, inner_loop) = s.loops(ipc)?;
    let strategy = parse_strategy(&s.dsa_strategy)?;
    let dsa = (!strategy.is_empty()).then(|| DsaParams {
        strategy,
        ..DsaParams::default()
    });
    Ok(GmLoop {
        ipc,
        outer_loop,
        inner_loop,
        lr_net: s.lr_net,
        batch_train: s.batch_train,
        dsa,
    })
}

/// The loop's state as the saver reads and restores it.
fn state<'a>(
    syn: &'a Tensor,
    opt: &'a mut ImageSgd,
    src: &'a mut SeededSource,
    passes: &'a mut Passes,
) -> State<'a> {
    State {
        syn,
        opt,
        rng: &mut src.rng,
        members: &mut src.members,
        passes,
    }
}

/// Distils `input` by gradient matching (`name`: `DC` or `DSA`, for the log): `iterations + 1`
/// outer iterations as the official `range(args.Iteration+1)` (`main.py:105`), each on a fresh
/// random ConvNet; the synthetic set in the normalised space, returned as pixels (unclipped).
pub fn distill_gm(
    input: &DistillInput,
    s: &GmSettings,
    host: &Host,
    name: &str,
) -> PluginResult<Distilled> {
    let lp = gm_loop(s, input.ipc)?;
    let dev = input.images.device();
    let _scope = SeedScope::new(input.seed);
    let mut rng = HostRng::new(input.seed);
    let labels = Vec::<i64>::try_from(input.labels.to_device(Device::Cpu))?;
    let mut members = class_members(&labels, input.num_classes, input.ipc)?;
    let norm = Normalised::new(input);
    let syn = initial_images(input, &norm, &s.init, &mut rng, &mut members);
    let syn_labels = class_labels(input.num_classes, input.ipc, dev);
    let mut src = SeededSource {
        rng,
        members,
        norm: &norm,
        batch_real: s.batch_real,
        dev,
    };
    let mut opt = ImageSgd::new(s.lr_img, s.momentum);
    let total = s.iterations as u64 + 1;
    host.log(&format!(
        "{name}: {total} outer iterations of {} matching steps, {} network epochs after each \
         but the last",
        lp.outer_loop, lp.inner_loop
    ));
    let (start, mut passes) = (Instant::now(), Passes::default());
    let code = format!("{name} {}", env!("CARGO_PKG_VERSION"));
    let mut saver = Saver::new(input, &code, &format!("{s:?}"));
    let first = saver.resume(&mut state(&syn, &mut opt, &mut src, &mut passes))?;
    if first > 0 {
        host.log(&format!(
            "{name}: resuming after outer iteration {first}/{total}"
        ));
    }
    let mut last = Tensor::zeros([], (Kind::Float, dev));
    for it in first..total {
        let [c, h, w] = input.image_shape;
        let net = random_net([c, h, w], input.num_classes, s.net_width, s.net_depth, dev);
        last = gm_iteration(
            &net,
            &syn,
            &syn_labels,
            &lp,
            &mut src,
            &mut opt,
            &mut passes,
        );
        host.progress(it + 1, total);
        saver.after(&state(&syn, &mut opt, &mut src, &mut passes), it + 1, total)?;
    }
    saver.finish();
    let loss_avg = last.double_value(&[]) / (input.num_classes * lp.outer_loop) as f64;
    host.log(&format!(
        "{name}: {:.1} s, {} forward and {} backward network passes, last loss {loss_avg:.4}",
        start.elapsed().as_secs_f64(),
        passes.forward,
        passes.backward
    ));
    Ok(Distilled {
        images: norm.to_pixels(&syn),
        labels: syn_labels,
        soft_labels: None,
        hints: None,
    })
}
