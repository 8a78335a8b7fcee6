//! A Gaussian mixture with full covariances, fitted by expectation-maximisation from a
//! k-means++ start, in float64: the density of the posterior codes' coordinates.
use anyhow::{ensure, Context, Result};
use tch::{Kind, Tensor};

/// ln(2 pi).
const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// `weights [C]` (summing to 1), `means [C, k]`, `scale_tril [C, k, k]` (each covariance's
/// lower Cholesky factor).
pub struct Gmm {
    pub weights: Tensor,
    pub means: Tensor,
    pub scale_tril: Tensor,
}

/// What a fit did.
pub struct Fitted {
    pub gmm: Gmm,
    /// EM iterations run.
    pub iterations: usize,
    /// Whether the mean log-likelihood stopped moving (by less than the tolerance).
    pub converged: bool,
}

/// How EM runs.
pub struct EmSettings {
    pub components: usize,
    pub max_iterations: usize,
    /// Stop when an iteration raises the mean log-likelihood by less than this (nats).
    pub tolerance: f64,
    /// Added to each covariance's diagonal, times the data's mean variance: keeps a
    /// component of few points positive definite.
    pub regularisation: f64,
}

impl Gmm {
    /// `log p(y)` of each row of `y` (`[n, k]`) -> `[n]`.
    pub fn log_prob(&self, y: &Tensor) -> Tensor {
        self.joint(y).logsumexp(&[1i64][..], false)
    }

    /// `log w_c + log N(y; mu_c, Sigma_c)`, `[n, C]`.
    fn joint(&self, y: &Tensor) -> Tensor {
        let k = y.size()[1];
        // d [C, k, n]: each point against each mean; solve L d' = d for the Mahalanobis term.
        let d = (y.unsqueeze(0) - self.means.unsqueeze(1)).transpose(1, 2);
        let white = self
            .scale_tril
            .linalg_solve_triangular(&d, false, true, false);
        let maha = white
            .square()
            .sum_dim_intlist(&[1i64][..], false, Kind::Double); // [C, n]
        let log_det = self.scale_tril.diagonal(0, 1, 2).log().sum_dim_intlist(
            &[1i64][..],
            false,
            Kind::Double,
        ); // [C]: half log |Sigma|
        let log_n = maha * -0.5 - log_det.unsqueeze(1) - 0.5 * k as f64 * LN_2PI;
        (log_n + self.weights.log().unsqueeze(1)).tr() // [n, C]
    }

    /// `n` draws, each from its component with the covariance times `temperature^2`, `[n, k]`.
    pub fn sample(&self, n: i64, temperature: f64) -> Tensor {
        let c = self.weights.multinomial(n, true); // [n]
        let eps = Tensor::randn(
            [n, self.means.size()[1], 1],
            (Kind::Double, self.means.device()),
        );
        let spread = self
            .scale_tril
            .index_select(0, &c)
            .matmul(&eps)
            .squeeze_dim(-1);
        self.means.index_select(0, &c) + spread * temperature
    }

    /// EM on `y` (`[n, k]`, float64) from a k-means++ start drawn from libtorch's generator.
    pub fn fit(y: &Tensor, s: &EmSettings) -> Result<Fitted> {
        let n = y.size()[0];
        ensure!(
            s.components >= 1 && s.components as i64 <= n,
            "--components {}: give from 1 to the number of codes ({n})",
            s.components
        );
        let floor = s.regularisation
            * y.var_dim(&[0i64][..], false, false)
                .mean(Kind::Double)
                .double_value(&[])
                .max(1e-12);
        let mut r = kmeans_plus_plus(y, s.components as i64); // [n, C]
        let mut gmm = m_step(y, &r, floor)?;
        let mut last = f64::NEG_INFINITY;
        for iteration in 1..=s.max_iterations {
            let joint = gmm.joint(y);
            let log_p = joint.logsumexp(&[1i64][..], true); // [n, 1]
            let mean = log_p.mean(Kind::Double).double_value(&[]);
            ensure!(
                mean.is_finite(),
                "the mixture's log-likelihood is not finite"
            );
            if mean - last < s.tolerance {
                return Ok(Fitted {
                    gmm,
                    iterations: iteration - 1,
                    converged: true,
                });
            }
            last = mean;
            r = (joint - log_p).exp();
            gmm = m_step(y, &r, floor)?;
        }
        Ok(Fitted {
            gmm,
            iterations: s.max_iterations,
            converged: false,
        })
    }
}

/// The mixture that responsibilities `r` (`[n, C]`) give: weights, means and covariances
/// (plus `floor` on the diagonal).
fn m_step(y: &Tensor, r: &Tensor, floor: f64) -> Result<Gmm> {
    let (n, k) = (y.size()[0], y.size()[1]);
    let nk = r.sum_dim_intlist(&[0i64][..], false, Kind::Double) + 1e-10; // [C]
    let means = r.tr().matmul(y) / nk.unsqueeze(1); // [C, k]
    let d = y.unsqueeze(0) - means.unsqueeze(1); // [C, n, k]
    let weighted = &d * r.tr().unsqueeze(-1);
    let eye = Tensor::eye(k, (Kind::Double, y.device()));
    let cov = weighted.transpose(1, 2).matmul(&d) / nk.view([-1, 1, 1]) + eye * floor;
    let scale_tril = cov
        .f_linalg_cholesky(false)
        .context("a mixture component's covariance is not positive definite")?;
    Ok(Gmm {
        weights: &nk / n as f64,
        means,
        scale_tril,
    })
}

/// Hard responsibilities `[n, C]` of a k-means++ seeding followed by Lloyd's iterations.
fn kmeans_plus_plus(y: &Tensor, c: i64) -> Tensor {
    let n = y.size()[0];
    let y_sq = y.square().sum_dim_intlist(&[1i64][..], true, Kind::Double); // [n, 1]
    let sq = |centres: &Tensor| {
        // [n, m]: squared distances of each point to each centre, without an [n, m, k] temporary.
        let c_sq = centres
            .square()
            .sum_dim_intlist(&[1i64][..], false, Kind::Double);
        (&y_sq - y.matmul(&centres.tr()) * 2.0 + c_sq.unsqueeze(0)).clamp_min(0.0)
    };
    let first = Tensor::randint(n, [1], (Kind::Int64, y.device()));
    let mut centres = y.index_select(0, &first);
    for _ in 1..c {
        let nearest = sq(&centres).amin(&[1i64][..], false); // [n]
                                                             // Points at the existing centres (distance 0) are never drawn again.
        let pick = if nearest.sum(Kind::Double).double_value(&[]) > 0.0 {
            nearest.multinomial(1, false)
        } else {
            Tensor::randint(n, [1], (Kind::Int64, y.device()))
        };
        centres = Tensor::cat(&[centres, y.index_select(0, &pick)], 0);
    }
    let mut assign = sq(&centres).argmin(1, false);
    for _ in 0..LLOYD_ITERATIONS {
        let one_hot = assign.one_hot(c).to_kind(Kind::Double); // [n, C]
        let counts = one_hot.sum_dim_intlist(&[0i64][..], false, Kind::Double);
        let sums = one_hot.tr().matmul(y);
        // An emptied cluster keeps its centre.
        let keep = counts.eq(0.0).unsqueeze(1);
        centres = centres.where_self(&keep, &(sums / counts.clamp_min(1.0).unsqueeze(1)));
        assign = sq(&centres).argmin(1, false);
    }
    assign.one_hot(c).to_kind(Kind::Double)
}

/// Lloyd's iterations after the k-means++ seeding: enough to settle the start, not a full
/// k-means (EM does the rest).
const LLOYD_ITERATIONS: usize = 10;
