//! Image grids of distilled sets (`charts/grid_<data set>_<method>_ipc<IPC>.png`): per method
//! and IPC, the set a run saved with `--save-distilled` (the lowest seed's), one row per class
//! (at most ten), one column per image of the class (at most ten), pixel values clamped to
//! [0, 1] for display; the picture papers show of a distilled set. Drawn only where the
//! records' folder holds saved sets (`artifacts/*/distilled.{safetensors,json}`, also under
//! `cells/*/` for a leaderboard).

use super::data::ReportData;
use super::Exporter;
use anyhow::{anyhow, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Classes and images per class drawn at most; pixels between images.
const MAX_ROWS: i64 = 10;
const MAX_COLS: i64 = 10;
const GAP: i64 = 2;

pub struct Grids;

/// A saved set's card fields the grid needs.
#[derive(serde::Deserialize)]
struct Card {
    dataset: String,
    method: String,
    ipc: i64,
    seed: u64,
}

/// Every saved set under `dir`, by (data set, method, IPC): the lowest seed's folder.
fn saved_sets(dir: &Path) -> BTreeMap<(String, String, i64), (u64, PathBuf)> {
    let mut found = BTreeMap::new();
    let roots = [dir.join("artifacts")].into_iter().chain(
        std::fs::read_dir(dir.join("cells"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("artifacts")),
    );
    for root in roots {
        for cell in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let card = cell.path().join("distilled.json");
            let Some(c) = std::fs::read(&card)
                .ok()
                .and_then(|b| serde_json::from_slice::<Card>(&b).ok())
            else {
                continue;
            };
            let slot = found
                .entry((c.dataset, c.method, c.ipc))
                .or_insert((c.seed, cell.path()));
            if c.seed < slot.0 {
                *slot = (c.seed, cell.path());
            }
        }
    }
    found
}

/// The grid image of a set: uint8 `[C, rows·(H+GAP)−GAP, cols·(W+GAP)−GAP]`, white gaps.
pub fn grid(images: &Tensor, labels: &Tensor) -> Tensor {
    let s = images.size();
    let (c, h, w) = (s[1], s[2], s[3]);
    let labels = labels.to_kind(Kind::Int64);
    let classes: Vec<i64> = Vec::<i64>::try_from(labels.unique_dim(0, true, false, false).0)
        .unwrap_or_default()
        .into_iter()
        .take(MAX_ROWS as usize)
        .collect();
    let rows = classes.len() as i64;
    let cols = (0..rows)
        .map(|r| {
            labels
                .eq(classes[r as usize])
                .sum(Kind::Int64)
                .int64_value(&[])
        })
        .max()
        .unwrap_or(0)
        .min(MAX_COLS);
    let canvas = Tensor::ones(
        [c, rows * (h + GAP) - GAP, cols * (w + GAP) - GAP],
        (Kind::Float, tch::Device::Cpu),
    );
    for (r, class) in classes.iter().enumerate() {
        let idx = labels.eq(*class).nonzero().squeeze_dim(1);
        let n = idx.size()[0].min(cols);
        for k in 0..n {
            let img = images.get(idx.int64_value(&[k])).clamp(0.0, 1.0);
            canvas
                .narrow(1, r as i64 * (h + GAP), h)
                .narrow(2, k * (w + GAP), w)
                .copy_(&img);
        }
    }
    (canvas * 255.0).round().to_kind(Kind::Uint8)
}

/// Writes `grid` (uint8 `[C, H, W]`, C 1 or 3) as a PNG.
fn write_png(grid: &Tensor, path: &Path) -> Result<()> {
    let s = grid.size();
    let (h, w) = (s[1] as u32, s[2] as u32);
    let bytes = Vec::<u8>::try_from(grid.permute([1, 2, 0]).contiguous().reshape([-1]))?;
    let color = if s[0] == 1 {
        image::ExtendedColorType::L8
    } else {
        image::ExtendedColorType::Rgb8
    };
    image::save_buffer(path, &bytes, w, h, color)
        .with_context(|| format!("writing {}", path.display()))
}

/// The grid of the set saved in `cell`, written to `path`.
fn draw(cell: &Path, path: &Path) -> Result<()> {
    let file = cell.join("distilled.safetensors");
    let named: BTreeMap<String, Tensor> = Tensor::read_safetensors(&file)
        .with_context(|| format!("reading {}", file.display()))?
        .into_iter()
        .collect();
    let get = |k: &str| {
        named
            .get(k)
            .ok_or_else(|| anyhow!("{}: no '{k}' tensor", file.display()))
    };
    let images = get("images")?.to_kind(Kind::Float);
    if images.dim() != 4 || ![1, 3].contains(&images.size()[1]) {
        return Err(anyhow!(
            "{}: images of shape {:?}: not 1- or 3-channel [N, C, H, W]",
            file.display(),
            images.size()
        ));
    }
    write_png(&grid(&images, get("labels")?), path)
}

impl Exporter for Grids {
    fn export(&self, _data: &ReportData, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for ((ds, method, ipc), (_, cell)) in saved_sets(dir) {
            let charts = dir.join("charts");
            std::fs::create_dir_all(&charts)
                .with_context(|| format!("creating {}", charts.display()))?;
            let path = charts.join(format!("grid_{ds}_{method}_ipc{ipc}.png"));
            // a broken saved set costs its picture, not the report
            match draw(&cell, &path) {
                Ok(()) => paths.push(path),
                Err(e) => eprintln!("warning: no image grid for {method} IPC {ipc}: {e:#}"),
            }
        }
        Ok(paths)
    }
}
