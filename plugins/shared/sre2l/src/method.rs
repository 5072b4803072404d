//! The method plugins' common body: squeeze (or load the cached teacher), recover, and hand the
//! harness the images, the teacher's soft labels, and the teacher for online relabelling.

use crate::checkpoint;
use crate::flavour_config::{FlavourConfig, AT_KEYS, GUARD_KEYS};
use crate::recover::recover_resumable;
use crate::regularizer::{GuardVariant, Regularizer};
use crate::squeeze::train_teacher_resumable;
use crate::teacher_cache::{self, TeacherMeta};
use crate::Sre2lConfig;
use ddbench_nn::rng::pick_per_class;
use ddbench_nn::{Model, ModelSpec};
use ddbench_plugin_api::{
    DistillInput, Distilled, Hints, Host, Method, PluginError, PluginResult, TeacherHint,
};
use std::marker::PhantomData;
use tch::{Kind, Tensor};

/// What distinguishes `sre2l`, `guard` and `sre2l-at`: the teacher's regularizer.
pub trait Flavour {
    /// The method plugin's name.
    const METHOD: &'static str;
    /// Name of the regularizer in cache keys and records.
    const REGULARIZER: &'static str;
    /// The other flavours' regularizer keys, by method: refused in this one's config.
    const FOREIGN: &'static [(&'static str, &'static [&'static str])];
    fn regularizer(cfg: &Sre2lConfig) -> PluginResult<Regularizer>;
}

pub struct Plain;
pub struct Guard;
pub struct Sre2lAt;

impl Flavour for Plain {
    const METHOD: &'static str = "sre2l";
    const REGULARIZER: &'static str = "none";
    const FOREIGN: &'static [(&'static str, &'static [&'static str])] =
        &[("guard", GUARD_KEYS), ("sre2l-at", AT_KEYS)];
    fn regularizer(_: &Sre2lConfig) -> PluginResult<Regularizer> {
        Ok(Regularizer::None)
    }
}

impl Flavour for Guard {
    const METHOD: &'static str = "guard";
    const REGULARIZER: &'static str = "guard";
    const FOREIGN: &'static [(&'static str, &'static [&'static str])] = &[("sre2l-at", AT_KEYS)];
    fn regularizer(cfg: &Sre2lConfig) -> PluginResult<Regularizer> {
        let variant: GuardVariant = cfg.variant.parse().map_err(PluginError)?;
        Ok(Regularizer::Guard {
            variant,
            h: cfg.h,
            lambda: cfg.lambda,
            beta: cfg.beta,
            shared_pass: cfg.guard_shared_pass,
        })
    }
}

impl Flavour for Sre2lAt {
    const METHOD: &'static str = "sre2l-at";
    const REGULARIZER: &'static str = "pgd-at";
    const FOREIGN: &'static [(&'static str, &'static [&'static str])] = &[("guard", GUARD_KEYS)];
    fn regularizer(cfg: &Sre2lConfig) -> PluginResult<Regularizer> {
        Ok(Regularizer::PgdAt {
            eps: cfg.at_eps,
            alpha: cfg.at_alpha,
            steps: cfg.at_steps,
        })
    }
}

/// The SRe2L method with flavour `F`.
pub struct Sre2l<F>(PhantomData<F>);

fn teacher_spec(
    input: &DistillInput,
    cfg: &Sre2lConfig,
    mean: Vec<f64>,
    std: Vec<f64>,
) -> ModelSpec {
    let mut spec = ModelSpec::convnet(input.image_shape, input.num_classes, mean, std);
    spec.arch = cfg.teacher_arch;
    spec.width = cfg.teacher_width;
    spec.depth = cfg.teacher_depth;
    spec.norm = cfg.teacher_norm();
    spec
}

impl<F: Flavour> Sre2l<F> {
    /// The teacher for this data set and config: from the cache, or trained and cached.
    pub fn teacher(
        input: &DistillInput,
        cfg: &Sre2lConfig,
        host: &Host,
    ) -> PluginResult<(Model, TeacherMeta, bool)> {
        let reg = F::regularizer(cfg)?;
        let (mean, std) = ddbench_nn::channel_stats(&input.images);
        let spec = teacher_spec(input, cfg, mean, std);
        let squeeze = cfg.squeeze_part(F::REGULARIZER);
        let key = teacher_cache::key(&input.dataset_hash, &spec, &squeeze);
        let _lock = teacher_cache::lock(&input.cache_dir, &key, &|m| host.log(m))?;
        if let Some(meta) = teacher_cache::lookup(&input.cache_dir, &key) {
            let mut model = Model::new(&spec, input.device);
            let p = teacher_cache::paths(&input.cache_dir, &key);
            model
                .vs
                .load(&p.weights)
                .map_err(|e| format!("loading cached teacher {}: {e}", p.weights.display()))?;
            host.log(&format!(
                "teacher {key} from the cache ({})",
                p.weights.display()
            ));
            return Ok((model, meta, true));
        }
        let _rng = ddbench_plugin_api::SeedScope::new(cfg.teacher_seed);
        let mut model = Model::new(&spec, input.device);
        let (images, labels) = match cfg.teacher_subset {
            None => (input.images.shallow_clone(), input.labels.shallow_clone()),
            Some(per) => {
                let l = Vec::<i64>::try_from(input.labels.to_device(tch::Device::Cpu))?;
                let idx = pick_per_class(&l, input.num_classes, |_| per as usize, cfg.teacher_seed)
                    .concat();
                let idx = Tensor::from_slice(&idx).to_device(input.device);
                (
                    input.images.index_select(0, &idx),
                    input.labels.index_select(0, &idx),
                )
            }
        };
        host.log(&format!(
            "training the {} teacher ({}, {} images, {} epochs)",
            F::REGULARIZER,
            spec.arch,
            images.size()[0],
            cfg.teacher_epochs
        ));
        let ckpt = checkpoint::path(&input.cache_dir, &key);
        if ckpt.exists() {
            host.log(&format!(
                "teacher {key}: resuming from its checkpoint {}",
                ckpt.display()
            ));
        }
        let (stats, sessions) = train_teacher_resumable(
            &mut model,
            &images,
            &labels,
            cfg,
            &reg,
            Some(&ckpt),
            &mut |e, n| host.progress(e as u64, n as u64),
        )?;
        let meta = TeacherMeta {
            key: key.clone(),
            spec,
            squeeze,
            stats,
            sessions,
        };
        teacher_cache::store(&input.cache_dir, &model.vs, &meta).map_err(PluginError)?;
        std::fs::remove_file(&ckpt).ok();
        Ok((model, meta, false))
    }
}

impl<F: Flavour> Method for Sre2l<F> {
    type Config = FlavourConfig<F>;
    fn distill(
        input: &DistillInput,
        cfg: &FlavourConfig<F>,
        host: &Host,
    ) -> PluginResult<Distilled> {
        let cfg = &cfg.inner;
        let (mut teacher, meta, cached) = Self::teacher(input, cfg, host)?;
        teacher.vs.freeze();
        let ckpt =
            checkpoint::recovery_path(&input.cache_dir, &meta.key, cfg, input.ipc, input.seed)
                .map_err(PluginError)?;
        if ckpt.exists() {
            host.log(&format!("recovery: resuming from {}", ckpt.display()));
        }
        let (images, labels) = recover_resumable(
            &teacher,
            input.ipc,
            cfg,
            input.seed,
            Some(&ckpt),
            &mut |d, n| host.progress(d as u64, n as u64),
        )
        .map_err(PluginError)?;
        // static soft labels (T = 1) for protocols without a teacher; the soft-label protocol relabels online
        let soft = tch::no_grad(|| teacher.forward_t(&images, false).softmax(-1, Kind::Float));
        let p = teacher_cache::paths(&input.cache_dir, &meta.key);
        let hints = Hints {
            protocol: Some("soft-label".into()),
            temperature: Some(cfg.temperature),
            teacher: Some(TeacherHint {
                weights: p.weights.clone(),
                spec: meta.spec.clone(),
                regularizer: F::REGULARIZER.into(),
                cached,
                seconds: meta.stats.seconds,
                forward_passes: meta.stats.forward_passes,
                backward_passes: meta.stats.backward_passes,
                images_seen: meta.stats.images_seen,
            }),
            ..Hints::default()
        };
        Ok(Distilled {
            images,
            labels,
            soft_labels: Some(soft),
            hints: Some(hints),
        })
    }
}
