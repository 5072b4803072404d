//! The leaderboard file as written (TOML types), reading it, and the checks and conversions of
//! its fields that do not depend on the grid.

use crate::plugin::Kind;
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
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
    /// Resources of `ddbench bench --executor slurm` (its flags win); not part of any cell.
    pub slurm: Option<crate::bench::slurm::SlurmSpec>,
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
    /// The name of its rows and report columns when one plugin runs under several configs
    /// (default: the plugin's name). Within a norm, every attack's label (or name) is unique.
    pub label: Option<String>,
}

impl AttackSpec {
    /// What its rows and columns are called: its label, or the plugin's name.
    pub fn shown(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }
}

fn default_norm() -> String {
    "linf".into()
}

/// The `[student]` keys accepted, each passed on as `--key` (underscores become dashes).
pub const STUDENT_KEYS: &[&str] = &[
    "augment",
    "whitening",
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
    "batch_students",
    "bf16_students",
    "fused_optimizer",
];

/// The `[student]` keys that are switches: `true` passes `--key`, `false` nothing.
const STUDENT_SWITCHES: &[&str] = &["batch_students", "bf16_students", "fused_optimizer"];

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
    check_attack_labels(&path.display().to_string(), &spec.attacks)?;
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

/// Characters a label may hold besides letters and digits (it names cells and their folders).
const LABEL_PUNCTUATION: &str = "._-+@";

/// Refuses a bad attack label, and two attacks of one norm shown under one name: the same plugin
/// twice needs distinct labels (its rows and columns would mix), and a label may not be another
/// attack's name or label.
fn check_attack_labels(f: &str, attacks: &[AttackSpec]) -> Result<()> {
    for a in attacks {
        let Some(l) = &a.label else { continue };
        let ok = l
            .chars()
            .all(|c| c.is_alphanumeric() || LABEL_PUNCTUATION.contains(c));
        if l.is_empty() || !ok || l == "none" {
            bail!(
                "{f}: attack `{}`: label \"{l}\" must be non-empty, not `none`, and hold only letters, digits and {LABEL_PUNCTUATION}",
                a.name
            );
        }
    }
    for (i, a) in attacks.iter().enumerate() {
        let Some(b) = attacks[..i]
            .iter()
            .find(|b| b.norm == a.norm && b.shown() == a.shown())
        else {
            continue;
        };
        if a.name == b.name && a.label.is_none() && b.label.is_none() {
            bail!(
                "{f}: attack `{}` is listed twice under norm {} without labels; give each variant a distinct `label` (e.g. label = \"{}-2\"), which names its rows and report columns",
                a.name,
                a.norm,
                a.name
            );
        }
        bail!(
            "{f}: attacks `{}` and `{}` (norm {}) are both shown as `{}`; give one of them another `label`",
            b.name,
            a.name,
            a.norm,
            a.shown()
        );
    }
    Ok(())
}

pub(super) fn toml_to_json(v: &toml::Value) -> serde_json::Value {
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

pub(super) fn scalar(v: &toml::Value, what: &str) -> Result<String> {
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

    /// The file's name, as error messages start.
    pub(super) fn file(&self) -> String {
        self.path.display().to_string()
    }

    /// Checks that the grid's lists are not empty and that every IPC is positive.
    pub(super) fn check_lists(&self) -> Result<()> {
        let (s, f) = (&self.spec, self.file());
        if s.datasets.is_empty() || s.methods.is_empty() || s.ipc.is_empty() || s.archs.is_empty() {
            bail!("{f}: `datasets`, `methods`, `ipc` and `archs` must not be empty");
        }
        if let Some(bad) = s.ipc.iter().find(|&&i| i < 1) {
            bail!("{f}: `ipc` must hold positive integers, found {bad}");
        }
        Ok(())
    }

    /// The seeds, as a list (`seeds = N` is 0..N).
    pub(super) fn seed_list(&self) -> Result<Vec<u64>> {
        let f = self.file();
        Ok(match &self.spec.seeds {
            Seeds::Count(0) => bail!("{f}: `seeds` must be ≥ 1"),
            Seeds::Count(n) => (0..*n).collect(),
            Seeds::List(l) if l.is_empty() => bail!("{f}: `seeds` must not be empty"),
            Seeds::List(l) => l.clone(),
        })
    }

    /// The `[student]` table as `run` flags (`--key value`), refusing unknown keys.
    pub(super) fn student_args(&self) -> Result<Vec<String>> {
        let f = self.file();
        let mut student = Vec::new();
        for (k, v) in &self.spec.student {
            if !STUDENT_KEYS.contains(&k.as_str()) {
                bail!(
                    "{f}: unknown key `student.{k}` (expected one of: {})",
                    STUDENT_KEYS.join(", ")
                );
            }
            let flag = format!("--{}", k.replace('_', "-"));
            if STUDENT_SWITCHES.contains(&k.as_str()) {
                match v {
                    toml::Value::Boolean(true) => student.push(flag),
                    toml::Value::Boolean(false) => {}
                    _ => bail!("{f}: `student.{k}`: expected true or false, found {v}"),
                }
                continue;
            }
            student.push(flag);
            student.push(scalar(v, &format!("{f}: `student.{k}`"))?);
        }
        Ok(student)
    }

    /// The attacks grouped by norm (one student per norm is attacked with the union of their
    /// ε), refusing an unknown norm or an empty `eps`.
    pub(super) fn attack_groups(&self) -> Result<BTreeMap<String, Vec<&AttackSpec>>> {
        let f = self.file();
        let mut groups: BTreeMap<String, Vec<&AttackSpec>> = BTreeMap::new();
        for a in &self.spec.attacks {
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
        Ok(groups)
    }

    /// A method's configuration as JSON: its inline table, or its `config_file`, or none.
    pub(super) fn method_config(&self, m: &MethodSpec) -> Result<Option<serde_json::Value>> {
        match (&m.config, &m.config_file) {
            (Some(_), Some(_)) => bail!(
                "{}: method `{}`: give `config` or `config_file`, not both",
                self.file(),
                m.name
            ),
            (Some(t), None) => Ok(Some(toml_to_json(&toml::Value::Table(t.clone())))),
            (None, Some(p)) => self.read_config_file(m, p).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// Reads a method's `config_file`: a JSON object.
    fn read_config_file(&self, m: &MethodSpec, p: &Path) -> Result<serde_json::Value> {
        let p = self.rel(p);
        let txt = std::fs::read_to_string(&p).with_context(|| {
            format!(
                "{}: method `{}`: reading config_file {}",
                self.file(),
                m.name,
                p.display()
            )
        })?;
        let v: serde_json::Value = serde_json::from_str(&txt).with_context(|| {
            format!(
                "{}: not valid JSON (config of method `{}`)",
                p.display(),
                m.name
            )
        })?;
        if !v.is_object() {
            bail!("{}: expected a JSON object", p.display());
        }
        Ok(v)
    }

    /// Every plugin configuration the file gives, in file order: each method's (its inline
    /// table or `config_file`) and each attack's, `{}` where an entry gives none.
    pub fn given_configs(&self) -> Result<Vec<GivenConfig>> {
        let mut out = Vec::new();
        for m in &self.spec.methods {
            out.push(GivenConfig {
                kind: Kind::Method,
                name: m.name.clone(),
                label: m.label.clone().unwrap_or_else(|| m.name.clone()),
                config: self
                    .method_config(m)?
                    .unwrap_or_else(|| serde_json::json!({})),
            });
        }
        for a in &self.spec.attacks {
            out.push(GivenConfig {
                kind: Kind::Attack,
                name: a.name.clone(),
                label: a.shown().to_string(),
                config: toml_to_json(&toml::Value::Table(a.config.clone().unwrap_or_default())),
            });
        }
        Ok(out)
    }
}

/// One plugin's configuration as a leaderboard file gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct GivenConfig {
    pub kind: Kind,
    pub name: String,
    /// The entry's label, or the plugin's name.
    pub label: String,
    pub config: serde_json::Value,
}
