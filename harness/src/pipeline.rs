//! `ddbench run`: distil → train students → clean accuracy → robust accuracy per attack and ε,
//! one result row per cell, written as soon as it is finished; failures are reported, not fatal.

use crate::cell_key::{AttackKey, CellKey, EvalKey, PluginKey, SharedKey};
use crate::data::{resident, source, stratified_subset, DeviceDataset, NormalizationChoice};
use crate::device::{self, DeviceChoice};
use crate::device_memory::PeakMemory;
use crate::folder_lock::FolderLock;
use crate::output::Ui;
use crate::per_sample::{PerSampleFile, SampleRow};
use crate::plugin::{self, Kind, Plugin, Registry};
use crate::record::{cell_key, row_id, write_atomic, ResultRow, ResultsFile};
use crate::reuse;
use crate::sanity;
use crate::student::{self, Protocol};
use anyhow::{bail, Context, Result};
use ddbench_nn::soft_label::SoftLabelConfig;
use ddbench_nn::{Arch, Model, ModelSpec, NormKind, TrainConfig};
use ddbench_plugin_api::Norm;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;
use tch::{Kind as TKind, Tensor};

/// Everything a run needs, as parsed from the command line.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunConfig {
    pub dataset: source::DatasetKind,
    pub data_dir: Option<PathBuf>,
    /// The models' per-channel normalisation (`data::normalization`).
    pub normalization: NormalizationChoice,
    pub methods: Vec<String>,
    pub ipcs: Vec<i64>,
    pub arch: Arch,
    pub width: i64,
    pub depth: i64,
    pub norm_layer: NormKind,
    pub seeds: u64,
    /// The first seed: seeds run `first_seed..first_seed + seeds` (`ddbench bench` runs one per cell).
    pub first_seed: u64,
    pub attacks: Vec<String>,
    /// ε values; `None` means each norm's default (8/255 for L∞, 0.5 for L2).
    pub eps: Option<Vec<f64>>,
    #[serde(serialize_with = "ser_norm")]
    pub norm: Norm,
    pub n_attack: usize,
    pub train: TrainConfig,
    /// Student protocol: `auto` (soft-label when the method hands over a teacher), `dd`, `soft-label`.
    pub protocol: Protocol,
    pub soft: SoftLabelConfig,
    pub method_config: BTreeMap<String, serde_json::Value>,
    pub attack_config: BTreeMap<String, serde_json::Value>,
    pub out: PathBuf,
    /// Where methods cache expensive artefacts (teachers), shared by runs.
    pub cache_dir: PathBuf,
    #[serde(skip)]
    pub device: DeviceChoice,
    pub plugin_dirs: Vec<PathBuf>,
    pub eval_batch: i64,
    pub attack_batch: i64,
    pub quiet: bool,
    /// Move recorded rows made with other inputs to `stale.csv` instead of refusing.
    pub force: bool,
}

fn ser_norm<S: serde::Serializer>(n: &Norm, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(norm_name(*n))
}

pub use crate::threat::norm_name;

/// What a finished run produced.
pub struct RunSummary {
    /// Test images attacked (what the split could give of `--n-attack`).
    pub n_attacked: usize,
    pub results: PathBuf,
    pub manifest: PathBuf,
    pub rows: Vec<ResultRow>,
    pub failures: Vec<String>,
}

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

/// Student training settings for one distilled set: the protocol, overridden by the method's hints.
fn train_config(base: &TrainConfig, hints: &serde_json::Value) -> Result<TrainConfig, String> {
    let mut cfg = base.clone();
    if let serde_json::Value::Object(m) = hints {
        for (k, v) in m {
            match k.as_str() {
                "epochs" => cfg.epochs = v.as_i64().ok_or("hint 'epochs' must be an integer")?,
                "batch_size" => {
                    cfg.batch_size = v.as_i64().ok_or("hint 'batch_size' must be an integer")?
                }
                "lr" => cfg.lr = v.as_f64().ok_or("hint 'lr' must be a number")?,
                _ => {} // hints for other protocols (soft labels, ...) are not this protocol's business
            }
        }
    }
    if cfg.epochs < 1 || cfg.batch_size < 1 || cfg.lr.is_nan() || cfg.lr <= 0.0 {
        return Err(format!("invalid training settings after hints: {cfg:?}"));
    }
    Ok(cfg)
}

fn pct(correct: &Tensor) -> f64 {
    100.0
        * correct
            .to_kind(TKind::Float)
            .mean(TKind::Float)
            .double_value(&[])
}

/// Runs the whole grid. Errors before the first cell (bad flags, data, plugins) are fatal;
/// a failing cell is reported and the run goes on.
pub fn run(cfg: &RunConfig, command_line: &str) -> Result<RunSummary> {
    let ui = Ui::new(cfg.quiet);
    let _lock = FolderLock::acquire(&cfg.out)?;
    let (dev, dev_desc) = device::select(cfg.device)?;
    ui.log(&format!("device: {dev_desc}"));
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
    if cfg.seeds == 0 || cfg.ipcs.is_empty() || cfg.ipcs.iter().any(|&i| i < 1) {
        bail!("--seeds must be ≥ 1 and --ipc a list of positive integers");
    }
    if cfg.n_attack == 0 {
        bail!("--n-attack must be ≥ 1 (the number of test images attacked)");
    }

    let t = Instant::now();
    let raw = source::load(cfg.dataset, cfg.data_dir.as_deref())?;
    let data = resident::load(&raw, cfg.dataset, cfg.normalization, dev)?;
    drop(raw);
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

    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    std::fs::create_dir_all(&cfg.cache_dir)
        .with_context(|| format!("creating {}", cfg.cache_dir.display()))?;
    let results_path = cfg.out.join("results.csv");
    let manifest_path = cfg.out.join("manifest.json");
    let mut results = ResultsFile::open(&results_path, &|m| ui.log(&format!("warning: {m}")))?;
    let mut known_keys = reuse::recorded_keys(&manifest_path);

    // The attacked subset: fixed (seed 0), class-stratified, shared by every method and seed;
    // a split with fewer images of some class gives fewer than asked.
    let test_labels: Vec<i64> = Vec::<i64>::try_from(data.test_labels.to_device(tch::Device::Cpu))?;
    let subset_idx = stratified_subset(&test_labels, data.num_classes, cfg.n_attack, 0);
    let n_attack = subset_idx.len();
    if n_attack < cfg.n_attack {
        ui.log(&format!(
            "the test split gives {n_attack} of the {} images asked for the attacked subset (class-stratified); attacking {n_attack}",
            cfg.n_attack
        ));
    }
    let subset = Tensor::from_slice(&subset_idx).to_device(dev);
    let sub_x = data
        .test_images
        .index_select(0, &subset)
        .to_kind(TKind::Float)
        / 255.0;
    let sub_y = data.test_labels.index_select(0, &subset);
    let sub_y_vec = Vec::<i64>::try_from(sub_y.to_device(tch::Device::Cpu))?;
    let n_test = data.test_labels.size()[0];
    let eps_list = cfg.eps.clone().unwrap_or_else(|| {
        vec![if cfg.norm == Norm::Linf {
            8.0 / 255.0
        } else {
            0.5
        }]
    });
    crate::preflight::check_attacks(
        &attacks,
        &cfg.attack_config,
        cfg.norm,
        &eps_list,
        &sub_x.narrow(0, 0, n_attack.min(2) as i64),
        &sub_y.narrow(0, 0, n_attack.min(2) as i64),
        data.num_classes,
    )?;

    // every row this run asks for, with its key; recorded rows with other inputs are refused
    // (or, with --force, set aside) before any work
    let train_per_class = data.train_labels.size()[0] / data.num_classes;
    let shared = SharedKey::new(
        &data,
        cfg.arch,
        cfg.width,
        cfg.depth,
        cfg.norm_layer,
        cfg.protocol,
        &cfg.train,
        &cfg.soft,
        EvalKey {
            n_attack: cfg.n_attack,
            subset_seed: 0,
            attack_batch: cfg.attack_batch,
        },
    );
    let grid = RowGrid {
        cfg,
        data: &data,
        shared: &shared,
        attacks: &attacks,
        eps: &eps_list,
    };
    let wanted: std::collections::HashMap<String, CellKey> = methods
        .iter()
        .flat_map(|m| {
            grid.ipcs(m, train_per_class)
                .into_iter()
                .map(move |i| (m, i))
        })
        .flat_map(|(m, ipc)| (cfg.first_seed..cfg.first_seed + cfg.seeds).map(move |s| (m, ipc, s)))
        .flat_map(|(m, ipc, seed)| grid.rows(m, ipc, seed))
        .map(|r| (r.slot, r.key))
        .collect();
    let found = reuse::conflicts(&results.rows, &known_keys, &wanted, &shared);
    if !found.is_empty() {
        ui.log(&format!(
            "--force: moving {} row(s) made with other inputs to {}",
            found.len(),
            cfg.out.join("stale.csv").display()
        ));
    }
    let stale_hashes = reuse::settle(&cfg.out, &mut results, found, cfg.force)?;
    let stale_keys: std::collections::BTreeMap<String, CellKey> = stale_hashes
        .iter()
        .filter_map(|h| known_keys.get(h).map(|k| (h.clone(), k.clone())))
        .chain(
            reuse::recorded_keys(&manifest_path)
                .into_iter()
                .filter(|(h, _)| !results.rows.iter().any(|r| &r.key_hash == h)),
        )
        .collect();
    known_keys.retain(|h, _| results.rows.iter().any(|r| &r.key_hash == h));
    for k in wanted.values() {
        known_keys.insert(k.hash(), k.clone());
    }
    let mut per_sample =
        PerSampleFile::open(&cfg.out.join("per_sample.csv"), |k| results.contains(k))?;
    let mut failures: Vec<String> = Vec::new();
    type TeacherEvals = std::collections::BTreeMap<String, (f64, f64)>;
    let manifest = |rows: &[ResultRow],
                    failures: &[String],
                    teachers: &TeacherEvals,
                    state: &str|
     -> Result<()> {
        let teachers: serde_json::Map<String, serde_json::Value> = teachers
            .iter()
            .map(|(w, (c, r))| {
                (
                    w.clone(),
                    serde_json::json!({"clean_acc": c, "pgd10_8_255_acc": r}),
                )
            })
            .collect();
        let plugins: Vec<serde_json::Value> = methods
            .iter()
            .chain(attacks.iter())
            .map(|p| serde_json::json!({"name": p.name, "kind": p.kind.to_string(), "version": p.version, "path": p.path, "abi": ddbench_plugin_api::abi::ABI_VERSION}))
            .collect();
        let m = serde_json::json!({
            "ddbench": env!("CARGO_PKG_VERSION"),
            "libtorch": ddbench_plugin_api::abi::TORCH_VERSION,
            "command": command_line,
            "state": state,
            "device": dev_desc,
            "config": cfg,
            "dataset": {"name": data.name, "sha256": data.hash, "shape": data.shape, "classes": data.num_classes,
                        "train": data.train_labels.size()[0], "test": data.test_labels.size()[0],
                        "normalization": data.normalization},
            "n_attack": {"asked": cfg.n_attack, "attacked": n_attack},
            "keys": rows.iter().filter_map(|r| known_keys.get(&r.key_hash).map(|k| (r.key_hash.clone(), k))).collect::<std::collections::BTreeMap<_, _>>(),
            "stale_keys": &stale_keys,
            "plugins": plugins,
            "failures": failures,
            "teachers": teachers,
        });
        write_atomic(&manifest_path, serde_json::to_string_pretty(&m)?.as_bytes())
    };
    manifest(&results.rows, &failures, &TeacherEvals::new(), "running")?;

    let arch = cfg.arch.to_string();
    // the teachers methods hand over, evaluated once each: (clean %, PGD-10 8/255 %)
    let mut teacher_evals = TeacherEvals::new();
    let pgd_plugin = reg.get(Kind::Attack, "pgd").ok().cloned();

    for method in &methods {
        let ignores_ipc = method.flags & ddbench_plugin_api::abi::FLAG_IGNORES_IPC != 0;
        let ipcs = grid.ipcs(method, train_per_class);
        let mconf = cfg
            .method_config
            .get(&method.name)
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        for &ipc in &ipcs {
            for seed in cfg.first_seed..cfg.first_seed + cfg.seeds {
                let keys = grid.rows(method, ipc, seed);
                if keys.iter().all(|r| results.contains(&r.id())) {
                    ui.log(&format!(
                        "skip {} ipc {ipc} seed {seed}: already in {}",
                        method.name,
                        results_path.display()
                    ));
                    continue;
                }
                let cell = format!("{} ipc {ipc} seed {seed}", method.name);
                // 1. distil
                let t = Instant::now();
                let bar = ui.bar(1, "distil");
                bar.set_message(cell.clone());
                let distilled = plugin::run_distill(
                    method,
                    &data,
                    if ignores_ipc { 0 } else { ipc },
                    seed,
                    &mconf,
                    &cfg.cache_dir,
                    &|d, n| {
                        bar.set_length(n.max(1));
                        bar.set_position(d);
                    },
                    &|m| ui.log(&format!("[{}] {m}", method.name)),
                );
                bar.finish_and_clear();
                let distill_s = t.elapsed().as_secs_f64();
                let d = match distilled {
                    Ok(d) => d,
                    Err(e) => {
                        ui.log(&format!("error: {cell}: {e}"));
                        failures.push(format!("{cell}: {e}"));
                        manifest(&results.rows, &failures, &teacher_evals, "running")?;
                        continue;
                    }
                };
                // 2. train the student
                let tcfg = match train_config(&cfg.train, &d.hints) {
                    Ok(c) => c,
                    Err(e) => {
                        failures.push(format!("{cell}: method '{}' hints: {e}", method.name));
                        continue;
                    }
                };
                let teacher = match student::load_teacher(&d.hints, dev) {
                    Ok(t) => t,
                    Err(e) => {
                        failures.push(format!("{cell}: method '{}': {e}", method.name));
                        continue;
                    }
                };
                let teacher_eval = teacher.as_ref().map(|t| {
                    *teacher_evals.entry(t.weights.clone()).or_insert_with(|| {
                        let pgd = pgd_plugin.as_ref();
                        evaluate_teacher(&t.model, &data, &sub_x, &sub_y, pgd, cfg.eval_batch, &ui)
                    })
                });
                tch::manual_seed(seed as i64);
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
                let mut model = Model::new(&spec, dev);
                let t = Instant::now();
                let bar = ui.bar(tcfg.epochs as u64, "train");
                bar.set_message(format!("{cell}, {} images", d.images.size()[0]));
                let trained = student::train(
                    &mut model,
                    &d,
                    teacher.as_ref(),
                    cfg.protocol,
                    &tcfg,
                    &cfg.soft,
                    seed,
                    &mut |e, n| {
                        bar.set_length(n as u64);
                        bar.set_position(e as u64)
                    },
                );
                bar.finish_and_clear();
                let trained = match trained {
                    Ok(t) => t,
                    Err(e) => {
                        failures.push(format!("{cell}: training failed: {e}"));
                        continue;
                    }
                };
                let train_s = t.elapsed().as_secs_f64();
                // 3. clean accuracy
                let clean_acc = 100.0
                    * ddbench_nn::accuracy(
                        &model,
                        &data.test_images,
                        &data.test_labels,
                        cfg.eval_batch,
                    );
                let sub_pred = ddbench_nn::predict(&model, &sub_x, cfg.eval_batch);
                let sub_clean = sub_pred.eq_tensor(&sub_y);
                let sub_pred_vec = Vec::<i64>::try_from(sub_pred.to_device(tch::Device::Cpu))?;
                let subset_clean_acc = pct(&sub_clean);
                ui.log(&format!(
                    "{cell}: clean accuracy {clean_acc:.2}% ({} protocol, {} epochs, {train_s:.1}s)",
                    trained.protocol,
                    trained.epochs
                ));
                let base_row = ResultRow {
                    dataset: data.name.clone(),
                    method: method.name.clone(),
                    method_version: method.version.clone(),
                    ipc,
                    arch: arch.clone(),
                    seed,
                    attack: "none".into(),
                    attack_version: String::new(),
                    norm: String::new(),
                    eps: 0.0,
                    clean_acc,
                    subset_clean_acc,
                    robust_acc: f64::NAN,
                    n_test,
                    n_attack: 0,
                    distilled_images: d.images.size()[0],
                    train_epochs: trained.epochs,
                    protocol: trained.protocol.to_string(),
                    teacher_regularizer: teacher
                        .as_ref()
                        .map(|t| t.regularizer.clone())
                        .unwrap_or_default(),
                    teacher_s: teacher.as_ref().map_or(0.0, |t| t.seconds),
                    teacher_forward: teacher.as_ref().map_or(0, |t| t.forward_passes),
                    teacher_backward: teacher.as_ref().map_or(0, |t| t.backward_passes),
                    teacher_clean_acc: teacher_eval.as_ref().map_or(f64::NAN, |e| e.0),
                    teacher_pgd_acc: teacher_eval.as_ref().map_or(f64::NAN, |e| e.1),
                    distill_s,
                    train_s,
                    attack_s: 0.0,
                    forward_calls: 0,
                    backward_calls: 0,
                    pert_mean: f64::NAN,
                    pert_max: f64::NAN,
                    pert_median_success: f64::NAN,
                    pert_mean_success: f64::NAN,
                    attack_config: String::new(),
                    flags: String::new(),
                    peak_device_mib: memory.peak_mib(),
                    key_hash: String::new(),
                };
                // the per-sample outcomes of this cell's attack rows, for the sanity checks
                // (rows a previous run finished come back from per_sample.csv)
                let done: Vec<String> = keys
                    .iter()
                    .map(|k| k.id())
                    .filter(|k| results.contains(k))
                    .collect();
                let mut stored = per_sample.load(&done)?;
                let mut outcomes: Vec<sanity::Outcome> = results
                    .rows
                    .iter()
                    .filter(|r| done.contains(&r.id()))
                    .map(|r| {
                        sanity::Outcome::from_row(r, stored.remove(&r.id()).unwrap_or_default())
                    })
                    .collect();
                // 4. attacks
                for wanted_row in &keys {
                    if results.contains(&wanted_row.id()) {
                        continue;
                    }
                    let key_hash = wanted_row.key.hash();
                    let (Some(attack), eps) = (wanted_row.attack, &wanted_row.eps) else {
                        results.push(ResultRow {
                            key_hash,
                            ..base_row.clone()
                        })?;
                        continue;
                    };
                    let aconf = cfg
                        .attack_config
                        .get(&attack.name)
                        .cloned()
                        .unwrap_or_else(|| serde_json::json!({}));
                    let t = Instant::now();
                    let nb = (n_attack as i64 + cfg.attack_batch - 1) / cfg.attack_batch;
                    let bar = ui.bar(nb as u64, "attack");
                    bar.set_message(format!("{} eps {eps:.4} on {cell}", attack.name));
                    let mut robust = Vec::new();
                    let (mut adv_pred, mut pert) = (Vec::new(), Vec::new());
                    let (mut fw, mut bw) = (0, 0);
                    let mut err = None;
                    for b in 0..nb {
                        let start = b * cfg.attack_batch;
                        let len = cfg.attack_batch.min(n_attack as i64 - start);
                        let (x, y) = (sub_x.narrow(0, start, len), sub_y.narrow(0, start, len));
                        match plugin::run_attack(
                            attack,
                            &model,
                            &x,
                            &y,
                            cfg.norm,
                            *eps,
                            seed * 1_000_003 + b as u64,
                            &aconf,
                            &|m| ui.log(&format!("[{}] {m}", attack.name)),
                        ) {
                            Ok(o) => {
                                fw += o.forward_calls;
                                bw += o.backward_calls;
                                let p = ddbench_nn::predict(&model, &o.adversarial, cfg.eval_batch);
                                robust.push(p.eq_tensor(&y));
                                adv_pred.push(p);
                                pert.push(ddbench_plugin_api::per_sample_norm(
                                    &(&o.adversarial - &x),
                                    cfg.norm,
                                ));
                            }
                            Err(e) => {
                                err = Some(e);
                                break;
                            }
                        }
                        bar.inc(1);
                    }
                    bar.finish_and_clear();
                    if let Some(e) = err {
                        ui.log(&format!("error: {cell}, attack {}: {e}", attack.name));
                        failures.push(format!("{cell}, attack {} eps {eps}: {e}", attack.name));
                        manifest(&results.rows, &failures, &teacher_evals, "running")?;
                        continue;
                    }
                    let correct = Tensor::cat(&robust, 0).logical_and(&sub_clean);
                    let adv_pred = Vec::<i64>::try_from(
                        Tensor::cat(&adv_pred, 0).to_device(tch::Device::Cpu),
                    )?;
                    let pert = Vec::<f64>::try_from(
                        Tensor::cat(&pert, 0)
                            .to_kind(TKind::Double)
                            .to_device(tch::Device::Cpu),
                    )?;
                    let samples: Vec<sanity::Sample> = (0..n_attack)
                        .map(|i| sanity::Sample {
                            index: subset_idx[i],
                            label: sub_y_vec[i],
                            clean_pred: sub_pred_vec[i],
                            adv_pred: adv_pred[i],
                        })
                        .collect();
                    let stats = PerturbationStats::new(&pert, &samples);
                    let row = ResultRow {
                        attack: attack.name.clone(),
                        attack_version: attack.version.clone(),
                        norm: norm_name(cfg.norm).into(),
                        eps: *eps,
                        robust_acc: pct(&correct),
                        n_attack: n_attack as i64,
                        attack_s: t.elapsed().as_secs_f64(),
                        forward_calls: fw,
                        backward_calls: bw,
                        pert_mean: stats.mean,
                        pert_max: stats.max,
                        pert_median_success: stats.median_success,
                        pert_mean_success: stats.mean_success,
                        attack_config: aconf.to_string(),
                        peak_device_mib: memory.peak_mib(),
                        key_hash,
                        ..base_row.clone()
                    };
                    ui.log(&format!(
                        "{cell}: {} eps {:.4}: robust accuracy {:.2}%",
                        attack.name, eps, row.robust_acc
                    ));
                    let sample_rows: Vec<SampleRow> = samples
                        .iter()
                        .zip(&pert)
                        .map(|(s, &p)| SampleRow {
                            dataset: row.dataset.clone(),
                            method: row.method.clone(),
                            ipc: row.ipc,
                            arch: row.arch.clone(),
                            seed: row.seed,
                            attack: row.attack.clone(),
                            norm: row.norm.clone(),
                            eps: row.eps,
                            index: s.index,
                            label: s.label,
                            clean_pred: s.clean_pred,
                            adv_pred: s.adv_pred,
                            pert_norm: p,
                            key_hash: row.key_hash.clone(),
                        })
                        .collect();
                    // per-sample lines first: lines of a row that never reaches results.csv
                    // are dropped when the file is next opened
                    per_sample.append(&sample_rows)?;
                    outcomes.push(sanity::Outcome::from_row(&row, samples));
                    results.push(row)?;
                    let flags = sanity::check(&outcomes);
                    results.set_flags(|k| {
                        outcomes
                            .iter()
                            .any(|o| o.key == k)
                            .then(|| sanity::flags_text(&flags, k))
                    })?;
                    for (k, f) in &flags {
                        ui.log(&format!("sanity: {k}: {}", f.join(";")));
                    }
                }
            }
        }
    }
    manifest(
        &results.rows,
        &failures,
        &teacher_evals,
        if failures.is_empty() {
            "finished"
        } else {
            "finished with failures"
        },
    )?;
    Ok(RunSummary {
        n_attacked: n_attack,
        results: results_path,
        manifest: manifest_path,
        rows: results.rows,
        failures,
    })
}

/// The rows a run asks for, each with its slot and cell key.
struct RowGrid<'a> {
    cfg: &'a RunConfig,
    data: &'a DeviceDataset,
    shared: &'a SharedKey,
    attacks: &'a [Plugin],
    eps: &'a [f64],
}

/// One wanted row: its attack (none for a clean-only run), ε, slot and key.
struct WantedRow<'a> {
    attack: Option<&'a Plugin>,
    eps: f64,
    slot: String,
    key: CellKey,
}

impl WantedRow<'_> {
    fn id(&self) -> String {
        row_id(&self.slot, &self.key.hash())
    }
}

fn plugin_key(p: &Plugin, configs: &BTreeMap<String, serde_json::Value>) -> PluginKey {
    PluginKey {
        name: p.name.clone(),
        version: p.version.clone(),
        config: configs
            .get(&p.name)
            .cloned()
            .unwrap_or_else(|| serde_json::json!({})),
    }
}

impl<'a> RowGrid<'a> {
    /// The IPCs `method` runs at: the asked ones, or once at the whole set's count.
    fn ipcs(&self, method: &Plugin, train_per_class: i64) -> Vec<i64> {
        if method.flags & ddbench_plugin_api::abi::FLAG_IGNORES_IPC != 0 {
            vec![train_per_class]
        } else {
            self.cfg.ipcs.clone()
        }
    }

    fn rows(&self, method: &Plugin, ipc: i64, seed: u64) -> Vec<WantedRow<'a>> {
        let arch = self.cfg.arch.to_string();
        let key = |attack: Option<AttackKey>| CellKey {
            shared: self.shared.clone(),
            method: plugin_key(method, &self.cfg.method_config),
            ipc,
            seed,
            attack,
        };
        let slot = |attack: &str, norm: &str, eps: f64| {
            cell_key(
                &self.data.name,
                &method.name,
                ipc,
                &arch,
                seed,
                attack,
                norm,
                eps,
            )
        };
        if self.attacks.is_empty() {
            return vec![WantedRow {
                attack: None,
                eps: 0.0,
                slot: slot("none", "", 0.0),
                key: key(None),
            }];
        }
        let norm = norm_name(self.cfg.norm);
        self.attacks
            .iter()
            .flat_map(|a| self.eps.iter().map(move |&e| (a, e)))
            .map(|(a, eps)| WantedRow {
                attack: Some(a),
                eps,
                slot: slot(&a.name, norm, eps),
                key: key(Some(AttackKey {
                    plugin: plugin_key(a, &self.cfg.attack_config),
                    norm: norm.into(),
                    eps,
                })),
            })
            .collect()
    }
}

/// Perturbation norms of one attack row (see `ResultRow::pert_*`).
struct PerturbationStats {
    mean: f64,
    max: f64,
    median_success: f64,
    mean_success: f64,
}

impl PerturbationStats {
    fn new(pert: &[f64], samples: &[sanity::Sample]) -> PerturbationStats {
        let n = pert.len().max(1) as f64;
        let mut succ: Vec<f64> = pert
            .iter()
            .zip(samples)
            .filter(|(_, s)| s.clean_pred == s.label && s.adv_pred != s.label)
            .map(|(&p, _)| p)
            .collect();
        succ.sort_by(f64::total_cmp);
        let median_success = match succ.len() {
            0 => f64::NAN,
            m if m % 2 == 1 => succ[m / 2],
            m => 0.5 * (succ[m / 2 - 1] + succ[m / 2]),
        };
        PerturbationStats {
            mean: pert.iter().sum::<f64>() / n,
            max: pert.iter().cloned().fold(0.0, f64::max),
            median_success,
            mean_success: if succ.is_empty() {
                f64::NAN
            } else {
                succ.iter().sum::<f64>() / succ.len() as f64
            },
        }
    }
}

/// A teacher's clean accuracy on the whole test set and PGD-10 (L∞ 8/255) accuracy on the
/// attacked subset (NaN when no `pgd` plugin is loaded), in %.
fn evaluate_teacher(
    teacher: &Model,
    data: &DeviceDataset,
    sub_x: &Tensor,
    sub_y: &Tensor,
    pgd: Option<&Plugin>,
    eval_batch: i64,
    ui: &Ui,
) -> (f64, f64) {
    let clean =
        100.0 * ddbench_nn::accuracy(teacher, &data.test_images, &data.test_labels, eval_batch);
    let robust = pgd.map_or(f64::NAN, |p| {
        let sub_clean = ddbench_nn::predict(teacher, sub_x, eval_batch).eq_tensor(sub_y);
        match plugin::run_attack(
            p,
            teacher,
            sub_x,
            sub_y,
            Norm::Linf,
            8.0 / 255.0,
            0,
            &serde_json::json!({}),
            &|_| {},
        ) {
            Ok(o) => pct(&ddbench_nn::predict(teacher, &o.adversarial, eval_batch)
                .eq_tensor(sub_y)
                .logical_and(&sub_clean)),
            Err(_) => f64::NAN,
        }
    });
    ui.log(&format!(
        "teacher: clean accuracy {clean:.2}%, PGD-10 8/255 accuracy {robust:.2}%"
    ));
    (clean, robust)
}

impl RunConfig {
    pub fn norm_layer_name(&self) -> &'static str {
        match self.norm_layer {
            NormKind::Instance => "instancenorm",
            NormKind::Batch => "batchnorm",
            NormKind::None => "no-norm",
        }
    }
}
