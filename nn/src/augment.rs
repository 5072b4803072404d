//! On-device data augmentation for whole batches: random crop with zero padding and horizontal
//! flip, drawn per sample from libtorch's generator (no host round trip).

use tch::{Kind, Tensor};

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
