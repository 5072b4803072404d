//! The students' input whitening: none, or ZCA as MTT / DATM evaluate on CIFAR (kornia's
//! `ZCAWhitening(eps=0.1)` fitted on the raw [0, 1] training images, without mean/std
//! normalisation). The ZCA is a fixed first layer of the student (`ddbench_nn::Zca`), so
//! attacks still work in [0, 1] pixel space; its hash goes into every row.

use crate::data::DeviceDataset;
use ddbench_nn::Zca;
use tch::Kind;

/// kornia's / MTT's regularisation of the ZCA (added to the covariance's eigenvalues).
pub const ZCA_EPS: f64 = 0.1;

#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Whitening {
    #[default]
    None,
    /// ZCA fitted on the training split's raw pixels (eps 0.1).
    Zca,
}

impl Whitening {
    pub fn name(self) -> &'static str {
        match self {
            Whitening::None => "none",
            Whitening::Zca => "zca",
        }
    }

    /// The whitening layer for `data`'s students: fitted on every training image in [0, 1]
    /// on the data's device (`None` for no whitening).
    pub fn fit(self, data: &DeviceDataset) -> Option<Zca> {
        match self {
            Whitening::None => None,
            Whitening::Zca => {
                let x = data.train_images.to_kind(Kind::Float) / 255.0;
                Some(Zca::fit(&x, ZCA_EPS))
            }
        }
    }
}

/// What a row records of its students' whitening: `none`, or `zca:` and the first 16 hex
/// digits of the fitted layer's hash.
pub fn record(zca: Option<&Zca>) -> String {
    match zca {
        None => "none".into(),
        Some(z) => format!("zca:{}", &z.hash()[..16]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_records() {
        assert_eq!(Whitening::default().name(), "none");
        assert_eq!(record(None), "none");
        let x = tch::Tensor::arange(4 * 2 * 3 * 3, (Kind::Float, tch::Device::Cpu))
            .view([4, 2, 3, 3])
            .sin();
        let z = Zca::fit(&x, ZCA_EPS);
        let r = record(Some(&z));
        assert!(r.starts_with("zca:") && r.len() == 20, "{r}");
        assert_eq!(r, record(Some(&Zca::fit(&x, ZCA_EPS))));
    }
}
