//! The principal subspace of the posterior codes: their mean and the top `k` right singular
//! vectors of the centred codes, found by a randomised range finder (Halko, Martinsson and
//! Tropp 2011, algorithm 4.4 with power iterations) so that a 6,000 x 5,392 matrix costs
//! seconds rather than a full SVD's minutes. Float64 throughout.
use anyhow::{Context, Result};
use tch::{Kind, Tensor};

/// Power iterations: each sharpens the spectrum's decay (`A A^T` applied once more).
const POWER_ITERATIONS: usize = 4;
/// Columns drawn beyond `k`, as the paper advises, so the top `k` are found accurately.
const OVERSAMPLING: i64 = 16;

/// A subspace of the codes: `z ~ mean + y basis^T` with `y` its `k` coordinates.
pub struct Subspace {
    /// `[D]`, the codes' mean.
    pub mean: Tensor,
    /// `[D, k]`, orthonormal columns; the identity when `k = D` (no projection).
    pub basis: Tensor,
}

impl Subspace {
    /// The codes' coordinates in the subspace, `[n, D]` -> `[n, k]`.
    pub fn project(&self, z: &Tensor) -> Tensor {
        (z.to_kind(Kind::Double) - &self.mean).matmul(&self.basis)
    }

    /// `[n, k]` -> `[n, D]`, on the subspace.
    pub fn lift(&self, y: &Tensor) -> Tensor {
        &self.mean + y.matmul(&self.basis.tr())
    }
}

/// The top `k` principal directions of `z` (`[n, D]`, float64), all `D` of them as the
/// identity when `k >= D`, and the share of the codes' variance they keep (1 without
/// projection).
pub fn fit(z: &Tensor, k: usize) -> Result<(Subspace, f64)> {
    let (n, d) = (z.size()[0], z.size()[1]);
    let opts = (Kind::Double, z.device());
    let mean = z.mean_dim(&[0i64][..], false, Kind::Double);
    if k as i64 >= d {
        let basis = Tensor::eye(d, opts);
        return Ok((Subspace { mean, basis }, 1.0));
    }
    let a = z - &mean; // [n, D]
    let total = a.square().sum(Kind::Double).double_value(&[]);
    let cols = (k as i64 + OVERSAMPLING).min(n).min(d);
    // Q: an orthonormal basis of A's range, sharpened by power iterations (re-orthonormalised
    // each time, as round-off would otherwise leave only the top direction).
    let orth = |m: &Tensor| -> Result<Tensor> {
        Ok(Tensor::f_linalg_qr(m, "reduced")
            .context("the principal subspace's QR factorisation failed")?
            .0)
    };
    let mut q = orth(&a.matmul(&Tensor::randn([d, cols], opts)))?; // [n, cols]
    for _ in 0..POWER_ITERATIONS {
        let w = orth(&a.tr().matmul(&q))?; // [D, cols]
        q = orth(&a.matmul(&w))?;
    }
    let b = q.tr().matmul(&a); // [cols, D]
                               // `svd`, not `linalg_svd`: tch passes linalg_svd's driver as a string, which libtorch
                               // takes only on CUDA. V, not V^T.
    let (_, s, v) = b
        .f_svd(true, true)
        .context("the principal subspace's SVD failed")?;
    // Fewer codes than directions asked for: as many as the sketch holds.
    let k = (k as i64).min(cols);
    let kept_sq = s
        .narrow(0, 0, k)
        .square()
        .sum(Kind::Double)
        .double_value(&[]);
    let basis = v.narrow(1, 0, k).contiguous(); // [D, k]
    let kept = if total > 0.0 { kept_sq / total } else { 1.0 };
    Ok((Subspace { mean, basis }, kept))
}
