//! Discovery over folders: which files of the built and the user's plugin folders are
//! candidates, loading each once, and keeping the first plugin of each name.

use super::{load, Kind, Registry};
use std::path::{Path, PathBuf};

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

/// The file name cargo gives a built-in plugin (`attack`, `apgd-ce` → `libddbench_attack_apgd_ce.so`).
fn builtin_file_name(kind: Kind, name: &str) -> String {
    format!("libddbench_{kind}_{}.so", name.replace('-', "_"))
}

/// In the built folder only ddbench's own plugins (`libddbench_method_*`, `libddbench_attack_*`)
/// are candidates, and of those only the `wanted` ones when given; in a folder the user names,
/// every `.so`.
fn candidates(dir: &Path, builtin: bool, wanted: Option<&[(Kind, &str)]>) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let wanted_files: Option<Vec<String>> =
        wanted.map(|w| w.iter().map(|&(k, n)| builtin_file_name(k, n)).collect());
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !name.ends_with(".so") {
                return false;
            }
            if !builtin {
                return true;
            }
            match &wanted_files {
                Some(files) => files.iter().any(|f| f == name),
                None => {
                    name.starts_with("libddbench_method_") || name.starts_with("libddbench_attack_")
                }
            }
        })
        .collect();
    v.sort();
    v
}

/// Loads every plugin in the built folders and in `user_dirs`. A name found twice keeps the first
/// (user folders come first, so a user's build overrides the built-in one) and refuses the rest.
pub fn discover(user_dirs: &[PathBuf]) -> Registry {
    discover_in(user_dirs, None)
}

/// Like [`discover`], but of ddbench's own plugin files loads only those of the plugins in
/// `wanted` (`libddbench_{kind}_{name}.so`, `-` written `_`). Every `.so` in `user_dirs` is still
/// loaded: such a file may hold any plugin, and a user's build overrides a built-in one. If a
/// wanted plugin is not found that way, everything is loaded, so that the caller's "no plugin
/// named" error lists every plugin there is.
pub fn discover_named(user_dirs: &[PathBuf], wanted: &[(Kind, &str)]) -> Registry {
    let reg = discover_in(user_dirs, Some(wanted));
    if wanted.iter().all(|&(k, n)| reg.get(k, n).is_ok()) {
        reg
    } else {
        discover(user_dirs)
    }
}

/// Loads the candidates of the user's folders, then of the built ones, each file once.
fn discover_in(user_dirs: &[PathBuf], wanted: Option<&[(Kind, &str)]>) -> Registry {
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
        for path in candidates(&dir, is_builtin, wanted) {
            let canon = path.canonicalize().unwrap_or(path.clone());
            if !seen_files.insert(canon) {
                continue;
            }
            let loaded = load(&path);
            reg.admit(path, loaded);
        }
    }
    reg
}
