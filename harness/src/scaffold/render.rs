//! The files of a new plugin crate: the templates (`templates/`, compiled into the binary) with
//! the plugin's name, type and this installation's paths filled in.

use super::PluginKind;
use std::path::{Path, PathBuf};

const CARGO_TOML: &str = include_str!("templates/Cargo.toml.tmpl");
const BUILD_RS: &str = include_str!("templates/build.rs.tmpl");
const CONFIG_TOML: &str = include_str!("templates/config.toml.tmpl");
const GITIGNORE: &str = include_str!("templates/gitignore.tmpl");
const README: &str = include_str!("templates/README.md.tmpl");
const ATTACK_RS: &str = include_str!("templates/attack.rs.tmpl");
const METHOD_RS: &str = include_str!("templates/method.rs.tmpl");

/// What the templates are filled with.
pub struct Fill {
    pub kind: PluginKind,
    pub name: String,
    pub plugin_api: PathBuf,
    /// `None`: unknown; `.cargo/config.toml` then says how to set it.
    pub libtorch: Option<PathBuf>,
    pub ddbench: PathBuf,
}

/// A TOML basic string holding `p` (quotes and backslashes escaped).
fn toml_path(p: &Path) -> String {
    toml::Value::String(p.display().to_string()).to_string()
}

impl Fill {
    fn vars(&self) -> Vec<(&'static str, String)> {
        let (what, run_flags, config_flag, trait_name) = match self.kind {
            PluginKind::Method => (
                "As generated it keeps IPC training images per class drawn at random (seeded).",
                format!("--method {},random --ipc 10 --attacks fgsm", self.name),
                format!("--method-config {}='{{\"epochs\": 300}}'", self.name),
                "Method",
            ),
            PluginKind::Attack => (
                "As generated it is a one-step gradient attack (FGSM under L∞, FGM under L2).",
                format!("--method random --ipc 10 --attacks fgsm,{}", self.name),
                format!("--attack-config {}='{{\"step\": 0.5}}'", self.name),
                "Attack",
            ),
        };
        let libtorch_line = match &self.libtorch {
            Some(p) => format!("LIBTORCH = {}", toml_path(p)),
            None => "# LIBTORCH = \"/path/to/libtorch\"  # unknown to the ddbench that generated \
                     this crate: set it to the libtorch ddbench was built with"
                .to_string(),
        };
        vec![
            ("{{name}}", self.name.clone()),
            ("{{Type}}", super::name::type_name(&self.name)),
            ("{{crate_ident}}", self.name.replace('-', "_")),
            ("{{kind}}", self.kind.to_string()),
            ("{{trait}}", trait_name.to_string()),
            ("{{plugin_api}}", toml_path(&self.plugin_api)),
            (
                "{{plugin_api_plain}}",
                self.plugin_api.display().to_string(),
            ),
            ("{{libtorch_line}}", libtorch_line),
            ("{{ddbench}}", self.ddbench.display().to_string()),
            ("{{what}}", what.to_string()),
            ("{{run_flags}}", run_flags),
            ("{{config_flag}}", config_flag),
        ]
    }

    /// Each file of the crate: its path relative to the crate folder and its text.
    pub fn files(&self) -> Vec<(&'static str, String)> {
        let vars = self.vars();
        let fill = |t: &str| {
            vars.iter()
                .fold(t.to_string(), |s, (key, value)| s.replace(key, value))
        };
        let lib = match self.kind {
            PluginKind::Method => METHOD_RS,
            PluginKind::Attack => ATTACK_RS,
        };
        vec![
            ("Cargo.toml", fill(CARGO_TOML)),
            ("build.rs", fill(BUILD_RS)),
            (".cargo/config.toml", fill(CONFIG_TOML)),
            (".gitignore", fill(GITIGNORE)),
            ("README.md", fill(README)),
            ("src/lib.rs", fill(lib)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(kind: PluginKind, libtorch: Option<&str>) -> Vec<(&'static str, String)> {
        Fill {
            kind,
            name: "demo-x".into(),
            plugin_api: PathBuf::from("/a \"b\"/plugin-api"),
            libtorch: libtorch.map(PathBuf::from),
            ddbench: PathBuf::from("/r/target/release/ddbench"),
        }
        .files()
    }

    #[test]
    fn every_placeholder_is_filled_and_paths_are_toml_strings() {
        for kind in [PluginKind::Method, PluginKind::Attack] {
            for (path, text) in fill(kind, Some("/t/libtorch")) {
                assert!(!text.contains("{{"), "{path}: {text}");
            }
        }
        let files = fill(PluginKind::Attack, Some("/t/libtorch"));
        let cargo: toml::Value = toml::from_str(&files[0].1).unwrap();
        let dep = &cargo["dependencies"]["ddbench-plugin-api"]["path"];
        assert_eq!(dep.as_str(), Some("/a \"b\"/plugin-api"));
        assert_eq!(cargo["package"]["name"].as_str(), Some("demo-x"));
        let config: toml::Value = toml::from_str(&files[2].1).unwrap();
        assert_eq!(config["env"]["LIBTORCH"].as_str(), Some("/t/libtorch"));
        assert!(files[5].1.contains("pub struct DemoX;"));
        assert!(files[5].1.contains("name = \"demo-x\""));
    }

    #[test]
    fn an_unknown_libtorch_is_left_for_the_author_to_set() {
        let files = fill(PluginKind::Method, None);
        let config: toml::Value = toml::from_str(&files[2].1).unwrap();
        assert!(config["env"].get("LIBTORCH").is_none());
        assert!(files[2].1.contains("# LIBTORCH = "));
    }
}
