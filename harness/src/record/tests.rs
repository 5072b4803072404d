//! Tests of the record module: the results file survives reopening, old formats and torn lines.

use super::*;

fn row(seed: u64) -> ResultRow {
    ResultRow {
        dataset: "d".into(),
        method: "m".into(),
        method_version: "1".into(),
        ipc: 10,
        arch: "convnet".into(),
        seed,
        attack: "pgd".into(),
        attack_version: "1".into(),
        norm: "linf".into(),
        eps: 8.0 / 255.0,
        clean_acc: 50.0,
        subset_clean_acc: 51.0,
        robust_acc: 10.0,
        n_test: 100,
        n_attack: 10,
        distilled_images: 100,
        train_epochs: 3,
        distill_s: 0.1,
        train_s: 1.0,
        attack_s: 0.5,
        forward_calls: 11,
        backward_calls: 10,
        protocol: "dd".into(),
        teacher_regularizer: "guard".into(),
        teacher_s: 2.5,
        teacher_forward: 40,
        teacher_backward: 30,
        teacher_clean_acc: 90.0,
        teacher_pgd_acc: 20.0,
        pert_mean: 0.02,
        pert_max: 8.0 / 255.0,
        pert_median_success: 8.0 / 255.0,
        pert_mean_success: 0.03,
        attack_config: r#"{"steps":20}"#.into(),
        flags: String::new(),
        peak_device_mib: 512.5,
        key_hash: "0123456789abcdef".into(),
        attack_label: String::new(),
        method_config: r#"{"epochs":null}"#.into(),
        augment: "dsa".into(),
        whitening: "none".into(),
        distilled_min: -0.25,
        distilled_max: 1.5,
    }
}

#[test]
fn rows_survive_a_reopen_and_keys_find_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("results.csv");
    let mut f = ResultsFile::open(&p, &|_| {}).unwrap();
    f.push(row(0)).unwrap();
    f.push(row(1)).unwrap();
    let g = ResultsFile::open(&p, &|_| {}).unwrap();
    assert_eq!(g.rows, vec![row(0), row(1)]);
    assert!(g.contains(&row(1).id()));
    assert!(!g.contains(&row(2).id()));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file is left behind");
}

#[test]
fn flags_are_written_and_rows_of_the_old_format_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("results.csv");
    let mut f = ResultsFile::open(&p, &|_| {}).unwrap();
    f.push(row(0)).unwrap();
    f.push(row(1)).unwrap();
    let k1 = row(1).key();
    f.set_flags(|k| (k == k1).then(|| "eps_not_monotone".to_string()))
        .unwrap();
    let g = ResultsFile::open(&p, &|_| {}).unwrap();
    assert_eq!(g.rows[0].flags, "");
    assert_eq!(g.rows[1].flags, "eps_not_monotone");
    // a CSV written before the perturbation / config / flags columns existed
    let text = std::fs::read_to_string(&p).unwrap();
    let old: String = text
        .lines()
        .map(|l| l.split(',').take(29).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    assert!(
        old.starts_with("dataset,") && old.lines().next().unwrap().ends_with("teacher_pgd_acc")
    );
    std::fs::write(&p, old).unwrap();
    let h = ResultsFile::open(&p, &|_| {}).unwrap();
    assert_eq!(h.rows.len(), 2);
    assert_eq!((h.rows[1].flags.as_str(), h.rows[1].pert_max), ("", 0.0));
    assert!(
        h.rows[1].peak_device_mib.is_nan(),
        "a missing peak is unknown, not 0"
    );
    assert_eq!(
        h.rows[1].key_hash, "",
        "an old row has no key: never reused"
    );
}

#[test]
fn a_foreign_csv_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("results.csv");
    std::fs::write(&p, "a,b\n1,2\n").unwrap();
    let e = format!("{:#}", ResultsFile::open(&p, &|_| {}).err().unwrap());
    assert!(e.contains("results.csv: row 2"), "{e}");
}

#[test]
fn a_torn_last_line_is_dropped_and_every_whole_row_kept() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("results.csv");
    let mut f = ResultsFile::open(&p, &|_| {}).unwrap();
    for seed in 0..3 {
        f.push(row(seed)).unwrap();
    }
    let text = std::fs::read(&p).unwrap();
    std::fs::write(&p, &text[..text.len() - 20]).unwrap();
    let warned = std::cell::RefCell::new(String::new());
    let g = ResultsFile::open(&p, &|m| warned.borrow_mut().push_str(m)).unwrap();
    assert_eq!(g.rows.iter().map(|r| r.seed).collect::<Vec<_>>(), [0, 1]);
    assert!(
        warned.borrow().contains("torn last line"),
        "{}",
        warned.borrow()
    );
}

#[test]
fn an_attack_label_names_the_row_and_older_rows_have_none() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("results.csv");
    let mut f = ResultsFile::open(&p, &|_| {}).unwrap();
    f.push(row(0)).unwrap();
    let labelled = ResultRow {
        attack_label: "pgd-50".into(),
        ..row(1)
    };
    f.push(labelled.clone()).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.lines().next().unwrap().ends_with(
        ",key_hash,attack_label,method_config,augment,whitening,distilled_min,distilled_max"
    ));
    let g = ResultsFile::open(&p, &|_| {}).unwrap();
    assert_eq!(g.rows, vec![row(0), labelled]);
    assert_eq!(
        (g.rows[0].attack_label(), g.rows[1].attack_label()),
        ("pgd".into(), "pgd-50".into())
    );
    let aa = ResultRow {
        attack: "autoattack".into(),
        attack_config: r#"{"version":"fast"}"#.into(),
        ..row(2)
    };
    assert_eq!(aa.attack_label(), "autoattack (fast)");
    // a file written before the columns (attack_label, method_config, augment, whitening,
    // distilled_min, distilled_max): no label
    let old: String = text
        .lines()
        .map(|l| l.rsplitn(7, ',').nth(6).unwrap().to_string() + "\n")
        .collect();
    std::fs::write(&p, old).unwrap();
    let h = ResultsFile::open(&p, &|_| {}).unwrap();
    assert_eq!(
        (h.rows[1].attack_label.as_str(), h.rows[1].attack_label()),
        ("", "pgd".into())
    );
}
