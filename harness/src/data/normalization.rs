//! The per-channel normalisation inside every model (pixels stay in [0, 1] outside it): an
//! explicit, recorded input of a run. `--normalization` names the published values of a standard
//! set (those of the dataset-distillation reference code), or `data` for the training split's own
//! per-channel mean and std; `auto` resolves by the *reader* (`--dataset`), never by a folder's
//! name: the official CIFAR / (Fashion-)MNIST readers get their published values, an ImageFolder
//! gets `data` (an ImageFolder copy of CIFAR-10 that should match CIFAR-10's published
//! numbers says `--normalization cifar10`).

use super::source::DatasetKind;
use anyhow::{bail, Result};
use tch::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormalizationChoice {
    /// The reader's published values (`cifar10`, `cifar100`, `fashion-mnist`, `mnist`), `data`
    /// for an ImageFolder.
    Auto,
    /// The training split's own per-channel mean and std.
    Data,
    Cifar10,
    Cifar100,
    FashionMnist,
    Mnist,
}

/// The values a run's models normalise with, and the name they go by in records.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    /// `data` or the standard set whose published values these are.
    pub name: String,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

/// The normalisation of the DD reference code (DC/DSA/MTT `get_dataset`) for the standard sets.
fn published(choice: NormalizationChoice) -> Option<(&'static str, Vec<f64>, Vec<f64>)> {
    Some(match choice {
        NormalizationChoice::Cifar10 => (
            "cifar10",
            vec![0.4914, 0.4822, 0.4465],
            vec![0.2023, 0.1994, 0.2010],
        ),
        NormalizationChoice::Cifar100 => (
            "cifar100",
            vec![0.5071, 0.4866, 0.4409],
            vec![0.2673, 0.2564, 0.2762],
        ),
        NormalizationChoice::FashionMnist => ("fashion-mnist", vec![0.2861], vec![0.3530]),
        NormalizationChoice::Mnist => ("mnist", vec![0.1307], vec![0.3081]),
        NormalizationChoice::Auto | NormalizationChoice::Data => return None,
    })
}

impl NormalizationChoice {
    /// `auto` made concrete for the reader `kind`.
    pub fn for_reader(self, kind: DatasetKind) -> NormalizationChoice {
        match (self, kind) {
            (NormalizationChoice::Auto, DatasetKind::Cifar10) => NormalizationChoice::Cifar10,
            (NormalizationChoice::Auto, DatasetKind::Cifar100) => NormalizationChoice::Cifar100,
            (NormalizationChoice::Auto, DatasetKind::FashionMnist) => {
                NormalizationChoice::FashionMnist
            }
            (NormalizationChoice::Auto, DatasetKind::Mnist) => NormalizationChoice::Mnist,
            (NormalizationChoice::Auto, DatasetKind::Imagefolder) => NormalizationChoice::Data,
            (c, _) => c,
        }
    }
}

impl Normalization {
    /// The values for `choice` (made concrete for `kind`) on a training split of uint8
    /// `[N, C, H, W]` images; published values must have one entry per channel.
    pub fn resolve(
        choice: NormalizationChoice,
        kind: DatasetKind,
        train_images: &Tensor,
    ) -> Result<Normalization> {
        let channels = train_images.size()[1] as usize;
        let choice = choice.for_reader(kind);
        let n = match published(choice) {
            Some((name, mean, std)) => Normalization {
                name: name.into(),
                mean,
                std,
            },
            None => {
                let (mean, std) = ddbench_nn::channel_stats(train_images);
                Normalization {
                    name: "data".into(),
                    mean,
                    std,
                }
            }
        };
        if n.mean.len() != channels {
            bail!(
                "--normalization {}: {} channel(s) of published values, but the images have {channels}",
                n.name,
                n.mean.len()
            );
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_the_reader_not_the_name() {
        let rgb = Tensor::full([4, 3, 2, 2], 51, (tch::Kind::Uint8, tch::Device::Cpu));
        let n = |c, k| Normalization::resolve(c, k, &rgb).unwrap();
        assert_eq!(
            n(NormalizationChoice::Auto, DatasetKind::Cifar10).name,
            "cifar10"
        );
        // an ImageFolder (whatever its folder is called) gets its own statistics by default
        let own = n(NormalizationChoice::Auto, DatasetKind::Imagefolder);
        assert_eq!(own.name, "data");
        assert!((own.mean[0] - 0.2).abs() < 1e-6 && own.std[0] < 1e-6);
        // and the published values when asked by name
        let named = n(NormalizationChoice::Cifar10, DatasetKind::Imagefolder);
        assert_eq!(named.mean, vec![0.4914, 0.4822, 0.4465]);
        let grey = Tensor::zeros([4, 1, 2, 2], (tch::Kind::Uint8, tch::Device::Cpu));
        let e = Normalization::resolve(NormalizationChoice::Cifar10, DatasetKind::Mnist, &grey)
            .unwrap_err();
        assert!(e.to_string().contains("images have 1"), "{e}");
    }
}
