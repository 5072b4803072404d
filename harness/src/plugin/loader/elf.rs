//! Checking a candidate file from its ELF headers alone, before the dynamic loader maps it.

use object::elf::{self, FileHeader32, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, ReadRef};
use std::path::Path;

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

/// Checks the headers of an ELF file of the host's class: a shared object whose program and
/// section header tables and segments lie inside its `len` bytes.
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
    check_segments(header, endian, data, len)?;
    check_section_table(header, endian, data, len)
}

/// Checks that the program header table and every segment it lists lie inside the file.
fn check_segments<'data, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'data>>(
    header: &Elf,
    endian: Endianness,
    data: R,
    len: u64,
) -> Result<(), String> {
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
    Ok(())
}

/// Checks that the section header table, where there is one, lies inside the file.
fn check_section_table<'data, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'data>>(
    header: &Elf,
    endian: Endianness,
    data: R,
    len: u64,
) -> Result<(), String> {
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
