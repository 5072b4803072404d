//! A model trained elsewhere, for `ddbench attack`: its spec (a ddbench `student.json`, or the
//! flags with the data set's shape, classes and normalisation) and its weights from a
//! safetensors file under ddbench's names or PyTorch's:
//! - ConvNet as the official DatasetCondensation `ConvNet` (`features.{k}` = conv, norm, act, pool
//!   per block — three per block without a norm layer — then `classifier`);
//! - ResNet-18 as torchvision's (`conv1`, `bn1`, `layer{i}.{b}.conv1/bn1/conv2/bn2`,
//!   `layer{i}.0.downsample.0/1`, `fc`) with the CIFAR stem (3×3 stride 1, no max-pool), as
//!   GUARD and SRe2L's CIFAR models.
//!
//! A leading `module.` (DataParallel) or `model.` is dropped, as is a normalisation layer in
//! front (`0.mean`/`0.std`, with the model under `1.`): ddbench normalises inside the model with
//! the run's `--normalization`. Every weight the model needs must be there with its shape; extra
//! keys are refused too, so a wrong layout is an error naming the keys, never a silent half-load.

use ddbench_nn::{Arch, Model, ModelSpec, NormKind};
use std::collections::BTreeMap;
use std::path::Path;
use tch::Tensor;

/// How the weight file names its tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// ddbench's own names (`student.safetensors` of `--save-student`).
    Ddbench,
    /// PyTorch's: the official DC ConvNet or torchvision's ResNet-18 (module doc).
    Pytorch,
}

/// Drops wrapper prefixes and a leading normalisation layer's tensors.
fn unwrap_key(k: &str) -> Option<String> {
    if k == "0.mean" || k == "0.std" || k.ends_with("num_batches_tracked") {
        return None;
    }
    let mut k = k;
    for p in ["module.", "model.", "1."] {
        if let Some(rest) = k.strip_prefix(p) {
            k = rest;
        }
    }
    Some(k.to_string())
}

/// A PyTorch name of the official ConvNet as ddbench names it.
fn convnet_key(k: &str, spec: &ModelSpec) -> Option<String> {
    let per_block = if spec.norm == NormKind::None { 3 } else { 4 };
    if let Some(rest) = k.strip_prefix("classifier.") {
        return Some(format!("classifier.{rest}"));
    }
    let rest = k.strip_prefix("features.")?;
    let (idx, param) = rest.split_once('.')?;
    let i: usize = idx.parse().ok()?;
    let part = match i % per_block {
        0 => "conv",
        1 if per_block == 4 => "norm",
        _ => return None,
    };
    Some(format!("block{}.{part}.{param}", i / per_block))
}

/// A torchvision ResNet-18 name as ddbench names it.
fn resnet_key(k: &str) -> String {
    k.replace("downsample.0.", "shortcut.conv.")
        .replace("downsample.1.", "shortcut.bn.")
}

/// The file's tensors under ddbench's variable names.
fn renamed(
    file: &Path,
    named: Vec<(String, Tensor)>,
    spec: &ModelSpec,
    layout: Layout,
) -> Result<BTreeMap<String, Tensor>, String> {
    let mut out = BTreeMap::new();
    for (k, t) in named {
        let name = match layout {
            Layout::Ddbench => Some(k.clone()),
            Layout::Pytorch => unwrap_key(&k)
                .and_then(|k| match spec.arch {
                    Arch::Convnet => convnet_key(&k, spec),
                    Arch::Resnet18 => Some(resnet_key(&k)),
                })
                .map(|k| format!("net.{k}")),
        };
        match name {
            Some(n) => {
                out.insert(n, t);
            }
            None if layout == Layout::Pytorch && unwrap_key(&k).is_none() => {}
            None => {
                return Err(format!(
                    "{}: tensor '{k}' is not a weight of a {:?} in the {layout:?} layout",
                    file.display(),
                    spec.arch
                ))
            }
        }
    }
    Ok(out)
}

/// Builds the model of `spec` on `device` and loads `file` into it, checking that the names and
/// shapes match exactly.
pub fn load(
    file: &Path,
    spec: &ModelSpec,
    layout: Layout,
    device: tch::Device,
) -> Result<Model, String> {
    let named = Tensor::read_safetensors(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut given = renamed(file, named, spec, layout)?;
    let model = Model::new(spec, device);
    let vars = model.vs.variables();
    let mut missing: Vec<&String> = vars.keys().filter(|k| !given.contains_key(*k)).collect();
    missing.sort();
    let extra: Vec<&String> = given.keys().filter(|k| !vars.contains_key(*k)).collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(format!(
            "{}: does not fit a {:?} (width {}, depth {}) in the {layout:?} layout: missing {missing:?}, unexpected {extra:?}",
            file.display(),
            spec.arch,
            spec.width,
            spec.depth
        ));
    }
    tch::no_grad(|| -> Result<(), String> {
        for (k, mut v) in vars.into_iter().collect::<BTreeMap<_, _>>() {
            let t = given.remove(&k).unwrap();
            if t.size() != v.size() {
                return Err(format!(
                    "{}: '{k}' has shape {:?}; the model's is {:?}",
                    file.display(),
                    t.size(),
                    v.size()
                ));
            }
            v.copy_(&t.to_kind(v.kind()));
        }
        Ok(())
    })?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytorch_names_map_to_ddbench_names() {
        let mut spec = ModelSpec::convnet([3, 32, 32], 10, vec![0.5; 3], vec![0.5; 3]);
        assert_eq!(
            convnet_key("features.0.weight", &spec).unwrap(),
            "block0.conv.weight"
        );
        assert_eq!(
            convnet_key("features.5.bias", &spec).unwrap(),
            "block1.norm.bias"
        );
        assert_eq!(
            convnet_key("features.8.weight", &spec).unwrap(),
            "block2.conv.weight"
        );
        assert_eq!(convnet_key("features.2.weight", &spec), None);
        spec.norm = NormKind::None;
        assert_eq!(
            convnet_key("features.3.weight", &spec).unwrap(),
            "block1.conv.weight"
        );
        assert_eq!(
            resnet_key("layer2.0.downsample.1.running_var"),
            "layer2.0.shortcut.bn.running_var"
        );
        assert_eq!(unwrap_key("module.1.fc.weight").unwrap(), "fc.weight");
        assert_eq!(unwrap_key("0.mean"), None);
        assert_eq!(unwrap_key("bn1.num_batches_tracked"), None);
    }
}
