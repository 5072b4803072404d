//! What a bench will run: the leaderboard's cells, each sealed with a hash of everything that
//! decides its numbers (its `run` arguments, its data's content hash, its plugins' versions).

use super::BenchArgs;
use crate::leaderboard::{self, Cell};
use crate::output::Ui;
use crate::plugin::{Kind, Registry};
use anyhow::{anyhow, Context, Result};
use std::collections::BTreeMap;
use std::time::Instant;

/// The leaderboard, its plugins, its cells and the content hash of each of its data sets.
pub struct Plan {
    pub lb: leaderboard::Loaded,
    pub reg: Registry,
    pub cells: Vec<Cell>,
    pub data: BTreeMap<String, String>,
}

/// Loads the leaderboard of `args` (its data folders overridden by `--data-dir`), finds its
/// plugins, hashes its data and seals its cells.
pub fn plan(args: &BenchArgs, ui: &Ui) -> Result<Plan> {
    let mut lb = leaderboard::load(&args.file)?;
    if let Some(d) = &args.data_dir {
        let d = std::path::absolute(d).unwrap_or_else(|_| d.clone());
        for ds in &mut lb.spec.datasets {
            ds.data_dir = Some(d.clone());
        }
    }
    let reg = plugins(&lb, args)?;
    let configs = resolve_configs(&lb, &reg)?;
    let ignores = |m: &str| {
        reg.get(Kind::Method, m)
            .is_ok_and(|p| p.flags & ddbench_plugin_api::abi::FLAG_IGNORES_IPC != 0)
    };
    let mut cells = lb.cells(&ignores)?;
    let data = data_hashes(&lb, ui)?;
    for c in &mut cells {
        let extras = cell_extras(c, &data, &reg, &configs);
        c.seal(&extras);
    }
    Ok(Plan {
        lb,
        reg,
        cells,
        data,
    })
}

/// The plugins the leaderboard names; one that is missing is an error naming the file.
fn plugins(lb: &leaderboard::Loaded, args: &BenchArgs) -> Result<Registry> {
    let named: Vec<(Kind, &str)> = lb
        .spec
        .methods
        .iter()
        .map(|m| (Kind::Method, m.name.as_str()))
        .chain(
            lb.spec
                .attacks
                .iter()
                .map(|a| (Kind::Attack, a.name.as_str())),
        )
        .collect();
    let reg = crate::plugin::discover_named(&args.plugin_dirs, &named);
    for (kind, name) in &named {
        reg.get(*kind, name)
            .map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    }
    Ok(reg)
}

/// Resolved configs by `"{kind} {plugin} {label}"`.
type Resolved = BTreeMap<String, serde_json::Value>;

fn config_key(kind: Kind, name: &str, label: &str) -> String {
    format!("{kind} {name} {label}")
}

/// Each plugin configuration the file gives, resolved by its plugin (defaults filled in); the
/// first one refused stops the bench before any data is read or any cell runs.
fn resolve_configs(lb: &leaderboard::Loaded, reg: &Registry) -> Result<Resolved> {
    let mut out = Resolved::new();
    for g in lb.given_configs()? {
        let plugin = reg.get(g.kind, &g.name).map_err(|e| anyhow!(e))?;
        let resolved = crate::plugin::resolve_config(plugin, &g.config).map_err(|e| {
            let labelled = if g.label == g.name {
                String::new()
            } else {
                format!(" (label `{}`)", g.label)
            };
            anyhow!(
                "{}: {} `{}`{labelled}: config {}: {e}",
                lb.path.display(),
                g.kind,
                g.name,
                g.config
            )
        })?;
        out.insert(config_key(g.kind, &g.name, &g.label), resolved);
    }
    Ok(out)
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

/// What a cell's hash covers beyond its `run` arguments: its data set's content hash, the
/// versions of the plugins it runs and their resolved configs (a default that changed counts).
fn cell_extras(
    cell: &Cell,
    data: &BTreeMap<String, String>,
    reg: &Registry,
    configs: &Resolved,
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
        version(Kind::Method, &cell.method),
    ];
    let mut attacks: Vec<&str> = cell.wanted.iter().map(|w| w.attack.as_str()).collect();
    attacks.dedup();
    extras.extend(attacks.iter().map(|a| version(Kind::Attack, a)));
    let config = |kind, name: &str, label: &str| {
        let key = config_key(kind, name, label);
        format!(
            "config {key} {}",
            configs.get(&key).cloned().unwrap_or_default()
        )
    };
    extras.push(config(Kind::Method, &cell.method, &cell.label));
    for w in &cell.wanted {
        let label = if w.label.is_empty() {
            &w.attack
        } else {
            &w.label
        };
        extras.push(config(Kind::Attack, &w.attack, label));
    }
    extras.dedup();
    extras
}
