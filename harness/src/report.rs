//! `ddbench report DIR`: rebuilds the leaderboard from `DIR/results.csv` alone — the metrics per
//! seed and over seeds (`summary.csv`), a Markdown leaderboard (`leaderboard.md`, one table per
//! data set × architecture × IPC, best per column in bold) and the charts (`charts/`).

use crate::charts::{self, BarGroup, Curve, ParetoPoint};
use crate::metrics::{self, Stat};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A folder holding results.csv (from `ddbench bench` or `ddbench run`).
    pub dir: PathBuf,
    /// Published reference numbers drawn beside ddbench's (default: baselines/published.csv when
    /// it exists; `none` for no reference).
    #[arg(long)]
    pub published: Option<PathBuf>,
    /// Title of the leaderboard (default: the folder's name).
    #[arg(long)]
    pub title: Option<String>,
}

pub fn run(args: &ReportArgs) -> Result<i32> {
    let rep = build_with(&args.dir, args.title.as_deref(), args.published.as_deref())?;
    rep.print();
    Ok(0)
}

/// What `report` wrote.
pub struct Report {
    pub markdown: PathBuf,
    pub summary: PathBuf,
    pub charts: Vec<PathBuf>,
    pub text: String,
}

impl Report {
    pub fn print(&self) {
        println!("{}", self.text);
        println!("leaderboard: {}", self.markdown.display());
        println!(
            "summary (mean, std, 95 % interval per metric): {}",
            self.summary.display()
        );
        for c in &self.charts {
            println!("chart: {}", c.display());
        }
    }
}

/// One result row, as far as the report needs it.
#[derive(Clone, Debug)]
struct Row {
    dataset: String,
    method: String,
    ipc: i64,
    /// The method ran once for all IPCs (`full`): shown in every IPC table of its data set.
    all_ipc: bool,
    arch: String,
    seed: u64,
    attack: String,
    norm: String,
    eps: f64,
    clean: f64,
    sub_clean: f64,
    robust: f64,
    distill_s: f64,
    train_s: f64,
    attack_s: f64,
    passes: f64,
    mem_mib: f64,
}

fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let mut rd =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let head: Vec<String> = rd.headers()?.iter().map(String::from).collect();
    let col = |n: &str| head.iter().position(|h| h == n);
    let need = |n: &str| col(n).with_context(|| format!("{}: no column `{n}`", path.display()));
    let (ids, im, iipc, iarch, iseed) = (
        need("dataset")?,
        need("method")?,
        need("ipc")?,
        need("arch")?,
        need("seed")?,
    );
    let (ia, inorm, ieps, ic, isc, ir) = (
        need("attack")?,
        need("norm")?,
        need("eps")?,
        need("clean_acc")?,
        need("subset_clean_acc")?,
        need("robust_acc")?,
    );
    let (ids_, its, ias) = (need("distill_s")?, need("train_s")?, need("attack_s")?);
    let (ifw, ibw) = (need("forward_calls")?, need("backward_calls")?);
    let (icell, irss, idev) = (col("cell_id"), col("peak_rss_mib"), col("peak_device_mib"));
    let iconf = col("attack_config");
    let mut rows = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: line {}", path.display(), i + 2))?;
        let num = |j: usize| -> Result<f64> {
            let s = &rec[j];
            if s.is_empty() {
                return Ok(f64::NAN);
            }
            s.parse::<f64>().with_context(|| {
                format!(
                    "{}: line {}, column `{}`: '{s}' is not a number",
                    path.display(),
                    i + 2,
                    head[j]
                )
            })
        };
        // a bench row carries its cell id: dataset/label/ipcN|all/arch/seedS[/norm]
        let cell: Vec<&str> = icell
            .map(|j| rec[j].split('/').collect())
            .unwrap_or_default();
        rows.push(Row {
            dataset: rec[ids].to_string(),
            method: cell.get(1).map_or(rec[im].to_string(), |s| s.to_string()),
            ipc: num(iipc)? as i64,
            all_ipc: cell.get(2) == Some(&"all"),
            arch: rec[iarch].to_string(),
            seed: num(iseed)? as u64,
            attack: attack_label(&rec[ia], iconf.map_or("", |j| &rec[j])),
            norm: rec[inorm].to_string(),
            eps: num(ieps)?,
            clean: num(ic)?,
            sub_clean: num(isc)?,
            robust: num(ir)?,
            distill_s: num(ids_)?,
            train_s: num(its)?,
            attack_s: num(ias)?,
            passes: num(ifw)? + num(ibw)?,
            // the run's device memory where recorded (CPU: the same process's peak RSS), else
            // the peak RSS bench measured for the cell (older records)
            mem_mib: match idev.map(num).transpose()?.filter(|v| v.is_finite()) {
                Some(v) => v,
                None => irss.map(num).transpose()?.unwrap_or(f64::NAN),
            },
        });
    }
    Ok(rows)
}

/// Two rows for one table entry (data set, arch, IPC, method, seed, attack, norm, ε) would
/// silently replace each other: such a file (two runs' CSVs pasted together, say) is refused.
fn refuse_twins(rows: &[Row], path: &Path) -> Result<()> {
    let mut seen = BTreeSet::new();
    for r in rows {
        let slot = (
            &r.dataset,
            &r.arch,
            r.ipc,
            &r.method,
            r.seed,
            &r.attack,
            &r.norm,
            eps_text(&r.norm, r.eps),
        );
        if !seen.insert(slot) {
            bail!(
                "{}: two rows for {} {} ipc {} {} seed {} {} {} {}: rows of different runs are never mixed (keep one, or report each folder on its own)",
                path.display(),
                r.dataset,
                r.arch,
                r.ipc,
                r.method,
                r.seed,
                r.attack,
                r.norm,
                eps_text(&r.norm, r.eps)
            );
        }
    }
    Ok(())
}

/// An attack's name in tables and charts: with the `version` of its config where one was given
/// (`autoattack (fast)`), so rows of different versions never share a column.
pub(crate) fn attack_label(name: &str, config: &str) -> String {
    let version = serde_json::from_str::<serde_json::Value>(config)
        .ok()
        .and_then(|c| c.get("version")?.as_str().map(String::from));
    match version {
        Some(v) => format!("{name} ({v})"),
        None => name.to_string(),
    }
}

/// A published reference number (baselines/published.csv).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Published {
    pub dataset: String,
    pub method: String,
    pub ipc: i64,
    pub arch: String,
    pub metric: String,
    pub value: f64,
    pub note: String,
}

pub fn read_published(path: &Path) -> Result<Vec<Published>> {
    let mut rd =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    rd.deserialize()
        .enumerate()
        .map(|(i, r)| r.with_context(|| format!("{}: line {}", path.display(), i + 2)))
        .collect()
}

/// Column of a table: robust accuracy of one attack at one ε.
type AtkKey = (String, String, String); // (attack, norm, eps as text)
/// A table: (dataset, arch, ipc).
type TableKey = (String, String, i64);
/// Attack columns in order: (attack, norm, ε in 1e-6 units, ε as text).
type AtkCols = BTreeSet<(String, String, i64, String)>;
/// Per method: name, seeds, (metric, higher is better, statistics).
type MethodStats = (String, usize, Vec<(String, bool, Stat)>);

fn eps_text(norm: &str, eps: f64) -> String {
    let k = eps * 255.0;
    if norm == "linf" && (k - k.round()).abs() < 1e-6 {
        format!("{}/255", k.round())
    } else {
        format!("{eps:.3}")
    }
}

/// Per seed: the numbers of one student.
#[derive(Default, Debug)]
struct Seed {
    clean: f64,
    sub_clean: f64,
    robust: BTreeMap<AtkKey, (f64, f64, f64)>, // (eps, acc, attack seconds)
    distill_s: f64,
    train_s: f64,
    passes: f64,
    mem: f64,
}

/// Metric name, higher-is-better, and the per-seed values.
type Metrics = Vec<(String, bool, Vec<f64>)>;

fn seed_metrics(seeds: &BTreeMap<u64, Seed>, atk_cols: &[AtkKey]) -> Metrics {
    let mut m: Metrics = Vec::new();
    let mut put = |name: &str, hi: bool, f: &dyn Fn(&Seed) -> f64| {
        m.push((name.to_string(), hi, seeds.values().map(f).collect()));
    };
    put("clean %", true, &|s| s.clean);
    for k in atk_cols {
        put(&format!("{} {} %", k.0, k.2), true, &|s| {
            s.robust.get(k).map_or(f64::NAN, |v| v.1)
        });
    }
    let has_attacks = !atk_cols.is_empty();
    if has_attacks {
        // worst case over attacks at the largest ε of the first norm, and its AUC over ε
        let norm = atk_cols[0].1.clone();
        let worst_curve = move |s: &Seed| -> Vec<(f64, f64)> {
            let mut by_eps: BTreeMap<String, (f64, f64)> = BTreeMap::new();
            for (k, &(e, a, _)) in &s.robust {
                if k.1 == norm {
                    let w = by_eps.entry(k.2.clone()).or_insert((e, f64::INFINITY));
                    w.1 = w.1.min(a);
                }
            }
            let mut v: Vec<(f64, f64)> = by_eps.into_values().collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v
        };
        let wc = worst_curve.clone();
        put("worst %", true, &move |s| {
            wc(s).last().map_or(f64::NAN, |p| p.1)
        });
        let wc = worst_curve.clone();
        put("AUC %", true, &move |s| metrics::auc(s.sub_clean, &wc(s)));
        let accs = |s: &Seed| s.robust.values().map(|v| v.1).collect::<Vec<_>>();
        let times = |s: &Seed| s.robust.values().map(|v| v.2).collect::<Vec<_>>();
        put("RR", true, &|s| metrics::beard_rr(s.sub_clean, &accs(s)));
        put("AE", true, &|s| metrics::beard_ae(0.0, &times(s)));
        put("CREI", true, &|s| {
            metrics::crei(
                metrics::beard_rr(s.sub_clean, &accs(s)),
                metrics::beard_ae(0.0, &times(s)),
            )
        });
        put("I-RR", true, &|s| metrics::rome_irr(s.sub_clean, &accs(s)));
    }
    put("distil s", false, &|s| s.distill_s);
    put("train s", false, &|s| s.train_s);
    if has_attacks {
        put("attack s", false, &|s| s.robust.values().map(|v| v.2).sum());
        put("passes", false, &|s| s.passes);
    }
    put("peak MiB", false, &|s| s.mem);
    m
}

fn fmt(s: &Stat, name: &str) -> String {
    if s.mean.is_nan() {
        return "–".into();
    }
    let d = if name.ends_with(" s") || name == "passes" || name == "peak MiB" {
        if name == "passes" || name == "peak MiB" {
            0
        } else {
            1
        }
    } else {
        2
    };
    if s.n > 1 && name != "passes" && name != "peak MiB" {
        format!("{:.d$} ± {:.d$}", s.mean, s.std)
    } else {
        format!("{:.d$}", s.mean)
    }
}

/// Builds the report with the default published file (baselines/published.csv if present).
pub fn build(dir: &Path, title: Option<&str>) -> Result<Report> {
    build_with(dir, title, None)
}

pub fn build_with(dir: &Path, title: Option<&str>, published: Option<&Path>) -> Result<Report> {
    let csv_path = dir.join("results.csv");
    let rows = read_rows(&csv_path)?;
    if rows.is_empty() {
        bail!("{}: no result rows", csv_path.display());
    }
    refuse_twins(&rows, &csv_path)?;
    let published: Vec<Published> = match published {
        Some(p) if p == Path::new("none") => Vec::new(),
        Some(p) => read_published(p)?,
        None => {
            let p = Path::new("baselines/published.csv");
            if p.exists() {
                read_published(p)?
            } else {
                Vec::new()
            }
        }
    };
    let title = title.map(String::from).unwrap_or_else(|| {
        dir.file_name()
            .map_or("leaderboard".into(), |s| s.to_string_lossy().into_owned())
    });
    let charts_dir = dir.join("charts");
    std::fs::create_dir_all(&charts_dir)
        .with_context(|| format!("creating {}", charts_dir.display()))?;

    // tables: (dataset, arch, ipc) → method → seed → numbers
    let mut ipcs: BTreeMap<(String, String), BTreeSet<i64>> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.all_ipc) {
        ipcs.entry((r.dataset.clone(), r.arch.clone()))
            .or_default()
            .insert(r.ipc);
    }
    type Table = BTreeMap<String, BTreeMap<u64, Seed>>;
    let mut tables: BTreeMap<(String, String, i64), Table> = BTreeMap::new();
    let mut atk_cols: BTreeMap<TableKey, AtkCols> = BTreeMap::new();
    for r in &rows {
        let targets: Vec<i64> = if r.all_ipc {
            match ipcs.get(&(r.dataset.clone(), r.arch.clone())) {
                Some(s) => s.iter().copied().collect(),
                None => vec![r.ipc],
            }
        } else {
            vec![r.ipc]
        };
        let label = if r.all_ipc {
            format!("{} (whole set)", r.method)
        } else {
            r.method.clone()
        };
        for ipc in targets {
            let key = (r.dataset.clone(), r.arch.clone(), ipc);
            let s = tables
                .entry(key.clone())
                .or_default()
                .entry(label.clone())
                .or_default()
                .entry(r.seed)
                .or_default();
            s.clean = r.clean;
            s.sub_clean = r.sub_clean;
            s.distill_s = r.distill_s;
            s.train_s = r.train_s;
            // rows carry the peak so far: the seed's peak is their largest
            s.mem = [s.mem, r.mem_mib]
                .into_iter()
                .filter(|v| v.is_finite() && *v > 0.0)
                .fold(f64::NAN, f64::max);
            if r.attack != "none" {
                let e = eps_text(&r.norm, r.eps);
                s.robust.insert(
                    (r.attack.clone(), r.norm.clone(), e.clone()),
                    (r.eps, r.robust, r.attack_s),
                );
                s.passes += r.passes;
                // order columns by attack, norm, then ε (as an integer number of 1e-6 units)
                atk_cols.entry(key).or_default().insert((
                    r.attack.clone(),
                    r.norm.clone(),
                    (r.eps * 1e6).round() as i64,
                    e,
                ));
            }
        }
    }

    let mut md = format!("# {title}\n\nBuilt by `ddbench report` from `{}` ({} rows). Accuracies in %, mean ± std over seeds (95 % Student-t intervals in `summary.csv`); best per column in **bold**. Robust accuracy on the attacked subset; *worst* = worst case over attacks at the largest ε; *AUC* = normalised area under the worst-case robust-accuracy-vs-ε curve (from clean accuracy at ε = 0); RR, AE, CREI (BEARD) and I-RR (ROME) over all attacks and ε of a seed — see the README for definitions and weaknesses. Cost: seconds, forward + backward passes of the attacks, peak memory of the run's device (CPU: resident memory of the cell's process; CUDA: device memory used beyond the CUDA context).\n", csv_path.display(), rows.len());
    let mut summary = csv::Writer::from_writer(Vec::new());
    summary.write_record([
        "dataset",
        "arch",
        "ipc",
        "method",
        "metric",
        "n",
        "mean",
        "std",
        "ci95_low",
        "ci95_high",
    ])?;
    let mut chart_paths = Vec::new();
    let mut pareto: BTreeMap<(String, String), Vec<ParetoPoint>> = BTreeMap::new();
    for (key, methods) in &tables {
        let (ds, arch, ipc) = key;
        let cols: Vec<AtkKey> = atk_cols.get(key).map_or(Vec::new(), |s| {
            s.iter()
                .map(|c| (c.0.clone(), c.1.clone(), c.3.clone()))
                .collect()
        });
        let per: Vec<MethodStats> = methods
            .iter()
            .map(|(m, seeds)| {
                let ms = seed_metrics(seeds, &cols);
                (
                    m.clone(),
                    seeds.len(),
                    ms.into_iter()
                        .map(|(n, hi, v)| (n, hi, metrics::stat(&v)))
                        .collect(),
                )
            })
            .collect();
        let names: Vec<(String, bool)> =
            per[0].2.iter().map(|(n, hi, _)| (n.clone(), *hi)).collect();
        md.push_str(&format!(
            "\n## {ds}, {arch}, IPC {ipc}\n\n| method | seeds |"
        ));
        for (n, _) in &names {
            md.push_str(&format!(" {n} |"));
        }
        md.push_str("\n|---|---:|");
        md.push_str(&"---:|".repeat(names.len()));
        md.push('\n');
        let best: Vec<f64> = (0..names.len())
            .map(|j| {
                let vals = per.iter().map(|p| p.2[j].2.mean).filter(|v| v.is_finite());
                if names[j].1 {
                    vals.fold(f64::NEG_INFINITY, f64::max)
                } else {
                    vals.fold(f64::INFINITY, f64::min)
                }
            })
            .collect();
        for (m, n, stats) in &per {
            md.push_str(&format!("| {m} | {n} |"));
            for (j, (name, _, s)) in stats.iter().enumerate() {
                let cell = fmt(s, name);
                // bold the best mean (ties included) when more than one method competes
                if per.len() > 1
                    && s.mean.is_finite()
                    && fmt(&Stat { n: 1, ..*s }, name)
                        == fmt(
                            &Stat {
                                mean: best[j],
                                n: 1,
                                ..*s
                            },
                            name,
                        )
                {
                    md.push_str(&format!(" **{cell}** |"));
                } else {
                    md.push_str(&format!(" {cell} |"));
                }
                let (lo, hi) = (s.mean - s.ci95, s.mean + s.ci95);
                summary.write_record([
                    ds,
                    arch,
                    &ipc.to_string(),
                    m,
                    name,
                    &s.n.to_string(),
                    &format!("{:.4}", s.mean),
                    &format!("{:.4}", s.std),
                    &format!("{lo:.4}"),
                    &format!("{hi:.4}"),
                ])?;
            }
            md.push('\n');
        }
        let refs: Vec<&Published> = published
            .iter()
            .filter(|p| {
                &p.dataset == ds && &p.arch == arch && (p.ipc == *ipc || p.method == "full")
            })
            .collect();
        if !refs.is_empty() {
            md.push_str("\nPublished (not measured here):\n\n");
            for p in &refs {
                md.push_str(&format!(
                    "- {} {}: {} — {}\n",
                    p.method, p.metric, p.value, p.note
                ));
            }
        }

        // charts for this table
        let stem = format!("{ds}_{arch}_ipc{ipc}");
        let get =
            |stats: &[(String, bool, Stat)], n: &str| stats.iter().find(|s| s.0 == n).map(|s| s.2);
        // bars: clean and robust at the largest ε of each attack
        let mut series = vec!["clean".to_string()];
        let mut bar_cols = Vec::new();
        for c in &cols {
            let last = cols.iter().rfind(|d| d.0 == c.0 && d.1 == c.1).unwrap();
            if last == c {
                series.push(format!("{} ε={}", c.0, c.2));
                bar_cols.push(format!("{} {} %", c.0, c.2));
            }
        }
        let groups: Vec<BarGroup> = per
            .iter()
            .map(|(m, _, stats)| {
                let mut bars = vec![get(stats, "clean %").unwrap()];
                bars.extend(bar_cols.iter().map(|b| get(stats, b).unwrap()));
                let base = m.trim_end_matches(" (whole set)");
                let published = refs
                    .iter()
                    .filter(|p| p.method == base)
                    .filter_map(|p| match p.metric.as_str() {
                        "clean_acc" => Some((0, p.value)),
                        "pgd_acc" => series
                            .iter()
                            .position(|s| s.starts_with("pgd "))
                            .map(|i| (i, p.value)),
                        _ => None,
                    })
                    .collect();
                BarGroup {
                    label: m.clone(),
                    bars,
                    published,
                }
            })
            .collect();
        // published methods that ddbench did not run get their own group
        let mut extra: BTreeMap<String, Vec<(usize, f64)>> = BTreeMap::new();
        for p in &refs {
            if !per
                .iter()
                .any(|(m, _, _)| m.trim_end_matches(" (whole set)") == p.method)
                && p.metric == "clean_acc"
            {
                extra
                    .entry(p.method.clone())
                    .or_default()
                    .push((0, p.value));
            }
        }
        let mut groups = groups;
        for (m, pubs) in extra {
            groups.push(BarGroup {
                label: m,
                bars: vec![
                    Stat {
                        mean: f64::NAN,
                        std: f64::NAN,
                        ci95: f64::NAN,
                        n: 0
                    };
                    series.len()
                ],
                published: pubs,
            });
        }
        chart_paths.extend(charts::bars(
            &charts_dir.join(format!("bars_{stem}")),
            &format!("{ds}, {arch}, IPC {ipc}: clean vs robust accuracy"),
            &series,
            &groups,
        )?);
        // curves: worst-case robust accuracy vs ε, one line per method (first norm)
        if let Some(norm) = cols.first().map(|c| c.1.clone()) {
            let curves: Vec<Curve> = methods
                .iter()
                .map(|(m, seeds)| {
                    let mut by_eps: BTreeMap<i64, (f64, Vec<f64>)> = BTreeMap::new();
                    by_eps.insert(0, (0.0, seeds.values().map(|s| s.sub_clean).collect()));
                    for s in seeds.values() {
                        let mut worst: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
                        for (k, &(e, a, _)) in &s.robust {
                            if k.1 == norm {
                                let w = worst
                                    .entry((e * 1e6).round() as i64)
                                    .or_insert((e, f64::INFINITY));
                                w.1 = w.1.min(a);
                            }
                        }
                        for (k, (e, a)) in worst {
                            by_eps.entry(k).or_insert((e, Vec::new())).1.push(a);
                        }
                    }
                    Curve {
                        label: m.clone(),
                        points: by_eps
                            .into_values()
                            .map(|(e, v)| {
                                (
                                    if norm == "linf" { e * 255.0 } else { e },
                                    metrics::stat(&v),
                                )
                            })
                            .collect(),
                    }
                })
                .collect();
            let xdesc = if norm == "linf" {
                "ε (L∞, in 1/255 grey levels)"
            } else {
                "ε (L2, pixel units)"
            };
            chart_paths.extend(charts::curves(
                &charts_dir.join(format!("curve_{stem}")),
                &format!("{ds}, {arch}, IPC {ipc}: worst-case robust accuracy vs ε"),
                xdesc,
                &curves,
            )?);
        }
        for (m, _, stats) in &per {
            let cost = ["distil s", "train s", "attack s"]
                .iter()
                .filter_map(|n| get(stats, n))
                .map(|s| s.mean)
                .filter(|v| v.is_finite())
                .sum::<f64>();
            let acc = get(stats, "worst %")
                .or_else(|| get(stats, "clean %"))
                .unwrap();
            // a whole-set method sits in every IPC's table: one point for it, not one per IPC
            let label = if m.ends_with(" (whole set)") {
                m.clone()
            } else {
                format!("{m}, IPC {ipc}")
            };
            let pts = pareto.entry((ds.clone(), arch.clone())).or_default();
            if !pts.iter().any(|p| p.label == label) {
                pts.push(ParetoPoint { label, cost, acc });
            }
        }
    }
    for ((ds, arch), pts) in &pareto {
        let has_attacks = atk_cols.keys().any(|k| &k.0 == ds && &k.1 == arch);
        chart_paths.extend(charts::pareto(
            &charts_dir.join(format!("pareto_{ds}_{arch}")),
            &format!(
                "{ds}, {arch}: {} accuracy vs compute",
                if has_attacks {
                    "worst-case robust"
                } else {
                    "clean"
                }
            ),
            if has_attacks {
                "worst-case robust accuracy at the largest ε (%)"
            } else {
                "clean accuracy (%)"
            },
            pts,
        )?);
    }
    md.push_str("\nCharts:\n\n");
    for c in chart_paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
    {
        let rel = c.strip_prefix(dir).unwrap_or(c);
        md.push_str(&format!("- [{}]({})\n", rel.display(), rel.display()));
    }
    let markdown = dir.join("leaderboard.md");
    crate::record::write_atomic(&markdown, md.as_bytes())?;
    let summary_path = dir.join("summary.csv");
    crate::record::write_atomic(
        &summary_path,
        &summary.into_inner().context("serialising summary")?,
    )?;
    Ok(Report {
        markdown,
        summary: summary_path,
        charts: chart_paths,
        text: md,
    })
}
