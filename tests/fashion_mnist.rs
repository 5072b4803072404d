//! Real data: Fashion-MNIST (Debian's dataset-fashion-mnist, installed by scripts/setup.sh).
//! `random` IPC 10 with ConvNet must reach ≥ 65 % (published, width 128: about 74 %), `full` must
//! beat it, and PGD must behave on the trained students: robust ≤ clean, non-increasing in ε,
//! equal to clean at ε = 0.

use ddbench_tests::{ddbench, fashion_mnist_dir, read_rows, text};

#[test]
fn random_ipc10_learns_full_beats_it_and_pgd_behaves() {
    let data = fashion_mnist_dir().expect(
        "Fashion-MNIST is missing: run scripts/setup.sh (installs dataset-fashion-mnist) — this test must not be skipped",
    );
    let out = tempfile::tempdir().unwrap();
    let r = ddbench(&[
        "run",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--method",
        "random,full",
        "--ipc",
        "10",
        "--width",
        "32",
        "--epochs",
        "300",
        "--method-config",
        // one epoch at batch 64 (938 steps) beats two at 256 (470): 82.5 % against 81.5 %, in
        // half the time
        r#"full={"epochs": 1, "batch_size": 64}"#,
        "--attacks",
        "pgd",
        "--eps",
        "0,1/255,4/255,8/255",
        "--n-attack",
        "200",
        "--device",
        "cpu",
        "--quiet",
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let rows = read_rows(&out.path().join("results.csv"));
    assert_eq!(rows.len(), 8, "2 methods × 4 eps");
    let clean = |m: &str| {
        rows.iter().find(|r| r["method"] == m).unwrap()["clean_acc"]
            .parse::<f64>()
            .unwrap()
    };
    let (random, full) = (clean("random"), clean("full"));
    eprintln!("random IPC 10: {random:.2}%, full (1 epoch, batch 64): {full:.2}%");
    assert!(
        random >= 65.0,
        "random IPC 10 clean accuracy {random:.2}% < 65%"
    );
    assert!(
        full > random + 3.0,
        "full {full:.2}% does not beat random {random:.2}%"
    );
    for m in ["random", "full"] {
        let mut curve: Vec<(f64, f64, f64)> = rows
            .iter()
            .filter(|r| r["method"] == m)
            .map(|r| {
                (
                    r["eps"].parse().unwrap(),
                    r["robust_acc"].parse().unwrap(),
                    r["subset_clean_acc"].parse().unwrap(),
                )
            })
            .collect();
        curve.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        eprintln!("{m}: (eps, robust, clean) {curve:?}");
        assert_eq!(
            curve[0].1, curve[0].2,
            "{m}: at eps 0 robust must equal clean"
        );
        for w in curve.windows(2) {
            assert!(
                w[1].1 <= w[0].1,
                "{m}: robust accuracy rose with eps: {curve:?}"
            );
        }
        // measured (2026-12-02, `full` 1 epoch at batch 64, 82.5 % clean on all 10,000): PGD at
        // 8/255 costs random 26.5 points (71.0 → 44.5 %) and full 28.0 (84.0 → 56.0 %) on the
        // 200 attacked images; the students are retrained by every run (CPU training is not
        // bit-reproducible across machines), so the check asks for 15, 11.5 points (23 images)
        // below the smaller drop — still far from what a broken attack gives (0)
        let (last, first) = (curve[3], curve[0]);
        assert!(
            last.1 < first.2 - 15.0,
            "{m}: PGD at 8/255 barely hurts ({curve:?}): attack too weak?"
        );
    }
}
