//! Opening one library: its entry symbol, ABI and libtorch versions, and its descriptor.

use super::{check_file, Kind, Plugin};
use ddbench_plugin_api::abi::*;
use libloading::Library;
use std::ffi::{c_char, CStr};
use std::path::Path;

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
/// only once the symbol's name has shown it speaks this ABI version; nothing is mapped before
/// [`check_file`] has found an ELF shared object for this host whose segments lie in the file.
pub fn load(path: &Path) -> Result<Plugin, String> {
    // "cannot load: …" like the loader's own errors below.
    check_file(path).map_err(|e| format!("cannot load: {e}"))?;
    // SAFETY: loading runs the library's initialisers; plugins are trusted code the user built.
    let lib = unsafe { Library::new(path) }.map_err(|e| format!("cannot load: {e}"))?;
    let plugin = plugin(descriptor(&lib)?, path)?;
    std::mem::forget(lib); // never unloaded: the descriptor and functions stay valid
    Ok(plugin)
}

/// The entry symbol of this ABI version, or why there is none (another ABI version's, or none).
fn entry_symbol(
    lib: &Library,
) -> Result<unsafe extern "C" fn() -> *const PluginDescriptor, String> {
    let entry = unsafe {
        lib.get::<unsafe extern "C" fn() -> *const PluginDescriptor>(ENTRY_SYMBOL.as_bytes())
    };
    if let Ok(f) = entry {
        return Ok(*f);
    }
    let other = (0..64u32)
        .filter(|&v| v != ABI_VERSION)
        .find(|v| unsafe { lib.get::<*const ()>(format!("{ENTRY_PREFIX}{v}").as_bytes()) }.is_ok());
    Err(match other {
        Some(v) => format!(
            "plugin ABI version {v}, but this ddbench speaks ABI version {ABI_VERSION}: rebuild the plugin against this ddbench's plugin-api"
        ),
        None => format!("not a ddbench plugin (no '{ENTRY_SYMBOL}' symbol)"),
    })
}

/// Calls the entry symbol and checks the descriptor's ABI version and size. The descriptor is
/// `'static` as long as the library is never unloaded.
fn descriptor(lib: &Library) -> Result<&'static PluginDescriptor, String> {
    let entry = entry_symbol(lib)?;
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
    Ok(unsafe { &*desc })
}

/// The plugin a descriptor of this ABI version describes: its libtorch version, strings, kind
/// and name checked.
fn plugin(desc: &'static PluginDescriptor, path: &Path) -> Result<Plugin, String> {
    let torch = unsafe { static_str(desc.torch_version, "torch_version") }?;
    if torch != TORCH_VERSION {
        return Err(format!(
            "built against libtorch {torch}, but this ddbench uses libtorch {TORCH_VERSION}"
        ));
    }
    let name = unsafe { static_str(desc.name, "name") }?;
    let version = unsafe { static_str(desc.version, "version") }?;
    let description = unsafe { static_str(desc.description, "description") }.unwrap_or_default();
    let kind = kind(desc)?;
    if desc.resolve_config.is_none() {
        return Err(
            "descriptor has no resolve_config function (its declared configuration)".into(),
        );
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "plugin name '{name}' must be non-empty ASCII letters, digits, '-' or '_'"
        ));
    }
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

/// The descriptor's kind, with the function that kind must have.
fn kind(desc: &PluginDescriptor) -> Result<Kind, String> {
    Ok(
        match (desc.kind, desc.distill.is_some(), desc.attack.is_some()) {
            (KIND_METHOD, true, _) => Kind::Method,
            (KIND_ATTACK, _, true) => Kind::Attack,
            (KIND_METHOD, false, _) => {
                return Err("method plugin without a distill function".into())
            }
            (KIND_ATTACK, _, false) => {
                return Err("attack plugin without an attack function".into())
            }
            (k, _, _) => return Err(format!("unknown plugin kind {k}")),
        },
    )
}
