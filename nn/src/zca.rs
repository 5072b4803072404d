//! ZCA whitening, as MTT / DATM apply it on CIFAR: kornia's
//! `ZCAWhitening(eps=0.1, compute_inv=True)` fitted once on the whole training set and applied
//! to every image (training, test, synthetic) before the network.
//!
//! # The formula (kornia `kornia/enhance/zca.py`, `zca_mean` + `linear_transform`)
//!
//! With the `N` fitting images flattened to rows `X ∈ R^{N×D}` (`D = C·H·W`, C-major, i.e.
//! `x.reshape(N, -1)`; kornia's `dim=0` default):
//!
//! * `μ = mean over the N rows` (a `[D]` vector; kornia keeps it `[1, D]`);
//! * `Σ = (X − μ)ᵀ(X − μ) / (N − 1)`: the **unbiased** covariance, kornia's default
//!   `unbiased=True`, which `ZCAWhitening(eps=0.1, compute_inv=True)` does not change (kornia's
//!   class docstring says "Whether to use the biased estimate … Default=False", but the
//!   constructor's default is `unbiased: bool = True` and `zca_mean` divides by `N − 1`);
//! * `U, S, _ = svd(Σ)` (kornia: `torch.linalg.svd(cov)`, older releases `torch.svd`);
//! * `T = U · diag(1 / sqrt(S + eps)) · Uᵀ`: **eps is added to the eigenvalues** inside the
//!   square root (kornia: `torch.rsqrt(S + eps)`), a Tikhonov-style regulariser, not a floor
//!   and not added to the whitened data;
//! * apply: `y = (x_flat − μ) · T`, reshaped back to `[B, C, H, W]` (kornia's
//!   `linear_transform`; `T` is symmetric so `·T` and `·Tᵀ` agree).
//!
//! The inverse (`compute_inv=True`: `U diag(sqrt(S + eps)) Uᵀ`) is not implemented: MTT uses it
//! only to save synthetic images viewable in pixel space, and ddbench's images are pixels
//! already (the whitening is the model's first layer, [`crate::Model::set_zca`]).
//!
//! Consequence of `eps`: the whitened fitting data has covariance
//! `T Σ T = Σ (Σ + eps·I)⁻¹ = I − eps·(Σ + eps·I)⁻¹`, i.e. eigenvalues `S / (S + eps)`: close to
//! one along directions of variance ≫ eps, shrunk towards zero along the rest (the unit test
//! checks exactly this identity).
//!
//! # Precision
//!
//! kornia computes in the input's dtype (float32 in MTT). Here the mean, covariance and SVD are
//! computed in float64 (the covariance is accumulated over chunks of rows, so fitting CIFAR's
//! 50 000 × 3072 images needs no float64 copy of the data) and the results are stored as
//! float32: the same formula with less rounding, within 1e-4 of a float32 kornia-formula
//! reference (tests/zca.rs).
//!
//! # Where MTT / DATM apply it (GeorgeCazenavette/mtt-distillation `utils.py::get_dataset`;
//! NUS-HPC-AI-Lab/DATM `utils/utils_baseline.py`, same code)
//!
//! With `--zca` their CIFAR-10/100 (and Tiny, ImageNet subsets) transform is `ToTensor()` only,
//! **without** `Normalize(mean, std)`: the ZCA is fitted on the raw [0, 1] training images
//! (`zca.fit(images)` on all 50 000 of them, no augmentation) and applied to the train and test
//! sets; `buffer.py` (expert trajectories) and `distill.py` load the same whitened data. So the
//! faithful setting in ddbench is a model whose per-channel normalisation is the identity
//! (`ModelSpec` mean 0, std 1) with this whitening fitted on the training pixels; [`Zca::fit`]
//! takes whatever the model's normalisation produces ([`crate::Model::net_input`] without ZCA),
//! so fitting after a non-trivial mean/std normalisation also works, but is not what MTT does
//! (ZCA is not invariant to per-channel scaling once eps > 0).

use sha2::{Digest, Sha256};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Rows per chunk when accumulating the float64 covariance.
const CHUNK: i64 = 4096;

/// A fitted ZCA whitening: `y = (x_flat − mean) · transform`. Not trainable (no gradient flows
/// into `mean` or `transform`); gradients do flow through [`Zca::apply`] to its input.
pub struct Zca {
    /// float32 `[D]`.
    mean: Tensor,
    /// float32 `[D, D]`, symmetric.
    transform: Tensor,
}

impl std::fmt::Debug for Zca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Zca(dim {}, {:?})", self.dim(), self.mean.device())
    }
}

impl Clone for Zca {
    fn clone(&self) -> Self {
        Zca {
            mean: self.mean.shallow_clone(),
            transform: self.transform.shallow_clone(),
        }
    }
}

impl Zca {
    /// Fits kornia's ZCA (module doc) to `x`, float `[N, C, H, W]` (any `[N, …]`), N ≥ 2,
    /// as the network will see it. The result lives on `x`'s device, float32.
    pub fn fit(x: &Tensor, eps: f64) -> Zca {
        let _no_grad = tch::no_grad_guard();
        let n = x.size()[0];
        assert!(n >= 2, "ZCA needs at least two samples, got {n}");
        assert!(eps >= 0.0, "ZCA eps must be non-negative, got {eps}");
        let flat = x.detach().reshape([n, -1]);
        let d = flat.size()[1];
        let chunks = || {
            (0..n).step_by(CHUNK as usize).map(|start| {
                flat.narrow(0, start, CHUNK.min(n - start))
                    .to_kind(Kind::Double)
            })
        };
        let opts = (Kind::Double, x.device());
        let mut sum = Tensor::zeros([d], opts);
        for c in chunks() {
            sum += c.sum_dim_intlist([0i64].as_slice(), false, Kind::Double);
        }
        let mean = sum / n as f64;
        let mut cov = Tensor::zeros([d, d], opts);
        for c in chunks() {
            let centred = c - &mean;
            cov += centred.tr().matmul(&centred);
        }
        let cov = cov / (n - 1) as f64;
        let (u, s, _v) = cov.svd(true, true);
        let scale = (s + eps).rsqrt();
        let transform = (&u * scale.unsqueeze(0)).matmul(&u.tr());
        Zca {
            mean: mean.to_kind(Kind::Float),
            transform: transform.to_kind(Kind::Float),
        }
    }

    /// Whitens `x`, float32 `[B, …]` with `D` values per sample on this ZCA's device; same shape
    /// out, differentiable with respect to `x`.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let size = x.size();
        let flat = x.reshape([size[0], -1]);
        (flat - &self.mean)
            .matmul(&self.transform)
            .reshape(size.as_slice())
    }

    /// The inverse of [`Zca::apply`]: the pixels `x` whose whitening is `y`
    /// (`x_flat = y_flat · transform⁻¹ + mean`, the inverse taken in float64), same shape out.
    /// What an importer needs for a distilled set stored whitened (MTT / DATM with `--zca`).
    pub fn invert(&self, y: &Tensor) -> Tensor {
        let _no_grad = tch::no_grad_guard();
        let size = y.size();
        let inv = self.transform.to_kind(Kind::Double).inverse();
        (y.reshape([size[0], -1]).to_kind(Kind::Double).matmul(&inv)
            + self.mean.to_kind(Kind::Double))
        .to_kind(Kind::Float)
        .reshape(size.as_slice())
    }

    /// Values per sample (`C·H·W`).
    pub fn dim(&self) -> i64 {
        self.mean.size()[0]
    }

    /// The mean vector, float32 `[D]`.
    pub fn mean(&self) -> &Tensor {
        &self.mean
    }

    /// The whitening matrix `U diag(1/sqrt(S + eps)) Uᵀ`, float32 `[D, D]`.
    pub fn transform(&self) -> &Tensor {
        &self.transform
    }

    pub fn device(&self) -> Device {
        self.mean.device()
    }

    /// This ZCA on `device`.
    pub fn to_device(&self, device: Device) -> Zca {
        Zca {
            mean: self.mean.to_device(device),
            transform: self.transform.to_device(device),
        }
    }

    /// Lower-case hex SHA-256 of the float32 little-endian bytes of `mean` (`D` values) followed
    /// by `transform` (`D·D` values, row-major): what a run records instead of the matrix.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for t in [&self.mean, &self.transform] {
            let values = Vec::<f32>::try_from(t.to_device(Device::Cpu).reshape([-1]))
                .expect("float32 ZCA tensor");
            for v in values {
                h.update(v.to_le_bytes());
            }
        }
        hex::encode(h.finalize())
    }

    /// Writes `mean` and `transform` (float32, CPU) to a safetensors file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), tch::TchError> {
        let cpu = self.to_device(Device::Cpu);
        Tensor::write_safetensors(&[("mean", &cpu.mean), ("transform", &cpu.transform)], path)
    }

    /// Reads a file written by [`Zca::save`] onto `device`.
    pub fn load(path: impl AsRef<Path>, device: Device) -> Result<Zca, String> {
        let path = path.as_ref();
        let named = Tensor::read_safetensors(path)
            .map_err(|e| format!("reading ZCA {}: {e}", path.display()))?;
        let take = |name: &str| {
            named
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.shallow_clone())
                .ok_or_else(|| format!("ZCA {} has no tensor '{name}'", path.display()))
        };
        let (mean, transform) = (take("mean")?, take("transform")?);
        let d = mean.size().first().copied().unwrap_or(0);
        if mean.kind() != Kind::Float
            || transform.kind() != Kind::Float
            || mean.size() != [d]
            || transform.size() != [d, d]
        {
            return Err(format!(
                "ZCA {}: expected float32 mean [D] and transform [D, D], got {:?} {:?} and {:?} {:?}",
                path.display(),
                mean.kind(),
                mean.size(),
                transform.kind(),
                transform.size()
            ));
        }
        Ok(Zca {
            mean: mean.to_device(device),
            transform: transform.to_device(device),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Model, ModelSpec};

    /// Correlated data `[n, 3, 4, 4]`: independent normals with standard deviations 0.2 … 2,
    /// rotated by a random orthogonal matrix, plus an offset: a covariance far from diagonal,
    /// with eigenvalues (up to sampling) 0.04 … 4.
    fn data(n: i64) -> Tensor {
        tch::manual_seed(7);
        let opts = (Kind::Float, Device::Cpu);
        let stds = Tensor::linspace(0.2, 2.0, 48, opts);
        let (q, _r) = Tensor::linalg_qr(&Tensor::randn([48, 48], opts), "reduced");
        let z = Tensor::randn([n, 48], opts) * stds;
        (z.matmul(&q.tr()) + 0.5).reshape([n, 3, 4, 4])
    }

    fn unbiased_cov(y: &Tensor) -> Tensor {
        let n = y.size()[0];
        let c = y.reshape([n, -1]).to_kind(Kind::Double);
        let c = &c - c.mean_dim([0i64].as_slice(), true, Kind::Double);
        c.tr().matmul(&c) / (n - 1) as f64
    }

    fn max_abs(t: &Tensor) -> f64 {
        t.abs().max().double_value(&[])
    }

    /// The whitened fitting data has mean 0 and covariance exactly `I − eps·(Σ + eps·I)⁻¹`
    /// (eigenvalues `S / (S + eps)`); with eps → 0 that is the identity.
    #[test]
    fn whitened_covariance_is_what_eps_implies() {
        let x = data(600);
        let sigma = unbiased_cov(&x);
        let eye = Tensor::eye(48, (Kind::Double, Device::Cpu));
        for eps in [0.1, 1e-6] {
            let zca = Zca::fit(&x, eps);
            let y = zca.apply(&x);
            assert_eq!(y.size(), x.size());
            let mean = y
                .reshape([600, -1])
                .mean_dim([0i64].as_slice(), false, Kind::Double);
            assert!(max_abs(&mean) < 1e-4, "whitened mean {}", max_abs(&mean));
            let expected = &eye - (&sigma + &eye * eps).inverse() * eps;
            let err = max_abs(&(unbiased_cov(&y) - &expected));
            assert!(err < 1e-4, "eps {eps}: covariance off by {err}");
            if eps < 1e-3 {
                let off = max_abs(&(unbiased_cov(&y) - &eye));
                assert!(off < 1e-3, "eps {eps}: not white ({off})");
            }
        }
        // eps = 0.1 visibly shrinks the small-variance directions: not the identity
        let y = Zca::fit(&x, 0.1).apply(&x);
        assert!(max_abs(&(unbiased_cov(&y) - &eye)) > 0.01);
    }

    #[test]
    fn transform_is_symmetric_and_apply_has_gradients() {
        let x = data(200);
        let zca = Zca::fit(&x, 0.1);
        assert_eq!(zca.dim(), 48);
        assert!(max_abs(&(zca.transform() - zca.transform().tr())) < 1e-6);
        let probe = x.narrow(0, 0, 4).set_requires_grad(true);
        zca.apply(&probe).square().sum(Kind::Float).backward();
        let g = probe.grad();
        assert!(g.defined() && max_abs(&g) > 0.0);
        assert!(!zca.transform().requires_grad() && !zca.mean().requires_grad());
    }

    #[test]
    fn save_load_and_hash() {
        let x = data(100);
        let zca = Zca::fit(&x, 0.1);
        let h = zca.hash();
        assert_eq!(h.len(), 64);
        assert_eq!(h, zca.clone().hash());
        assert_ne!(h, Zca::fit(&x, 0.2).hash());
        let dir = std::env::temp_dir().join(format!("ddbench-zca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("zca.safetensors");
        zca.save(&path).unwrap();
        let back = Zca::load(&path, Device::Cpu).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(back.hash(), h);
        assert!(Zca::load(dir.join("missing"), Device::Cpu).is_err());
    }

    /// The model whitens after its mean/std normalisation, in training and evaluation mode.
    #[test]
    fn model_applies_it_after_normalisation() {
        let spec = ModelSpec {
            width: 8,
            ..ModelSpec::convnet([3, 8, 8], 5, vec![0.5; 3], vec![0.25; 3])
        };
        tch::manual_seed(1);
        let mut model = Model::new(&spec, Device::Cpu);
        let x = Tensor::rand([60, 3, 8, 8], (Kind::Float, Device::Cpu));
        let plain = model.forward_t(&x, false);
        let normalised = model.net_input(&x);
        let zca = Zca::fit(&normalised, 0.1);
        model.set_zca(zca.clone());
        assert_eq!(model.zca().map(Zca::hash), Some(zca.hash()));
        let diff = max_abs(&(model.net_input(&x) - zca.apply(&normalised)));
        assert!(diff < 1e-6, "net input off by {diff}");
        for train in [false, true] {
            let whitened = model.forward_t(&x, train);
            assert!(max_abs(&(whitened - &plain)) > 1e-4, "train {train}");
        }
        // not a parameter: the var store is unchanged
        assert!(model
            .vs
            .variables()
            .values()
            .all(|v| v.size() != zca.transform().size()));
    }
}
