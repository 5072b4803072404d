//! On-device data augmentation for whole batches: random crop with zero padding and horizontal
//! flip, drawn per sample from libtorch's generator (no host round trip), and the student
//! augmentation a protocol names ([`Augment`]: crop + flip, DSA, none).

use tch::{Kind, Tensor};

/// The student's training augmentation under the DD protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Augment {
    /// Random crop (zero padding `crop_pad`) and horizontal flip, per sample (ddbench's DD
    /// protocol since its start; `crop_pad` 0 and `flip` false make it none).
    #[default]
    CropFlip,
    /// Differentiable Siamese Augmentation as the DC/DSA/DM/MTT evaluation trains with it
    /// (`crate::dsa::dsa`: the official `ParamDiffAug`, mode S, per-sample draws).
    Dsa,
    /// No augmentation.
    None,
}

impl Augment {
    /// The name as the CLI, leaderboard files and records write it.
    pub fn name(self) -> &'static str {
        match self {
            Augment::CropFlip => "crop-flip",
            Augment::Dsa => "dsa",
            Augment::None => "none",
        }
    }

    /// One training batch augmented (`x`: float `[B, C, H, W]`); `pad` and `flip` are the
    /// crop + flip settings.
    pub fn apply(self, x: &Tensor, pad: i64, flip: bool) -> Tensor {
        match self {
            Augment::CropFlip if pad > 0 || flip => crop_flip(x, pad, flip),
            Augment::CropFlip | Augment::None => x.shallow_clone(),
            Augment::Dsa => crate::dsa::dsa(x, &crate::dsa::DsaParams::default(), false),
        }
    }
}

impl std::str::FromStr for Augment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "crop-flip" => Ok(Augment::CropFlip),
            "dsa" => Ok(Augment::Dsa),
            "none" => Ok(Augment::None),
            other => Err(format!(
                "unknown augmentation '{other}' (expected crop-flip, dsa or none)"
            )),
        }
    }
}

/// Random crop (pad `pad` pixels with zeros, crop back to size) and, if `flip`, a random
/// horizontal flip, each sample independently. `x`: float `[B, C, H, W]`.
pub fn crop_flip(x: &Tensor, pad: i64, flip: bool) -> Tensor {
    let (b, h, w) = (x.size()[0], x.size()[2], x.size()[3]);
    let dev = x.device();
    let opts = (Kind::Int64, dev);
    let padded = x
        .constant_pad_nd([pad, pad, pad, pad])
        .permute([0, 2, 3, 1]); // [B, Hp, Wp, C]
    let dy = Tensor::randint(2 * pad + 1, [b, 1], opts);
    let dx = Tensor::randint(2 * pad + 1, [b, 1], opts);
    let rows = (Tensor::arange(h, opts).unsqueeze(0) + dy).unsqueeze(2); // [B, H, 1]
    let base = Tensor::arange(w, opts).unsqueeze(0); // [1, W]
    let cols = if flip {
        let mirrored = Tensor::rand([b, 1], (Kind::Float, dev)).lt(0.5);
        base.where_self(&mirrored.logical_not(), &(w - 1 - &base)) + dx // [B, W]
    } else {
        base + dx
    };
    let bidx = Tensor::arange(b, opts).view([b, 1, 1]);
    padded
        .index(&[Some(bidx), Some(rows), Some(cols.unsqueeze(1))])
        .permute([0, 3, 1, 2])
        .contiguous()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn each_augmentation_is_what_its_name_says() {
        let x = Tensor::rand([6, 3, 8, 8], (Kind::Float, Device::Cpu));
        let same = |y: &Tensor| y.equal(&x);
        assert!(same(&Augment::None.apply(&x, 4, true)));
        assert!(same(&Augment::CropFlip.apply(&x, 0, false)));
        assert!(!same(&Augment::CropFlip.apply(&x, 4, true)));
        // DSA changes the batch (mode S: one of its transforms, fresh values per sample) and
        // keeps its shape
        let d = Augment::Dsa.apply(&x, 4, true);
        assert_eq!(d.size(), x.size());
        for a in [Augment::CropFlip, Augment::Dsa, Augment::None] {
            assert_eq!(a.name().parse::<Augment>().unwrap(), a);
            assert_eq!(serde_json::to_value(a).unwrap(), a.name());
        }
        assert!("dsa2"
            .parse::<Augment>()
            .unwrap_err()
            .contains("crop-flip, dsa or none"));
    }

    #[test]
    fn crop_flip_is_a_per_sample_shift_and_mirror() {
        tch::manual_seed(0);
        let x = Tensor::rand([64, 3, 8, 8], (Kind::Float, Device::Cpu));
        let y = crop_flip(&x, 2, true);
        assert_eq!(y.size(), x.size());
        let mut seen = std::collections::HashSet::new();
        for i in 0..64 {
            let p = x.get(i).constant_pad_nd([2, 2, 2, 2]);
            let mut found = None;
            for dy in 0..5 {
                for dx in 0..5 {
                    let crop = p.narrow(1, dy, 8).narrow(2, dx, 8);
                    for flip in [false, true] {
                        let c = if flip {
                            crop.flip([2])
                        } else {
                            crop.shallow_clone()
                        };
                        if c.equal(&y.get(i)) {
                            found = Some((dy, dx, flip));
                        }
                    }
                }
            }
            seen.insert(
                found.unwrap_or_else(|| panic!("sample {i} is no shift/flip of its input")),
            );
        }
        assert!(
            seen.len() >= 20,
            "offsets and flips vary per sample: {} distinct",
            seen.len()
        );
        // without flips, every sample is a pure shift
        let y = crop_flip(&x, 1, false);
        for i in 0..64 {
            let p = x.get(i).constant_pad_nd([1, 1, 1, 1]);
            let shifted = (0..3)
                .any(|dy| (0..3).any(|dx| p.narrow(1, dy, 8).narrow(2, dx, 8).equal(&y.get(i))));
            assert!(shifted, "sample {i} is not a pure shift");
        }
    }
}
