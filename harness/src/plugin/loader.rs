//! Finds plugin libraries, checks their entry symbol, ABI and libtorch versions before calling
//! anything else, and keeps them loaded for the life of the process (never unloaded).

use ddbench_plugin_api::abi::*;
use libloading::Library;
use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};

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
}

impl Registry {
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

/// The built plugin folder: the folder of the running executable (cargo puts the plugin
/// libraries beside `ddbench`) and its `plugins/` sub-folder.
pub fn default_plugin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.join("plugins"));
        // `cargo test` binaries live in target/<profile>/deps; the plugins one level up.
        if exe_dir.ends_with("deps") {
            if let Some(up) = exe_dir.parent() {
                dirs.push(up.to_path_buf());
            }
        }
        dirs.push(exe_dir);
    }
    dirs
}

/// In the built folder only ddbench's own plugins (`libddbench_method_*`, `libddbench_attack_*`)
/// are candidates; in a folder the user names, every `.so`.
fn candidates(dir: &Path, builtin: bool) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".so")
                && (!builtin
                    || name.starts_with("libddbench_method_")
                    || name.starts_with("libddbench_attack_"))
        })
        .collect();
    v.sort();
    v
}

/// Loads every plugin in the built folders and in `user_dirs`. A name found twice keeps the first
/// (user folders come first, so a user's build overrides the built-in one) and refuses the rest.
pub fn discover(user_dirs: &[PathBuf]) -> Registry {
    let mut reg = Registry::default();
    let builtin = default_plugin_dirs();
    let mut seen_files = std::collections::HashSet::new();
    let dirs = user_dirs
        .iter()
        .map(|d| (d.clone(), false))
        .chain(builtin.into_iter().map(|d| (d, true)));
    for (dir, is_builtin) in dirs {
        if !is_builtin && !dir.is_dir() {
            reg.refused
                .push((dir.clone(), "plugin folder does not exist".into()));
            continue;
        }
        for path in candidates(&dir, is_builtin) {
            let canon = path.canonicalize().unwrap_or(path.clone());
            if !seen_files.insert(canon) {
                continue;
            }
            match load(&path) {
                Ok(p) => {
                    if let Some(prev) = reg
                        .plugins
                        .iter()
                        .find(|q| q.kind == p.kind && q.name == p.name)
                    {
                        let why = format!(
                            "a {} plugin named '{}' was already loaded from {}",
                            p.kind,
                            p.name,
                            prev.path.display()
                        );
                        reg.refused.push((path, why));
                    } else {
                        reg.plugins.push(p);
                    }
                }
                Err(why) => reg.refused.push((path, why)),
            }
        }
    }
    reg
}

unsafe fn static_str(p: *const c_char, field: &str) -> Result<String, String> {
    if p.is_null() {
        return Err(format!("descriptor field '{field}' is null"));
    }
    CStr::from_ptr(p)
        .to_str()
        .map(str::to_owned)
        .map_err(|_| format!("descriptor field '{field}' is not UTF-8"))
}

/// Opens one library and checks it. Nothing of the plugin runs except its entry symbol, and that
/// only once the symbol's name has shown it speaks this ABI version.
pub fn load(path: &Path) -> Result<Plugin, String> {
    // SAFETY: loading runs the library's initialisers; plugins are trusted code the user built.
    let lib = unsafe { Library::new(path) }.map_err(|e| format!("cannot load: {e}"))?;
    let entry = unsafe {
        lib.get::<unsafe extern "C" fn() -> *const PluginDescriptor>(ENTRY_SYMBOL.as_bytes())
    };
    let entry = match entry {
        Ok(f) => *f,
        Err(_) => {
            let other = (0..64u32).filter(|&v| v != ABI_VERSION).find(|v| {
                unsafe { lib.get::<*const ()>(format!("{ENTRY_PREFIX}{v}").as_bytes()) }.is_ok()
            });
            return Err(match other {
                Some(v) => format!(
                    "plugin ABI version {v}, but this ddbench speaks ABI version {ABI_VERSION}: rebuild the plugin against this ddbench's plugin-api"
                ),
                None => format!("not a ddbench plugin (no '{ENTRY_SYMBOL}' symbol)"),
            });
        }
    };
    let desc = unsafe { entry() };
    if desc.is_null() {
        return Err("entry symbol returned a null descriptor".into());
    }
    // Read the leading fields first: they are at the same place in every ABI version.
    let (size, abi) = unsafe { ((*desc).size, (*desc).abi_version) };
    if abi != ABI_VERSION {
        return Err(format!(
            "descriptor says ABI version {abi}, this ddbench speaks {ABI_VERSION}"
        ));
    }
    if size < std::mem::size_of::<PluginDescriptor>() {
        return Err(format!(
            "descriptor is {size} bytes, smaller than the {} of ABI version {ABI_VERSION}",
            std::mem::size_of::<PluginDescriptor>()
        ));
    }
    let desc: &'static PluginDescriptor = unsafe { &*desc };
    let torch = unsafe { static_str(desc.torch_version, "torch_version") }?;
    if torch != TORCH_VERSION {
        return Err(format!(
            "built against libtorch {torch}, but this ddbench uses libtorch {TORCH_VERSION}"
        ));
    }
    let name = unsafe { static_str(desc.name, "name") }?;
    let version = unsafe { static_str(desc.version, "version") }?;
    let description = unsafe { static_str(desc.description, "description") }.unwrap_or_default();
    let kind = match (desc.kind, desc.distill.is_some(), desc.attack.is_some()) {
        (KIND_METHOD, true, _) => Kind::Method,
        (KIND_ATTACK, _, true) => Kind::Attack,
        (KIND_METHOD, false, _) => return Err("method plugin without a distill function".into()),
        (KIND_ATTACK, _, false) => return Err("attack plugin without an attack function".into()),
        (k, _, _) => return Err(format!("unknown plugin kind {k}")),
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "plugin name '{name}' must be non-empty ASCII letters, digits, '-' or '_'"
        ));
    }
    std::mem::forget(lib); // never unloaded: the descriptor and functions stay valid
    Ok(Plugin {
        name,
        version,
        description,
        kind,
        path: path.to_path_buf(),
        flags: desc.flags,
        desc,
    })
}
