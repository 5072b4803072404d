//! `ddbench report` on a fixed results table: the Markdown leaderboard holds the values computed
//! by hand below (best per column in bold), the published reference is listed, and every chart
//! is written as a non-empty SVG and a 1000 × 600 PNG.

use ddbench_tests::{ddbench, text};

/// (method, seed, clean, subset clean, [(attack, ε·255, robust, attack s)]); distil / train
/// seconds 1 / 10 for A and 2 / 20 for B; FGSM 1+1 passes, PGD 10+10.
#[allow(clippy::type_complexity)]
const CELLS: [(&str, u64, f64, f64, [(&str, f64, f64, f64); 3]); 4] = [
    (
        "A",
        0,
        80.0,
        80.0,
        [
            ("fgsm", 8.0, 60.0, 1.0),
            ("pgd", 4.0, 50.0, 3.0),
            ("pgd", 8.0, 40.0, 5.0),
        ],
    ),
    (
        "A",
        1,
        70.0,
        70.0,
        [
            ("fgsm", 8.0, 50.0, 1.0),
            ("pgd", 4.0, 50.0, 3.0),
            ("pgd", 8.0, 30.0, 5.0),
        ],
    ),
    (
        "B",
        0,
        60.0,
        60.0,
        [
            ("fgsm", 8.0, 55.0, 2.0),
            ("pgd", 4.0, 55.0, 2.0),
            ("pgd", 8.0, 50.0, 2.0),
        ],
    ),
    (
        "B",
        1,
        62.0,
        60.0,
        [
            ("fgsm", 8.0, 55.0, 2.0),
            ("pgd", 4.0, 55.0, 2.0),
            ("pgd", 8.0, 52.0, 2.0),
        ],
    ),
];

// Hand computation (mean ± sample std over the two seeds; std of two values = |a − b| / √2):
// A: clean 80, 70 → 75 ± 7.07; FGSM 8: 60, 50 → 55 ± 7.07; PGD 4: 50, 50 → 50 ± 0;
//    PGD 8: 40, 30 → 35 ± 7.07; worst at 8/255 = min(FGSM, PGD) = 40, 30 → 35 ± 7.07.
//    AUC (worst curve, clean at ε 0, trapezoids of width 4/255, divided by 8/255):
//      seed 0: (4·(80+50)/2 + 4·(50+40)/2)/8 = (260 + 180)/8 = 55; seed 1: (4·60 + 4·40)/8 = 50
//      → 52.50 ± 3.54.
//    RR = 100(1 − mean ASR / max ASR): seed 0 ASR 20, 30, 40 → 100(1 − 30/40) = 25;
//      seed 1 ASR 20, 20, 40 → 100(1 − 26.667/40) = 33.333 → 29.17 ± 5.89.
//    AE = 100 · mean T / max T (T₀ = 0): 100 · 3/5 = 60 both seeds → 60.00 ± 0.00.
//    CREI = ½RR + ½AE: 42.5, 46.667 → 44.58 ± 2.95.
//    I-RR = 100(1 − mean ASR · max ASR / A²): seed 0 100(1 − 30·40/6400) = 81.25;
//      seed 1 100(1 − 26.667·40/4900) = 78.231 → 79.74 ± 2.13.
//    cost: distil 1, train 10, attack 1+3+5 = 9 s, passes 2 + 20 + 20 = 42.
// B: clean 60, 62 → 61 ± 1.41; FGSM 55, 55; PGD 4 55, 55; PGD 8 50, 52 → 51 ± 1.41; worst 51 ± 1.41.
//    AUC (subset clean 60): seed 0 (4·57.5 + 4·52.5)/8 = 55; seed 1 (4·57.5 + 4·53.5)/8 = 55.5
//      → 55.25 ± 0.35.
//    RR: seed 0 ASR 5, 5, 10 → 100(1 − 6.667/10) = 33.333; seed 1 ASR 5, 5, 8 → 100(1 − 6/8) = 25
//      → 29.17 ± 5.89 (a tie with A: both bold).
//    AE: 100 · 2/2 = 100. CREI: 66.667, 62.5 → 64.58 ± 2.95.
//    I-RR: seed 0 100(1 − 6.667·10/3600) = 98.148; seed 1 100(1 − 6·8/3600) = 98.667 → 98.41 ± 0.37.
//    cost: distil 2, train 20, attack 6 s, passes 42.
const EXPECTED: &str = "\
| method | seeds | clean % | fgsm 8/255 % | pgd 4/255 % | pgd 8/255 % | worst % | AUC % | RR | AE | CREI | I-RR | distil s | train s | attack s | passes | peak MiB |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| A | 2 | **75.00 ± 7.07** | **55.00 ± 7.07** | 50.00 ± 0.00 | 35.00 ± 7.07 | 35.00 ± 7.07 | 52.50 ± 3.54 | **29.17 ± 5.89** | 60.00 ± 0.00 | 44.58 ± 2.95 | 79.74 ± 2.13 | **1.0 ± 0.0** | **10.0 ± 0.0** | 9.0 ± 0.0 | **42** | – |
| B | 2 | 61.00 ± 1.41 | **55.00 ± 0.00** | **55.00 ± 0.00** | **51.00 ± 1.41** | **51.00 ± 1.41** | **55.25 ± 0.35** | **29.17 ± 5.89** | **100.00 ± 0.00** | **64.58 ± 2.95** | **98.41 ± 0.37** | 2.0 ± 0.0 | 20.0 ± 0.0 | **6.0 ± 0.0** | **42** | – |
";

// The pgd sweep: A subset clean 80, 70 → 75 ± 7.0711; 4/255 50, 50; 8/255 40, 30 → 35 ± 7.0711.
// B subset clean 60, 60; 4/255 55, 55; 8/255 50, 52 → 51 ± 1.4142.
const SWEEPS: &str = "\
dataset,arch,ipc,attack,norm,method,eps,eps_value,n,mean,std
toy,convnet,10,pgd,linf,A,0,0.00000000,2,75.0000,7.0711
toy,convnet,10,pgd,linf,A,4/255,0.01568627,2,50.0000,0.0000
toy,convnet,10,pgd,linf,A,8/255,0.03137255,2,35.0000,7.0711
toy,convnet,10,pgd,linf,B,0,0.00000000,2,60.0000,0.0000
toy,convnet,10,pgd,linf,B,4/255,0.01568627,2,55.0000,0.0000
toy,convnet,10,pgd,linf,B,8/255,0.03137255,2,51.0000,1.4142
";

#[test]
fn report_on_a_fixed_table_matches_the_hand_computation() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("dataset,method,ipc,arch,seed,attack,norm,eps,clean_acc,subset_clean_acc,robust_acc,distill_s,train_s,attack_s,forward_calls,backward_calls,train_epochs\n");
    for (m, seed, clean, sub, atks) in CELLS {
        let (ds, tr) = if m == "A" { (1.0, 10.0) } else { (2.0, 20.0) };
        for (a, e, r, t) in atks {
            let passes = if a == "fgsm" { 1 } else { 10 };
            csv.push_str(&format!(
                "toy,{m},10,convnet,{seed},{a},linf,{},{clean},{sub},{r},{ds},{tr},{t},{passes},{passes},300\n",
                e / 255.0
            ));
        }
    }
    std::fs::write(dir.path().join("results.csv"), csv).unwrap();
    let published = dir.path().join("published.csv");
    std::fs::write(
        &published,
        "dataset,method,ipc,arch,metric,value,protocol,source\ntoy,A,10,convnet,clean_acc,77.5,dd-crop-flip-300,a made-up test source\ntoy,C,10,convnet,clean_acc,40,dd-crop-flip-300,another\n",
    )
    .unwrap();
    let r = ddbench(&[
        "report",
        dir.path().to_str().unwrap(),
        "--published",
        published.to_str().unwrap(),
        "--title",
        "toy board",
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let md = std::fs::read_to_string(dir.path().join("leaderboard.md")).unwrap();
    assert!(md.starts_with("# toy board\n"), "{md}");
    assert!(md.contains("## toy, convnet, IPC 10\n"), "{md}");
    assert!(md.contains(EXPECTED), "expected\n{EXPECTED}\nin\n{md}");
    assert!(
        md.contains("- A clean_acc: 77.5 — a made-up test source"),
        "{md}"
    );

    // summary.csv: the 95 % interval of A's clean accuracy: 75 ± t(1) · 7.0711 / √2 = 75 ± 12.706 · 5
    let summary = ddbench_tests::read_rows(&dir.path().join("summary.csv"));
    let a = summary
        .iter()
        .find(|r| r["method"] == "A" && r["metric"] == "clean %")
        .unwrap();
    assert_eq!(
        (a["ci95_low"].as_str(), a["ci95_high"].as_str()),
        ("11.4700", "138.5300")
    );

    // sweeps.csv: pgd ran at two ε (fgsm at one: no sweep); ε 0 is the subset's clean accuracy
    let sweeps = std::fs::read_to_string(dir.path().join("sweeps.csv")).unwrap();
    assert_eq!(sweeps, SWEEPS, "sweeps.csv");

    for stem in [
        "bars_toy_convnet_ipc10",
        "curve_toy_convnet_ipc10",
        "sweep_pgd_linf_toy_convnet_ipc10",
        "pareto_toy_convnet",
    ] {
        let svg =
            std::fs::read_to_string(dir.path().join("charts").join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("toy") && svg.len() > 2000,
            "{stem}.svg"
        );
        let png = std::fs::read(dir.path().join("charts").join(format!("{stem}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png is not a PNG");
        let (w, h) = (
            u32::from_be_bytes(png[16..20].try_into().unwrap()),
            u32::from_be_bytes(png[20..24].try_into().unwrap()),
        );
        assert_eq!((w, h), (1000, 600), "{stem}.png size");
        assert!(
            png.len() > 10_000,
            "{stem}.png is nearly empty ({} bytes)",
            png.len()
        );
    }
    let bars =
        std::fs::read_to_string(dir.path().join("charts/bars_toy_convnet_ipc10.svg")).unwrap();
    assert!(
        bars.contains("published") && bars.contains("accuracy (%)"),
        "bars chart lacks legend/axis"
    );
}

/// `ddbench report` on a results.csv of `head` (the header line) and `rows`; its leaderboard.md.
/// `ddbench report` on a results.csv of `head` and `rows`: its output and the folder.
fn report_of(head: &str, rows: &[&str]) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("results.csv"),
        format!("{head}\n{}\n", rows.join("\n")),
    )
    .unwrap();
    let r = ddbench(&[
        "report",
        dir.path().to_str().unwrap(),
        "--published",
        "none",
    ]);
    (r, dir)
}

fn leaderboard_of(head: &str, rows: &[&str]) -> String {
    let (r, dir) = report_of(head, rows);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    std::fs::read_to_string(dir.path().join("leaderboard.md")).unwrap()
}

/// The memory column: per seed the largest `peak_device_mib` of its rows (each row holds the
/// peak so far), bench's `peak_rss_mib` where a row has none (records of an older ddbench);
/// then the mean over seeds. Here seed 0: max(300, 100) = 300 (not its last row's); seed 1: no
/// device figure, RSS 500 → (300 + 500) / 2 = 400.
#[test]
fn report_memory_is_the_device_peak_with_the_process_rss_as_fallback() {
    let md = leaderboard_of(
        "peak_rss_mib,dataset,method,ipc,arch,seed,attack,norm,eps,clean_acc,subset_clean_acc,robust_acc,distill_s,train_s,attack_s,forward_calls,backward_calls,peak_device_mib",
        &[
            "900,toy,A,10,convnet,0,fgsm,linf,0.0313725,80,80,50,1,10,1,1,1,300",
            "900,toy,A,10,convnet,0,pgd,linf,0.0313725,80,80,40,1,10,1,10,10,100",
            "500,toy,A,10,convnet,1,fgsm,linf,0.0313725,70,70,50,1,10,1,1,1,",
            "500,toy,A,10,convnet,1,pgd,linf,0.0313725,70,70,40,1,10,1,10,10,",
        ],
    );
    let line = md
        .lines()
        .find(|l| l.starts_with("| A |"))
        .unwrap_or_else(|| panic!("no row for A in\n{md}"));
    assert!(line.ends_with("| 400 |"), "{line}");
}

/// AutoAttack's version is part of its column's name, so a `fast` run is never read as the
/// reference `standard` one (whose config, the plugin's default, is `{}`).
#[test]
fn report_names_the_autoattack_version() {
    let md = leaderboard_of(
        "dataset,method,ipc,arch,seed,attack,norm,eps,clean_acc,subset_clean_acc,robust_acc,distill_s,train_s,attack_s,forward_calls,backward_calls,attack_config",
        &[
            "toy,A,10,convnet,0,autoattack,linf,0.03137254901960784,80,80,30,1,10,1,1,1,\"{\"\"version\"\":\"\"fast\"\"}\"",
            "toy,A,10,convnet,0,pgd,linf,0.03137254901960784,80,80,40,1,10,1,10,10,{}",
        ],
    );
    assert!(
        md.contains("| clean % | autoattack (fast) 8/255 % | pgd 8/255 % |"),
        "{md}"
    );
}

/// Two rows of one slot (two runs' CSVs pasted together) are refused, not averaged or overwritten.
#[test]
fn report_refuses_two_rows_of_one_slot() {
    let head = "dataset,method,ipc,arch,seed,attack,norm,eps,clean_acc,subset_clean_acc,robust_acc,distill_s,train_s,attack_s,forward_calls,backward_calls";
    let row = "d,A,10,convnet,0,pgd,linf,0.0313725,80,80,40,1,10,5,10,10";
    let twin = "d,A,10,convnet,0,pgd,linf,0.0313725,70,70,30,1,10,5,10,10";
    let (r, _dir) = report_of(head, &[row, twin]);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(1), "{t}");
    assert!(
        t.contains("two rows for d convnet ipc 10 A seed 0 pgd linf"),
        "{t}"
    );
}

/// A published figure is drawn only beside cells of its own protocol id: A ran under DSA for
/// 1000 epochs, B under crop-flip for 300; figures of A under crop-flip (B's protocol, not A's),
/// of B under DSA, of a method not run here under a protocol no cell ran, and of an unknown
/// protocol are all left out, and the note under the table counts them.
#[test]
fn report_draws_published_figures_only_for_the_same_protocol() {
    let head = "dataset,method,ipc,arch,seed,attack,norm,eps,clean_acc,subset_clean_acc,robust_acc,distill_s,train_s,attack_s,forward_calls,backward_calls,protocol,train_epochs,augment,whitening";
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        "toy,A,10,convnet,0,pgd,linf,0.03137254901960784,80,80,40,1,10,5,10,10,dd,1000,dsa,none",
        "toy,B,10,convnet,0,pgd,linf,0.03137254901960784,60,60,30,1,10,5,10,10,dd,300,,",
    ];
    std::fs::write(
        dir.path().join("results.csv"),
        format!("{head}\n{}\n", rows.join("\n")),
    )
    .unwrap();
    let published = dir.path().join("published.csv");
    std::fs::write(
        &published,
        "dataset,method,ipc,arch,metric,value,protocol,source\n\
         toy,A,10,convnet,clean_acc,77.5,dd-dsa-1000,matching\n\
         toy,A,10,convnet,clean_acc,55.5,dd-crop-flip-300,A under B's protocol\n\
         toy,B,10,convnet,clean_acc,33.3,dd-dsa-1000,B under A's protocol\n\
         toy,Z,10,convnet,clean_acc,11.1,dd-none-300,no cell ran it\n\
         toy,Z,10,convnet,clean_acc,22.2,unknown,protocol not known\n",
    )
    .unwrap();
    let r = ddbench(&[
        "report",
        dir.path().to_str().unwrap(),
        "--published",
        published.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let md = std::fs::read_to_string(dir.path().join("leaderboard.md")).unwrap();
    assert!(md.contains("- A clean_acc: 77.5 — matching\n"), "{md}");
    for v in ["55.5", "33.3", "11.1", "22.2"] {
        assert!(!md.contains(v), "{v} drawn under another protocol:\n{md}");
    }
    assert!(
        md.contains("Published markers are for protocol dd-crop-flip-300, dd-dsa-1000 only; 4 published rows left out: their protocol differs.\n"),
        "{md}"
    );
    // the chart draws the one matching figure (its legend entry), and only A's group has it
    let bars =
        std::fs::read_to_string(dir.path().join("charts/bars_toy_convnet_ipc10.svg")).unwrap();
    assert!(
        bars.contains("published, protocol dd-crop-flip-300, dd-dsa-1000"),
        "no published marker drawn, or its legend lacks the protocol"
    );
    assert!(
        !bars.contains(">Z<"),
        "a group for Z, whose figures' protocols no cell ran"
    );
}

/// Every row of baselines/published.csv says which protocol produced it and cites its source
/// (a paper, never an issue of this project).
#[test]
fn every_published_row_has_a_protocol_and_a_source() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../baselines/published.csv");
    let rows = ddbench_tests::read_rows(&path);
    assert!(!rows.is_empty());
    for (i, r) in rows.iter().enumerate() {
        let line = i + 2;
        assert!(!r["protocol"].trim().is_empty(), "line {line}: no protocol");
        let source = r["source"].trim();
        assert!(!source.is_empty(), "line {line}: no source");
        for field in ["source", "note"] {
            let v = r.get(field).map_or("", |v| v.as_str()).to_lowercase();
            assert!(
                !v.contains("issue"),
                "line {line}: {field} cites an issue: {v}"
            );
        }
    }
}
