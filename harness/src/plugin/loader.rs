//! Finds plugin libraries, checks their ELF headers before handing them to the dynamic loader,
//! checks their entry symbol, ABI and libtorch versions before calling anything else, and keeps
//! them loaded for the life of the process (never unloaded).

use ddbench_plugin_api::abi::*;
use libloading::Library;
use object::elf::{self, FileHeader32, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, ReadRef};
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

/// `e_machine` of this host's executables, where known.
fn host_machine() -> Option<u16> {
    let m = if cfg!(target_arch = "x86_64") {
        elf::EM_X86_64
    } else if cfg!(target_arch = "x86") {
        elf::EM_386
    } else if cfg!(target_arch = "aarch64") {
        elf::EM_AARCH64
    } else if cfg!(target_arch = "arm") {
        elf::EM_ARM
    } else if cfg!(any(target_arch = "riscv64", target_arch = "riscv32")) {
        elf::EM_RISCV
    } else if cfg!(target_arch = "powerpc64") {
        elf::EM_PPC64
    } else if cfg!(target_arch = "powerpc") {
        elf::EM_PPC
    } else if cfg!(target_arch = "s390x") {
        elf::EM_S390
    } else if cfg!(any(
        target_arch = "loongarch64",
        target_arch = "loongarch32"
    )) {
        elf::EM_LOONGARCH
    } else if cfg!(any(target_arch = "mips", target_arch = "mips64")) {
        elf::EM_MIPS
    } else if cfg!(target_arch = "sparc64") {
        elf::EM_SPARCV9
    } else {
        return None;
    };
    Some(m.0)
}

/// An ELF machine by the name Rust gives the architecture (`std::env::consts::ARCH`).
fn machine_name(machine: u16, is_64: bool) -> String {
    let pick = |a: &str, b: &str| (if is_64 { b } else { a }).to_string();
    match elf::Machine(machine) {
        elf::EM_X86_64 => "x86_64".into(),
        elf::EM_386 => "x86".into(),
        elf::EM_AARCH64 => "aarch64".into(),
        elf::EM_ARM => "arm".into(),
        elf::EM_RISCV => pick("riscv32", "riscv64"),
        elf::EM_PPC64 => "powerpc64".into(),
        elf::EM_PPC => "powerpc".into(),
        elf::EM_S390 => pick("s390", "s390x"),
        elf::EM_LOONGARCH => pick("loongarch32", "loongarch64"),
        elf::EM_MIPS => pick("mips", "mips64"),
        elf::EM_SPARCV9 => "sparc64".into(),
        elf::EM_SPARC => "sparc".into(),
        _ => format!("ELF machine {machine}"),
    }
}

fn corrupt(why: impl std::fmt::Display) -> String {
    format!("truncated or corrupt ELF file: {why}")
}

/// Checks, from its headers alone, that `data` (a file of `len` bytes) is an ELF shared object
/// the dynamic loader of this process can map: built for this host's architecture, word size and
/// byte order, with every segment and the section header table inside the file. `dlopen` maps
/// the segments without comparing them with the file's size, and touching a mapped page past the
/// end of a file raises SIGBUS: a truncated plugin would kill the process, not return an error.
pub fn check_elf<'data, R: ReadRef<'data>>(data: R, len: u64) -> Result<(), String> {
    let ident = data
        .read_bytes_at(0, len.min(20))
        .map_err(|()| "cannot read the file's first bytes".to_string())?;
    if ident.len() < 4 || ident[..4] != elf::ELFMAG {
        return Err("not an ELF file".into());
    }
    if ident.len() < 20 {
        return Err(corrupt(format!("{len} bytes, shorter than an ELF header")));
    }
    let is_64 = match elf::FileClass(ident[4]) {
        elf::ELFCLASS64 => true,
        elf::ELFCLASS32 => false,
        c => return Err(corrupt(format!("unknown ELF class {}", c.0))),
    };
    let big_endian = match elf::DataEncoding(ident[5]) {
        elf::ELFDATA2MSB => true,
        elf::ELFDATA2LSB => false,
        d => return Err(corrupt(format!("unknown ELF byte order {}", d.0))),
    };
    let machine = if big_endian {
        u16::from_be_bytes([ident[18], ident[19]])
    } else {
        u16::from_le_bytes([ident[18], ident[19]])
    };
    let host_64 = cfg!(target_pointer_width = "64");
    let host = std::env::consts::ARCH;
    if host_machine().is_some_and(|m| m != machine) {
        return Err(format!(
            "built for {}, this host is {host}",
            machine_name(machine, is_64)
        ));
    }
    if is_64 != host_64 {
        let bits = |b: bool| if b { 64 } else { 32 };
        return Err(format!(
            "built for {}-bit {}, this host is {}-bit {host}",
            bits(is_64),
            machine_name(machine, is_64),
            bits(host_64)
        ));
    }
    if big_endian != cfg!(target_endian = "big") {
        let order = |b: bool| if b { "big-endian" } else { "little-endian" };
        return Err(format!(
            "built {}, this host is {} {host}",
            order(big_endian),
            order(!big_endian)
        ));
    }
    if is_64 {
        check_headers::<FileHeader64<Endianness>, R>(data, len)
    } else {
        check_headers::<FileHeader32<Endianness>, R>(data, len)
    }
}

fn check_headers<'data, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'data>>(
    data: R,
    len: u64,
) -> Result<(), String> {
    let header_size = std::mem::size_of::<Elf>() as u64;
    if len < header_size {
        return Err(corrupt(format!(
            "{len} bytes, shorter than an ELF header ({header_size})"
        )));
    }
    let header = Elf::parse(data).map_err(corrupt)?;
    let endian = header.endian().map_err(corrupt)?;
    let kind = header.e_type(endian);
    if kind != elf::ET_DYN {
        let what = match kind {
            elf::ET_EXEC => "an executable".to_string(),
            elf::ET_REL => "a relocatable object (.o)".to_string(),
            elf::ET_CORE => "a core dump".to_string(),
            k => format!("ELF file type {}", k.0),
        };
        return Err(format!("not a shared library: {what}"));
    }

    let phoff: u64 = header.e_phoff(endian).into();
    let phnum = header.phnum(endian, data).map_err(corrupt)?;
    if phoff == 0 || phnum == 0 {
        return Err(corrupt("no program headers"));
    }
    let phentsize = std::mem::size_of::<Elf::ProgramHeader>() as u64;
    if u64::from(header.e_phentsize(endian)) != phentsize {
        return Err(corrupt(format!(
            "program header entries of {} bytes, expected {phentsize}",
            header.e_phentsize(endian)
        )));
    }
    let table_end = u64::from(phnum)
        .checked_mul(phentsize)
        .and_then(|n| n.checked_add(phoff))
        .ok_or_else(|| corrupt("impossible program header table size"))?;
    if table_end > len {
        return Err(corrupt(format!(
            "program header table needs bytes up to {table_end}, file has {len}"
        )));
    }
    let segments = header.program_headers(endian, data).map_err(corrupt)?;
    for (i, seg) in segments.iter().enumerate() {
        if seg.p_type(endian) == elf::PT_NULL {
            continue;
        }
        let (offset, size): (u64, u64) = (seg.p_offset(endian).into(), seg.p_filesz(endian).into());
        let end = offset
            .checked_add(size)
            .ok_or_else(|| corrupt(format!("segment {i} has an impossible file range")))?;
        if end > len {
            return Err(corrupt(format!(
                "segment {i} needs bytes up to {end}, file has {len}"
            )));
        }
    }

    let shoff: u64 = header.e_shoff(endian).into();
    if shoff != 0 {
        // With 0 in e_shnum the count is in the first entry, which `shnum` reads.
        let shnum = header.shnum(endian, data).map_err(corrupt)?;
        let table_end = u64::from(shnum)
            .checked_mul(u64::from(header.e_shentsize(endian)))
            .and_then(|n| n.checked_add(shoff))
            .ok_or_else(|| corrupt("impossible section header table size"))?;
        if table_end > len {
            return Err(corrupt(format!(
                "section header table needs bytes up to {table_end}, file has {len}"
            )));
        }
        header.section_headers(endian, data).map_err(corrupt)?;
    }
    Ok(())
}

/// Checks a candidate file with [`check_elf`], reading its size once and then only its headers.
pub fn check_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so a FIFO named `x.so` is refused instead of waiting for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let cache = object::ReadCache::new(file);
    check_elf(&cache, meta.len())
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
/// only once the symbol's name has shown it speaks this ABI version; nothing is mapped before
/// [`check_file`] has found an ELF shared object for this host whose segments lie in the file.
pub fn load(path: &Path) -> Result<Plugin, String> {
    // "cannot load: …" like the loader's own errors below.
    check_file(path).map_err(|e| format!("cannot load: {e}"))?;
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

#[cfg(all(test, target_pointer_width = "64", target_endian = "little"))]
mod tests {
    use super::*;

    /// This host's ELF machine (x86_64's where the host's is not known).
    fn host() -> u16 {
        host_machine().unwrap_or(elf::EM_X86_64.0)
    }

    /// A 384-byte 64-bit little-endian ELF file: header, one program header (a PT_LOAD of the
    /// first 256 bytes), and a two-entry section header table at 256.
    fn tiny_elf(machine: u16, e_type: u16) -> Vec<u8> {
        let mut b = vec![0u8; 384];
        b[..4].copy_from_slice(&elf::ELFMAG);
        b[4] = elf::ELFCLASS64.0;
        b[5] = elf::ELFDATA2LSB.0;
        b[6] = 1; // EV_CURRENT
        let put16 =
            |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let put64 =
            |b: &mut Vec<u8>, at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        put16(&mut b, 16, e_type);
        put16(&mut b, 18, machine);
        put32(&mut b, 20, 1);
        put64(&mut b, 32, 64); // e_phoff
        put64(&mut b, 40, 256); // e_shoff
        put16(&mut b, 52, 64); // e_ehsize
        put16(&mut b, 54, 56); // e_phentsize
        put16(&mut b, 56, 1); // e_phnum
        put16(&mut b, 58, 64); // e_shentsize
        put16(&mut b, 60, 2); // e_shnum
        put32(&mut b, 64, elf::PT_LOAD.0); // p_type
        put64(&mut b, 64 + 8, 0); // p_offset
        put64(&mut b, 64 + 32, 256); // p_filesz
        put64(&mut b, 64 + 40, 256); // p_memsz
        b
    }

    fn check(b: &[u8]) -> Result<(), String> {
        check_elf(b, b.len() as u64)
    }

    #[test]
    fn a_whole_shared_object_for_this_host_passes() {
        assert_eq!(check(&tiny_elf(host(), elf::ET_DYN.0)), Ok(()));
    }

    #[test]
    fn a_segment_past_the_end_of_the_file_is_refused() {
        let b = tiny_elf(host(), elf::ET_DYN.0);
        assert_eq!(
            check(&b[..200]).unwrap_err(),
            "truncated or corrupt ELF file: segment 0 needs bytes up to 256, file has 200"
        );
        assert_eq!(
            check(&b[..300]).unwrap_err(),
            "truncated or corrupt ELF file: section header table needs bytes up to 384, file has 300"
        );
        assert_eq!(
            check(&b[..100]).unwrap_err(),
            "truncated or corrupt ELF file: program header table needs bytes up to 120, file has 100"
        );
        assert_eq!(
            check(&b[..40]).unwrap_err(),
            "truncated or corrupt ELF file: 40 bytes, shorter than an ELF header (64)"
        );
        assert_eq!(
            check(&b[..10]).unwrap_err(),
            "truncated or corrupt ELF file: 10 bytes, shorter than an ELF header"
        );
        // A segment whose end overflows a u64 is not a huge file, it is a corrupt one.
        let mut huge = b.clone();
        huge[64 + 32..64 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        huge[64 + 8..64 + 16].copy_from_slice(&1u64.to_le_bytes());
        assert_eq!(
            check(&huge).unwrap_err(),
            "truncated or corrupt ELF file: segment 0 has an impossible file range"
        );
    }

    #[test]
    fn other_files_say_what_they_are() {
        assert_eq!(check(b"").unwrap_err(), "not an ELF file");
        assert_eq!(
            check(b"#!/bin/sh\necho hi\n").unwrap_err(),
            "not an ELF file"
        );
        assert_eq!(
            check(&tiny_elf(host(), elf::ET_EXEC.0)).unwrap_err(),
            "not a shared library: an executable"
        );
        assert_eq!(
            check(&tiny_elf(host(), elf::ET_REL.0)).unwrap_err(),
            "not a shared library: a relocatable object (.o)"
        );
        let other = if host() == elf::EM_AARCH64.0 {
            elf::EM_X86_64.0
        } else {
            elf::EM_AARCH64.0
        };
        let other_name = if other == elf::EM_AARCH64.0 {
            "aarch64"
        } else {
            "x86_64"
        };
        assert_eq!(
            check(&tiny_elf(other, elf::ET_DYN.0)).unwrap_err(),
            format!(
                "built for {other_name}, this host is {}",
                std::env::consts::ARCH
            )
        );
        let mut class32 = tiny_elf(host(), elf::ET_DYN.0);
        class32[4] = elf::ELFCLASS32.0;
        let arch = std::env::consts::ARCH;
        assert_eq!(
            check(&class32).unwrap_err(),
            format!(
                "built for 32-bit {}, this host is 64-bit {arch}",
                machine_name(host(), false)
            )
        );
        let mut big = tiny_elf(host(), elf::ET_DYN.0);
        big[5] = elf::ELFDATA2MSB.0;
        big[18..20].copy_from_slice(&host().to_be_bytes());
        assert_eq!(
            check(&big).unwrap_err(),
            format!("built big-endian, this host is little-endian {arch}")
        );
    }
}
