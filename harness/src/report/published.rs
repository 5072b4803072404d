//! Published reference numbers (baselines/published.csv), listed and drawn beside ddbench's own.

use super::tables::TableKey;
use crate::record::ResultRow;
use anyhow::{Context, Result};
use std::path::Path;

/// A published reference number (baselines/published.csv).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Published {
    pub dataset: String,
    pub method: String,
    pub ipc: i64,
    pub arch: String,
    pub metric: String,
    pub value: f64,
    /// The protocol id the figure was measured under (`protocol_id`), `unknown` where the source
    /// does not say: such a figure is never drawn.
    pub protocol: String,
    /// Paper (authors, title, venue, year), table, and the evaluation setting it states.
    pub source: String,
    #[serde(default)]
    pub note: String,
}

/// The protocol id a row ran under: `dd-{augment}[-zca]-{epochs}` for the DD protocol (empty
/// `augment`: `crop-flip`; `-zca` when `whitening` is `zca:<hash>`), `soft-label-{epochs}` for
/// the soft-label protocol; `unknown` without epochs or for another protocol. An empty
/// `protocol` (older rows) is `dd`.
pub fn protocol_id(r: &ResultRow) -> String {
    if r.train_epochs <= 0 {
        return UNKNOWN.into();
    }
    let epochs = r.train_epochs;
    match r.protocol.as_str() {
        "soft-label" => format!("soft-label-{epochs}"),
        "dd" | "" => {
            let augment = if r.augment.is_empty() {
                "crop-flip"
            } else {
                &r.augment
            };
            let zca = if r.whitening.starts_with("zca") {
                "-zca"
            } else {
                ""
            };
            format!("dd-{augment}{zca}-{epochs}")
        }
        _ => UNKNOWN.into(),
    }
}

/// The protocol id of a figure whose protocol is not known: never drawn.
pub const UNKNOWN: &str = "unknown";

impl Published {
    /// Whether it belongs beside `table` by data set, arch and IPC (a whole-set figure, `full`,
    /// beside every IPC); whether its protocol matches is `TableData`'s business.
    pub fn applies(&self, table: &TableKey) -> bool {
        self.dataset == table.dataset
            && self.arch == table.arch
            && (self.ipc == table.ipc || self.method == "full")
    }
}

pub fn read_published(path: &Path) -> Result<Vec<Published>> {
    let mut rd =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    rd.deserialize()
        .enumerate()
        .map(|(i, r)| r.with_context(|| format!("{}: line {}", path.display(), i + 2)))
        .collect()
}

/// The reference numbers `--published` asks for: that file, none for `none`, and by default
/// baselines/published.csv where it exists.
pub fn load(published: Option<&Path>) -> Result<Vec<Published>> {
    match published {
        Some(p) if p == Path::new("none") => Ok(Vec::new()),
        Some(p) => read_published(p),
        None => {
            let p = Path::new("baselines/published.csv");
            if p.exists() {
                read_published(p)
            } else {
                Ok(Vec::new())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of `protocol,train_epochs,augment,whitening` (the other columns fixed).
    fn ids(rows: &[&str]) -> Vec<String> {
        let head = "dataset,method,ipc,arch,seed,attack,norm,eps,clean_acc,subset_clean_acc,robust_acc,distill_s,train_s,attack_s,forward_calls,backward_calls,protocol,train_epochs,augment,whitening";
        let body: Vec<String> = rows
            .iter()
            .map(|r| format!("toy,A,10,convnet,0,none,,0,50,50,50,1,1,0,0,0,{r}"))
            .collect();
        let text = format!("{head}\n{}\n", body.join("\n"));
        csv::Reader::from_reader(text.as_bytes())
            .deserialize::<ResultRow>()
            .map(|r| protocol_id(&r.unwrap()))
            .collect()
    }

    #[test]
    fn protocol_ids_name_augmentation_whitening_and_epochs() {
        assert_eq!(
            ids(&[
                "dd,300,crop-flip,none",
                "dd,300,,",
                ",300,,",
                "dd,1000,dsa,none",
                "dd,1000,dsa,zca:0123abcd",
                "dd,300,none,none",
                "soft-label,400,,",
                "dd,0,,",
                "other,300,,",
            ]),
            [
                "dd-crop-flip-300",
                "dd-crop-flip-300",
                "dd-crop-flip-300",
                "dd-dsa-1000",
                "dd-dsa-zca-1000",
                "dd-none-300",
                "soft-label-400",
                "unknown",
                "unknown",
            ]
        );
    }
}
