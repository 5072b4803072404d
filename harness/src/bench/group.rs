//! Seed-mates (`[student] batch_students = true`): a leaderboard's pending cells that differ only
//! in their seed, with consecutive seeds, run as one child `ddbench run --first-seed S --seeds N
//! --batch-students` — their students train together as one grouped model — in
//! `OUT/groups/FOLDER/`. Afterwards each member gets its cell folder (the run's results and
//! manifest, of which the records take the member's seed's rows; its artefacts; a log naming the
//! group's) and is taken as a cell of its own. Without the key every cell runs alone, as does a
//! cell whose seed-mates are recorded already (a seed's student does not depend on its group).

use crate::leaderboard::Cell;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One child run: the cells it records (indices into the plan), seeds ascending.
pub type Job = Vec<usize>;

/// The `pending` cells as child runs: seed-mates together (consecutive seeds), the rest alone, in
/// the order of each run's first cell.
pub fn jobs(cells: &[Cell], pending: &[usize]) -> Vec<Job> {
    let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut jobs: Vec<Job> = Vec::new();
    for &i in pending {
        match mates_key(&cells[i]) {
            Some(k) => by_key.entry(k).or_default().push(i),
            None => jobs.push(vec![i]),
        }
    }
    for mut mates in by_key.into_values() {
        mates.sort_by_key(|&i| cells[i].seed);
        for run in mates.chunk_by(|&a, &b| cells[b].seed == cells[a].seed + 1) {
            jobs.push(run.to_vec());
        }
    }
    let place: BTreeMap<usize, usize> = pending.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    jobs.sort_by_key(|j| place[&j[0]]);
    jobs
}

/// What seed-mates share: the cell's `run` arguments but its seed, and the rows it asks for;
/// `None` for a cell whose students train alone.
fn mates_key(c: &Cell) -> Option<String> {
    if !c.args.iter().any(|a| a == "--batch-students") {
        return None;
    }
    let mut args = c.args.clone();
    let at = args.iter().position(|a| a == "--first-seed")?;
    args.get_mut(at + 1)?.clear();
    Some(format!("{}\u{1f}{:?}", args.join("\u{1f}"), c.wanted))
}

/// The `run` arguments of `job`: its first cell's, for `job.len()` seeds from the first's.
pub fn args(cells: &[Cell], job: &Job) -> Vec<String> {
    let mut args = cells[job[0]].args.clone();
    if let Some(at) = args.iter().position(|a| a == "--seeds") {
        if let Some(v) = args.get_mut(at + 1) {
            *v = job.len().to_string();
        }
    }
    args
}

/// The folder of a run of several cells: `OUT/groups/<first cell's folder>+<N>`.
pub fn dir(out: &Path, cells: &[Cell], job: &Job) -> PathBuf {
    out.join("groups")
        .join(format!("{}+{}", cells[job[0]].folder(), job.len()))
}

/// Gives each cell of `job` its folder from the group's `run` folder `group`: the run's
/// `results.csv` and `manifest.json` (a member's rows are picked by seed when it is taken), the
/// artefacts of its seed, and a `log.txt` naming the group's log.
pub fn hand_out(group: &Path, member_dirs: &[(u64, PathBuf)]) -> Result<()> {
    for (seed, dir) in member_dirs {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for file in ["results.csv", "manifest.json"] {
            let (from, to) = (group.join(file), dir.join(file));
            if from.exists() {
                std::fs::copy(&from, &to)
                    .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
            } else if to.exists() {
                std::fs::remove_file(&to).with_context(|| format!("removing {}", to.display()))?;
            }
        }
        move_artifacts(&group.join("artifacts"), &dir.join("artifacts"), *seed)?;
        let note = format!(
            "seed {seed}'s student was trained with its seed-mates in one run: see {}\n",
            group.join("log.txt").display()
        );
        std::fs::write(dir.join("log.txt"), note)
            .with_context(|| format!("writing {}", dir.join("log.txt").display()))?;
    }
    Ok(())
}

/// Moves the artefact folders of `seed` (`…_seed<S>`) from `from` into `to`.
fn move_artifacts(from: &Path, to: &Path, seed: u64) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    let suffix = format!("_seed{seed}");
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().ends_with(&suffix) {
            continue;
        }
        std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
        let target = to.join(&name);
        if target.exists() {
            std::fs::remove_dir_all(&target)
                .with_context(|| format!("replacing {}", target.display()))?;
        }
        std::fs::rename(e.path(), &target)
            .with_context(|| format!("moving {} to {}", e.path().display(), target.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaderboard::Wanted;

    fn cell(method: &str, seed: u64, batched: bool) -> Cell {
        let mut args: Vec<String> = ["run", "--method", method, "--first-seed"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend([seed.to_string(), "--seeds".into(), "1".into()]);
        if batched {
            args.push("--batch-students".into());
        }
        let mut c = Cell {
            id: format!("d/{method}/ipc1/convnet/seed{seed}"),
            hash: String::new(),
            dataset: "d".into(),
            method: method.into(),
            label: method.into(),
            seed,
            args,
            wanted: vec![Wanted {
                attack: "fgsm".into(),
                label: String::new(),
                norm: "linf".into(),
                eps: 0.03,
            }],
        };
        c.seal(&[]);
        c
    }

    #[test]
    fn seed_mates_run_together_in_consecutive_runs_and_others_alone() {
        let cells = vec![
            cell("random", 0, true),
            cell("dm", 0, true),
            cell("random", 1, true),
            cell("dm", 1, false),
            cell("random", 2, true),
            cell("random", 4, true),
        ];
        // seed 3 of random is recorded: 0–2 run together, 4 alone
        let jobs = jobs(&cells, &[0, 1, 2, 3, 4, 5]);
        assert_eq!(jobs, vec![vec![0, 2, 4], vec![1], vec![3], vec![5]]);
        let a = args(&cells, &jobs[0]);
        let at = a.iter().position(|x| x == "--seeds").unwrap();
        assert_eq!((a[at - 1].as_str(), a[at + 1].as_str()), ("0", "3"));
        assert!(dir(Path::new("o"), &cells, &jobs[0]).ends_with(format!("{}+3", cells[0].folder())));
    }

    #[test]
    fn members_get_the_runs_files_and_their_own_artifacts() {
        let t = tempfile::tempdir().unwrap();
        let g = t.path().join("g");
        for s in [
            "d_random_ipc1_convnet_seed1",
            "d_random_ipc1_convnet_seed11",
        ] {
            std::fs::create_dir_all(g.join("artifacts").join(s)).unwrap();
        }
        std::fs::write(g.join("results.csv"), "rows").unwrap();
        let (m1, m11) = (t.path().join("c1"), t.path().join("c11"));
        std::fs::create_dir_all(&m11).unwrap();
        std::fs::write(m11.join("manifest.json"), "old").unwrap();
        hand_out(&g, &[(1, m1.clone()), (11, m11.clone())]).unwrap();
        assert_eq!(
            std::fs::read_to_string(m1.join("results.csv")).unwrap(),
            "rows"
        );
        assert!(m1.join("artifacts/d_random_ipc1_convnet_seed1").is_dir());
        assert!(!m1.join("artifacts/d_random_ipc1_convnet_seed11").exists());
        assert!(m11.join("artifacts/d_random_ipc1_convnet_seed11").is_dir());
        assert!(
            !m11.join("manifest.json").exists(),
            "a stale manifest is removed"
        );
        assert!(std::fs::read_to_string(m1.join("log.txt"))
            .unwrap()
            .contains("seed-mates"));
    }
}
