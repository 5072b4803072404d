//! `ddbench bench FILE --out DIR`: runs every cell of a leaderboard file as a child `ddbench run`
//! (one student per cell, `--jobs N` at once, one GPU each when several are visible), merges each
//! finished cell into `results.csv` at once (write-then-rename, by one writer), skips cells
//! already recorded under the same input hash, then builds the report.

use crate::leaderboard::{self, Cell};
use crate::output::Ui;
use crate::record::{read_whole_lines, write_atomic};
use anyhow::{anyhow, bail, Context, Result};
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The leaderboard file (TOML; see baselines/*.toml).
    pub file: PathBuf,
    /// Output folder: results.csv, manifest.json, cells/ (per-cell logs), the report.
    #[arg(long)]
    pub out: PathBuf,
    /// Rerun a cell even if recorded (its id as printed, e.g. fashion-mnist/random/ipc10/convnet/seed0,
    /// or its folder name); repeatable.
    #[arg(long)]
    pub force: Vec<String>,
    /// Cells run at once (each its own process; one GPU each when CUDA_VISIBLE_DEVICES lists several).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Use this folder for every data set of the file (the folder is not part of a cell's
    /// hash; the data's content hash is).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: crate::device::DeviceChoice,
    #[arg(long, default_value = "results/cache")]
    pub cache_dir: PathBuf,
    #[arg(long = "plugin-dir")]
    pub plugin_dirs: Vec<PathBuf>,
    /// No progress bars or log lines.
    #[arg(long)]
    pub quiet: bool,
    /// Do not build the report at the end.
    #[arg(long)]
    pub no_report: bool,
}

/// Columns bench puts in front of `ddbench run`'s own.
pub const LEAD_COLUMNS: [&str; 5] = [
    "cell",
    "cell_id",
    "cell_hash",
    "cell_wall_s",
    "peak_rss_mib",
];

/// One recorded row: the cell it belongs to and `run`'s columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Rec {
    pub lead: Vec<String>,
    pub fields: Vec<String>,
}

/// `results.csv` of a bench folder, rewritten whole (write, fsync, rename) after every cell.
pub struct Records {
    pub path: PathBuf,
    /// `run`'s columns (empty until the first cell).
    pub header: Vec<String>,
    pub rows: Vec<Rec>,
}

impl Records {
    /// Reads the records; a torn last line (no newline at the end) is dropped with a warning.
    pub fn open(path: &Path, warn: &dyn Fn(&str)) -> Result<Records> {
        let mut r = Records {
            path: path.to_path_buf(),
            header: Vec::new(),
            rows: Vec::new(),
        };
        if !path.exists() {
            return Ok(r);
        }
        let bytes = read_whole_lines(path, warn)?;
        let mut rd = csv::ReaderBuilder::new().from_reader(bytes.as_slice());
        let head: Vec<String> = rd.headers()?.iter().map(String::from).collect();
        if head.is_empty() {
            return Ok(r);
        }
        if head.len() < LEAD_COLUMNS.len() || head[..LEAD_COLUMNS.len()] != LEAD_COLUMNS {
            bail!(
                "{}: not a `ddbench bench` results file (its first columns must be {}); move it away or use another --out",
                path.display(),
                LEAD_COLUMNS.join(",")
            );
        }
        r.header = head[LEAD_COLUMNS.len()..].to_vec();
        for (i, rec) in rd.records().enumerate() {
            let rec = rec.with_context(|| format!("{}: line {}", path.display(), i + 2))?;
            let v: Vec<String> = rec.iter().map(String::from).collect();
            let (lead, fields) = v.split_at(LEAD_COLUMNS.len());
            r.rows.push(Rec {
                lead: lead.to_vec(),
                fields: fields.to_vec(),
            });
        }
        Ok(r)
    }

    pub fn save(&self) -> Result<()> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut head: Vec<&str> = LEAD_COLUMNS.to_vec();
        head.extend(self.header.iter().map(String::as_str));
        w.write_record(&head)?;
        for r in &self.rows {
            w.write_record(r.lead.iter().chain(r.fields.iter()))?;
        }
        write_atomic(&self.path, &w.into_inner().context("serialising results")?)
    }

    /// Rows recorded for `cell` under its current hash.
    pub fn count(&self, cell: &Cell) -> usize {
        let folder = cell.folder();
        self.rows
            .iter()
            .filter(|r| r.lead[0] == folder && r.lead[2] == cell.hash)
            .count()
    }

    fn column(&self, name: &str) -> Result<usize> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| anyhow!("{}: no column `{name}`", self.path.display()))
    }

    /// Replaces `cell`'s rows by the wanted rows of its `run` output (`cells/<folder>/results.csv`).
    pub fn merge(
        &mut self,
        cell: &Cell,
        run_csv: &Path,
        wall_s: f64,
        rss_mib: f64,
    ) -> Result<usize> {
        if !run_csv.exists() {
            return Ok(0);
        }
        let mut rd = csv::Reader::from_path(run_csv)
            .with_context(|| format!("reading {}", run_csv.display()))?;
        let head: Vec<String> = rd.headers()?.iter().map(String::from).collect();
        if self.header.is_empty() {
            self.header = head.clone();
        } else if head.len() > self.header.len() && head.starts_with(&self.header) {
            // a newer ddbench appended columns: older rows get them empty
            for r in &mut self.rows {
                r.fields.resize(head.len(), String::new());
            }
            self.header = head.clone();
        } else if self.header != head {
            bail!(
                "{}: columns differ from {} (written by another ddbench version?); use another --out",
                run_csv.display(),
                self.path.display()
            );
        }
        let (ia, inorm, ieps) = (
            self.column("attack")?,
            self.column("norm")?,
            self.column("eps")?,
        );
        let folder = cell.folder();
        self.rows.retain(|r| r.lead[0] != folder);
        let mut n = 0;
        for rec in rd.records() {
            let v: Vec<String> = rec?.iter().map(String::from).collect();
            let eps: f64 = v[ieps].parse().unwrap_or(f64::NAN);
            let keep = if cell.wanted.is_empty() {
                v[ia] == "none"
            } else {
                cell.wanted
                    .iter()
                    .any(|(a, nm, e)| *a == v[ia] && *nm == v[inorm] && (e - eps).abs() < 1e-9)
            };
            if keep {
                self.rows.push(Rec {
                    lead: vec![
                        folder.clone(),
                        cell.id.clone(),
                        cell.hash.clone(),
                        format!("{wall_s:.3}"),
                        format!("{rss_mib:.1}"),
                    ],
                    fields: v,
                });
                n += 1;
            }
        }
        Ok(n)
    }
}

/// How one child run ended.
struct Outcome {
    cell: usize,
    code: Option<i32>,
    wall_s: f64,
    rss_mib: f64,
    last_error: Option<String>,
}

/// Runs one cell's `ddbench run` to its end, its stderr into `log.txt` and the cell's bar.
fn run_cell(
    exe: &Path,
    cell: &Cell,
    dir: &Path,
    common: &[String],
    gpu: Option<&str>,
    bar: &ProgressBar,
) -> Result<(Option<i32>, f64, f64, Option<String>)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut log = std::fs::File::create(dir.join("log.txt"))?;
    writeln!(log, "{} {}", exe.display(), cell.args.join(" "))?;
    let mut cmd = Command::new(exe);
    cmd.args(&cell.args)
        .arg("--out")
        .arg(dir)
        .args(common)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::piped());
    if let Some(g) = gpu {
        cmd.env("CUDA_VISIBLE_DEVICES", g);
    }
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls between fork and exec: the child dies with the thread
    // that started it (so `kill -9` of bench leaves no orphan writing into the cell folder).
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let t = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let mut last_error = None;
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines() {
            let line = line.unwrap_or_default();
            let _ = writeln!(log, "{line}");
            if line.contains("clean accuracy") || line.contains("robust accuracy") {
                bar.inc(1);
            }
            if line.starts_with("error") || line.starts_with("Error") {
                last_error = Some(line.clone());
            }
            let short: String = line.chars().take(70).collect();
            bar.set_message(short);
        }
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain wait4 on our own child; rusage is written by the kernel.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let code = if r == pid && libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    std::mem::forget(child); // reaped above
    Ok((
        code,
        t.elapsed().as_secs_f64(),
        ru.ru_maxrss as f64 / 1024.0,
        last_error,
    ))
}

/// Whether the data a child run recorded (its manifest) is not the data the bench hashed.
fn data_mismatch(cell_dir: &Path, expected: &str) -> Option<String> {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cell_dir.join("manifest.json")).ok()?)
            .ok()?;
    let got = m["dataset"]["sha256"].as_str()?;
    (got != expected).then(|| {
        format!("the cell ran on data with sha256 {got}, not the {expected} this bench hashed at its start (did the data change?)")
    })
}

fn sha256_file(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The content hash of each data set of the leaderboard (`data::resident::content_hash`, as
/// `ddbench run` records it), by name: part of every cell's hash.
fn data_hashes(lb: &leaderboard::Loaded, ui: &Ui) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for ds in &lb.spec.datasets {
        let kind = <crate::data::source::DatasetKind as clap::ValueEnum>::from_str(&ds.name, true)
            .map_err(|_| {
                anyhow!(
                    "{}: data set `{}`: expected fashion-mnist, mnist, cifar10, cifar100 or imagefolder",
                    lb.path.display(),
                    ds.name
                )
            })?;
        let t = Instant::now();
        let raw = crate::data::source::load(kind, lb.data_dir(ds).as_deref())
            .with_context(|| format!("{}: data set `{}`", lb.path.display(), ds.name))?;
        let hash = crate::data::resident::content_hash(&raw);
        ui.log(&format!(
            "data: {} sha256 {} ({:.1}s)",
            ds.name,
            &hash[..16],
            t.elapsed().as_secs_f64()
        ));
        out.insert(ds.name.clone(), hash);
    }
    Ok(out)
}

/// What a cell's hash covers beyond its `run` arguments: its data set's content hash and the
/// versions of the plugins it runs.
fn cell_extras(
    cell: &Cell,
    data: &BTreeMap<String, String>,
    reg: &crate::plugin::Registry,
) -> Vec<String> {
    let version = |kind, name: &str| {
        reg.get(kind, name)
            .map(|p| format!("{kind} {name} {}", p.version))
            .unwrap_or_default()
    };
    let mut extras = vec![
        format!(
            "data {}",
            data.get(&cell.dataset).cloned().unwrap_or_default()
        ),
        version(crate::plugin::Kind::Method, &cell.method),
    ];
    let mut attacks: Vec<&str> = cell.wanted.iter().map(|w| w.0.as_str()).collect();
    attacks.dedup();
    extras.extend(
        attacks
            .iter()
            .map(|a| version(crate::plugin::Kind::Attack, a)),
    );
    extras
}

/// Runs the leaderboard; exit code 0 when every cell is recorded, 2 when some failed.
pub fn run(args: &BenchArgs) -> Result<i32> {
    let ui = Ui::new(args.quiet);
    let _lock = crate::folder_lock::FolderLock::acquire(&args.out)?;
    let mut lb = leaderboard::load(&args.file)?;
    if let Some(d) = &args.data_dir {
        let d = std::path::absolute(d).unwrap_or_else(|_| d.clone());
        for ds in &mut lb.spec.datasets {
            ds.data_dir = Some(d.clone());
        }
    }
    let named: Vec<(crate::plugin::Kind, &str)> = lb
        .spec
        .methods
        .iter()
        .map(|m| (crate::plugin::Kind::Method, m.name.as_str()))
        .chain(
            lb.spec
                .attacks
                .iter()
                .map(|a| (crate::plugin::Kind::Attack, a.name.as_str())),
        )
        .collect();
    let reg = crate::plugin::discover_named(&args.plugin_dirs, &named);
    for m in &lb.spec.methods {
        reg.get(crate::plugin::Kind::Method, &m.name)
            .map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    }
    for a in &lb.spec.attacks {
        reg.get(crate::plugin::Kind::Attack, &a.name)
            .map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    }
    let ignores = |m: &str| {
        reg.get(crate::plugin::Kind::Method, m)
            .is_ok_and(|p| p.flags & ddbench_plugin_api::abi::FLAG_IGNORES_IPC != 0)
    };
    let mut cells = lb.cells(&ignores)?;
    let data = data_hashes(&lb, &ui)?;
    for c in &mut cells {
        let extras = cell_extras(c, &data, &reg);
        c.seal(&extras);
    }
    for f in &args.force {
        if !cells.iter().any(|c| &c.id == f || &c.folder() == f) {
            bail!(
                "--force {f}: no such cell in {} (cells look like {})",
                args.file.display(),
                cells[0].id
            );
        }
    }
    if args.jobs == 0 {
        bail!("--jobs must be ≥ 1");
    }
    std::fs::create_dir_all(args.out.join("cells"))
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut records = Records::open(&args.out.join("results.csv"), &|m| {
        ui.log(&format!("warning: {m}"))
    })?;
    // rows of cells no longer in the grid (or whose inputs changed) go to stale.csv, never mixed in
    let live: std::collections::HashSet<(String, String)> =
        cells.iter().map(|c| (c.folder(), c.hash.clone())).collect();
    let forced: Vec<String> = cells
        .iter()
        .filter(|c| args.force.iter().any(|f| &c.id == f || &c.folder() == f))
        .map(|c| c.folder())
        .collect();
    let (keep, stale): (Vec<Rec>, Vec<Rec>) = records.rows.drain(..).partition(|r| {
        live.contains(&(r.lead[0].clone(), r.lead[2].clone())) && !forced.contains(&r.lead[0])
    });
    records.rows = keep;
    if !stale.is_empty() {
        let sp = args.out.join("stale.csv");
        let mut old = Records::open(&sp, &|_| {})?;
        if old.header.is_empty() || old.header == records.header {
            old.header = records.header.clone();
            old.rows.extend(stale.iter().cloned());
            old.save()?;
        }
        ui.log(&format!(
            "{} row(s) of cells not in this leaderboard, forced or with changed inputs moved to {}",
            stale.len(),
            sp.display()
        ));
        records.save()?;
    }
    for f in &forced {
        let d = args.out.join("cells").join(f);
        if d.exists() {
            std::fs::remove_dir_all(&d).with_context(|| format!("removing {}", d.display()))?;
        }
    }
    let pending: Vec<usize> = (0..cells.len())
        .filter(|&i| records.count(&cells[i]) < cells[i].expected_rows())
        .collect();
    ui.log(&format!(
        "{}: {} cells, {} already recorded, {} to run ({} at once)",
        args.file.display(),
        cells.len(),
        cells.len() - pending.len(),
        pending.len(),
        args.jobs
    ));

    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let mut states: BTreeMap<usize, serde_json::Value> = BTreeMap::new();
    let write_manifest = |records: &Records,
                          states: &BTreeMap<usize, serde_json::Value>,
                          state: &str|
     -> Result<()> {
        let mut device = serde_json::Value::Null;
        let mut cell_list = Vec::new();
        for (i, c) in cells.iter().enumerate() {
            let m: Option<serde_json::Value> = std::fs::read_to_string(
                args.out
                    .join("cells")
                    .join(c.folder())
                    .join("manifest.json"),
            )
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
            if let Some(m) = &m {
                if device.is_null() {
                    device = m["device"].clone();
                }
            }
            let recorded = records.count(c);
            let mut e = serde_json::json!({
                "id": c.id, "folder": c.folder(), "hash": c.hash,
                "state": if recorded >= c.expected_rows() { "recorded" } else if states.contains_key(&i) { "failed" } else { "pending" },
                "rows": recorded, "expected_rows": c.expected_rows(),
                "command": format!("ddbench {}", c.args.join(" ")),
            });
            if let Some(s) = states.get(&i) {
                e["last_run"] = s.clone();
            }
            if let Some(f) = m
                .as_ref()
                .and_then(|m| m.get("failures"))
                .filter(|f| f.as_array().is_some_and(|a| !a.is_empty()))
            {
                e["failures"] = f.clone();
            }
            cell_list.push(e);
        }
        let plugins: Vec<serde_json::Value> = reg
            .plugins
            .iter()
            .map(|p| serde_json::json!({"name": p.name, "kind": p.kind.to_string(), "version": p.version, "path": p.path}))
            .collect();
        let m = serde_json::json!({
            "ddbench": env!("CARGO_PKG_VERSION"),
            "libtorch": ddbench_plugin_api::abi::TORCH_VERSION,
            "abi": ddbench_plugin_api::abi::ABI_VERSION,
            "command": command_line,
            "state": state,
            "device": device,
            "jobs": args.jobs,
            "leaderboard": {"path": lb.path, "title": lb.title, "sha256": sha256_file(&lb.text), "text": lb.text},
            "datasets_sha256": &data,
            "plugins": plugins,
            "cells": cell_list,
        });
        write_atomic(
            &args.out.join("manifest.json"),
            serde_json::to_string_pretty(&m)?.as_bytes(),
        )
    };
    write_manifest(&records, &states, "running")?;

    let exe = std::env::current_exe().context("locating the ddbench binary")?;
    let mut common: Vec<String> = vec![
        "--device".into(),
        format!("{:?}", args.device).to_lowercase(),
        "--cache-dir".into(),
        args.cache_dir.display().to_string(),
    ];
    for d in &args.plugin_dirs {
        common.extend(["--plugin-dir".into(), d.display().to_string()]);
    }
    let gpus: Vec<String> = std::env::var("CUDA_VISIBLE_DEVICES")
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let one_gpu_each = args.jobs > 1 && gpus.len() > 1;

    let overall = ui.bar(cells.len() as u64, "cells");
    overall.set_position((cells.len() - pending.len()) as u64);
    overall.reset_eta();
    let queue = Mutex::new(pending.iter().copied().collect::<VecDeque<usize>>());
    let (tx, rx) = std::sync::mpsc::channel::<Result<Outcome>>();
    let mut failed = 0usize;
    std::thread::scope(|s| -> Result<()> {
        for w in 0..args.jobs.min(pending.len()) {
            let (tx, queue, cells, exe, common, ui, gpus) =
                (tx.clone(), &queue, &cells, &exe, &common, &ui, &gpus);
            let out = &args.out;
            s.spawn(move || loop {
                let Some(i) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let c = &cells[i];
                let bar = ui.bar(2 + c.wanted.len() as u64, "cell");
                bar.set_position(1);
                bar.set_message(c.id.clone());
                let gpu = one_gpu_each.then(|| gpus[w % gpus.len()].as_str());
                let r = run_cell(
                    exe,
                    c,
                    &out.join("cells").join(c.folder()),
                    common,
                    gpu,
                    &bar,
                );
                bar.finish_and_clear();
                let msg = r.map(|(code, wall_s, rss_mib, last_error)| Outcome {
                    cell: i,
                    code,
                    wall_s,
                    rss_mib,
                    last_error,
                });
                if tx.send(msg).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for o in rx {
            let mut o = o?;
            let c = &cells[o.cell];
            let cell_dir = args.out.join("cells").join(c.folder());
            if let Some(e) = data_mismatch(&cell_dir, &data[&c.dataset]) {
                // the data changed under the bench: the cell's rows are not this leaderboard's
                std::fs::remove_file(cell_dir.join("results.csv")).ok();
                o.last_error = Some(e);
            }
            let n = records.merge(
                c,
                &args.out.join("cells").join(c.folder()).join("results.csv"),
                o.wall_s,
                o.rss_mib,
            )?;
            records.save()?;
            let ok = records.count(c) >= c.expected_rows();
            if !ok {
                failed += 1;
                ui.log(&format!(
                    "cell {} failed (exit {:?}, {n}/{} rows): {} — see {}",
                    c.id,
                    o.code,
                    c.expected_rows(),
                    o.last_error.as_deref().unwrap_or("no error line"),
                    args.out
                        .join("cells")
                        .join(c.folder())
                        .join("log.txt")
                        .display()
                ));
            } else {
                ui.log(&format!(
                    "cell {} recorded ({n} rows, {:.1}s)",
                    c.id, o.wall_s
                ));
            }
            states.insert(o.cell, serde_json::json!({"exit_code": o.code, "wall_s": o.wall_s, "peak_rss_mib": o.rss_mib, "rows": n}));
            overall.inc(1);
            write_manifest(&records, &states, "running")?;
        }
        Ok(())
    })?;
    overall.finish_and_clear();
    write_manifest(
        &records,
        &states,
        if failed == 0 {
            "finished"
        } else {
            "finished with failures"
        },
    )?;
    println!("results: {}", records.path.display());
    println!("manifest: {}", args.out.join("manifest.json").display());
    if !args.no_report && !records.rows.is_empty() {
        let rep = crate::report::build(&args.out, Some(&lb.title))?;
        rep.print();
    }
    if failed > 0 {
        eprintln!("{failed} cell(s) failed; rerun the same command to retry them");
        return Ok(2);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_an_older_version_get_the_new_columns_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        let lead = LEAD_COLUMNS.join(",");
        std::fs::write(
            &path,
            format!("{lead},attack,norm,eps\nold,a/b,h0,1.0,2.0,pgd,linf,0.1\n"),
        )
        .unwrap();
        let mut recs = Records::open(&path, &|_| {}).unwrap();
        let run_csv = dir.path().join("run.csv");
        std::fs::write(&run_csv, "attack,norm,eps,flags\nfgsm,linf,0.2,\n").unwrap();
        let cell = Cell {
            id: "new/cell".into(),
            hash: "h1".into(),
            dataset: "d".into(),
            method: "m".into(),
            label: "m".into(),
            seed: 0,
            args: Vec::new(),
            wanted: vec![("fgsm".into(), "linf".into(), 0.2)],
        };
        assert_eq!(recs.merge(&cell, &run_csv, 1.0, 2.0).unwrap(), 1);
        assert_eq!(recs.header, ["attack", "norm", "eps", "flags"]);
        assert_eq!(recs.rows[0].fields, ["pgd", "linf", "0.1", ""]);
        // a header that is not an extension is still refused
        std::fs::write(&run_csv, "attack,eps,norm\nfgsm,0.2,linf\n").unwrap();
        let err = recs.merge(&cell, &run_csv, 1.0, 2.0).unwrap_err();
        assert!(err.to_string().contains("columns differ"), "{err}");
    }
}
