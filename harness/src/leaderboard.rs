//! Leaderboard files (TOML): a grid of data sets × methods × IPC × architectures × seeds ×
//! attacks, expanded into cells, each with the exact `ddbench run` arguments and a hash of them.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Leaderboard {
    /// A title for the report (default: the file's stem).
    pub name: Option<String>,
    /// Images per class (ignored by IPC-independent methods such as `full`, which run once).
    pub ipc: Vec<i64>,
    /// Student architectures (`convnet`, `resnet18`); default `["convnet"]`.
    #[serde(default = "default_archs")]
    pub archs: Vec<String>,
    /// Seeds 0..N (an integer) or an explicit list.
    pub seeds: Seeds,
    /// Student protocol flags of `ddbench run` (`width`, `epochs`, `protocol`, ...).
    #[serde(default)]
    pub student: BTreeMap<String, toml::Value>,
    pub datasets: Vec<DatasetSpec>,
    pub methods: Vec<MethodSpec>,
    #[serde(default)]
    pub attacks: Vec<AttackSpec>,
}

fn default_archs() -> Vec<String> {
    vec!["convnet".into()]
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Seeds {
    Count(u64),
    List(Vec<u64>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// `fashion-mnist`, `mnist`, `cifar10`, `cifar100`, `imagefolder`.
    pub name: String,
    /// Its folder (relative paths are relative to the leaderboard file).
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodSpec {
    pub name: String,
    /// Inline configuration (a TOML table, handed to the plugin as JSON).
    pub config: Option<toml::Table>,
    /// Or a JSON file holding it (relative to the leaderboard file).
    pub config_file: Option<PathBuf>,
    /// A label for tables and charts when one method runs with several configs (default: name).
    pub label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackSpec {
    pub name: String,
    /// Radii: numbers or fractions as strings (`"8/255"`).
    pub eps: Vec<toml::Value>,
    /// `linf` (default) or `l2`.
    #[serde(default = "default_norm")]
    pub norm: String,
    pub config: Option<toml::Table>,
}

fn default_norm() -> String {
    "linf".into()
}

/// The `[student]` keys accepted, each passed on as `--key` (underscores become dashes).
pub const STUDENT_KEYS: &[&str] = &[
    "width",
    "depth",
    "norm_layer",
    "epochs",
    "batch_size",
    "lr",
    "protocol",
    "soft_epochs",
    "soft_batch",
    "soft_lr",
    "mixup",
    "n_attack",
    "normalization",
    "eval_batch",
    "attack_batch",
];

/// One cell: one student (dataset, method, ipc, arch, seed) attacked under one norm.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Readable identity, e.g. `fashion-mnist/random/ipc10/convnet/seed0/linf`.
    pub id: String,
    /// SHA-256 (first 16 hex digits) of the `run` arguments that decide the numbers.
    pub hash: String,
    pub dataset: String,
    pub method: String,
    pub label: String,
    pub seed: u64,
    /// Arguments of `ddbench run` (without `--out`, `--device`, `--cache-dir`, `--plugin-dir`).
    pub args: Vec<String>,
    /// The (attack, norm, ε) rows asked for; empty: one `none` row.
    pub wanted: Vec<(String, String, f64)>,
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
        all.extend(extras.iter().cloned());
        self.hash = input_hash(&all);
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

/// A leaderboard file read and checked, with its text (for the manifest).
pub struct Loaded {
    pub spec: Leaderboard,
    pub path: PathBuf,
    pub text: String,
    pub title: String,
}

pub fn load(path: &Path) -> Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading leaderboard file {}", path.display()))?;
    let spec: Leaderboard =
        toml::from_str(&text).map_err(|e| anyhow!("leaderboard file {}: {e}", path.display()))?;
    let title = spec.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "leaderboard".into())
    });
    Ok(Loaded {
        spec,
        path: path.to_path_buf(),
        text,
        title,
    })
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::json!(i),
        toml::Value::Float(f) => serde_json::json!(f),
        toml::Value::Boolean(b) => serde_json::json!(b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

fn scalar(v: &toml::Value, what: &str) -> Result<String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => bail!("{what}: expected a number, string or boolean, got {v}"),
    })
}

impl Loaded {
    /// The folder of a data set of the file (relative paths are relative to the file).
    pub fn data_dir(&self, ds: &DatasetSpec) -> Option<PathBuf> {
        ds.data_dir.as_ref().map(|d| self.rel(d))
    }

    fn rel(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        }
    }

    /// Expands the grid into cells. `ignores_ipc(method)` says whether a method runs once
    /// whatever the IPC (the plugin's flag); unknown student keys, bad ε and empty lists are
    /// errors naming the field.
    pub fn cells(&self, ignores_ipc: &dyn Fn(&str) -> bool) -> Result<Vec<Cell>> {
        let s = &self.spec;
        let f = self.path.display();
        if s.datasets.is_empty() || s.methods.is_empty() || s.ipc.is_empty() || s.archs.is_empty() {
            bail!("{f}: `datasets`, `methods`, `ipc` and `archs` must not be empty");
        }
        if let Some(bad) = s.ipc.iter().find(|&&i| i < 1) {
            bail!("{f}: `ipc` must hold positive integers, found {bad}");
        }
        let seeds: Vec<u64> = match &s.seeds {
            Seeds::Count(0) => bail!("{f}: `seeds` must be ≥ 1"),
            Seeds::Count(n) => (0..*n).collect(),
            Seeds::List(l) if l.is_empty() => bail!("{f}: `seeds` must not be empty"),
            Seeds::List(l) => l.clone(),
        };
        let mut student = Vec::new();
        for (k, v) in &s.student {
            if !STUDENT_KEYS.contains(&k.as_str()) {
                bail!(
                    "{f}: unknown key `student.{k}` (expected one of: {})",
                    STUDENT_KEYS.join(", ")
                );
            }
            student.push(format!("--{}", k.replace('_', "-")));
            student.push(scalar(v, &format!("{f}: `student.{k}`"))?);
        }
        // attacks grouped by norm: one student per norm, attacked with the union of ε
        let mut groups: BTreeMap<String, Vec<&AttackSpec>> = BTreeMap::new();
        for a in &s.attacks {
            if a.norm != "linf" && a.norm != "l2" {
                bail!(
                    "{f}: attack `{}`: norm must be \"linf\" or \"l2\", got \"{}\"",
                    a.name,
                    a.norm
                );
            }
            if a.eps.is_empty() {
                bail!("{f}: attack `{}`: `eps` must not be empty", a.name);
            }
            groups.entry(a.norm.clone()).or_default().push(a);
        }
        let mut cells = Vec::new();
        for ds in &s.datasets {
            let data_dir = self.data_dir(ds);
            for m in &s.methods {
                let config = match (&m.config, &m.config_file) {
                    (Some(_), Some(_)) => {
                        bail!(
                            "{f}: method `{}`: give `config` or `config_file`, not both",
                            m.name
                        )
                    }
                    (Some(t), None) => Some(toml_to_json(&toml::Value::Table(t.clone()))),
                    (None, Some(p)) => {
                        let p = self.rel(p);
                        let txt = std::fs::read_to_string(&p).with_context(|| {
                            format!(
                                "{f}: method `{}`: reading config_file {}",
                                m.name,
                                p.display()
                            )
                        })?;
                        let v: serde_json::Value =
                            serde_json::from_str(&txt).with_context(|| {
                                format!(
                                    "{}: not valid JSON (config of method `{}`)",
                                    p.display(),
                                    m.name
                                )
                            })?;
                        if !v.is_object() {
                            bail!("{}: expected a JSON object", p.display());
                        }
                        Some(v)
                    }
                    (None, None) => None,
                };
                let ipcs: Vec<Option<i64>> = if ignores_ipc(&m.name) {
                    vec![None]
                } else {
                    s.ipc.iter().map(|&i| Some(i)).collect()
                };
                for ipc in &ipcs {
                    for arch in &s.archs {
                        for &seed in &seeds {
                            let mut base = vec![
                                "run".to_string(),
                                "--dataset".into(),
                                ds.name.clone(),
                                "--method".into(),
                                m.name.clone(),
                                "--ipc".into(),
                                ipc.unwrap_or(1).to_string(),
                                "--arch".into(),
                                arch.clone(),
                                "--first-seed".into(),
                                seed.to_string(),
                                "--seeds".into(),
                                "1".into(),
                            ];
                            if let Some(d) = &data_dir {
                                base.extend(["--data-dir".into(), d.display().to_string()]);
                            }
                            if let Some(c) = &config {
                                base.extend(["--method-config".into(), format!("{}={c}", m.name)]);
                            }
                            base.extend(student.iter().cloned());
                            let ipc_s = ipc.map_or("all".to_string(), |i| format!("ipc{i}"));
                            let label = m.label.clone().unwrap_or_else(|| m.name.clone());
                            let id0 = format!("{}/{}/{ipc_s}/{arch}/seed{seed}", ds.name, label);
                            let mut push = |args: Vec<String>, id: String, wanted| {
                                let hash = input_hash(&args);
                                cells.push(Cell {
                                    id,
                                    hash,
                                    dataset: ds.name.clone(),
                                    method: m.name.clone(),
                                    label: label.clone(),
                                    seed,
                                    args,
                                    wanted,
                                });
                            };
                            if groups.is_empty() {
                                push(base.clone(), id0.clone(), vec![]);
                            }
                            for (norm, atks) in &groups {
                                let mut args = base.clone();
                                let mut wanted = Vec::new();
                                let mut union: Vec<(f64, String)> = Vec::new();
                                for a in atks {
                                    for e in &a.eps {
                                        let es =
                                            scalar(e, &format!("{f}: attack `{}` eps", a.name))?;
                                        let v = crate::threat::parse_eps(&es)
                                            .and_then(|v| {
                                                crate::threat::check_eps(
                                                    crate::threat::parse_norm(norm)?,
                                                    v,
                                                )?;
                                                Ok(v)
                                            })
                                            .with_context(|| {
                                                format!("{f}: attack `{}`: eps '{es}'", a.name)
                                            })?;
                                        wanted.push((a.name.clone(), norm.clone(), v));
                                        if !union.iter().any(|(u, _)| (u - v).abs() < 1e-12) {
                                            union.push((v, es));
                                        }
                                    }
                                    if let Some(c) = &a.config {
                                        let j = toml_to_json(&toml::Value::Table(c.clone()));
                                        args.extend([
                                            "--attack-config".into(),
                                            format!("{}={j}", a.name),
                                        ]);
                                    }
                                }
                                union.sort_by(|a, b| a.0.total_cmp(&b.0));
                                let names: Vec<&str> =
                                    atks.iter().map(|a| a.name.as_str()).collect();
                                args.extend([
                                    "--attacks".into(),
                                    names.join(","),
                                    "--norm".into(),
                                    norm.clone(),
                                    "--eps".into(),
                                    union
                                        .iter()
                                        .map(|u| u.1.clone())
                                        .collect::<Vec<_>>()
                                        .join(","),
                                ]);
                                let id = if groups.len() > 1 {
                                    format!("{id0}/{norm}")
                                } else {
                                    id0.clone()
                                };
                                push(args, id, wanted);
                            }
                        }
                    }
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for c in &cells {
            if !seen.insert(c.id.clone()) {
                bail!(
                    "{f}: two cells are both `{}` (give methods that repeat a `label`)",
                    c.id
                );
            }
        }
        Ok(cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(toml_text: &str) -> Result<Vec<Cell>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lb.toml");
        std::fs::write(&p, toml_text).unwrap();
        load(&p)?.cells(&|m| m == "full")
    }

    const BASE: &str = r#"
ipc = [1, 10]
seeds = 2
[student]
width = 16
epochs = 3
[[datasets]]
name = "fashion-mnist"
[[methods]]
name = "random"
[[methods]]
name = "full"
config = { epochs = 1 }
[[attacks]]
name = "fgsm"
eps = ["8/255"]
[[attacks]]
name = "pgd"
eps = ["4/255", 0.0313725490196]
"#;

    #[test]
    fn the_grid_expands_with_full_once_and_eps_unioned() {
        let c = cells(BASE).unwrap();
        // random: 2 ipc × 2 seeds; full: once per seed
        assert_eq!(c.len(), 6);
        assert_eq!(c[0].id, "fashion-mnist/random/ipc1/convnet/seed0");
        assert_eq!(c[4].id, "fashion-mnist/full/all/convnet/seed0");
        assert_eq!(c[0].wanted.len(), 3);
        let args = c[0].args.join(" ");
        assert!(args.contains("--eps 4/255,8/255"), "{args}");
        assert!(args.contains("--epochs 3 --width 16"), "{args}");
        assert!(c[4]
            .args
            .join(" ")
            .contains(r#"--method-config full={"epochs":1}"#));
        // a changed config changes the hash of exactly the cells it touches
        let d = cells(&BASE.replace("epochs = 1 }", "epochs = 2 }")).unwrap();
        assert_eq!(c[0].hash, d[0].hash);
        assert_ne!(c[4].hash, d[4].hash);
        // the data folder is not part of the hash
        let e = cells(&BASE.replace(
            "name = \"fashion-mnist\"",
            "name = \"fashion-mnist\"\ndata_dir = \"/x\"",
        ))
        .unwrap();
        assert!(e[0].args.join(" ").contains("--data-dir /x"));
        assert_eq!(c[0].hash, e[0].hash);
    }

    #[test]
    fn bad_files_name_the_field() {
        let e = cells(&BASE.replace("width = 16", "widht = 16"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key `student.widht`"), "{e}");
        let e = cells(&BASE.replace("\"4/255\"", "\"4/x\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("attack `pgd`: eps '4/x'"), "{e}");
        let e = format!(
            "{:#}",
            cells(&BASE.replace("seeds = 2", "seeds = \"two\"")).unwrap_err()
        );
        assert!(e.contains("seeds"), "{e}");
        let e = format!(
            "{:#}",
            cells(&BASE.replace("[[datasets]]", "[[dataset]]")).unwrap_err()
        );
        assert!(e.contains("dataset"), "{e}");
    }
}
