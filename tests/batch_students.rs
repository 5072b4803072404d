//! `ddbench run --batch-students`: the seeds' students of a method and IPC train together as one
//! grouped model. A seed's student does not depend on its group (seed 1 trained with seeds 0
//! and 2, or alone, scores the same), the rows are keyed apart from one-by-one students (a
//! folder of one-by-one rows refuses them), and students that cannot be grouped (batch norm) train one by one, saying why.

use ddbench_tests::{ddbench_in, read_rows, text, tiny_run, with_flag, write_tiny_idx};

fn run(d: &std::path::Path, out: &str, extra: &[&str]) -> std::process::Output {
    let mut a = with_flag(&tiny_run("data", out, "random", "30"), "--ipc", "2");
    a = with_flag(&a, "--attacks", "fgsm");
    a.retain(|x| *x != "--quiet");
    a.extend_from_slice(extra);
    ddbench_in(d, &a)
}

fn clean_acc(d: &std::path::Path, out: &str, seed: &str) -> f64 {
    let rows = read_rows(&d.join(out).join("results.csv"));
    let r = rows
        .iter()
        .find(|r| r["seed"] == seed)
        .unwrap_or_else(|| panic!("no row of seed {seed} in {out}"));
    r["clean_acc"].parse().unwrap()
}

#[test]
fn batched_students_score_as_alone_and_are_keyed_apart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    write_tiny_idx(&d.join("data"), 600, 60);

    let r = run(d, "together", &["--seeds", "3", "--batch-students"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(
        text(&r).contains("3 students of random ipc 2 trained together"),
        "{}",
        text(&r)
    );
    let r = run(
        d,
        "alone",
        &["--seeds", "1", "--first-seed", "1", "--batch-students"],
    );
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let (t, a) = (clean_acc(d, "together", "1"), clean_acc(d, "alone", "1"));
    eprintln!("seed 1 clean accuracy: together {t}, alone {a}");
    // 60 test images: the same weights up to float rounding may move one borderline image
    assert!(
        (t - a).abs() <= 100.0 * 2.0 / 60.0 + 1e-9,
        "together {t} vs alone {a}"
    );

    // one-by-one students are other rows: that folder refuses the batched ones
    let r = run(d, "sep", &["--seeds", "1", "--first-seed", "1"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let r = run(
        d,
        "sep",
        &["--seeds", "1", "--first-seed", "1", "--batch-students"],
    );
    assert_ne!(r.status.code(), Some(0), "{}", text(&r));
    assert!(text(&r).contains("other inputs"), "{}", text(&r));

    // batch-norm students cannot be grouped: one by one, said in the log
    let r = run(
        d,
        "bn",
        &["--seeds", "2", "--batch-students", "--norm-layer", "batch"],
    );
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(
        text(&r).contains("students trained one by one, not batched: batch norm"),
        "{}",
        text(&r)
    );
    assert_eq!(
        read_rows(&d.join("bn/results.csv")).len(),
        2,
        "a row per seed"
    );
}
