//! Leaderboard files (TOML): a grid of data sets × methods × IPC × architectures × seeds ×
//! attacks, expanded into cells, each with the exact `ddbench run` arguments and a hash of them.
//!
//! `spec`: the file's types, reading it and checking its fields; `cells`: the grid expanded.

mod cells;
mod spec;

pub use cells::Cell;
pub use spec::{
    load, AttackSpec, DatasetSpec, Leaderboard, Loaded, MethodSpec, Seeds, STUDENT_KEYS,
};

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Result;

    fn cells(toml_text: &str) -> Result<Vec<Cell>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lb.toml");
        std::fs::write(&p, toml_text).unwrap();
        load(&p)?.cells(&|m| m == "full")
    }

    const BASE: &str = r#"
ipc = [1, 10]
seeds = 2
[student]
width = 16
epochs = 3
[[datasets]]
name = "fashion-mnist"
[[methods]]
name = "random"
[[methods]]
name = "full"
config = { epochs = 1 }
[[attacks]]
name = "fgsm"
eps = ["8/255"]
[[attacks]]
name = "pgd"
eps = ["4/255", 0.0313725490196]
"#;

    #[test]
    fn the_grid_expands_with_full_once_and_eps_unioned() {
        let c = cells(BASE).unwrap();
        // random: 2 ipc × 2 seeds; full: once per seed
        assert_eq!(c.len(), 6);
        assert_eq!(c[0].id, "fashion-mnist/random/ipc1/convnet/seed0");
        assert_eq!(c[4].id, "fashion-mnist/full/all/convnet/seed0");
        assert_eq!(c[0].wanted.len(), 3);
        let args = c[0].args.join(" ");
        assert!(args.contains("--eps 4/255,8/255"), "{args}");
        assert!(args.contains("--epochs 3 --width 16"), "{args}");
        assert!(c[4]
            .args
            .join(" ")
            .contains(r#"--method-config full={"epochs":1}"#));
        // a changed config changes the hash of exactly the cells it touches
        let d = cells(&BASE.replace("epochs = 1 }", "epochs = 2 }")).unwrap();
        assert_eq!(c[0].hash, d[0].hash);
        assert_ne!(c[4].hash, d[4].hash);
        // the data folder is not part of the hash
        let e = cells(&BASE.replace(
            "name = \"fashion-mnist\"",
            "name = \"fashion-mnist\"\ndata_dir = \"/x\"",
        ))
        .unwrap();
        assert!(e[0].args.join(" ").contains("--data-dir /x"));
        assert_eq!(c[0].hash, e[0].hash);
    }

    #[test]
    fn bad_files_name_the_field() {
        let e = cells(&BASE.replace("width = 16", "widht = 16"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key `student.widht`"), "{e}");
        let e = cells(&BASE.replace("\"4/255\"", "\"4/x\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("attack `pgd`: eps '4/x'"), "{e}");
        let e = format!(
            "{:#}",
            cells(&BASE.replace("seeds = 2", "seeds = \"two\"")).unwrap_err()
        );
        assert!(e.contains("seeds"), "{e}");
        let e = format!(
            "{:#}",
            cells(&BASE.replace("[[datasets]]", "[[dataset]]")).unwrap_err()
        );
        assert!(e.contains("dataset"), "{e}");
    }
}
