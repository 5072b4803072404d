//! What discovery hands back: the plugin kinds, a loaded plugin, and the registry of plugins
//! found and files refused.

use ddbench_plugin_api::abi::PluginDescriptor;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Method,
    Attack,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Method => "method",
            Kind::Attack => "attack",
        })
    }
}

/// A loaded, checked plugin.
#[derive(Clone)]
pub struct Plugin {
    pub name: String,
    pub version: String,
    pub description: String,
    pub kind: Kind,
    pub path: PathBuf,
    pub flags: u32,
    pub(crate) desc: &'static PluginDescriptor,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Plugin({} {} {} at {})",
            self.kind,
            self.name,
            self.version,
            self.path.display()
        )
    }
}

/// Everything found in the plugin folders: usable plugins, and files refused with the reason.
#[derive(Debug, Default)]
pub struct Registry {
    pub plugins: Vec<Plugin>,
    pub refused: Vec<(PathBuf, String)>,
    /// Names found twice: the file used (the first: `--plugin-dir` folders come before the
    /// built-in plugins) and the one set aside.
    pub shadowed: Vec<Shadowed>,
}

/// A plugin name found in two files.
#[derive(Clone, Debug, PartialEq)]
pub struct Shadowed {
    pub kind: Kind,
    pub name: String,
    pub used: PathBuf,
    pub ignored: PathBuf,
}

impl Shadowed {
    /// The warning a command prints when it uses such a plugin.
    pub fn warning(&self) -> String {
        format!(
            "warning: {} plugin '{}' from {} takes the place of the one in {} (--plugin-dir folders come before the built-in plugins)",
            self.kind,
            self.name,
            self.used.display(),
            self.ignored.display()
        )
    }
}

impl Registry {
    /// Adds what loading the file at `path` gave: a plugin, unless one of its kind and name is
    /// already there (then the file is refused, like a file that failed to load).
    pub(super) fn admit(&mut self, path: PathBuf, loaded: Result<Plugin, String>) {
        let p = match loaded {
            Ok(p) => p,
            Err(why) => return self.refused.push((path, why)),
        };
        let prev = self
            .plugins
            .iter()
            .find(|q| q.kind == p.kind && q.name == p.name);
        match prev {
            Some(prev) => {
                let why = format!(
                    "a {} plugin named '{}' was already loaded from {}",
                    p.kind,
                    p.name,
                    prev.path.display()
                );
                self.shadowed.push(Shadowed {
                    kind: p.kind,
                    name: p.name.clone(),
                    used: prev.path.clone(),
                    ignored: path.clone(),
                });
                self.refused.push((path, why));
            }
            None => self.plugins.push(p),
        }
    }

    pub fn get(&self, kind: Kind, name: &str) -> Result<&Plugin, String> {
        self.plugins
            .iter()
            .find(|p| p.kind == kind && p.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .plugins
                    .iter()
                    .filter(|p| p.kind == kind)
                    .map(|p| p.name.as_str())
                    .collect();
                format!(
                    "no {kind} plugin named '{name}' (found: {})",
                    known.join(", ")
                )
            })
    }
}
