//! Differentiable Siamese Augmentation (DSA; Zhao & Bilen, ICML 2021) as `DiffAugment` with
//! `ParamDiffAug` in VICO-UoE/DatasetCondensation `utils.py` (the same code is in
//! GeorgeCazenavette/mtt-distillation): batched, on `x`'s device, differentiable in `x`, no host
//! synchronisation.
//!
//! **The official code.** `DiffAugment(x, strategy, seed=-1, param)` returns `x` for `'none'`/`''`;
//! else `strategy.split('_')` names groups: `color` (brightness, saturation, contrast, each its own
//! draw), `crop`, `cutout`, `flip`, `scale`, `rotate`. `aug_mode 'M'` applies every group in order;
//! `'S'` (default) picks ONE group per call (`torch.randint` on the CPU) for the whole batch, whose
//! values are drawn per sample. `seed != -1` sets `param.Siamese` (`batchmode` in the July 2021
//! versions; same code): the group choice and every draw are preceded by `manual_seed(seed++)`,
//! and sample 0's draw is copied to the batch. DSA's matching calls it with one seed for the real
//! and the synthetic batch (same group, same values). Evaluation (`evaluate_synset` -> `epoch(aug=
//! True)`) uses `seed = -1`: no reseeding, one group per batch (mode S), values per sample.
//! Defaults: strategy `color_crop_cutout_flip_scale_rotate` (readme; `main.py` defaults to `None`),
//! mode S, prob_flip 0.5, ratio_scale 1.2, ratio_rotate 15, ratio_crop_pad 0.125, ratio_cutout 0.5,
//! brightness 1, saturation 2, contrast 0.5 (`ratio_noise`, in some versions, is unused). With u ~
//! U[0,1) per sample: scale sx = u_x(r - 1/r) + 1/r, sy alike, theta [[sx,0,0],[0,sy,0]]; rotate
//! a = (u - 0.5)·2·ratio/180·π, theta [[cos a, sin(-a), 0], [sin a, cos a, 0]]; both then
//! `affine_grid`, `grid_sample` (bilinear, zero padding). Flip (width) where u < prob_flip;
//! brightness x + (u - 0.5)·b; saturation (x - m)·(u·s) + m, m the channel mean per pixel; contrast
//! (x - m)·(u + c) + m, m the sample mean. Crop: integer tx ∈ [-sh, sh] rows, ty ∈ [-sw, sw]
//! columns, sh = int(H·ratio + 0.5), over a ONE-pixel zero border: out[i, j] = pad[clamp(i+tx+1,
//! 0, H+1), clamp(j+ty+1, 0, W+1)]. Cutout: size ch = int(H·ratio + 0.5) (cw alike), centre
//! ox ∈ [0, H + 1 - ch % 2) (oy alike), rows clamp(ox - ch//2 + k, 0, H-1), k < ch, times the
//! columns, zeroed in every channel.
//!
//! `align_corners`: DatasetCondensation pins torch 1.2.0, whose `affine_grid`/`grid_sample` act
//! as `align_corners=True`; its calls name no value, so torch >= 1.3 runs them with `False`. MTT
//! passes `True`. [`DsaParams::default`] takes `true`; `false` is DC's code on current PyTorch.
//! Both are the same map about the centre (equal up to rounding) except rotation of non-square
//! images.
//!
//! **Here.** Each transform takes `x` and the official random values (`[n]` tensors, n = B or 1
//! broadcast). [`sample`] draws them from libtorch's global generator on `x`'s device (the caller
//! seeds it, `tch::manual_seed`), the mode-S choice on the CPU generator (no device read): the
//! same distributions as PyTorch, not the same streams. `siamese` draws one value (n = 1) rather
//! than copying sample 0's. [`dsa`]`(x, p, false)` is the official evaluation's per-batch call; for
//! DSA's real/synthetic pairing, [`sample`] once with `siamese` and [`DsaDraw::apply`] to both.

use std::f64::consts::PI;
use tch::{Device, Kind, Tensor};

/// `'S'`: one group per call, picked at random; `'M'`: every group in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AugMode {
    Single,
    Multiple,
}

/// A strategy's group (`strategy.split('_')`); `Color` is brightness, saturation, contrast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DsaGroup {
    Color,
    Crop,
    Cutout,
    Flip,
    Scale,
    Rotate,
}

/// Parses a strategy such as `color_crop_cutout_flip_scale_rotate`; `none` or `""` is empty.
pub fn parse_strategy(s: &str) -> Result<Vec<DsaGroup>, String> {
    if s.is_empty() || s.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    use DsaGroup::*;
    let names = ["color", "crop", "cutout", "flip", "scale", "rotate"];
    let groups = [Color, Crop, Cutout, Flip, Scale, Rotate];
    let group = |g: &str| names.iter().position(|n| *n == g).map(|i| groups[i]);
    let err = |g: &str| format!("unknown DSA group {g:?} in strategy {s:?}");
    s.split('_')
        .map(|g| group(g).ok_or_else(|| err(g)))
        .collect()
}

/// `ParamDiffAug` plus the strategy and `align_corners` (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub struct DsaParams {
    pub strategy: Vec<DsaGroup>,
    pub aug_mode: AugMode,
    pub prob_flip: f64,
    pub ratio_scale: f64,
    pub ratio_rotate: f64,
    pub ratio_crop_pad: f64,
    pub ratio_cutout: f64,
    pub brightness: f64,
    pub saturation: f64,
    pub contrast: f64,
    pub align_corners: bool,
}

impl Default for DsaParams {
    fn default() -> Self {
        DsaParams {
            strategy: parse_strategy("color_crop_cutout_flip_scale_rotate").unwrap(),
            aug_mode: AugMode::Single,
            prob_flip: 0.5,
            ratio_scale: 1.2,
            ratio_rotate: 15.0,
            ratio_crop_pad: 0.125,
            ratio_cutout: 0.5,
            brightness: 1.0,
            saturation: 2.0,
            contrast: 0.5,
            align_corners: true,
        }
    }
}

/// `int(len * ratio + 0.5)`: the crop shift bound and the cutout size.
fn frac(len: i64, ratio: f64) -> i64 {
    (len as f64 * ratio + 0.5) as i64
}

/// Warps every sample by its `[n, 2, 3]` affine matrix (n = 1 is shared by the batch).
fn affine(x: &Tensor, theta: Tensor, align_corners: bool) -> Tensor {
    let theta = theta.to_kind(x.kind());
    let theta = theta.expand([x.size()[0], 2, 3], false).contiguous();
    let grid = Tensor::affine_grid_generator(&theta, x.size(), align_corners);
    x.grid_sampler(&grid, 0, 0, align_corners) // bilinear, zero padding
}

/// Scale by sx = ux(r - 1/r) + 1/r (width), sy likewise (height), r = `ratio_scale`.
pub fn scale(x: &Tensor, ux: &Tensor, uy: &Tensor, p: &DsaParams) -> Tensor {
    let r = p.ratio_scale;
    let sx = ux * (r - 1.0 / r) + 1.0 / r;
    let sy = uy * (r - 1.0 / r) + 1.0 / r;
    let z = sx.zeros_like();
    let theta = Tensor::stack(&[&sx, &z, &z, &z, &sy, &z], 1).view([-1, 2, 3]);
    affine(x, theta, p.align_corners)
}

/// Rotation by a = (u - 0.5)·2·`ratio_rotate`/180·π radians.
pub fn rotate(x: &Tensor, u: &Tensor, p: &DsaParams) -> Tensor {
    let a = (u - 0.5) * 2.0 * p.ratio_rotate / 180.0 * PI;
    let z = a.zeros_like();
    let rows = [a.cos(), (-&a).sin(), z.shallow_clone(), a.sin(), a.cos(), z];
    affine(x, Tensor::stack(&rows, 1).view([-1, 2, 3]), p.align_corners)
}

/// Horizontal flip (width reversed) of the samples whose u < `prob_flip`.
pub fn flip(x: &Tensor, u: &Tensor, p: &DsaParams) -> Tensor {
    x.flip([3])
        .where_self(&u.view([-1, 1, 1, 1]).lt(p.prob_flip), x)
}

/// x + (u - 0.5)·`brightness`.
pub fn brightness(x: &Tensor, u: &Tensor, p: &DsaParams) -> Tensor {
    x + (u.view([-1, 1, 1, 1]) - 0.5) * p.brightness
}

/// (x - m)·(u·`saturation`) + m, m the mean over channels of each pixel.
pub fn saturation(x: &Tensor, u: &Tensor, p: &DsaParams) -> Tensor {
    let m = x.mean_dim([1].as_slice(), true, None);
    (x - &m) * (u.view([-1, 1, 1, 1]) * p.saturation) + m
}

/// (x - m)·(u + `contrast`) + m, m the mean of each sample.
pub fn contrast(x: &Tensor, u: &Tensor, p: &DsaParams) -> Tensor {
    let m = x.mean_dim([1, 2, 3].as_slice(), true, None);
    (x - &m) * (u.view([-1, 1, 1, 1]) + p.contrast) + m
}

/// Translation by tx rows and ty columns (int64 `[n]`) over a one-pixel zero border.
pub fn crop(x: &Tensor, tx: &Tensor, ty: &Tensor) -> Tensor {
    let (b, h, w) = (x.size()[0], x.size()[2], x.size()[3]);
    let opts = (Kind::Int64, x.device());
    let rows = (Tensor::arange(h, opts).unsqueeze(0) + tx.view([-1, 1]) + 1).clamp(0, h + 1);
    let cols = (Tensor::arange(w, opts).unsqueeze(0) + ty.view([-1, 1]) + 1).clamp(0, w + 1);
    let bidx = Tensor::arange(b, opts).view([b, 1, 1]);
    x.constant_pad_nd([1, 1, 1, 1])
        .permute([0, 2, 3, 1])
        .index(&[Some(bidx), Some(rows.unsqueeze(2)), Some(cols.unsqueeze(1))])
        .permute([0, 3, 1, 2])
}

/// Zeroes, per sample, the square of `ratio_cutout` of the side centred at (ox, oy) (int64 `[n]`),
/// clamped to the image.
pub fn cutout(x: &Tensor, ox: &Tensor, oy: &Tensor, p: &DsaParams) -> Tensor {
    let (h, w) = (x.size()[2], x.size()[3]);
    let (ch, cw) = (frac(h, p.ratio_cutout), frac(w, p.ratio_cutout));
    if ch <= 0 || cw <= 0 {
        return x.shallow_clone();
    }
    let band = |o: &Tensor, len: i64, size: i64| {
        let lo = (o.view([-1, 1]) - size / 2).clamp(0, len - 1);
        let hi = (o.view([-1, 1]) - size / 2 + size - 1).clamp(0, len - 1);
        let idx = Tensor::arange(len, (Kind::Int64, x.device())).unsqueeze(0);
        idx.ge_tensor(&lo).logical_and(&idx.le_tensor(&hi)) // [n, len]
    };
    let cut = band(ox, h, ch)
        .unsqueeze(2)
        .logical_and(&band(oy, w, cw).unsqueeze(1));
    let mask = cut.logical_not().to_kind(x.kind()).unsqueeze(1);
    x * mask
}

/// One transform with its random values.
#[derive(Debug)]
pub enum DsaOp {
    Scale { ux: Tensor, uy: Tensor },
    Rotate { u: Tensor },
    Flip { u: Tensor },
    Brightness { u: Tensor },
    Saturation { u: Tensor },
    Contrast { u: Tensor },
    Crop { tx: Tensor, ty: Tensor },
    Cutout { ox: Tensor, oy: Tensor },
}

impl DsaOp {
    pub fn apply(&self, x: &Tensor, p: &DsaParams) -> Tensor {
        match self {
            DsaOp::Scale { ux, uy } => scale(x, ux, uy, p),
            DsaOp::Rotate { u } => rotate(x, u, p),
            DsaOp::Flip { u } => flip(x, u, p),
            DsaOp::Brightness { u } => brightness(x, u, p),
            DsaOp::Saturation { u } => saturation(x, u, p),
            DsaOp::Contrast { u } => contrast(x, u, p),
            DsaOp::Crop { tx, ty } => crop(x, tx, ty),
            DsaOp::Cutout { ox, oy } => cutout(x, ox, oy, p),
        }
    }
}

/// The transforms of one call, in order; with n = 1 values it applies to any batch size.
#[derive(Debug)]
pub struct DsaDraw {
    pub ops: Vec<DsaOp>,
}

impl DsaDraw {
    pub fn apply(&self, x: &Tensor, p: &DsaParams) -> Tensor {
        let y = self
            .ops
            .iter()
            .fold(x.shallow_clone(), |y, op| op.apply(&y, p));
        y.contiguous()
    }
}

/// Draws the random values of group `g` for `n` samples of a `[B, C, H, W]` batch; the uniform
/// values are of `o`'s kind (the batch's), all on its device.
pub fn draw(g: DsaGroup, p: &DsaParams, n: i64, shape: &[i64], o: (Kind, Device)) -> Vec<DsaOp> {
    let u = || Tensor::rand([n], o);
    let int = |lo: i64, hi: i64| Tensor::randint_low(lo, hi, [n], (Kind::Int64, o.1));
    let (h, w) = (shape[2], shape[3]);
    match g {
        DsaGroup::Color => {
            let (b, s, c) = (u(), u(), u());
            vec![
                DsaOp::Brightness { u: b },
                DsaOp::Saturation { u: s },
                DsaOp::Contrast { u: c },
            ]
        }
        DsaGroup::Crop => {
            let (sh, sw) = (frac(h, p.ratio_crop_pad), frac(w, p.ratio_crop_pad));
            let (tx, ty) = (int(-sh, sh + 1), int(-sw, sw + 1));
            vec![DsaOp::Crop { tx, ty }]
        }
        DsaGroup::Cutout => {
            let (ch, cw) = (frac(h, p.ratio_cutout), frac(w, p.ratio_cutout));
            let (ox, oy) = (int(0, h + 1 - ch % 2), int(0, w + 1 - cw % 2));
            vec![DsaOp::Cutout { ox, oy }]
        }
        DsaGroup::Flip => vec![DsaOp::Flip { u: u() }],
        DsaGroup::Scale => vec![DsaOp::Scale { ux: u(), uy: u() }],
        DsaGroup::Rotate => vec![DsaOp::Rotate { u: u() }],
    }
}

/// Draws one call's transforms for a batch of `shape` `[B, C, H, W]` (uniforms of `opts`' kind,
/// on its device): mode S picks one group (CPU generator), mode M takes all; `siamese` draws one
/// value per parameter (n = 1).
pub fn sample(p: &DsaParams, shape: &[i64], siamese: bool, opts: (Kind, Device)) -> DsaDraw {
    let n = if siamese { 1 } else { shape[0] };
    let groups = match p.aug_mode {
        _ if p.strategy.is_empty() => Vec::new(),
        AugMode::Multiple => p.strategy.clone(),
        AugMode::Single => {
            let k = p.strategy.len() as i64;
            let i = Tensor::randint(k, [1], (Kind::Int64, Device::Cpu)).int64_value(&[0]);
            vec![p.strategy[i as usize]]
        }
    };
    let ops = groups
        .into_iter()
        .flat_map(|g| draw(g, p, n, shape, opts))
        .collect();
    DsaDraw { ops }
}

/// DSA of one batch (float `[B, C, H, W]`), as the official evaluation does with `siamese =
/// false`; `siamese = true` shares one draw across the batch.
pub fn dsa(x: &Tensor, p: &DsaParams, siamese: bool) -> Tensor {
    if p.strategy.is_empty() {
        return x.shallow_clone();
    }
    sample(p, &x.size(), siamese, (x.kind(), x.device())).apply(x, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(b: i64) -> Tensor {
        Tensor::rand([b, 3, 8, 8], (Kind::Float, Device::Cpu))
    }

    fn full(v: f64) -> Tensor {
        Tensor::from_slice(&[v as f32])
    }

    #[test]
    fn dsa_identity_at_neutral_parameters() {
        let (p, x) = (DsaParams::default(), batch(3));
        let zero = Tensor::from_slice(&[0i64]);
        assert!(crop(&x, &zero, &zero).equal(&x));
        assert!(flip(&x, &full(0.9), &p).equal(&x));
        assert!(brightness(&x, &full(0.5), &p).equal(&x));
        assert!(saturation(&x, &full(0.5), &p).allclose(&x, 0.0, 1e-6, false));
        assert!(contrast(&x, &full(0.5), &p).allclose(&x, 0.0, 1e-6, false));
        assert!(rotate(&x, &full(0.5), &p).allclose(&x, 0.0, 1e-5, false));
        let r = p.ratio_scale;
        let u1 = full((1.0 - 1.0 / r) / (r - 1.0 / r));
        assert!(scale(&x, &u1, &u1, &p).allclose(&x, 0.0, 1e-5, false));
        // a shift of -1 row moves the image down by one, the top row from the zero border
        let y = crop(&x, &Tensor::from_slice(&[-1i64]), &zero);
        assert!(y.narrow(2, 1, 7).equal(&x.narrow(2, 0, 7)));
        assert!(y.narrow(2, 0, 1).eq(0.0).all().int64_value(&[]) == 1);
    }

    #[test]
    fn dsa_flip_mask_and_cutout_square() {
        let (p, x) = (DsaParams::default(), batch(4));
        let y = flip(&x, &Tensor::from_slice(&[0.1f32, 0.7, 0.49, 0.5]), &p);
        for (i, flipped) in [(0, true), (1, false), (2, true), (3, false)] {
            let want = [x.get(i), x.get(i).flip([2])][flipped as usize].shallow_clone();
            assert!(y.get(i).equal(&want), "sample {i}");
        }
        // 8x8 image, 4x4 cutout centred at (4, 0): rows 2..6, columns 0..2 (clamped)
        let (ox, oy) = (Tensor::from_slice(&[4i64]), Tensor::from_slice(&[0i64]));
        let zeroed = cutout(&x, &ox, &oy, &p).eq(0.0).to_kind(Kind::Int64);
        let want = Tensor::zeros([8, 8], (Kind::Int64, Device::Cpu));
        let _ = want.narrow(0, 2, 4).narrow(1, 0, 2).fill_(1);
        assert!(zeroed.equal(&want.expand([4, 3, 8, 8], false)));
    }

    #[test]
    fn dsa_siamese_draw_is_shared_by_the_batch() {
        tch::manual_seed(1);
        let x = batch(1).repeat([6, 1, 1, 1]);
        let mut p = DsaParams::default();
        for g in DsaParams::default().strategy {
            p.strategy = vec![g];
            let y = dsa(&x, &p, true);
            assert!((1..6).all(|i| y.get(i).equal(&y.get(0))), "{g:?}: siamese");
            let y = dsa(&x, &p, false);
            let same = (1..6).filter(|&i| y.get(i).equal(&y.get(0))).count();
            assert!(same < 5, "{g:?}: per-sample draws gave one augmentation");
            // one siamese draw applies alike to batches of any size (real and synthetic)
            let draw = sample(&p, &x.size(), true, (Kind::Float, Device::Cpu));
            let (a, b) = (draw.apply(&x.narrow(0, 0, 2), &p), draw.apply(&x, &p));
            assert!(a.equal(&b.narrow(0, 0, 2)) && b.get(5).equal(&a.get(0)));
        }
    }

    #[test]
    fn dsa_strategy_shapes_ranges_gradient() {
        let mut p = DsaParams::default();
        let all = parse_strategy("color_crop_cutout_flip_scale_rotate").unwrap();
        assert_eq!(p.strategy, all);
        assert_eq!(parse_strategy("none").unwrap(), vec![]);
        assert!(parse_strategy("color_noise").is_err());
        tch::manual_seed(2);
        let x = batch(4);
        for (mode, siamese) in [(AugMode::Single, false), (AugMode::Multiple, true)] {
            p.aug_mode = mode;
            assert_eq!(dsa(&x, &p, siamese).size(), x.size());
        }
        let draw = sample(&p, &[4096, 3, 32, 32], false, (Kind::Float, Device::Cpu));
        assert_eq!(draw.ops.len(), 8);
        let range = |t: &Tensor| (t.min().int64_value(&[]), t.max().int64_value(&[]));
        for op in &draw.ops {
            match op {
                DsaOp::Crop { tx, ty } => assert_eq!((range(tx), range(ty)), ((-4, 4), (-4, 4))),
                DsaOp::Cutout { ox, oy } => assert_eq!((range(ox), range(oy)), ((0, 32), (0, 32))),
                _ => {}
            }
        }
        let x = x.set_requires_grad(true);
        dsa(&x, &p, false).sum(Kind::Float).backward();
        assert_eq!(x.grad().size(), x.size());
        p.strategy.clear();
        assert!(dsa(&x, &p, false).equal(&x));
    }
}
