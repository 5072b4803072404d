//! The ratio table of `ddbench speed --compare`: per ddbench figure, the reference's same-named
//! figure and the ratio (> 1: ddbench faster). Over several rounds (`--rounds R`) each side's
//! value is the median of its rounds, the ratio the median of the per-round ratios (a round's
//! ddbench figure over the same round's reference figure, measured one after the other), and a
//! last column gives the per-round ratios' range: the spread a reader needs on a noisy machine.

use super::Figure;
use statrs::statistics::{Data, Max, Median, Min};

fn median(v: &[f64]) -> f64 {
    Data::new(v.to_vec()).median()
}

/// The figure names of `figs` in order of first appearance.
fn names(figs: &[Figure]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for f in figs {
        if !out.contains(&f.figure.as_str()) {
            out.push(&f.figure);
        }
    }
    out
}

/// The values of `name` in `figs`, with their rounds.
fn rounds_of<'a>(
    figs: &'a [Figure],
    name: &'a str,
) -> impl Iterator<Item = (Option<u32>, f64)> + 'a {
    figs.iter()
        .filter(move |f| f.figure == name)
        .map(|f| (f.round, f.value))
}

/// The ratios of `name` per round in which both sides measured it.
fn ratios(ours: &[Figure], theirs: &[Figure], name: &str) -> Vec<f64> {
    rounds_of(ours, name)
        .filter_map(|(r, v)| {
            rounds_of(theirs, name)
                .find(|(t, _)| *t == r)
                .map(|(_, w)| v / w)
        })
        .collect()
}

fn values(figs: &[Figure], name: &str) -> Vec<f64> {
    rounds_of(figs, name).map(|(_, v)| v).collect()
}

/// Markdown table of `ours` against `theirs` (one figure per name and round), then the
/// reference's figures ddbench has no twin of (torchattacks, compiled, bf16, fused, shared-pass).
pub fn table(ours: &[Figure], theirs: &[Figure]) -> String {
    let several = ours
        .iter()
        .chain(theirs)
        .any(|f| f.round.is_some_and(|r| r > 1));
    let (head, rule, blank) = if several {
        (" ratio range |", "---:|", " – |")
    } else {
        ("", "", "")
    };
    let mut t = format!(
        "| figure | ddbench img/s | PyTorch eager img/s | ratio |{head}\n|---|---:|---:|---:|{rule}\n"
    );
    for name in names(ours) {
        let mine = median(&values(ours, name));
        let twin = values(theirs, name);
        let v = match twin.is_empty() {
            true => "–".to_string(),
            false => format!("{:.1}", median(&twin)),
        };
        let r = ratios(ours, theirs, name);
        let (ratio, range) = match r.is_empty() {
            true => ("–".to_string(), blank.to_string()),
            false if several => {
                let d = Data::new(r.clone());
                let range = format!(" {:.2}–{:.2}× |", d.min(), d.max());
                (format!("{:.2}×", median(&r)), range)
            }
            false => (format!("{:.2}×", median(&r)), String::new()),
        };
        t.push_str(&format!("| {name} | {mine:.1} | {v} | {ratio} |{range}\n"));
    }
    for name in names(theirs)
        .into_iter()
        .filter(|n| !ours.iter().any(|f| f.figure == *n))
    {
        let levers = theirs
            .iter()
            .find(|f| f.figure == name)
            .map(|f| f.levers.as_str());
        t.push_str(&format!(
            "| {name} ({}) | – | {:.1} | – |{blank}\n",
            levers.unwrap_or_default(),
            median(&values(theirs, name))
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(name: &str, side: &str, value: f64, round: Option<u32>) -> Figure {
        Figure {
            figure: name.into(),
            value,
            implementation: side.into(),
            device: "cpu".into(),
            batch: 32,
            dtype: "float32".into(),
            levers: if name.ends_with("_bf16") {
                "bf16"
            } else {
                "eager"
            }
            .into(),
            round,
        }
    }

    #[test]
    fn one_round_gives_the_ratio_and_the_references_extra_figures() {
        let ours = [
            fig("a", "ddbench", 300.0, None),
            fig("b", "ddbench", 10.0, None),
        ];
        let theirs = [
            fig("a", "pytorch", 200.0, None),
            fig("a_bf16", "pytorch", 400.0, None),
        ];
        assert_eq!(
            table(&ours, &theirs),
            "| figure | ddbench img/s | PyTorch eager img/s | ratio |\n|---|---:|---:|---:|\n\
             | a | 300.0 | 200.0 | 1.50× |\n\
             | b | 10.0 | – | – |\n\
             | a_bf16 (bf16) | – | 400.0 | – |\n"
        );
    }

    #[test]
    fn rounds_give_medians_and_the_range_of_the_per_round_ratios() {
        // per-round ratios 1.5, 0.5, 2.0: median 1.5 (not 330/200 from the medians), range
        // 0.50–2.00; the reference's missing round 3 of `b` leaves b's ratios to rounds 1–2
        let ours = [
            fig("a", "ddbench", 300.0, Some(1)),
            fig("a", "ddbench", 100.0, Some(2)),
            fig("a", "ddbench", 400.0, Some(3)),
            fig("b", "ddbench", 10.0, Some(1)),
            fig("b", "ddbench", 30.0, Some(2)),
            fig("b", "ddbench", 20.0, Some(3)),
        ];
        let theirs = [
            fig("a", "pytorch", 200.0, Some(1)),
            fig("a", "pytorch", 200.0, Some(2)),
            fig("a", "pytorch", 200.0, Some(3)),
            fig("b", "pytorch", 20.0, Some(1)),
            fig("b", "pytorch", 20.0, Some(2)),
            fig("a_bf16", "pytorch", 400.0, Some(1)),
            fig("a_bf16", "pytorch", 500.0, Some(2)),
        ];
        assert_eq!(
            table(&ours, &theirs),
            "| figure | ddbench img/s | PyTorch eager img/s | ratio | ratio range |\n\
             |---|---:|---:|---:|---:|\n\
             | a | 300.0 | 200.0 | 1.50× | 0.50–2.00× |\n\
             | b | 20.0 | 20.0 | 1.00× | 0.50–1.50× |\n\
             | a_bf16 (bf16) | – | 450.0 | – | – |\n"
        );
    }
}
