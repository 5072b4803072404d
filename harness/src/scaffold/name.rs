//! What a new plugin may be called: a crate and plugin name of lowercase ASCII letters, digits
//! and single hyphens, starting with a letter, that is no Rust keyword or standard crate.

use anyhow::{bail, Result};

/// Names cargo refuses for a package or that would shadow a standard crate.
const RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "try",
    "gen",
    "test",
    "std",
    "core",
    "alloc",
    "proc-macro",
];

/// Checks `name` (`demo-attack`); the error says what is allowed and suggests a fix.
pub fn check_name(name: &str) -> Result<()> {
    let rule = "a plugin name is lowercase letters, digits and single '-' between them, \
                starting with a letter (e.g. my-attack)";
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let starts = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let hyphens_ok = !name.ends_with('-') && !name.contains("--");
    if name.is_empty() || !ok_chars || !starts || !hyphens_ok {
        let hint = suggestion(name)
            .map(|s| format!(" — try '{s}'"))
            .unwrap_or_default();
        bail!("'{name}' is not a valid plugin name: {rule}{hint}");
    }
    if name.len() > 64 {
        bail!("'{name}' is not a valid plugin name: at most 64 characters");
    }
    if RESERVED.contains(&name) {
        bail!("'{name}' is not a valid plugin name: it is a Rust keyword or a standard crate");
    }
    Ok(())
}

/// A valid name close to `name` (lowercased, other characters as '-'), if there is one.
fn suggestion(name: &str) -> Option<String> {
    let mapped: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let parts: Vec<&str> = mapped.split('-').filter(|p| !p.is_empty()).collect();
    let s = parts.join("-");
    let s = s.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    (s != name && check_name_quiet(s)).then(|| s.to_string())
}

fn check_name_quiet(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !RESERVED.contains(&s)
}

/// The Rust type of the plugin: `demo-attack` → `DemoAttack`.
pub fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut cs = part.chars();
            match cs.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_crate_style_names() {
        for n in ["demo-attack", "rfgsm", "k-center2", "a"] {
            check_name(n).unwrap();
        }
        assert_eq!(type_name("demo-attack"), "DemoAttack");
        assert_eq!(type_name("pgd-2x"), "Pgd2x");
    }

    #[test]
    fn refuses_other_names_saying_why() {
        let err = |n: &str| check_name(n).unwrap_err().to_string();
        assert!(
            err("Demo_Attack").ends_with("— try 'demo-attack'"),
            "{}",
            err("Demo_Attack")
        );
        for n in ["", "1abc", "-x", "x-", "a--b", "a b", "a/b", "é"] {
            assert!(err(n).contains("is not a valid plugin name"), "{n}");
        }
        assert!(err("fn").contains("keyword"));
        assert!(err(&"a".repeat(65)).contains("64"));
    }
}
