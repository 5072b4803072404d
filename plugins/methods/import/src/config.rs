//! The `import` method's configuration: which file(s), in which layout, input space and label
//! kind; resolving it records the SHA-256 of every file it names, so a changed file is a new
//! cell (never a reused row) and a file changed after the run resolved it is refused.

use ddbench_plugin_api::{check_in, PluginConfig, PluginResult, ValueRange};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// How the file is laid out (`auto`: by extension; a folder holding `images_best.pt` is `mtt`,
/// another folder `folder`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Auto,
    /// A file `torch.save` wrote: a bare tensor, DC/DSA/DM's `{'data': [[images, labels]]}`, or a
    /// dict of named tensors.
    Pt,
    Safetensors,
    Npz,
    /// MTT / DATM's output folder: `images_best.pt`, `labels_best.pt`.
    Mtt,
    /// One sub-folder per class in sorted order (SRe2L's `new000`, `new001`, …), PNG or JPEG.
    Folder,
}

/// The space the stored images live in; the importer maps them to [0, 1] pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Space {
    /// Pixels in [0, 1] (distilled values may leave it).
    #[default]
    Unit,
    /// Integers 0–255.
    Uint8,
    /// `(x − mean) / std` per channel with the config's `mean` and `std` (DC/DSA/DM).
    Normalized,
    /// Whitened by kornia's ZCA fitted on this data set's training split (MTT / DATM `--zca`).
    Zca,
}

/// What a float label tensor `[N, C]` holds (`auto`: probability rows are soft labels, anything
/// else learned logits; an integer `[N]` tensor is always hard labels).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelKind {
    #[default]
    Auto,
    Hard,
    /// Rows that are probabilities (non-negative, summing to 1).
    Soft,
    /// Logits learned with the images (DATM): soft labels = softmax(logits).
    Learned,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportConfig {
    /// The distilled set of every cell (its images per class must be the cell's IPC).
    pub path: Option<String>,
    /// Or one set per IPC: `{"1": "…", "10": "…"}`.
    pub paths: BTreeMap<String, String>,
    pub format: Format,
    pub space: Space,
    /// Per-channel mean and std of `space = "normalized"`.
    pub mean: Option<Vec<f64>>,
    pub std: Option<Vec<f64>>,
    /// The ZCA regularisation of `space = "zca"` (kornia's, as MTT: 0.1).
    pub zca_eps: f64,
    pub labels: LabelKind,
    /// Tensor names in the file (default: the first of `images`, `image_syn`, `x`; `labels`,
    /// `label_syn`, `y`; `soft_labels`); DC's `res_*.pt` is found by its layout.
    pub images_key: Option<String>,
    pub labels_key: Option<String>,
    pub soft_labels_key: Option<String>,
    /// Which run of DC's `data` list (one per experiment).
    pub experiment: i64,
    /// SHA-256 of every file named (filled in when resolving; a given value must match).
    pub sha256: BTreeMap<String, String>,
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            path: None,
            paths: BTreeMap::new(),
            format: Format::Auto,
            space: Space::Unit,
            mean: None,
            std: None,
            zca_eps: 0.1,
            labels: LabelKind::Auto,
            images_key: None,
            labels_key: None,
            soft_labels_key: None,
            experiment: 0,
            sha256: BTreeMap::new(),
        }
    }
}

impl ImportConfig {
    /// Every path the config names.
    pub fn files(&self) -> Vec<&String> {
        self.path.iter().chain(self.paths.values()).collect()
    }

    /// The set of a cell at `ipc`.
    pub fn path_for(&self, ipc: i64) -> PluginResult<&str> {
        if let Some(p) = self.paths.get(&ipc.to_string()) {
            return Ok(p);
        }
        match &self.path {
            Some(p) => Ok(p),
            None if self.paths.is_empty() => Err(
                "config: no distilled set named: give `path` (one set) or `paths` (one per IPC)"
                    .into(),
            ),
            None => Err(format!(
                "config 'paths': no set for IPC {ipc} (given for IPC {})",
                self.paths.keys().cloned().collect::<Vec<_>>().join(", ")
            )
            .into()),
        }
    }
}

/// SHA-256 of a file, or of a folder: its files' relative paths and bytes in sorted order.
pub fn content_hash(path: &Path) -> Result<String, String> {
    let mut h = Sha256::new();
    let mut files = Vec::new();
    collect_files(path, path, &mut files)?;
    files.sort();
    for (rel, full) in files {
        let bytes = std::fs::read(&full).map_err(|e| format!("{}: {e}", full.display()))?;
        h.update(rel.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(hex::encode(h.finalize()))
}

fn collect_files(
    root: &Path,
    p: &Path,
    out: &mut Vec<(String, std::path::PathBuf)>,
) -> Result<(), String> {
    let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if meta.is_file() {
        let rel = p
            .strip_prefix(root)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned();
        out.push((rel, p.to_path_buf()));
        return Ok(());
    }
    let entries = std::fs::read_dir(p).map_err(|e| format!("{}: {e}", p.display()))?;
    for e in entries {
        let e = e.map_err(|e| format!("{}: {e}", p.display()))?;
        collect_files(root, &e.path(), out)?;
    }
    Ok(())
}

impl PluginConfig for ImportConfig {
    fn resolve(&mut self) -> PluginResult<()> {
        let mut hashes = BTreeMap::new();
        for f in self.files() {
            let got = content_hash(Path::new(f)).map_err(|e| format!("config 'path': {e}"))?;
            if let Some(want) = self.sha256.get(f) {
                if *want != got {
                    return Err(format!(
                        "config 'sha256': {f} has SHA-256 {got}, not the {want} the config names \
                         (the file changed since the run resolved it)"
                    )
                    .into());
                }
            }
            hashes.insert(f.clone(), got);
        }
        self.sha256 = hashes;
        Ok(())
    }

    fn validate(&self) -> PluginResult<()> {
        check_in("zca_eps", self.zca_eps, ValueRange::at_least(0.0))?;
        check_in("experiment", self.experiment, ValueRange::at_least(0))?;
        for k in self.paths.keys() {
            if k.parse::<i64>().map_or(true, |v| v < 1) {
                return Err(
                    format!("config 'paths': key '{k}' is not an IPC (an integer ≥ 1)").into(),
                );
            }
        }
        let stats = self.mean.is_some() || self.std.is_some();
        match (self.space, &self.mean, &self.std) {
            (Space::Normalized, Some(m), Some(s)) if m.len() == s.len() && !m.is_empty() => {
                if s.iter().any(|v| v.is_nan() || *v <= 0.0) {
                    return Err("config 'std': every value must be > 0".into());
                }
                Ok(())
            }
            (Space::Normalized, _, _) => Err(
                "config 'space' = \"normalized\" needs 'mean' and 'std' (one value per channel, same length)"
                    .into(),
            ),
            _ if stats => Err("config 'mean'/'std' are for space = \"normalized\" only".into()),
            _ => Ok(()),
        }
    }
}
