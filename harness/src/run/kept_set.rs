//! A cell's distilled set kept for a rerun of the cell (`checkpoints/distilled/`): the images,
//! labels and soft labels, and the method's hints, pixel range and seconds.

use super::checkpoints::write_whole;
use crate::plugin::DistillOutcome;
use ddbench_nn::resume::SavedFile;
use ddbench_plugin_api::Hints;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// What is not a tensor (numbers go as tensors: JSON would not give every f64 back exactly).
#[derive(Serialize, Deserialize)]
struct Meta {
    hints: Hints,
}

pub fn save(file: &Path, set: &DistillOutcome, seconds: f64) -> Result<(), String> {
    let meta = Meta {
        hints: set.hints.clone(),
    };
    let json = serde_json::to_vec(&meta).map_err(|e| e.to_string())?;
    let cpu = |t: &Tensor| t.to_device(Device::Cpu);
    let mut named = vec![
        ("meta".to_string(), Tensor::from_slice(&json)),
        (
            "numbers".into(),
            Tensor::from_slice(&[set.range.0, set.range.1, seconds]),
        ),
        ("images".into(), cpu(&set.images)),
        ("labels".into(), cpu(&set.labels)),
    ];
    if let Some(s) = &set.soft_labels {
        named.push(("soft_labels".into(), cpu(s)));
    }
    write_whole(file, &named)
}

/// The set kept in `file` (on `device`) and the seconds its method took; `None` without a file.
pub fn load(file: &Path, device: Device) -> Result<Option<(DistillOutcome, f64)>, String> {
    if !file.exists() {
        return Ok(None);
    }
    let mut saved = SavedFile::read(file, "delete it to distil anew")?;
    let meta = saved.take("meta")?;
    let numbers = saved.take("numbers")?;
    let (images, labels) = (saved.take("images")?, saved.take("labels")?);
    let soft_labels = saved.take("soft_labels").ok();
    let bad = |what: String| saved.bad(what);
    let json = Vec::<u8>::try_from(meta.to_kind(Kind::Uint8)).map_err(|e| bad(e.to_string()))?;
    let meta: Meta = serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))?;
    let numbers = Vec::<f64>::try_from(numbers).map_err(|e| bad(e.to_string()))?;
    let [lo, hi, seconds] = numbers[..] else {
        return Err(bad(format!(
            "'numbers' has {} values, expected 3",
            numbers.len()
        )));
    };
    let set = DistillOutcome {
        images: images.to_device(device),
        labels: labels.to_device(device),
        soft_labels: soft_labels.map(|t| t.to_device(device)),
        hints: meta.hints,
        range: (lo, hi),
    };
    Ok(Some((set, seconds)))
}
