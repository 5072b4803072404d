//! The `ddbench` command line: argument parsing and dispatch to the library.

use crate::data::{fetch, source::DatasetKind};
use crate::device::DeviceChoice;
use crate::run::{self as stages, events::EventSink, RunConfig};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use ddbench_nn::{Arch, NormKind, TrainConfig};
use ddbench_plugin_api::Norm;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ddbench",
    version,
    about = "Benchmark harness for adversarially robust dataset distillation"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Distil, train students, and measure clean and robust accuracy.
    Run(Box<RunArgs>),
    /// List the plugins found (name, kind, version, ABI) and why any file was refused.
    Plugins {
        /// Extra plugin folders (searched before the built-in one).
        #[arg(long = "dir")]
        dirs: Vec<PathBuf>,
        /// Self-test these built plugin files instead (load, describe, run on a tiny synthetic
        /// problem, check outputs, determinism and the random generator); exit 1 if any fails.
        #[arg(long, num_args = 1.., value_name = "FILE.so")]
        check: Vec<PathBuf>,
        /// With --check: the config (JSON) every checked plugin gets (default `{}`).
        #[arg(long, requires = "check", default_value = "{}")]
        config: String,
    },
    /// Images per second of the hot loops (train steps, GUARD and PGD-AT teacher steps, PGD-10,
    /// Square, a DD student) as JSON lines; `--compare` runs bench/pytorch_reference.py beside.
    Speed(crate::speed::SpeedArgs),
    /// The attack suite on a model trained elsewhere (safetensors weights: a `--save-student`
    /// student or a PyTorch ConvNet / ResNet-18), on the attacked subset or given test indices.
    Attack(Box<crate::run::external::AttackArgs>),
    /// Run a leaderboard file (data sets × methods × IPC × architectures × seeds × attacks),
    /// resumably, then build its report.
    Bench(Box<crate::bench::BenchArgs>),
    /// Rebuild the Markdown leaderboard and the charts of a results folder from its CSV.
    Report(crate::report::ReportArgs),
    /// Write a ready plugin crate (method or attack) that builds against this checkout.
    New(crate::scaffold::NewArgs),
    /// Data set utilities.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Download an official archive over HTTPS and check its published checksum.
    Fetch {
        /// cifar10, cifar100 or fashion-mnist.
        dataset: String,
        #[arg(long)]
        to: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NormArg {
    Linf,
    L2,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NormLayerArg {
    Instance,
    Batch,
    None,
}

impl NormLayerArg {
    fn kind(self) -> NormKind {
        match self {
            NormLayerArg::Instance => NormKind::Instance,
            NormLayerArg::Batch => NormKind::Batch,
            NormLayerArg::None => NormKind::None,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[arg(long, value_enum, default_value = "fashion-mnist")]
    pub dataset: DatasetKind,
    /// Folder of the data set (default for fashion-mnist: Debian's /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The models' per-channel normalisation: auto (the published values of the official
    /// reader's set; the data's own for imagefolder), data, or a set's published values.
    #[arg(long, value_enum, default_value = "auto")]
    pub normalization: crate::data::NormalizationChoice,
    /// Method plugins, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "random")]
    pub method: Vec<String>,
    /// Images per class, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10")]
    pub ipc: Vec<i64>,
    #[arg(long, default_value = "convnet")]
    pub arch: String,
    /// ConvNet width (channels).
    #[arg(long, default_value_t = 128)]
    pub width: i64,
    /// ConvNet depth (blocks).
    #[arg(long, default_value_t = 3)]
    pub depth: i64,
    #[arg(long, value_enum, default_value = "instance")]
    pub norm_layer: NormLayerArg,
    /// Number of seeds (students; and distillations) per cell: seeds 0..N.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Train the seeds' students of each method and IPC together, as one grouped model
    /// (DD protocol, ConvNet): each member with its own init, set, and draws from its own seed;
    /// rows keyed apart from one-by-one students. Pays on a GPU.
    #[arg(long)]
    pub batch_students: bool,
    /// Students train under bf16 autocast (CUDA, CPUs with native bf16; else float32 with a
    /// line); distillation, evaluation, attacks stay float32; rows keyed apart.
    #[arg(long)]
    pub bf16_students: bool,
    /// Students' optimiser steps as one fused kernel for all parameters (as PyTorch's
    /// `fused=True`) instead of libtorch's per-parameter loop; rows keyed apart.
    #[arg(long)]
    pub fused_optimizer: bool,
    /// First seed (seeds first..first+N).
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Attack plugins, comma-separated (none: clean accuracy only).
    #[arg(long, value_delimiter = ',')]
    pub attacks: Vec<String>,
    /// ε values, comma-separated; fractions allowed (8/255). Default: 8/255 (linf), 0.5 (l2).
    /// `inf`: no bound (for the minimal-perturbation attacks cw and deepfool).
    #[arg(long, value_delimiter = ',')]
    pub eps: Vec<String>,
    #[arg(long, value_enum, default_value = "linf")]
    pub norm: NormArg,
    /// Test images attacked (a fixed, class-stratified subset).
    #[arg(long, default_value_t = 1000)]
    pub n_attack: usize,
    /// Student epochs (DD protocol: 300; the DSA protocol of the published DD figures: 1000).
    #[arg(long, default_value_t = 300)]
    pub epochs: i64,
    /// DD protocol's student augmentation: crop-flip, dsa (DC/DSA/DM/MTT's evaluation), none.
    #[arg(long, default_value = "crop-flip")]
    pub augment: String,
    /// Students' input whitening: none, or zca (MTT / DATM on CIFAR; a fixed first layer).
    #[arg(long, value_enum, default_value = "none")]
    pub whitening: crate::whitening::Whitening,
    #[arg(long, default_value_t = 256)]
    pub batch_size: i64,
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    /// Student protocol: auto (soft-label when the method hands over a teacher), dd, soft-label.
    #[arg(long, value_enum, default_value = "auto")]
    pub protocol: crate::student::Protocol,
    /// Soft-label protocol: student epochs (SRe2L / GUARD CIFAR: 400).
    #[arg(long, default_value_t = 400)]
    pub soft_epochs: i64,
    /// Soft-label protocol: batch size (128), AdamW lr (1e-3), mixup alpha (0.8; 0 disables).
    #[arg(long, default_value_t = 128)]
    pub soft_batch: i64,
    #[arg(long, default_value_t = 1e-3)]
    pub soft_lr: f64,
    #[arg(long, default_value_t = 0.8)]
    pub mixup: f64,
    /// JSON config for a method: NAME='{"key": value}' (repeatable).
    #[arg(long = "method-config")]
    pub method_config: Vec<String>,
    /// JSON config for an attack: NAME='{"steps": 20}' (repeatable).
    #[arg(long = "attack-config")]
    pub attack_config: Vec<String>,
    /// Output folder (results.csv, manifest.json); a rerun skips rows recorded there with the
    /// same inputs, and refuses rows recorded with other inputs (see --force).
    #[arg(long, default_value = "results/run")]
    pub out: PathBuf,
    /// Move rows of --out recorded with other inputs to stale.csv and compute them anew.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub save: crate::run::SaveOptions,
    /// Cache of expensive method artefacts (teachers), shared by runs.
    #[arg(long, default_value = "results/cache")]
    pub cache_dir: PathBuf,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Extra plugin folders.
    #[arg(long = "plugin-dir")]
    pub plugin_dirs: Vec<PathBuf>,
    #[arg(long, default_value_t = 1000)]
    pub eval_batch: i64,
    #[arg(long, default_value_t = 500)]
    pub attack_batch: i64,
    /// No progress bars or log lines (the final table is still printed).
    #[arg(long)]
    pub quiet: bool,
    /// Write progress events as JSON lines to this inherited file descriptor (bench's pipe).
    #[arg(long, hide = true)]
    pub events_fd: Option<i32>,
    /// Seconds between saves of a training or attack under way, for a rerun (0: every step).
    #[arg(long, default_value_t = 300.0)]
    pub checkpoint_every: f64,
}

use crate::threat::parse_eps;

fn parse_configs(items: &[String], flag: &str) -> Result<BTreeMap<String, serde_json::Value>> {
    let mut m = BTreeMap::new();
    for it in items {
        let (name, json) = it
            .split_once('=')
            .ok_or_else(|| anyhow!("{flag} '{it}': expected NAME='{{json}}'"))?;
        let v: serde_json::Value = serde_json::from_str(json)
            .with_context(|| format!("{flag} for '{name}': not valid JSON"))?;
        if !v.is_object() {
            bail!("{flag} for '{name}': expected a JSON object, got {v}");
        }
        m.insert(name.to_string(), v);
    }
    Ok(m)
}

impl RunArgs {
    /// `--eps` parsed and checked against `norm` (`None`: the norm's default).
    fn eps_values(&self, norm: Norm) -> Result<Option<Vec<f64>>> {
        if self.eps.is_empty() {
            return Ok(None);
        }
        let one = |s: &String| {
            let e = parse_eps(s).and_then(|e| {
                crate::threat::check_eps(norm, e)?;
                Ok(e)
            });
            e.with_context(|| format!("--eps '{s}'"))
        };
        Ok(Some(self.eps.iter().map(one).collect::<Result<_>>()?))
    }

    pub fn to_config(&self) -> Result<RunConfig> {
        let norm = match self.norm {
            NormArg::Linf => Norm::Linf,
            NormArg::L2 => Norm::L2,
        };
        let eps = self.eps_values(norm)?;
        if self.n_attack == 0 {
            bail!("--n-attack must be ≥ 1 (the number of test images attacked)");
        }
        Ok(RunConfig {
            dataset: self.dataset,
            data_dir: self.data_dir.clone(),
            normalization: self.normalization,
            methods: self.method.clone(),
            ipcs: self.ipc.clone(),
            arch: self
                .arch
                .parse::<Arch>()
                .map_err(|e| anyhow!("--arch: {e}"))?,
            width: self.width,
            depth: self.depth,
            norm_layer: self.norm_layer.kind(),
            whitening: self.whitening,
            seeds: self.seeds,
            first_seed: self.first_seed,
            batch_students: self.batch_students,
            bf16_students: self.bf16_students,
            attacks: self.attacks.clone(),
            eps,
            norm,
            n_attack: self.n_attack,
            train: TrainConfig {
                epochs: self.epochs,
                batch_size: self.batch_size,
                lr: self.lr,
                augment: self
                    .augment
                    .parse()
                    .map_err(|e| anyhow!("--augment: {e}"))?,
                fused_optimizer: self.fused_optimizer,
                ..TrainConfig::default()
            },
            protocol: self.protocol,
            soft: ddbench_nn::soft_label::SoftLabelConfig {
                epochs: self.soft_epochs,
                batch_size: self.soft_batch,
                lr: self.soft_lr,
                mixup_alpha: self.mixup,
                fused_optimizer: self.fused_optimizer,
                ..Default::default()
            },
            method_config: parse_configs(&self.method_config, "--method-config")?,
            attack_config: parse_configs(&self.attack_config, "--attack-config")?,
            out: self.out.clone(),
            cache_dir: self.cache_dir.clone(),
            device: self.device,
            plugin_dirs: self.plugin_dirs.clone(),
            eval_batch: self.eval_batch,
            attack_batch: self.attack_batch,
            quiet: self.quiet,
            force: self.force,
            save: self.save,
            events_fd: self.events_fd,
            checkpoint_every: self.checkpoint_every,
        })
    }
}

/// The closing printout of `ddbench run`: the results table, the sanity line, the settings,
/// where the files went, and the failed cells. Returns the exit code (2 when some cells failed).
fn print_run_summary(summary: &stages::RunSummary, cfg: &RunConfig) -> i32 {
    println!("{}", crate::summary::table(&summary.rows));
    println!("{}", crate::sanity::summary_line(&summary.rows));
    println!(
        "settings: {} {} width {} depth {}, {} epochs unless a method sets its own (DD protocol: 300), batch {}, lr {}, {} seed(s), {} attacked test images",
        cfg.arch, cfg.norm_layer_name(), cfg.width, cfg.depth, cfg.train.epochs, cfg.train.batch_size, cfg.train.lr, cfg.seeds, summary.n_attacked
    );
    println!(
        "results: {}\nmanifest: {}",
        summary.results.display(),
        summary.manifest.display()
    );
    if summary.failures.is_empty() {
        return 0;
    }
    tracing::error!("{} cell(s) failed:", summary.failures.len());
    for f in &summary.failures {
        tracing::error!("  {f}");
    }
    2
}

/// Runs the CLI; the exit code is 0 on success, 2 when some cells failed.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(args) => {
            let events = EventSink::from_fd(args.events_fd);
            let command_line = std::env::args().collect::<Vec<_>>().join(" ");
            let summary = args
                .to_config()
                .and_then(|cfg| Ok((stages::run(&cfg, &command_line, &events)?, cfg)));
            let (summary, cfg) = summary.inspect_err(|e| {
                events.emit(&stages::events::Event::Fatal {
                    reason: format!("{e:#}"),
                })
            })?;
            Ok(print_run_summary(&summary, &cfg))
        }
        Command::Bench(args) => crate::bench::run(&args),
        Command::Attack(args) => crate::run::external::run(&args),
        Command::Report(args) => crate::report::run(&args),
        Command::New(args) => crate::scaffold::run(&args),
        Command::Speed(args) => {
            crate::speed::run(&args)?;
            Ok(0)
        }
        Command::Plugins { check, config, .. } if !check.is_empty() => {
            let config = serde_json::from_str(&config).context("--config is not valid JSON")?;
            Ok(crate::plugin::selftest::run(&check, &config))
        }
        Command::Plugins { dirs, .. } => {
            crate::plugin::print_found(&dirs);
            Ok(0)
        }
        Command::Data {
            command: DataCommand::Fetch { dataset, to },
        } => {
            let ds: fetch::Dataset = dataset.parse().map_err(|e| anyhow!("{e}"))?;
            let mut artifacts = fetch::official_artifacts(ds);
            if let Ok(base) = std::env::var(fetch::MIRROR_ENV) {
                artifacts = fetch::mirror(artifacts, &base);
            }
            let files = fetch::fetch(&artifacts, &to, &|name, done, total| match total {
                Some(t) if done == t => tracing::info!("{name}: {done} bytes, checksum ok"),
                _ => {}
            })?;
            for f in files {
                println!("{}", f.display());
            }
            Ok(0)
        }
    }
}
