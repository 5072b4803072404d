//! `ddbench attack`: the attack suite on a model that no method plugin made (a student saved by
//! `--save-student`, or a PyTorch model in a documented layout: `external_model.rs`), on the test
//! split's attacked subset or the test indices a file names; one row per attack and ε in
//! `OUT/results.csv`, which `ddbench report` reads like any other.

use super::evaluate::{self, CleanEval};
use super::external_model::{self, Layout};
use super::subset::AttackSubset;
use super::train::Student;
use super::{setup, Ctx, RunConfig};
use crate::output::Ui;
use crate::record::ResultRow;
use anyhow::{bail, Context, Result};
use ddbench_nn::ModelSpec;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct AttackArgs {
    /// The model's weights (safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Its spec: a `student.json` written by `--save-student` (default: the flags --arch,
    /// --width, --depth, --norm-layer with the data set's shape, classes and --normalization).
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// How the weight file names its tensors.
    #[arg(long, value_enum, default_value = "ddbench")]
    pub layout: Layout,
    /// Attack these test indices (a text file of integers, separated by commas, spaces or
    /// newlines) instead of the class-stratified subset of --n-attack.
    #[arg(long)]
    pub indices: Option<PathBuf>,
    /// Everything else as `ddbench run` takes it (data set, attacks, ε, norm, configs, --out…);
    /// its method, IPC and training flags are ignored.
    #[command(flatten)]
    pub run: crate::cli::RunArgs,
}

/// The model's spec: from `--spec` or from the flags and the data.
fn spec_of(
    args: &AttackArgs,
    cfg: &RunConfig,
    data: &crate::data::DeviceDataset,
) -> Result<(ModelSpec, Option<PathBuf>)> {
    if let Some(p) = &args.spec {
        let card: serde_json::Value = serde_json::from_slice(
            &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("{}: not JSON", p.display()))?;
        let spec: ModelSpec = serde_json::from_value(card["spec"].clone()).with_context(|| {
            format!("{}: field 'spec' is not a ddbench model spec", p.display())
        })?;
        let zca = card["zca"].as_str().map(PathBuf::from);
        if spec.num_classes != data.num_classes
            || [spec.in_channels, spec.height, spec.width_px] != data.shape
        {
            bail!(
                "{}: a model for {}×{}×{} images of {} classes; the data set's are {:?} of {}",
                p.display(),
                spec.in_channels,
                spec.height,
                spec.width_px,
                spec.num_classes,
                data.shape,
                data.num_classes
            );
        }
        return Ok((spec, zca));
    }
    let mut spec = ModelSpec::convnet(
        data.shape,
        data.num_classes,
        data.mean.clone(),
        data.std.clone(),
    );
    spec.arch = cfg.arch;
    spec.width = cfg.width;
    spec.depth = cfg.depth;
    spec.norm = cfg.norm_layer;
    Ok((spec, None))
}

/// The test indices of `--indices`.
fn read_indices(p: &Path) -> Result<Vec<i64>> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .with_context(|| format!("{}: '{s}' is not a test index", p.display()))
        })
        .collect()
}

fn sha256_file(p: &Path) -> Result<String> {
    let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// Runs the suite; exit code 0, or 2 when an attack failed (its error is printed).
pub fn run(args: &AttackArgs) -> Result<i32> {
    let mut cfg = args.run.to_config()?;
    cfg.methods.clear();
    cfg.method_config.clear();
    let ui = Ui::new(cfg.quiet);
    let sha = sha256_file(&args.model)?;
    let setup = setup::prepare(&cfg, &ui)?;
    let cfg = RunConfig {
        attack_config: setup.attack_config.clone(),
        ..cfg
    };
    let (spec, zca) = spec_of(args, &cfg, &setup.data)?;
    let mut model = external_model::load(&args.model, &spec, args.layout, setup.device)
        .map_err(anyhow::Error::msg)?;
    if let Some(z) = &zca {
        model.set_zca(ddbench_nn::Zca::load(z, setup.device).map_err(anyhow::Error::msg)?);
    }
    let subset = match &args.indices {
        Some(p) => AttackSubset::of_indices(&setup.data, read_indices(p)?)
            .with_context(|| format!("{}", p.display()))?,
        None => AttackSubset::take(&setup.data, cfg.n_attack, &ui)?,
    };
    let (x2, y2) = subset.head(2);
    crate::preflight::check_attacks(
        &setup.attacks,
        &cfg.attack_config,
        cfg.norm,
        &cfg.eps_list(),
        &x2,
        &y2,
        setup.data.num_classes,
    )?;
    // the model brings its own ZCA layer (if any); none is fitted for it
    let ctx = Ctx {
        cfg: &cfg,
        ui: &ui,
        device: setup.device,
        data: &setup.data,
        subset: &subset,
        memory: &setup.memory,
        zca: None,
        stop: &|| false,
    };
    let student = Student {
        model,
        protocol: "external",
        epochs: 0,
        seconds: 0.0,
    };
    let clean = evaluate::clean(&ctx, &student).map_err(anyhow::Error::msg)?;
    ui.log(&format!(
        "{}: clean accuracy {:.2}%",
        args.model.display(),
        clean.acc
    ));
    let base = external_row(&ctx, args, &student, &clean, &sha);
    let (rows, failures) = attack_rows(&ctx, &setup.attacks, &student, &clean, &base);
    let out = cfg.out.join("results.csv");
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    crate::record::write_atomic(&out, &crate::record::rows_csv(&rows)?)?;
    println!("{}", crate::summary::table(&rows));
    println!("results: {}", out.display());
    for f in &failures {
        tracing::error!("{f}");
    }
    Ok(if failures.is_empty() { 0 } else { 2 })
}

/// Every attack at every ε: the rows, and the failures (reported, the others go on).
fn attack_rows(
    ctx: &Ctx,
    attacks: &[crate::plugin::Plugin],
    student: &Student,
    clean: &CleanEval,
    base: &ResultRow,
) -> (Vec<ResultRow>, Vec<String>) {
    let (mut rows, mut failures) = (Vec::new(), Vec::new());
    let indices = hex::encode(Sha256::digest(format!("{:?}", ctx.subset.indices)));
    let norm = crate::threat::norm_name(ctx.cfg.norm);
    for attack in attacks {
        for eps in ctx.cfg.eps_list() {
            let conf = RunConfig::config_of(&ctx.cfg.attack_config, &attack.name);
            let key = format!(
                "{}|{}|{conf}|{eps}|{norm}|{indices}",
                base.method_config, attack.name
            );
            let key_hash = hex::encode(Sha256::digest(key))[..16].to_string();
            let job = evaluate::AttackJob {
                attack,
                eps,
                seed: 0,
                label: "external model",
                resume: None,
            };
            match evaluate::attack(ctx, student, clean, &job) {
                Ok(run) => {
                    rows.push(super::rows::attack_row(ctx, base, attack, eps, run, key_hash).row)
                }
                Err(e) => failures.push(format!("attack {} eps {eps}: {e}", attack.name)),
            }
        }
    }
    (rows, failures)
}

/// The model's clean row: what every attack row starts from. `method` is `external`, its
/// version the first 16 hex digits of the weights' SHA-256, its config the file, hash, layout
/// and spec.
fn external_row(
    ctx: &Ctx,
    args: &AttackArgs,
    s: &Student,
    clean: &CleanEval,
    sha: &str,
) -> ResultRow {
    let config = serde_json::json!({
        "model": args.model, "sha256": sha, "layout": args.layout, "spec": s.model.spec,
    });
    ResultRow {
        dataset: ctx.data.name.clone(),
        method: "external".into(),
        method_version: sha[..16].to_string(),
        ipc: 0,
        arch: ctx.cfg.arch.to_string(),
        seed: 0,
        attack: "none".into(),
        attack_version: String::new(),
        norm: String::new(),
        eps: 0.0,
        clean_acc: clean.acc,
        subset_clean_acc: clean.subset_acc,
        robust_acc: f64::NAN,
        n_test: ctx.data.test_labels.size()[0],
        n_attack: 0,
        distilled_images: 0,
        train_epochs: 0,
        distill_s: 0.0,
        train_s: 0.0,
        attack_s: 0.0,
        forward_calls: 0,
        backward_calls: 0,
        protocol: "external".into(),
        teacher_regularizer: String::new(),
        teacher_s: 0.0,
        teacher_forward: 0,
        teacher_backward: 0,
        teacher_clean_acc: f64::NAN,
        teacher_pgd_acc: f64::NAN,
        pert_mean: f64::NAN,
        pert_max: f64::NAN,
        pert_median_success: f64::NAN,
        pert_mean_success: f64::NAN,
        attack_config: String::new(),
        flags: String::new(),
        peak_device_mib: ctx.memory.peak_mib(),
        key_hash: String::new(),
        attack_label: String::new(),
        method_config: config.to_string(),
        augment: String::new(),
        whitening: crate::whitening::record(s.model.zca()),
        distilled_min: f64::NAN,
        distilled_max: f64::NAN,
    }
}
