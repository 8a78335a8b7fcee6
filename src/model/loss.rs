//! The negative ELBO as tensor operations, per sample, in nats.
//!
//! -ELBO(x) = E_q[-log p(x|z)] + beta * KL(q(z|x) || N(0, I)), with q(z|x) = N(mu, sigma^2 I)
//! (Kingma & Welling 2013, "Auto-Encoding Variational Bayes", eq. 10 and Appendix B).
use crate::config::{Likelihood, ModelConfig};
use crate::model::invariant;
use tch::{Kind, Tensor};

/// The reparameterisation trick (Kingma & Welling 2013, section 2.4):
/// z = mu + sigma * eps with sigma = exp(logvar / 2), eps ~ N(0, I), so gradients reach
/// mu and logvar through the sample. Shapes: [n, latent] -> [n, latent].
pub fn reparameterize(mu: &Tensor, logvar: &Tensor) -> Tensor {
    reparameterize_with(mu, logvar, &mu.randn_like())
}

/// z = mu + exp(logvar / 2) * eps for a given eps [n, latent] (parity tests, analysis).
pub fn reparameterize_with(mu: &Tensor, logvar: &Tensor, eps: &Tensor) -> Tensor {
    mu + (logvar * 0.5).exp() * eps
}

/// The closed-form KL(N(mu, sigma^2 I) || N(0, I)) (Kingma & Welling 2013, Appendix B),
/// split into the part that depends on the means and the part that depends on the variances:
/// L_mu = 1/2 sum_i mu_i^2 and L_sigma^2 = 1/2 sum_i (sigma_i^2 - log sigma_i^2 - 1).
/// Shapes: [n, latent] -> (`[n]`, `[n]`).
pub fn kl_parts(mu: &Tensor, logvar: &Tensor) -> (Tensor, Tensor) {
    let dims: &[i64] = &[1];
    let kl_mu = mu.square().sum_dim_intlist(dims, false, None::<Kind>) * 0.5;
    let kl_var = (logvar.exp() - logvar - 1.0).sum_dim_intlist(dims, false, None::<Kind>) * 0.5;
    (kl_mu, kl_var)
}

/// The KL of each latent dimension, [n, latent] -> [n, latent]:
/// 1/2 (mu^2 + sigma^2 - log sigma^2 - 1). Its row sums are L_mu + L_sigma^2.
pub fn kl_per_dim(mu: &Tensor, logvar: &Tensor) -> Tensor {
    (mu.square() + logvar.exp() - logvar - 1.0) * 0.5
}

/// The observation model p(x|z): what turns a decoder's output into -log p(x|z).
#[derive(Clone, Copy)]
pub struct Observation<'a> {
    pub likelihood: Likelihood,
    /// The logistic likelihood's learned log-scale, `[D]`.
    pub log_scale: Option<&'a Tensor>,
    /// The logistic mixture's components, and the images' channels it couples.
    pub mixtures: usize,
    pub channels: usize,
}

impl Observation<'_> {
    /// A likelihood with no parameters of its own (Bernoulli, Gaussian).
    pub fn plain(likelihood: Likelihood) -> Self {
        Observation {
            likelihood,
            log_scale: None,
            mixtures: 0,
            channels: 1,
        }
    }
}

/// -log p(x | z) summed over pixels. Shapes: `out` (the decoder's output) [n, D] or, for the
/// logistic mixture, [n, P*H*W]; x [n, D] -> `[n]`.
///
/// Bernoulli: binary cross-entropy computed from the logits as
/// max(l, 0) - l x + log(1 + exp(-|l|)): stable where sigmoid-then-log would overflow.
/// Sigmoids and log-sigmoids come from `invariant.rs`, whose bits do not depend on the
/// thread count (libtorch's fused kernels' do).
/// Gaussian with variance 1/2: ||x - sigmoid(l)||^2 + (D/2) log(pi), the squared error
/// made a density.
pub fn reconstruction_nll(logits: &Tensor, x: &Tensor, obs: Observation) -> Tensor {
    let dims: &[i64] = &[1];
    match obs.likelihood {
        Likelihood::Bernoulli => invariant::binary_cross_entropy_with_logits(logits, x)
            .sum_dim_intlist(dims, false, None::<Kind>),
        Likelihood::Gaussian => {
            let d = x.size()[1] as f64;
            (x - invariant::sigmoid(logits))
                .square()
                .sum_dim_intlist(dims, false, None::<Kind>)
                + 0.5 * d * std::f64::consts::PI.ln()
        }
        Likelihood::Logistic => crate::model::logistic::discretized_logistic_nll(
            &invariant::sigmoid(logits),
            obs.log_scale.expect("a logistic model has a log-scale"),
            x,
        ),
        Likelihood::LogisticMixture => {
            crate::model::mixture::nll(logits, x, obs.mixtures, obs.channels)
        }
    }
}

/// The parts of the negative ELBO for a batch, each `[n]` (per sample).
pub struct ElboTerms {
    pub recon: Tensor,
    /// KL(q(z|x) || p(z)): closed form against N(0, I), or, under the VampPrior, the
    /// one-sample estimate log q(z|x) - log p(z) at the z that `recon` decoded.
    pub kl: Tensor,
    /// The closed form's split into L_mu and L_sigma^2; zeros under the VampPrior, where
    /// no such split exists (`metrics.csv` then reports NaN).
    pub kl_mu: Tensor,
    pub kl_var: Tensor,
}

impl ElboTerms {
    /// The terms with the closed-form KL to N(0, I).
    pub fn new(
        logits: &Tensor,
        x: &Tensor,
        mu: &Tensor,
        logvar: &Tensor,
        obs: Observation,
    ) -> Self {
        let (kl_mu, kl_var) = kl_parts(mu, logvar);
        ElboTerms {
            recon: reconstruction_nll(logits, x, obs),
            kl: &kl_mu + &kl_var,
            kl_mu,
            kl_var,
        }
    }

    /// The terms with a KL estimate that has no split (the VampPrior's).
    pub fn with_kl_estimate(recon: Tensor, kl: Tensor) -> Self {
        ElboTerms {
            kl_mu: kl.zeros_like(),
            kl_var: kl.zeros_like(),
            recon,
            kl,
        }
    }

    /// recon + beta * KL, `[n]`: the negative ELBO when beta = 1.
    pub fn loss(&self, beta: f64) -> Tensor {
        if beta == 1.0 {
            &self.recon + &self.kl // the same numbers, one operation fewer
        } else {
            &self.recon + &self.kl * beta
        }
    }
}

/// The decoder's outputs per pixel: a logit per channel, or the mixture's parameters.
pub fn outputs_per_pixel(config: &ModelConfig) -> usize {
    match config.likelihood {
        Likelihood::LogisticMixture => {
            crate::model::mixture::params_per_pixel(config.mixtures, config.channels)
        }
        _ => config.channels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    const F: (Kind, Device) = (Kind::Float, Device::Cpu);

    #[test]
    fn closed_form_kl_matches_monte_carlo_and_splits_into_two_parts() {
        let _rng = crate::rng_lock();
        tch::manual_seed(1);
        let mu = Tensor::randn([4, 3], (Kind::Double, Device::Cpu));
        let logvar = Tensor::randn([4, 3], (Kind::Double, Device::Cpu)) * 0.8;
        let (kl_mu, kl_var) = kl_parts(&mu, &logvar);
        let closed = &kl_mu + &kl_var;
        // The general KL between two univariate Gaussians, log(s2/s1) + (s1^2 + (m1 - m2)^2)
        // / (2 s2^2) - 1/2, with N(m2, s2^2) = N(0, 1), summed over dimensions in f64.
        let (m, lv) = (
            Vec::<f64>::try_from(mu.view([-1])).unwrap(),
            Vec::<f64>::try_from(logvar.view([-1])).unwrap(),
        );
        let general: Vec<f64> = (0..4)
            .map(|row| {
                (0..3)
                    .map(|j| {
                        let (m1, s1) = (m[row * 3 + j], (lv[row * 3 + j] / 2.0).exp());
                        -s1.ln() + (s1 * s1 + m1 * m1) / 2.0 - 0.5
                    })
                    .sum()
            })
            .collect();
        let closed_rows = Vec::<f64>::try_from(&closed).unwrap();
        for (c, g) in closed_rows.iter().zip(&general) {
            assert!((c - g).abs() < 1e-12, "{c} vs {g}");
        }
        // Monte Carlo: KL = E_q[log q(z) - log p(z)] with z ~ q, 200,000 draws per row.
        let k = 200_000;
        let eps = Tensor::randn([k, 4, 3], (Kind::Double, Device::Cpu));
        let z = &mu + (&logvar * 0.5).exp() * &eps;
        let log_q =
            ((eps.square() + &logvar) * -0.5).sum_dim_intlist(&[2i64][..], false, Kind::Double);
        let log_p = (z.square() * -0.5).sum_dim_intlist(&[2i64][..], false, Kind::Double);
        let per_draw = log_q - log_p; // the 2*pi constants cancel
        let mc = per_draw.mean_dim(&[0i64][..], false, Kind::Double);
        let stderr = per_draw.std_mean_dim(&[0i64][..], true, false).0 / (k as f64).sqrt();
        let z_scores = Vec::<f64>::try_from((mc - &closed).abs() / stderr).unwrap();
        for z in z_scores {
            assert!(
                z < 5.0,
                "Monte Carlo KL is {z:.1} standard errors from the closed form"
            );
        }
    }

    #[test]
    fn kl_is_zero_at_the_prior_and_l_sigma_is_minimal_at_unit_variance() {
        let zeros = Tensor::zeros([2, 5], F);
        let (kl_mu, kl_var) = kl_parts(&zeros, &zeros);
        assert_eq!(kl_mu.abs().max().double_value(&[]), 0.0);
        assert_eq!(kl_var.abs().max().double_value(&[]), 0.0);
        let (_, shifted) = kl_parts(&zeros, &Tensor::full([2, 5], 0.3, F));
        assert!(shifted.min().double_value(&[]) > 0.0);
    }

    #[test]
    fn gradients_reach_mu_and_logvar_through_the_sample() {
        let _rng = crate::rng_lock();
        tch::manual_seed(2);
        let mu = Tensor::randn([8, 4], F).set_requires_grad(true);
        let logvar = Tensor::randn([8, 4], F).set_requires_grad(true);
        let z = reparameterize(&mu, &logvar);
        // A loss on z alone: without the reparameterisation no gradient would flow.
        z.square().sum(Kind::Float).backward();
        for (name, t) in [("mu", &mu), ("logvar", &logvar)] {
            let g = t.grad();
            assert!(g.defined(), "no gradient for {name}");
            assert!(
                g.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                "zero gradient for {name}"
            );
        }
        // d/dmu sum z^2 = 2 z exactly.
        assert!(mu.grad().allclose(&(&z * 2.0), 1e-6, 1e-6, false));
    }

    #[test]
    fn bernoulli_nll_is_stable_and_matches_the_definition() {
        let x = Tensor::from_slice(&[0.0f32, 1.0, 0.3, 1.0]).view([1, 4]);
        let logits = Tensor::from_slice(&[-2.0f32, 3.0, 0.5, 0.0]).view([1, 4]);
        let p = logits.sigmoid();
        let (not_x, not_p): (Tensor, Tensor) = (1.0 - &x, 1.0 - &p);
        let direct = -(&x * p.log() + not_x * not_p.log()).sum(Kind::Float);
        let nll = reconstruction_nll(&logits, &x, Observation::plain(Likelihood::Bernoulli));
        assert!(nll.allclose(&direct.view([1]), 1e-5, 1e-5, false));
        // Huge logits: sigmoid saturates to 0/1 in float32, the log would be -inf.
        let extreme = Tensor::from_slice(&[-200.0f32, 200.0]).view([1, 2]);
        let target = Tensor::from_slice(&[1.0f32, 0.0]).view([1, 2]);
        let v = reconstruction_nll(&extreme, &target, Observation::plain(Likelihood::Bernoulli))
            .double_value(&[0]);
        assert!((v - 400.0).abs() < 1e-3, "{v}");
    }

    #[test]
    fn gaussian_nll_is_squared_error_plus_the_density_constant() {
        let x = Tensor::from_slice(&[0.0f32, 1.0]).view([1, 2]);
        let logits = Tensor::zeros([1, 2], F); // mean 0.5 everywhere
        let v = reconstruction_nll(&logits, &x, Observation::plain(Likelihood::Gaussian))
            .double_value(&[0]);
        assert!((v - (0.5 + std::f64::consts::PI.ln())).abs() < 1e-6, "{v}");
    }

    #[test]
    fn loss_is_recon_plus_beta_kl() {
        // recon from the Bernoulli definition and the KL from the general Gaussian formula,
        // both in f64 scalars, against the tensor expression.
        let x = [0.0f32, 1.0, 0.25];
        let logits = [1.5f32, -0.5, 0.0];
        let (mu, logvar) = ([0.5f32, -1.0], [0.2f32, -0.4]);
        let t = ElboTerms::new(
            &Tensor::from_slice(&logits).view([1, 3]),
            &Tensor::from_slice(&x).view([1, 3]),
            &Tensor::from_slice(&mu).view([1, 2]),
            &Tensor::from_slice(&logvar).view([1, 2]),
            Observation::plain(Likelihood::Bernoulli),
        );
        let recon: f64 = x
            .iter()
            .zip(logits)
            .map(|(&x, l)| {
                let p = 1.0 / (1.0 + (-(l as f64)).exp());
                -(x as f64 * p.ln() + (1.0 - x as f64) * (1.0 - p).ln())
            })
            .sum();
        let kl: f64 = mu
            .iter()
            .zip(logvar)
            .map(|(&m, lv)| {
                let s = (lv as f64 / 2.0).exp();
                -s.ln() + (s * s + (m as f64).powi(2)) / 2.0 - 0.5
            })
            .sum();
        let loss = t.loss(0.25).double_value(&[0]);
        assert!((loss - (recon + 0.25 * kl)).abs() < 1e-5, "{loss}");
    }
}
