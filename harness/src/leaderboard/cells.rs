//! The grid of a leaderboard file expanded into cells: one student (dataset, method, ipc, arch,
//! seed) per attack norm — and per further variant of a plugin the file lists twice under one
//! norm (labelled) — each with its `ddbench run` arguments and their hash.

use super::spec::{scalar, toml_to_json, AttackSpec, DatasetSpec, Loaded, MethodSpec};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One cell: one student (dataset, method, ipc, arch, seed) attacked under one norm, by at
/// most one variant of each attack plugin (the file's further variants of a plugin get cells of
/// their own).
#[derive(Clone, Debug)]
pub struct Cell {
    /// Readable identity, e.g. `fashion-mnist/random/ipc10/convnet/seed0`, with `/linf` when the
    /// file has several norms and `/LABEL[+LABEL…]` for a cell of further attack variants.
    pub id: String,
    /// SHA-256 (first 16 hex digits) of the `run` arguments that decide the numbers (and of the
    /// attack labels, which name the rows).
    pub hash: String,
    pub dataset: String,
    pub method: String,
    pub label: String,
    pub seed: u64,
    /// Arguments of `ddbench run` (without `--out`, `--device`, `--cache-dir`, `--plugin-dir`).
    pub args: Vec<String>,
    /// The attack rows asked for; empty: one `none` row.
    pub wanted: Vec<Wanted>,
}

/// One attack row a cell asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct Wanted {
    /// The attack plugin.
    pub attack: String,
    /// The attack's label in the leaderboard file; empty when it has none (the plugin's name).
    pub label: String,
    pub norm: String,
    pub eps: f64,
}

impl Cell {
    /// The cell's folder name under `cells/`.
    pub fn folder(&self) -> String {
        format!("{}-{}", self.id.replace('/', "_"), self.hash)
    }

    /// Rows the cell must produce.
    pub fn expected_rows(&self) -> usize {
        self.wanted.len().max(1)
    }

    /// Folds inputs that are not in the arguments (the data set's content hash, the plugins'
    /// versions) into the cell's hash, so a change of either makes a new cell.
    pub fn seal(&mut self, extras: &[String]) {
        let mut all = self.args.clone();
        all.extend(self.label_lines());
        all.extend(extras.iter().cloned());
        self.hash = input_hash(&all);
    }

    /// The attack labels the cell's rows carry, as hashed (none for a file without labels, so
    /// its cells keep their hashes).
    fn label_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .wanted
            .iter()
            .filter(|w| !w.label.is_empty())
            .map(|w| format!("attack {} label {}", w.attack, w.label))
            .collect();
        lines.dedup();
        lines
    }
}

/// SHA-256 (16 hex digits) of a cell's `run` arguments, leaving out the data folder (where the
/// data lives is not what it is; its SHA-256 is in the manifests).
fn input_hash(args: &[String]) -> String {
    let mut kept = Vec::new();
    let mut skip = false;
    for a in args {
        if std::mem::take(&mut skip) {
            continue;
        }
        if a == "--data-dir" {
            skip = true;
            continue;
        }
        kept.push(a.as_str());
    }
    hex::encode(Sha256::digest(kept.join("\u{1f}")))[..16].to_string()
}

/// One child run's attacks: one norm, at most one variant of each plugin; the `run` arguments
/// that ask for them, and the rows they give.
struct Pass {
    norm: String,
    /// For the passes after a norm's first: the labels of its attacks (`pgd-50+fgsm-b`).
    suffix: Option<String>,
    args: Vec<String>,
    wanted: Vec<Wanted>,
}

/// The attacks of one norm split into passes: the k-th pass holds the k-th attack of each plugin
/// (in file order), so no child run sees a plugin twice.
fn split_passes<'a>(atks: &[&'a AttackSpec]) -> Vec<Vec<&'a AttackSpec>> {
    let mut out: Vec<Vec<&AttackSpec>> = Vec::new();
    for &a in atks {
        match out.iter_mut().find(|p| p.iter().all(|b| b.name != a.name)) {
            Some(p) => p.push(a),
            None => out.push(vec![a]),
        }
    }
    out
}

/// The passes of one norm: each with its attacks' configs, names, and the sorted union of their ε.
fn norm_passes(f: &str, norm: &str, atks: &[&AttackSpec]) -> Result<Vec<Pass>> {
    split_passes(atks)
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let suffix = (i > 0).then(|| {
                let shown: Vec<&str> = p.iter().map(|a| a.shown()).collect();
                shown.join("+")
            });
            pass(f, norm, &p, suffix)
        })
        .collect()
}

fn pass(f: &str, norm: &str, atks: &[&AttackSpec], suffix: Option<String>) -> Result<Pass> {
    let mut args = Vec::new();
    let mut wanted = Vec::new();
    let mut union: Vec<(f64, String)> = Vec::new();
    for a in atks {
        for e in &a.eps {
            let (v, es) = eps_value(f, a, norm, e)?;
            wanted.push(Wanted {
                attack: a.name.clone(),
                label: a.label.clone().unwrap_or_default(),
                norm: norm.to_string(),
                eps: v,
            });
            if !union.iter().any(|(u, _)| (u - v).abs() < 1e-12) {
                union.push((v, es));
            }
        }
        if let Some(c) = &a.config {
            let j = toml_to_json(&toml::Value::Table(c.clone()));
            args.extend(["--attack-config".into(), format!("{}={j}", a.name)]);
        }
    }
    union.sort_by(|a, b| a.0.total_cmp(&b.0));
    let names: Vec<&str> = atks.iter().map(|a| a.name.as_str()).collect();
    let eps: Vec<String> = union.into_iter().map(|u| u.1).collect();
    args.extend([
        "--attacks".into(),
        names.join(","),
        "--norm".into(),
        norm.to_string(),
        "--eps".into(),
        eps.join(","),
    ]);
    Ok(Pass {
        norm: norm.to_string(),
        suffix,
        args,
        wanted,
    })
}

/// One ε of an attack, as a number (checked against the norm) and as written.
fn eps_value(f: &str, a: &AttackSpec, norm: &str, e: &toml::Value) -> Result<(f64, String)> {
    let es = scalar(e, &format!("{f}: attack `{}` eps", a.name))?;
    let v = crate::threat::parse_eps(&es)
        .and_then(|v| {
            crate::threat::check_eps(crate::threat::parse_norm(norm)?, v)?;
            Ok(v)
        })
        .with_context(|| format!("{f}: attack `{}`: eps '{es}'", a.name))?;
    Ok((v, es))
}

/// A method of the file with its configuration resolved.
struct Method<'a> {
    spec: &'a MethodSpec,
    label: String,
    config: Option<serde_json::Value>,
}

/// One student of the grid.
struct Student<'a> {
    ds: &'a DatasetSpec,
    data_dir: Option<&'a PathBuf>,
    method: &'a Method<'a>,
    /// None: a method that ignores the IPC.
    ipc: Option<i64>,
    arch: &'a str,
    seed: u64,
}

impl Student<'_> {
    /// The `run` arguments that train this student (before the attack flags).
    fn run_args(&self, student_flags: &[String]) -> Vec<String> {
        let m = self.method;
        let mut args = vec![
            "run".to_string(),
            "--dataset".into(),
            self.ds.name.clone(),
            "--method".into(),
            m.spec.name.clone(),
            "--ipc".into(),
            self.ipc.unwrap_or(1).to_string(),
            "--arch".into(),
            self.arch.to_string(),
            "--first-seed".into(),
            self.seed.to_string(),
            "--seeds".into(),
            "1".into(),
        ];
        if let Some(d) = self.data_dir {
            args.extend(["--data-dir".into(), d.display().to_string()]);
        }
        if let Some(c) = &m.config {
            args.extend(["--method-config".into(), format!("{}={c}", m.spec.name)]);
        }
        args.extend(student_flags.iter().cloned());
        args
    }

    /// The student's identity, without the norm.
    fn id(&self) -> String {
        let ipc = self.ipc.map_or("all".to_string(), |i| format!("ipc{i}"));
        let (ds, label) = (&self.ds.name, &self.method.label);
        format!("{ds}/{label}/{ipc}/{}/seed{}", self.arch, self.seed)
    }

    fn cell(&self, args: Vec<String>, id: String, wanted: Vec<Wanted>) -> Cell {
        let mut c = Cell {
            id,
            hash: String::new(),
            dataset: self.ds.name.clone(),
            method: self.method.spec.name.clone(),
            label: self.method.label.clone(),
            seed: self.seed,
            args,
            wanted,
        };
        c.seal(&[]);
        c
    }

    /// The student's cells: one per pass of attacks (a norm, each plugin at most once), or one
    /// unattacked.
    fn cells(&self, student_flags: &[String], passes: &[Pass]) -> Vec<Cell> {
        let base = self.run_args(student_flags);
        let id0 = self.id();
        if passes.is_empty() {
            return vec![self.cell(base, id0, vec![])];
        }
        let several_norms = passes.iter().any(|p| p.norm != passes[0].norm);
        passes
            .iter()
            .map(|p| {
                let mut args = base.clone();
                args.extend(p.args.iter().cloned());
                let mut id = id0.clone();
                if several_norms {
                    id = format!("{id}/{}", p.norm);
                }
                if let Some(s) = &p.suffix {
                    id = format!("{id}/{s}");
                }
                self.cell(args, id, p.wanted.clone())
            })
            .collect()
    }
}

/// Refuses two cells of the same identity (one method run twice without labels).
fn check_unique(f: &str, cells: &[Cell]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for c in cells {
        if !seen.insert(c.id.clone()) {
            bail!(
                "{f}: two cells are both `{}` (give methods that repeat a `label`)",
                c.id
            );
        }
    }
    Ok(())
}

fn all_passes(f: &str, groups: &BTreeMap<String, Vec<&AttackSpec>>) -> Result<Vec<Pass>> {
    let mut out = Vec::new();
    for (norm, atks) in groups {
        out.extend(norm_passes(f, norm, atks)?);
    }
    Ok(out)
}

impl Loaded {
    /// The IPCs a method runs at: each of the file's, or once (None) if it ignores the IPC.
    fn ipcs(&self, ignores_ipc: bool) -> Vec<Option<i64>> {
        if ignores_ipc {
            vec![None]
        } else {
            self.spec.ipc.iter().map(|&i| Some(i)).collect()
        }
    }

    /// Expands the grid into cells. `ignores_ipc(method)` says whether a method runs once
    /// whatever the IPC (the plugin's flag); unknown student keys, bad ε and empty lists are
    /// errors naming the field.
    pub fn cells(&self, ignores_ipc: &dyn Fn(&str) -> bool) -> Result<Vec<Cell>> {
        let f = self.file();
        self.check_lists()?;
        let seeds = self.seed_list()?;
        let student_flags = self.student_args()?;
        let groups = self.attack_groups()?;
        // The ε are checked once, after the first method's config: the order errors come in.
        let mut plans: Option<Vec<Pass>> = None;
        let mut cells = Vec::new();
        for ds in &self.spec.datasets {
            let data_dir = self.data_dir(ds);
            for m in &self.spec.methods {
                let method = Method {
                    spec: m,
                    label: m.label.clone().unwrap_or_else(|| m.name.clone()),
                    config: self.method_config(m)?,
                };
                if plans.is_none() {
                    plans = Some(all_passes(&f, &groups)?);
                }
                let plans = plans.as_deref().unwrap_or_default();
                for ipc in self.ipcs(ignores_ipc(&m.name)) {
                    for arch in &self.spec.archs {
                        for &seed in &seeds {
                            let student = Student {
                                ds,
                                data_dir: data_dir.as_ref(),
                                method: &method,
                                ipc,
                                arch,
                                seed,
                            };
                            cells.extend(student.cells(&student_flags, plans));
                        }
                    }
                }
            }
        }
        check_unique(&f, &cells)?;
        Ok(cells)
    }
}
