//! `tch-vae eval`: the numbers the field reports, for a trained run.
//!
//! - The importance-weighted estimate of -log p(x) (Burda, Grosse & Salakhutdinov 2015,
//!   eq. 8): log p(x) ~ log (1/k) sum_i w_i with w_i = p(x|z_i) p(z_i) / q(z_i|x),
//!   z_i ~ q(z|x), computed with a running log-sum-exp so k = 5000 never overflows;
//! - the negative ELBO with the closed-form KL, its reconstruction averaged over the same
//!   k samples (under the VampPrior, which has no closed form: the k-sample mean of
//!   -log w);
//! - for a conditional model, all of these given the labels: -log p(x|y);
//! - active units (Burda et al. 2015, section 5.2): `Cov_x(E_q[z_u])` > 0.01;
//! - the KL per latent dimension, and the aggregate posterior's moments against N(0, I);
//!   for a hierarchical model, whose prior is learned group by group, the KL per group.
pub(crate) mod compare;
pub mod report;

use crate::model::hierarchy;
use crate::model::loss::kl_per_dim;
use crate::model::objective::{hierarchical_samples, importance_samples, Posterior};
use crate::model::prior::Components;
use crate::model::Vae;
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Burda et al.'s threshold on `Cov_x(E_q[z_u])` for an active unit.
pub const ACTIVE_UNIT_THRESHOLD: f64 = 0.01;

/// Per-image sums over a split, each `[n]` (nats).
pub struct Likelihoods {
    /// -log p(x), importance-weighted with k samples.
    pub nll: Tensor,
    /// recon (mean over the k samples) + closed-form KL (VampPrior: `neg_mean_log_w`).
    pub neg_elbo: Tensor,
    /// -log p(x|z), the mean over the k samples.
    pub recon: Tensor,
    /// -(1/k) sum_i log w_i: the k-sample Monte Carlo negative ELBO, which Jensen's
    /// inequality puts above `nll` image by image.
    pub neg_mean_log_w: Tensor,
}

/// Importance-weighted estimates for every row of `x` (`[n, pixels]`; labels `y` `[n]` for a
/// conditional model) with `k` samples per image, in chunks of about `rows` decoded
/// samples; `on_progress(images done)`.
pub fn likelihoods(
    vae: &Vae,
    x: &Tensor,
    y: Option<&Tensor>,
    k: usize,
    rows: usize,
    on_progress: &mut dyn FnMut(usize),
) -> Result<Likelihoods> {
    ensure!(k >= 1, "--iw-samples must be at least 1 (got 0)");
    ensure!(rows >= 1, "--batch-rows must be at least 1 (got 0)");
    let n = x.size()[0];
    // Images per chunk, and samples per image per chunk (k may exceed the rows budget).
    let images = (rows / k).max(1) as i64;
    let samples = k.min(rows) as i64;
    let (mut nll, mut neg_elbo, mut neg_mean, mut recons) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    tch::no_grad(|| -> Result<()> {
        let components = Components::of(vae)?;
        for start in (0..n).step_by(images as usize) {
            let b = images.min(n - start);
            let xb = x.narrow(0, start, b); // [b, D]
            let yb = y.map(|y| y.narrow(0, start, b)); // [b]
            if let Some(net) = vae.hierarchy() {
                let (lse, sum_log_w, sum_recon, sum_kl) =
                    hierarchical_sums(vae, net, &xb, k, samples);
                let recon = sum_recon / k as f64;
                nll.push(-(lse - (k as f64).ln()));
                neg_elbo.push(&recon + sum_kl / k as f64);
                neg_mean.push(-sum_log_w / k as f64);
                recons.push(recon);
                on_progress((start + b) as usize);
                continue;
            }
            let (mu, logvar) = vae.encode(&xb, yb.as_ref())?; // [b, d] each
            let q = Posterior {
                mu: &mu,
                logvar: &logvar,
                prior: components.as_ref(),
            };
            let mut lse = Tensor::full([b], f64::NEG_INFINITY, (Kind::Float, x.device()));
            let mut sum_log_w = Tensor::zeros([b], (Kind::Float, x.device()));
            let mut sum_recon = Tensor::zeros([b], (Kind::Float, x.device()));
            let mut done = 0i64;
            while done < k as i64 {
                let s = samples.min(k as i64 - done);
                let samples = importance_samples(vae, &xb, yb.as_ref(), &q, s)?;
                let (recon, log_w) = (samples.recon, samples.log_w); // [b, s] each
                lse = lse.logaddexp(&log_w.logsumexp(&[1i64][..], false));
                sum_log_w += log_w.sum_dim_intlist(&[1i64][..], false, None::<Kind>);
                sum_recon += recon.sum_dim_intlist(&[1i64][..], false, None::<Kind>);
                done += s;
            }
            let recon = sum_recon / k as f64;
            let neg_mean_log_w = -sum_log_w / k as f64;
            nll.push(-(lse - (k as f64).ln()));
            neg_elbo.push(match q.prior {
                None => {
                    let kl = kl_per_dim(&mu, &logvar);
                    &recon + kl.sum_dim_intlist(&[1i64][..], false, None::<Kind>)
                }
                Some(_) => neg_mean_log_w.shallow_clone(),
            });
            neg_mean.push(neg_mean_log_w);
            recons.push(recon);
            on_progress((start + b) as usize);
        }
        Ok(())
    })?;
    Ok(Likelihoods {
        nll: Tensor::cat(&nll, 0),
        neg_elbo: Tensor::cat(&neg_elbo, 0),
        neg_mean_log_w: Tensor::cat(&neg_mean, 0),
        recon: Tensor::cat(&recons, 0),
    })
}

/// A hierarchical model's running sums over `k` importance samples of each row of `x`
/// (`[b, D]`), `chunk` samples an image at a time: log sum_i w_i, sum_i log w_i, the
/// reconstructions' sum and the closed-form KLs' sum (`[b]` each).
fn hierarchical_sums(
    vae: &Vae,
    net: &hierarchy::Net,
    x: &Tensor,
    k: usize,
    chunk: i64,
) -> (Tensor, Tensor, Tensor, Tensor) {
    let b = x.size()[0];
    let zeros = || Tensor::zeros([b], (Kind::Float, x.device()));
    let mut lse = Tensor::full([b], f64::NEG_INFINITY, (Kind::Float, x.device()));
    let (mut sum_log_w, mut sum_recon, mut sum_kl) = (zeros(), zeros(), zeros());
    let mut done = 0i64;
    while done < k as i64 {
        let s = chunk.min(k as i64 - done);
        let (samples, kl) = hierarchical_samples(vae, net, x, s);
        let dims = &[1i64][..];
        lse = lse.logaddexp(&samples.log_w.logsumexp(dims, false));
        sum_log_w += samples.log_w.sum_dim_intlist(dims, false, None::<Kind>);
        sum_recon += samples.recon.sum_dim_intlist(dims, false, None::<Kind>);
        sum_kl += (kl.kl_mu + kl.kl_var)
            .view([b, s])
            .sum_dim_intlist(dims, false, None::<Kind>);
        done += s;
    }
    (lse, sum_log_w, sum_recon, sum_kl)
}

/// A hierarchical model's mean KL of each group against its prior over the rows of `x`
/// (`[n, D]`), `batch` at a time, top-down order (nats). Closed form within a group, but
/// at one draw of the groups above it (as the ELBO's), so another chunking gives another
/// estimate.
pub fn kl_per_group(net: &hierarchy::Net, x: &Tensor, batch: usize) -> Result<Vec<f64>> {
    let n = x.size()[0];
    let sum = tch::no_grad(|| {
        let mut sum = Tensor::zeros(
            [net.layout().groups.len() as i64],
            (Kind::Double, x.device()),
        );
        for start in (0..n).step_by(batch.max(1)) {
            let len = (batch as i64).min(n - start);
            let pass = net.posterior_pass(&x.narrow(0, start, len), None);
            let kl = hierarchy::group_kl(&pass).per_group; // [len, groups]
            sum += kl
                .to_kind(Kind::Double)
                .sum_dim_intlist(&[0i64][..], false, None::<Kind>);
        }
        sum
    });
    Ok(Vec::<f64>::try_from(&(sum / n.max(1) as f64))?)
}

/// The aggregate posterior q(z) = mean_x N(mu(x), diag sigma^2(x)) of a split, by its
/// moments: mean m, covariance S = Cov_x(mu) + mean_x diag(sigma^2) (law of total
/// covariance), and the KL of N(m, S) from N(0, I): 1/2 (tr S + m.m - d - log det S).
/// This measures how close the encoder's codes come to the prior N(0, I) they are pulled to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AggregatePosterior {
    pub images: usize,
    pub mean: Vec<f64>,
    pub cov_diag: Vec<f64>,
    pub kl_moment_matched_to_prior: f64,
}

/// Posterior statistics of a split: mu and logvar [n, latent] of every image.
pub struct Encoded {
    pub mu: Tensor,
    pub logvar: Tensor,
}

/// The posteriors of every row of `x` (`[n, pixels]`; labels `y` `[n]` for a conditional
/// model), `batch` rows at a time.
pub fn encode_all(vae: &Vae, x: &Tensor, y: Option<&Tensor>, batch: usize) -> Result<Encoded> {
    let (mu, logvar) = vae.encode_all(x, y, batch)?;
    Ok(Encoded { mu, logvar })
}

impl Encoded {
    pub fn aggregate_posterior(&self) -> Result<AggregatePosterior> {
        let mu = self.mu.to_kind(Kind::Double);
        let n = mu.size()[0];
        let d = mu.size()[1];
        let mean = mu.mean_dim(&[0i64][..], false, None::<Kind>); // [d]
        let centred = &mu - &mean;
        let cov = centred.tr().matmul(&centred) / n as f64
            + self
                .logvar
                .to_kind(Kind::Double)
                .exp()
                .mean_dim(&[0i64][..], false, None::<Kind>)
                .diag(0); // [d, d]
        let kl = 0.5
            * (cov.trace().double_value(&[]) + mean.dot(&mean).double_value(&[])
                - d as f64
                - cov.logdet().double_value(&[]));
        Ok(AggregatePosterior {
            images: n as usize,
            mean: Vec::<f64>::try_from(&mean)?,
            cov_diag: Vec::<f64>::try_from(&cov.diag(0))?,
            kl_moment_matched_to_prior: kl,
        })
    }

    /// `Cov_x(E_q[z_u])` = Var_x(mu_u) for each latent unit u, `[latent]`.
    pub fn unit_activity(&self) -> Result<Vec<f64>> {
        let var = self
            .mu
            .to_kind(Kind::Double)
            .var_dim(&[0i64][..], false, false);
        Ok(Vec::<f64>::try_from(&var)?)
    }

    /// The mean KL of each latent dimension, in dimension order, `[latent]`.
    pub fn kl_per_dim(&self) -> Result<Vec<f64>> {
        let kl = kl_per_dim(&self.mu, &self.logvar)
            .to_kind(Kind::Double)
            .mean_dim(&[0i64][..], false, None::<Kind>);
        Ok(Vec::<f64>::try_from(&kl)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use tch::{nn::VarStore, Device};

    fn model(vs: &VarStore) -> Vae {
        let config = ModelConfig::mlp(4, 4, vec![8], 2);
        Vae::new(&vs.root(), &config)
    }

    fn mean(t: &Tensor) -> f64 {
        t.mean(Kind::Double).double_value(&[])
    }

    #[test]
    fn iw_bound_is_below_the_elbo_and_tightens_with_k() {
        let _rng = crate::rng_lock();
        tch::manual_seed(11);
        let vs = VarStore::new(Device::Cpu);
        let vae = model(&vs);
        let x = Tensor::rand([40, 16], (Kind::Float, Device::Cpu)).bernoulli();
        let run =
            |k: usize, rows: usize| likelihoods(&vae, &x, None, k, rows, &mut |_| {}).unwrap();
        let mut previous = f64::INFINITY;
        for k in [1, 10, 100] {
            let l = run(k, 64);
            // Jensen, image by image, for the same samples.
            let gap = (&l.neg_mean_log_w - &l.nll).min().double_value(&[]);
            assert!(
                gap >= -1e-4,
                "k = {k}: the IW estimate exceeds the k-sample ELBO by {}",
                -gap
            );
            let nll = mean(&l.nll);
            assert!(
                nll <= mean(&l.neg_elbo) + 0.05,
                "k = {k}: nll {nll} above neg ELBO {}",
                mean(&l.neg_elbo)
            );
            assert!(
                nll <= previous + 0.05,
                "k = {k}: nll {nll} grew from {previous}"
            );
            previous = nll;
        }
        // k = 1: -log w is an unbiased estimate of the negative ELBO (many repeats).
        let ones: Vec<f64> = (0..200).map(|_| mean(&run(1, 64).nll)).collect();
        let avg = ones.iter().sum::<f64>() / ones.len() as f64;
        let elbo = mean(&run(1000, 4096).neg_elbo);
        let sd =
            (ones.iter().map(|v| (v - avg).powi(2)).sum::<f64>() / (ones.len() - 1) as f64).sqrt();
        assert!(
            (avg - elbo).abs() < 4.0 * sd / (ones.len() as f64).sqrt() + 0.02,
            "{avg} vs {elbo} (sd {sd})"
        );
    }

    #[test]
    fn chunking_does_not_change_the_estimate() {
        let _rng = crate::rng_lock();
        let vs = VarStore::new(Device::Cpu);
        let vae = model(&vs);
        let x = Tensor::rand([7, 16], (Kind::Float, Device::Cpu));
        // k = 32 samples of a 2-D latent: all 7 images in one chunk, one image per chunk,
        // or one image in two chunks of 16 samples (the running log-sum-exp). Each draw
        // is a multiple of 16 normals, so libtorch's generator yields the same numbers in
        // the same order and the estimates must agree exactly.
        let estimate = |rows: usize| {
            tch::manual_seed(3);
            likelihoods(&vae, &x, None, 32, rows, &mut |_| {}).unwrap()
        };
        let whole = estimate(224);
        for rows in [32, 16] {
            let other = estimate(rows);
            assert!(
                whole.nll.allclose(&other.nll, 1e-5, 1e-5, false),
                "rows = {rows}"
            );
            assert!(
                whole.neg_elbo.allclose(&other.neg_elbo, 1e-5, 1e-5, false),
                "rows = {rows}"
            );
        }
    }

    #[test]
    fn aggregate_posterior_of_the_prior_itself_has_zero_kl() {
        let _rng = crate::rng_lock();
        tch::manual_seed(5);
        // mu ~ N(0, 0.5 I) and sigma^2 = 0.5: total covariance I, mean 0.
        let mu = Tensor::randn([200_000, 3], (Kind::Double, Device::Cpu)) * 0.5f64.sqrt();
        let logvar = Tensor::full([200_000, 3], 0.5f64.ln(), (Kind::Double, Device::Cpu));
        let e = Encoded { mu, logvar };
        let agg = e.aggregate_posterior().unwrap();
        assert!(agg.kl_moment_matched_to_prior < 1e-3, "{agg:?}");
        assert!(agg.cov_diag.iter().all(|v| (v - 1.0).abs() < 0.01));
        let active = e.unit_activity().unwrap();
        assert!(active.iter().all(|v| (v - 0.5).abs() < 0.01));
    }
}
