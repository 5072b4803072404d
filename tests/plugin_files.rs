//! Damaged files in a plugin folder: a truncated copy of a built plugin, files that are not ELF,
//! a library for another architecture. Each is refused with its reason before the dynamic loader
//! maps it (a truncated library used to kill ddbench with SIGBUS), and every command goes on.

use ddbench::plugin::{self, Kind};
use ddbench_tests::{ddbench, plugin_dir, plugin_lib, read_rows, text, write_tiny_idx};
use std::path::Path;

/// The first `n` bytes of the built PGD plugin, as `name` in `dir`; returns the full size.
fn truncated_pgd(dir: &Path, name: &str, n: usize) -> usize {
    let bytes = std::fs::read(plugin_lib("ddbench-attack-pgd")).unwrap();
    assert!(bytes.len() > n, "pgd plugin is only {} bytes", bytes.len());
    std::fs::write(dir.join(name), &bytes[..n]).unwrap();
    bytes.len()
}

/// The `refused` line `ddbench plugins` prints for `file`.
fn refused_line<'a>(listing: &'a str, file: &Path) -> Option<&'a str> {
    let prefix = format!("refused  {}: ", file.display());
    listing
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
}

#[test]
fn plugins_lists_a_truncated_library_as_refused_and_the_rest_as_usual() {
    let dir = plugin_dir(&["ddbench-attack-fgsm"]);
    let full = truncated_pgd(dir.path(), "libddbench_attack_pgd.so", 500_000);
    truncated_pgd(dir.path(), "half_pgd.so", full / 2);
    let out = ddbench(&["plugins", "--dir", dir.path().to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");

    for (file, size) in [
        ("libddbench_attack_pgd.so", 500_000),
        ("half_pgd.so", full / 2),
    ] {
        let why = refused_line(&t, &dir.path().join(file))
            .unwrap_or_else(|| panic!("{file} not refused:\n{t}"));
        assert!(
            why.starts_with("cannot load: truncated or corrupt ELF file: ")
                && why.ends_with(&format!(", file has {size}")),
            "{file}: {why}"
        );
    }
    let why = refused_line(&t, &dir.path().join("libddbench_attack_pgd.so")).unwrap();
    assert!(
        why.starts_with("cannot load: truncated or corrupt ELF file: segment ")
            && why.contains(" needs bytes up to "),
        "{why}"
    );

    // The folder's good plugin is listed from the folder, the built-in PGD from the build.
    let listed = |kind: &str, name: &str| {
        t.lines()
            .find(|l| {
                let mut f = l.split_whitespace();
                f.next() == Some(kind) && f.next() == Some(name)
            })
            .unwrap_or_else(|| panic!("no {kind} {name} listed:\n{t}"))
            .to_string()
    };
    assert!(
        listed("attack", "fgsm").contains(&dir.path().display().to_string()),
        "{t}"
    );
    assert!(
        listed("attack", "pgd").contains(&plugin_lib("ddbench-attack-pgd").display().to_string()),
        "{t}"
    );
    listed("method", "random");
}

#[test]
fn files_that_are_not_libraries_for_this_host_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("x.so"), "this is a text file, not a library\n").unwrap();
    let noise: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(d.join("noise.so"), noise).unwrap();
    std::fs::write(d.join("empty.so"), "").unwrap();
    // The real PGD plugin with its e_machine (bytes 18..20, little-endian) changed.
    let mut other = std::fs::read(plugin_lib("ddbench-attack-pgd")).unwrap();
    let (machine, name) = if std::env::consts::ARCH == "aarch64" {
        (62u16, "x86_64")
    } else {
        (183u16, "aarch64")
    };
    other[18..20].copy_from_slice(&machine.to_le_bytes());
    std::fs::write(d.join("other_arch.so"), other).unwrap();

    let out = ddbench(&["plugins", "--dir", d.to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    for file in ["x.so", "noise.so", "empty.so"] {
        assert_eq!(
            refused_line(&t, &d.join(file)),
            Some("cannot load: not an ELF file"),
            "{file}:\n{t}"
        );
    }
    assert_eq!(
        refused_line(&t, &d.join("other_arch.so")),
        Some(
            format!(
                "cannot load: built for {name}, this host is {}",
                std::env::consts::ARCH
            )
            .as_str()
        ),
        "{t}"
    );
}

/// A tiny `random` × `fgsm` run (200 training images, one epoch) with `plugins` as its
/// `--plugin-dir`, quiet; its output and its `--out` folder.
fn tiny_fgsm_run(plugins: &Path) -> (std::process::Output, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    write_tiny_idx(data.path(), 200, 60);
    let (out, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = ddbench(&[
        "run",
        "--plugin-dir",
        plugins.to_str().unwrap(),
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--method",
        "random",
        "--ipc",
        "1",
        "--epochs",
        "1",
        "--width",
        "8",
        "--n-attack",
        "20",
        "--attacks",
        "fgsm",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        out.path().to_str().unwrap(),
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ]);
    (run, out)
}

#[test]
fn a_run_ignores_a_truncated_library_it_does_not_use() {
    let plugins = tempfile::tempdir().unwrap();
    truncated_pgd(plugins.path(), "libddbench_attack_pgd.so", 500_000);
    let (run, out) = tiny_fgsm_run(plugins.path());
    let t = text(&run);
    assert_eq!(run.status.code(), Some(0), "{t}");
    let rows = read_rows(&out.path().join("results.csv"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["method"].as_str(), rows[0]["attack"].as_str()),
        ("random", "fgsm")
    );
}

#[test]
fn a_plugin_dir_that_shadows_a_builtin_is_used_and_said_even_when_quiet() {
    let plugins = tempfile::tempdir().unwrap();
    let mine = plugins.path().join("my_fgsm.so");
    std::fs::copy(plugin_lib("ddbench-attack-fgsm"), &mine).unwrap();
    let (run, out) = tiny_fgsm_run(plugins.path());
    let t = text(&run);
    assert_eq!(run.status.code(), Some(0), "{t}");
    let warning = format!(
        "warning: attack plugin 'fgsm' from {} takes the place of the one in ",
        mine.display()
    );
    assert!(t.contains(&warning), "{t}");
    // a name the run does not use is not worth a warning
    assert!(!t.contains("plugin 'random'"), "{t}");
    let manifest = std::fs::read_to_string(out.path().join("manifest.json")).unwrap();
    assert!(
        manifest.contains(&format!("{}", mine.display())),
        "{manifest}"
    );
}

#[test]
fn discover_named_loads_only_the_named_builtin_plugins() {
    let dir = tempfile::tempdir().unwrap();
    truncated_pgd(dir.path(), "cut.so", 500_000);
    let user = [dir.path().to_path_buf()];
    let reg = plugin::discover_named(&user, &[(Kind::Method, "random"), (Kind::Attack, "fgsm")]);
    let mut names: Vec<(Kind, &str)> = reg
        .plugins
        .iter()
        .map(|p| (p.kind, p.name.as_str()))
        .collect();
    names.sort_by_key(|&(k, n)| (k == Kind::Attack, n));
    names.dedup();
    assert_eq!(
        names,
        [(Kind::Method, "random"), (Kind::Attack, "fgsm")],
        "{reg:?}"
    );
    // Files in a user folder are all opened: any of them may hold any plugin.
    assert!(
        reg.refused.iter().any(|(p, why)| p.ends_with("cut.so")
            && why.starts_with("cannot load: truncated or corrupt ELF file: ")),
        "{reg:?}"
    );

    // A name that is not there: everything is loaded, so the error can list what there is.
    let reg = plugin::discover_named(&user, &[(Kind::Attack, "no-such-attack")]);
    let err = reg.get(Kind::Attack, "no-such-attack").unwrap_err();
    assert!(err.contains("pgd") && err.contains("fgsm"), "{err}");
    assert!(plugin::discover(&user).get(Kind::Attack, "pgd").is_ok());
}
