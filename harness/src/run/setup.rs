//! The first stage: the device, the plugins the run names, the data set resident on the device,
//! and the output folders. Anything wrong here stops the run before any cell.

use super::RunConfig;
use crate::data::{resident, source, DeviceDataset};
use crate::device;
use crate::device_memory::PeakMemory;
use crate::output::Ui;
use crate::plugin::{self, Kind, Plugin, Registry};
use anyhow::{bail, Context, Result};
use std::time::Instant;

/// What every later stage works with.
pub struct Setup {
    pub device: tch::Device,
    /// The device in words (`cpu, 2 threads`, `cuda:0 NVIDIA H200`).
    pub device_desc: String,
    pub memory: PeakMemory,
    pub methods: Vec<Plugin>,
    pub attacks: Vec<Plugin>,
    /// Each method's and attack's resolved config (every setting, defaults filled in), by name.
    pub method_config: Configs,
    pub attack_config: Configs,
    /// `pgd`, which evaluates teachers, when it is loaded.
    pub pgd: Option<Plugin>,
    pub data: DeviceDataset,
    /// The students' ZCA layer (`--whitening zca`), fitted once on the training split.
    pub zca: Option<ddbench_nn::Zca>,
    /// The students train under bf16 autocast (asked for, and the device can).
    pub bf16_students: bool,
}

/// Checks the flags, loads the plugins and the data, creates the output folders.
pub fn prepare(cfg: &RunConfig, ui: &Ui) -> Result<Setup> {
    let (dev, device_desc) = device::select(cfg.device)?;
    ui.log(&format!("device: {device_desc}"));
    let memory = PeakMemory::start(dev);
    // only the plugins this run names are loaded (and `pgd`, which evaluates teachers)
    let named: Vec<(Kind, &str)> = cfg
        .methods
        .iter()
        .map(|m| (Kind::Method, m.as_str()))
        .chain(cfg.attacks.iter().map(|a| (Kind::Attack, a.as_str())))
        .chain([(Kind::Attack, "pgd")])
        .collect();
    let reg = plugin::discover_named(&cfg.plugin_dirs, &named);
    let methods = resolve(&reg, Kind::Method, &cfg.methods)?;
    let attacks = resolve(&reg, Kind::Attack, &cfg.attacks)?;
    // a plugin the run uses that was found twice: said even with --quiet
    for s in reg
        .shadowed
        .iter()
        .filter(|s| named.contains(&(s.kind, s.name.as_str())))
    {
        tracing::warn!("{}", s.warning());
    }
    check_grid(cfg)?;
    let method_config = resolve_configs(&methods, &cfg.method_config, "--method-config")?;
    let attack_config = resolve_configs(&attacks, &cfg.attack_config, "--attack-config")?;
    let bf16_students = bf16_students(cfg, dev, ui);
    let data = load_data(cfg, dev, ui)?;
    let zca = fit_whitening(cfg, &data, ui);
    for dir in [&cfg.out, &cfg.cache_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(Setup {
        device: dev,
        device_desc,
        memory,
        methods,
        attacks,
        method_config,
        attack_config,
        pgd: reg.get(Kind::Attack, "pgd").ok().cloned(),
        data,
        zca,
        bf16_students,
    })
}

/// Whether the students train under bf16 autocast: asked for (`--bf16-students`) and the device
/// computes bf16 (CUDA, or a CPU with native bf16); a CPU without falls back with a line.
fn bf16_students(cfg: &RunConfig, dev: tch::Device, ui: &Ui) -> bool {
    if !cfg.bf16_students {
        return false;
    }
    if ddbench_torch_shim::levers::computes_bf16(dev) {
        ui.log(
            "students train under bf16 autocast (distillation, evaluation and attacks: float32)",
        );
        return true;
    }
    ui.log("--bf16-students: this CPU has no native bf16 (AVX512-BF16 or AMX); students train in float32");
    false
}

/// The students' whitening layer, fitted and logged (with the hash every row records).
fn fit_whitening(cfg: &RunConfig, data: &DeviceDataset, ui: &Ui) -> Option<ddbench_nn::Zca> {
    let t = Instant::now();
    let zca = cfg.whitening.fit(data)?;
    ui.log(&format!(
        "whitening: {} on {} training images ({:.1}s)",
        crate::whitening::record(Some(&zca)),
        data.train_labels.size()[0],
        t.elapsed().as_secs_f64()
    ));
    Some(zca)
}

fn check_grid(cfg: &RunConfig) -> Result<()> {
    if cfg.seeds == 0 || cfg.ipcs.is_empty() || cfg.ipcs.iter().any(|&i| i < 1) {
        bail!("--seeds must be ≥ 1 and --ipc a list of positive integers");
    }
    if cfg.n_attack == 0 {
        bail!("--n-attack must be ≥ 1 (the number of test images attacked)");
    }
    check_configs_named(
        &cfg.method_config,
        &cfg.methods,
        "--method-config",
        "--method",
    )?;
    check_configs_named(
        &cfg.attack_config,
        &cfg.attacks,
        "--attack-config",
        "--attacks",
    )
}

/// A config for a plugin the run does not use would be silently ignored (a typo in its name,
/// say): refused.
fn check_configs_named(
    configs: &std::collections::BTreeMap<String, serde_json::Value>,
    used: &[String],
    flag: &str,
    list: &str,
) -> Result<()> {
    if let Some(name) = configs.keys().find(|n| !used.contains(n)) {
        bail!(
            "{flag} {name}=…: no plugin '{name}' in this run's {list} ({}); a config is only for a plugin the run uses",
            used.join(", ")
        );
    }
    Ok(())
}

/// Plugin name → config.
pub type Configs = std::collections::BTreeMap<String, serde_json::Value>;

/// Each plugin's config as the plugin resolves it (the user's, or `{}`: all defaults); the
/// first one refused stops the run, naming the flag, the plugin and the plugin's reason.
fn resolve_configs(plugins: &[Plugin], given: &Configs, flag: &str) -> Result<Configs> {
    let empty = serde_json::json!({});
    plugins
        .iter()
        .map(|p| {
            let config = given.get(&p.name).unwrap_or(&empty);
            let resolved =
                plugin::resolve_config(p, config).map_err(|e| match given.get(&p.name) {
                    Some(c) => anyhow::anyhow!("{flag} {}={c}: {e}", p.name),
                    None => anyhow::anyhow!(
                        "{} plugin '{}' refuses its own defaults: {e}",
                        p.kind,
                        p.name
                    ),
                })?;
            Ok((p.name.clone(), resolved))
        })
        .collect()
}

fn load_data(cfg: &RunConfig, dev: tch::Device, ui: &Ui) -> Result<DeviceDataset> {
    let t = Instant::now();
    let raw = source::load(cfg.dataset, cfg.data_dir.as_deref())?;
    let data = resident::load(&raw, cfg.dataset, cfg.normalization, dev)?;
    ui.log(&format!(
        "data: {} — {} train / {} test, {:?}, {} classes, sha256 {} ({:.1}s)",
        data.name,
        data.train_labels.size()[0],
        data.test_labels.size()[0],
        data.shape,
        data.num_classes,
        &data.hash[..16],
        t.elapsed().as_secs_f64()
    ));
    Ok(data)
}

/// The named plugins of one kind; a missing one is an error listing the refused plugin files.
fn resolve(reg: &Registry, kind: Kind, names: &[String]) -> Result<Vec<Plugin>> {
    names
        .iter()
        .map(|n| {
            reg.get(kind, n).cloned().map_err(|e| {
                let refused: Vec<String> = reg
                    .refused
                    .iter()
                    .map(|(p, why)| format!("  {}: {why}", p.display()))
                    .collect();
                if refused.is_empty() {
                    anyhow::anyhow!(e)
                } else {
                    anyhow::anyhow!("{e}\nrefused plugin files:\n{}", refused.join("\n"))
                }
            })
        })
        .collect()
}
