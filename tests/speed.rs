//! `ddbench speed --compare` end to end: ddbench's figure and the repository's PyTorch
//! reference (`bench/pytorch_reference.py`, run by the virtualenv's Python) in one call, with the
//! ratio table; levers the CPU cannot use fall back with a line (bf16 stays where the CPU computes
//! it natively, fused optimiser steps everywhere, the reference adding its fused step; GUARD's
//! shared pass, the reference adding its shared-pass step); the end-to-end DD cell runs on both
//! sides at a tiny scale. (Figures are not asserted: timings belong in benchmarks.)

use ddbench_tests::{cpu_has_native_bf16, ddbench, text};

fn table_row<'a>(out: &'a str, figure: &str) -> Option<&'a str> {
    out.lines()
        .find(|l| l.starts_with(&format!("| {figure} |")))
}

/// Both sides' JSON lines in the output.
fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn speed_compare_runs_both_sides_and_prints_ratios() {
    let r = ddbench(&[
        "speed",
        "--device",
        "cpu",
        "--iters",
        "1",
        "--only",
        "convnet3.train_step",
        "--compare",
        "--levers",
        "bf16,channels-last,cuda-graphs,fused",
    ]);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(0), "{t}");
    // bf16 stays on a CPU that computes it natively (then the reference adds its own bf16 step)
    let native = cpu_has_native_bf16();
    assert_eq!(
        t.contains("lever bf16 autocast: this CPU has no native bf16"),
        !native,
        "{t}"
    );
    assert!(t.contains("lever channels-last: CUDA only here"), "{t}");
    assert!(
        t.contains("lever cuda-graphs: CUDA only; eager steps"),
        "{t}"
    );
    let row = table_row(&t, "convnet3.train_step").unwrap_or_else(|| panic!("{t}"));
    assert!(row.ends_with("× |"), "a ratio: {row}");
    // both sides' JSON lines, with what they measured on
    let lines = json_lines(&t);
    let sides: Vec<&str> = lines.iter().map(|v| v["impl"].as_str().unwrap()).collect();
    let figures: Vec<&str> = lines
        .iter()
        .map(|v| v["figure"].as_str().unwrap())
        .collect();
    if native {
        assert_eq!(sides, ["ddbench", "pytorch", "pytorch", "pytorch"], "{t}");
        assert_eq!(figures[2], "convnet3.train_step_bf16", "{t}");
        assert_eq!(
            lines[0]["levers"], "bf16+fused",
            "channels-last fell back: {t}"
        );
        assert_eq!(lines[0]["dtype"], "bfloat16 (autocast)", "{t}");
    } else {
        assert_eq!(sides, ["ddbench", "pytorch", "pytorch"], "{t}");
        assert_eq!(
            lines[0]["levers"], "fused",
            "bf16, channels-last fell back: {t}"
        );
    }
    assert_eq!(figures.last(), Some(&"convnet3.train_step_fused"), "{t}");
    assert_eq!(lines.last().unwrap()["levers"], "fused", "{t}");
    assert_eq!(lines[0]["batch"], 32);

    let r = ddbench(&[
        "speed",
        "--device",
        "cpu",
        "--e2e",
        "--e2e-scale",
        "0.0005",
        "--only",
        "dd_cell",
        "--compare",
    ]);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(0), "{t}");
    let row = table_row(&t, "e2e.dd_cell").unwrap_or_else(|| panic!("{t}"));
    assert!(row.ends_with("× |"), "{row}");
    assert!(
        t.contains("\"levers\":\"batched\""),
        "the cell's students train together: {t}"
    );
}

/// GUARD's shared clean pass: ddbench's step carries the lever, the reference adds the same
/// step written with one clean pass beside its official one. Two rounds: each side measured
/// twice in turn, every line with its round, the table with the per-round ratios' range. The
/// reference runs with ddbench's malloc tuning, and says so.
#[test]
fn speed_compare_adds_the_references_shared_pass_step_over_two_rounds() {
    let r = ddbench(&[
        "speed",
        "--device",
        "cpu",
        "--iters",
        "1",
        "--only",
        "convnet3.guard_simplified_step",
        "--compare",
        "--levers",
        "shared-pass",
        "--rounds",
        "2",
        "--tuned-reference",
    ]);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(0), "{t}");
    let lines = json_lines(&t);
    let said: Vec<(u64, [&str; 3])> = lines
        .iter()
        .map(|v| {
            let s = ["impl", "figure", "levers"].map(|k| v[k].as_str().unwrap_or_default());
            (v["round"].as_u64().unwrap_or_default(), s)
        })
        .collect();
    let (step, shared) = (
        "convnet3.guard_simplified_step",
        "convnet3.guard_simplified_step_shared",
    );
    let round = |k| {
        [
            (k, ["ddbench", step, "shared-pass"]),
            (k, ["pytorch", step, "malloc-tuned"]),
            (k, ["pytorch", shared, "shared-pass+malloc-tuned"]),
        ]
    };
    assert_eq!(said, [round(1), round(2)].concat(), "{t}");
    assert!(t.contains("| ratio | ratio range |"), "{t}");
    let row = table_row(&t, step).unwrap_or_else(|| panic!("{t}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert!(cells[4].ends_with('×') && cells[5].contains('–'), "{row}");
    assert_eq!(
        t.lines()
            .filter(|l| l.starts_with(&format!("| {step} |")))
            .count(),
        1,
        "one row per figure, whatever the rounds: {t}"
    );
}
