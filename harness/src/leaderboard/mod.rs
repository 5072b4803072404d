//! Leaderboard files (TOML): a grid of data sets × methods × IPC × architectures × seeds ×
//! attacks, expanded into cells, each with the exact `ddbench run` arguments and a hash of them.
//!
//! `spec`: the file's types, reading it and checking its fields; `cells`: the grid expanded.

mod cells;
mod spec;

pub use cells::{Cell, Wanted};
pub use spec::{
    load, AttackSpec, DatasetSpec, GivenConfig, Leaderboard, Loaded, MethodSpec, Seeds,
    STUDENT_KEYS,
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
        let e = cells(&BASE.replace("width = 16", "batch_students = 1"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`student.batch_students`: expected true or false"),
            "{e}"
        );
    }

    #[test]
    fn student_switches_key_cells_apart() {
        for key in ["batch_students", "bf16_students", "fused_optimizer"] {
            let with =
                |v: &str| cells(&BASE.replace("width = 16", &format!("width = 16\n{key} = {v}")));
            let (on, off, plain) = (
                with("true").unwrap(),
                with("false").unwrap(),
                cells(BASE).unwrap(),
            );
            let flag = format!("--{}", key.replace('_', "-"));
            assert!(on[0].args.contains(&flag), "{key}");
            assert!(!off[0].args.contains(&flag), "{key}");
            assert_eq!(off[0].hash, plain[0].hash, "{key}");
            assert_ne!(on[0].hash, plain[0].hash, "{key}");
        }
    }

    /// `BASE` with a second PGD under linf (steps 1 vs 2) and `extra` lines in its table.
    fn twice(extra: &str) -> String {
        BASE.replace("seeds = 2", "seeds = 1")
            .replace("ipc = [1, 10]", "ipc = [1]")
            + &format!(
                "[[attacks]]\nname = \"pgd\"\neps = [\"8/255\"]\nconfig = {{ steps = 2 }}\n{extra}"
            )
    }

    #[test]
    fn a_labelled_variant_of_an_attack_gets_a_cell_of_its_own() {
        let plain = cells(
            &BASE
                .replace("seeds = 2", "seeds = 1")
                .replace("ipc = [1, 10]", "ipc = [1]"),
        )
        .unwrap();
        let c = cells(&twice("label = \"pgd-2\"")).unwrap();
        // random and full, each: the first pgd with fgsm, then the second pgd alone
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "fashion-mnist/random/ipc1/convnet/seed0",
                "fashion-mnist/random/ipc1/convnet/seed0/pgd-2",
                "fashion-mnist/full/all/convnet/seed0",
                "fashion-mnist/full/all/convnet/seed0/pgd-2",
            ]
        );
        // the first cell is the file's cell without the variant: same arguments, same hash
        assert_eq!((&c[0].args, &c[0].hash), (&plain[0].args, &plain[0].hash));
        let second = c[1].args.join(" ");
        assert!(
            second.contains(
                r#"--attack-config pgd={"steps":2} --attacks pgd --norm linf --eps 8/255"#
            ),
            "{second}"
        );
        let w = &c[1].wanted;
        assert_eq!(
            (w.len(), w[0].attack.as_str(), w[0].label.as_str()),
            (1, "pgd", "pgd-2")
        );
        assert!(c[0].wanted.iter().all(|w| w.label.is_empty()));
        // the label is part of the cell's identity: renaming it makes a new cell
        let d = cells(&twice("label = \"pgd-two\"")).unwrap();
        assert_eq!(d[1].args, c[1].args);
        assert_ne!(d[1].hash, c[1].hash);
        // labelling the first one too: both carry labels, the first cell's hash moves
        let e = cells(&twice("label = \"pgd-2\"").replace(
            "eps = [\"4/255\", 0.0313725490196]",
            "eps = [\"4/255\", 0.0313725490196]\nlabel = \"pgd-10\"",
        ))
        .unwrap();
        assert_eq!(e[0].id, c[0].id);
        assert_ne!(e[0].hash, c[0].hash);
        assert!(e[0].wanted.iter().any(|w| w.label == "pgd-10"));
    }

    #[test]
    fn an_unlabelled_duplicate_attack_is_refused_when_the_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lb.toml");
        std::fs::write(&p, twice("")).unwrap();
        let e = format!("{:#}", load(&p).err().unwrap());
        assert!(
            e.contains("lb.toml: attack `pgd` is listed twice under norm linf without labels")
                && e.contains("give each variant a distinct `label`"),
            "{e}"
        );
        // a label that is another attack's name, or a label used twice
        let e = format!("{:#}", cells(&twice("label = \"fgsm\"")).unwrap_err());
        assert!(
            e.contains("attacks `fgsm` and `pgd` (norm linf) are both shown as `fgsm`"),
            "{e}"
        );
        let e = format!("{:#}", cells(&twice("label = \"a/b\"")).unwrap_err());
        assert!(e.contains("attack `pgd`: label \"a/b\" must be"), "{e}");
        // the same plugin under two norms is two threat models, not a duplicate
        assert!(cells(&twice("norm = \"l2\"")).is_ok());
    }
}
