//! `ddbench new method|attack NAME [--to DIR]`: writes a ready plugin crate — a `cdylib` with
//! a workspace of its own, a path dependency on this checkout's plugin-api, `LIBTORCH` set to
//! this installation's libtorch, the checkout's `Cargo.lock`, a working plugin with a typed
//! config and tests, and a README with the commands that build and run it.

mod locate;
mod name;
mod render;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub use name::{check_name, type_name};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginKind {
    Method,
    Attack,
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginKind::Method => "method",
            PluginKind::Attack => "attack",
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// What the plugin is: a distillation method or an attack.
    #[arg(value_enum)]
    pub kind: PluginKind,
    /// The plugin's (and crate's) name: lowercase letters, digits and '-', e.g. my-attack.
    pub name: String,
    /// The folder to create the crate in (as DIR/NAME; default: the current folder).
    #[arg(long, default_value = ".")]
    pub to: PathBuf,
    /// The plugin-api folder to depend on (default: the one of this ddbench checkout).
    #[arg(long)]
    pub plugin_api: Option<PathBuf>,
}

/// Writes the crate and prints what to do next.
pub fn run(args: &NewArgs) -> Result<i32> {
    check_name(&args.name)?;
    let dir = args.to.join(&args.name);
    refuse_non_empty(&dir)?;
    let root = locate::checkout_root();
    let fill = render::Fill {
        kind: args.kind,
        name: args.name.clone(),
        plugin_api: locate::plugin_api_dir(args.plugin_api.as_deref())?,
        libtorch: locate::libtorch_dir(root.as_deref()),
        ddbench: std::env::current_exe().unwrap_or_else(|_| "ddbench".into()),
    };
    for (rel, text) in fill.files() {
        write(&dir.join(rel), &text)?;
    }
    if let Some(lock) = locate::lock_file(root.as_deref()) {
        std::fs::copy(&lock, dir.join("Cargo.lock"))
            .with_context(|| format!("copying {}", lock.display()))?;
    }
    print_next_steps(&fill, &dir);
    Ok(0)
}

/// A target folder may be new or empty; anything in it is the author's and is never overwritten.
fn refuse_non_empty(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = dir.is_dir()
            && std::fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .next()
                .is_none();
        if !empty {
            bail!(
                "{} already exists and is not an empty folder: nothing written (choose another \
                 NAME or --to, or remove it)",
                dir.display()
            );
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn print_next_steps(fill: &render::Fill, dir: &Path) {
    let kind = fill.kind;
    let name = &fill.name;
    println!("wrote the {kind} plugin crate {name} in {}", dir.display());
    if fill.libtorch.is_none() {
        eprintln!(
            "warning: this ddbench does not know its libtorch: set LIBTORCH in {}",
            dir.join(".cargo/config.toml").display()
        );
    }
    let flags = match kind {
        PluginKind::Method => format!("--method {name} --attacks fgsm"),
        PluginKind::Attack => format!("--method random --attacks {name}"),
    };
    let exe = fill.ddbench.display();
    println!("next:");
    println!("  cd {} && cargo build --release", dir.display());
    println!("  {exe} run --plugin-dir target/release {flags} --out results/{name}");
    println!("  {exe} report results/{name}");
}
