use super::script::{collect_script, phase_script, submit_script, Common, Phase};
use super::*;

fn res() -> Resources {
    let flags = SlurmArgs {
        partition: Some("gpu".into()),
        time: Some("4:00:00".into()),
        gpus_per_task: Some(1),
        max_parallel: Some(8),
        sbatch_args: vec!["--qos=long".into()],
        ..SlurmArgs::default()
    };
    let file: SlurmSpec = toml::from_str(
        "partition = \"cpu\"\naccount = \"lab\"\ncpus_per_task = 4\nmem = \"16G\"\nsbatch_args = [\"--constraint=a100\"]",
    )
    .unwrap();
    Resources::of(&flags, Some(&file))
}

fn common(r: &Resources) -> Common<'_> {
    Common {
        res: r,
        slurm_dir: "/o/slurm",
        workdir: "/w d",
        bench: "/bin/ddbench bench /w/lb.toml --out /o --quiet",
        title: "t",
    }
}

fn sbatch_lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| l.starts_with("#SBATCH")).collect()
}

#[test]
fn flags_win_over_the_file_and_extra_args_add_up() {
    let r = res();
    assert_eq!(r.partition.as_deref(), Some("gpu"));
    assert_eq!(r.account.as_deref(), Some("lab"));
    assert_eq!((r.cpus_per_task, r.gpus_per_task), (Some(4), Some(1)));
    assert_eq!(r.sbatch_args, ["--constraint=a100", "--qos=long"]);
    let bad: Result<SlurmSpec, _> = toml::from_str("partitions = \"x\"");
    assert!(bad.is_err(), "an unknown key of [slurm] is refused");
}

#[test]
fn phase_scripts_are_arrays_with_resources_signal_requeue_and_logs() {
    let r = res();
    let c = common(&r);
    let t = phase_script(
        &c,
        &Phase {
            name: "teachers",
            tasks: vec![vec![0], vec![4], vec![9]],
        },
    );
    let l = sbatch_lines(&t);
    for want in [
        "#SBATCH --array=0-2%8",
        "#SBATCH --job-name=ddbench-teachers",
        "#SBATCH --output=/o/slurm/logs/teachers_%A_%a.out",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=lab",
        "#SBATCH --time=4:00:00",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=16G",
        "#SBATCH --constraint=a100",
        "#SBATCH --qos=long",
        "#SBATCH --signal=B:USR1@120",
        "#SBATCH --requeue",
    ] {
        assert!(l.contains(&want), "{want} missing:\n{t}");
    }
    assert!(t.contains("CELLS=(0 4 9)\n"), "{t}");
    assert!(t.contains("cd '/w d' || exit 1"), "{t}");
    assert!(
        t.contains("--out /o --quiet --cell \"${CELLS[$SLURM_ARRAY_TASK_ID]}\" &"),
        "{t}"
    );
    assert!(t.contains("kill -USR1 $pid' USR1"), "{t}");
    assert!(t.contains(&format!("\n{}\n", script::THREADS_LINE)), "{t}");
    assert!(t.contains("if scontrol requeue \"$task\"; then"), "{t}");
    // after requeueing itself the task does not exit on its own (Slurm ends it)
    let after = t.split("scontrol requeue").nth(1).unwrap();
    assert!(after.contains("sleep 1; done"), "{t}");
    let cells = phase_script(
        &c,
        &Phase {
            name: "cells",
            tasks: (0..12).map(|i| vec![i]).collect(),
        },
    );
    assert!(
        sbatch_lines(&cells).contains(&"#SBATCH --array=0-11%8"),
        "{cells}"
    );
    // seed-mates: one task runs them (their cells, comma-separated)
    let mates = phase_script(
        &c,
        &Phase {
            name: "cells",
            tasks: vec![vec![0], vec![1, 2, 3], vec![4]],
        },
    );
    assert!(sbatch_lines(&mates).contains(&"#SBATCH --array=0-2%8"));
    assert!(mates.contains("CELLS=(0 1,2,3 4)\n"), "{mates}");
    // the collect job asks for no GPU
    let col = collect_script(&c);
    assert!(col.contains("--out /o --quiet --collect"), "{col}");
    assert!(!col.contains("gpus") && !col.contains("--array"), "{col}");
    assert!(col.contains("#SBATCH --partition=gpu"), "{col}");
}

#[test]
fn submit_chains_the_phases_afterok_then_afterany() {
    let s = submit_script("/o/slurm", true);
    let lines: Vec<&str> = s.lines().filter(|l| l.contains("sbatch")).collect();
    assert_eq!(
        lines,
        [
            "teachers=$(sbatch --parsable teachers.sh | cut -d';' -f1)",
            "cells=$(sbatch --parsable --dependency=afterok:$teachers cells.sh | cut -d';' -f1)",
            "collect=$(sbatch --parsable --dependency=afterany:$cells collect.sh | cut -d';' -f1)",
        ]
    );
    // no teacher: no phase 1, and the cells depend on nothing
    let s = submit_script("/o/slurm", false);
    assert!(!s.contains("teachers.sh") && s.contains("cells=$(sbatch --parsable cells.sh"));
}

#[test]
fn a_task_and_its_log_by_cell() {
    let mut s = Submitted {
        teachers: Some("10".into()),
        teacher_cells: vec![0],
        cells: "11".into(),
        tasks: vec![],
        collect: "12".into(),
        logs: "/o/slurm/logs".into(),
    };
    // a submission of a ddbench before seed-mate tasks: task K ran cell K
    assert_eq!(
        s.task_of(3),
        Some(("11_3".into(), "/o/slurm/logs/cells_11_3.out".into()))
    );
    s.tasks = vec![vec![0], vec![1, 2, 3], vec![4]];
    assert_eq!(s.task_of(3).unwrap().0, "11_1");
    assert_eq!(s.task_of(4).unwrap().0, "11_2");
    assert_eq!(s.task_of(5), None);
    let old: Submitted = serde_json::from_str(
        r#"{"teachers":null,"teacher_cells":[],"cells":"7","collect":"8","logs":"/l"}"#,
    )
    .unwrap();
    assert_eq!(old.task_of(2).unwrap().0, "7_2");
}

/// The task's threads line, run by bash: the task's CPUs become the cell's threads; a user's
/// `OMP_NUM_THREADS`, or no `--cpus-per-task`, is left alone.
#[test]
fn an_array_task_gives_its_cell_the_tasks_cpus_as_threads() {
    let threads = |env: &[(&str, &str)]| {
        let mut c = std::process::Command::new("bash");
        c.arg("-c")
            .arg(format!(
                "{}; echo \"${{OMP_NUM_THREADS:-unset}}\"",
                script::THREADS_LINE
            ))
            .env_remove("OMP_NUM_THREADS")
            .env_remove("SLURM_CPUS_PER_TASK");
        for (k, v) in env {
            c.env(k, v);
        }
        String::from_utf8(c.output().unwrap().stdout).unwrap()
    };
    assert_eq!(threads(&[("SLURM_CPUS_PER_TASK", "4")]), "4\n");
    assert_eq!(
        threads(&[("SLURM_CPUS_PER_TASK", "4"), ("OMP_NUM_THREADS", "2")]),
        "2\n"
    );
    assert_eq!(threads(&[]), "unset\n");
}
