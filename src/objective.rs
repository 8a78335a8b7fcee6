//! What a training step minimises, per `--objective`: the negative ELBO (recon + beta *
//! KL, with free bits) or the negative k-sample importance-weighted bound of Burda et al.
//! (2015, eq. 8), -log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x). Also the importance
//! samples themselves, which `eval` uses for its -log p(x) estimate.
use crate::config::{Objective, TrainConfig};
use crate::loss::{batch_objective, reconstruction_nll, reparameterize, ElboTerms};
use crate::model::Vae;
use anyhow::Result;
use tch::{Kind, Tensor};

/// `s` samples z ~ q(z|x) for each row of `x` (`[b, D]`), with their reconstruction
/// -log p(x|z) (`[b, s]`) and log importance weights log p(x|z) + log p(z) - log q(z|x)
/// (`[b, s]`). Random draws: one `[b, s, latent]` block of normals.
pub struct ImportanceSamples {
    pub recon: Tensor,
    pub log_w: Tensor,
}

pub fn importance_samples(
    vae: &Vae,
    x: &Tensor,
    mu: &Tensor,
    logvar: &Tensor,
    s: i64,
) -> Result<ImportanceSamples> {
    let (b, d) = (mu.size()[0], mu.size()[1]);
    let eps = Tensor::randn([b, s, d], (mu.kind(), mu.device())); // [b, s, d]
    let z = mu.unsqueeze(1) + (logvar * 0.5).exp().unsqueeze(1) * &eps; // [b, s, d]
    let logits = vae.decode_logits(&z.view([b * s, d]))?; // [b*s, D]
    let targets = x
        .unsqueeze(1)
        .expand([b, s, -1], false)
        .reshape([b * s, -1]);
    let likelihood = vae.config().likelihood;
    let recon = reconstruction_nll(&logits, &targets, likelihood, vae.log_scale()).view([b, s]);
    let dims: &[i64] = &[2];
    // log p(z) - log q(z|x): the 2*pi terms cancel, and z - mu = sigma * eps.
    let log_pz = (z.square() * -0.5).sum_dim_intlist(dims, false, None::<Kind>);
    let log_qz =
        ((eps.square() + logvar.unsqueeze(1)) * -0.5).sum_dim_intlist(dims, false, None::<Kind>);
    let log_w = -&recon + log_pz - log_qz; // [b, s]
    Ok(ImportanceSamples { recon, log_w })
}

/// One step's quantities for a batch `x` (`[b, D]`).
pub struct StepTerms {
    /// The scalar to minimise (a batch mean).
    pub objective: Tensor,
    /// Per image, the loss that `metrics.csv` reports (`[b]`): recon + beta * KL, or the
    /// negative importance-weighted bound.
    pub loss: Tensor,
    /// Per image: the reconstruction (under IWAE, averaged over the k samples) and the
    /// closed-form KL's two parts.
    pub terms: ElboTerms,
}

pub fn step_terms(vae: &Vae, x: &Tensor, config: &TrainConfig, beta: f64) -> Result<StepTerms> {
    let (mu, logvar) = vae.encode(x)?; // [b, latent] each
    match config.objective {
        Objective::Elbo => {
            let z = reparameterize(&mu, &logvar); // [b, latent]
            let logits = vae.decode_logits(&z)?; // [b, D]
            let likelihood = vae.config().likelihood;
            let terms = ElboTerms::new(&logits, x, &mu, &logvar, likelihood, vae.log_scale());
            // A batch mean: Adam is scale-invariant, and this keeps the learning rate
            // meaningful across batch sizes (PyTorch's reference does the same).
            let objective = batch_objective(&terms, &mu, &logvar, beta, config.free_bits);
            let loss = terms.loss(beta);
            Ok(StepTerms {
                objective,
                loss,
                terms,
            })
        }
        Objective::Iwae => {
            let k = config.k as i64;
            let samples = importance_samples(vae, x, &mu, &logvar, k)?;
            // log (1/k) sum_i w_i, a lower bound on log p(x) that tightens with k.
            let bound = samples.log_w.logsumexp(&[1i64][..], false) - (k as f64).ln(); // [b]
            let (kl_mu, kl_var) = crate::loss::kl_parts(&mu, &logvar);
            let recon = samples.recon.mean_dim(&[1i64][..], false, None::<Kind>);
            let loss = -bound;
            Ok(StepTerms {
                objective: loss.mean(loss.kind()),
                loss,
                terms: ElboTerms {
                    recon,
                    kl_mu,
                    kl_var,
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Likelihood, ModelConfig};
    use tch::{nn::VarStore, Device};

    fn tiny(vs: &VarStore) -> Vae {
        let config = ModelConfig::mlp(2, 3, vec![4], 2);
        Vae::new(&vs.root(), &config)
    }

    fn iwae(k: usize) -> TrainConfig {
        TrainConfig {
            objective: Objective::Iwae,
            k,
            ..TrainConfig::defaults()
        }
    }

    /// log N(v; m, s^2) in f64, constants included.
    fn log_normal(v: f64, m: f64, s: f64) -> f64 {
        -0.5 * ((v - m) / s).powi(2) - s.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
    }

    #[test]
    fn with_one_sample_the_iwae_bound_is_the_sampled_elbo() {
        let _rng = crate::rng_lock();
        let vs = VarStore::new(Device::Cpu);
        let vae = tiny(&vs);
        let x = Tensor::from_slice(&[
            0.0f32, 1.0, 0.5, 1.0, 0.0, 0.25, 0.9, 0.1, 0.0, 1.0, 1.0, 0.3,
        ])
        .view([2, 6]);
        tch::manual_seed(17);
        let step = step_terms(&vae, &x, &iwae(1), 1.0).unwrap();
        // The same draw by hand: the one-sample ELBO, recon + log q(z|x) - log p(z), with
        // the Gaussian densities written out in f64.
        tch::manual_seed(17);
        let eps = Tensor::randn([2, 1, 2], (Kind::Float, Device::Cpu)).view([2, 2]);
        let (mu, logvar) = vae.encode(&x).unwrap();
        let z = &mu + (&logvar * 0.5).exp() * &eps;
        let logits = vae.decode_logits(&z).unwrap();
        let recon = reconstruction_nll(&logits, &x, Likelihood::Bernoulli, None);
        let [m, lv, zz, r] = [&mu, &logvar, &z, &recon]
            .map(|t| Vec::<f64>::try_from(t.to_kind(Kind::Double).view([-1])).unwrap());
        let loss = Vec::<f64>::try_from(step.loss.to_kind(Kind::Double)).unwrap();
        for i in 0..2 {
            let mut mc_kl = 0.0;
            for j in 0..2 {
                let (zv, mv, s) = (zz[i * 2 + j], m[i * 2 + j], (lv[i * 2 + j] / 2.0).exp());
                mc_kl += log_normal(zv, mv, s) - log_normal(zv, 0.0, 1.0);
            }
            let elbo_loss = r[i] + mc_kl;
            assert!(
                (loss[i] - elbo_loss).abs() < 1e-4,
                "image {i}: {} vs {elbo_loss}",
                loss[i]
            );
        }
    }

    #[test]
    fn the_iwae_gradient_matches_a_float64_finite_difference() {
        let _rng = crate::rng_lock();
        tch::manual_seed(3);
        let mut vs = VarStore::new(Device::Cpu);
        let vae = tiny(&vs);
        vs.double();
        let x = Tensor::from_slice(&[0.0f64, 1.0, 0.5, 1.0, 0.0, 0.25]).view([1, 6]);
        let objective = || {
            tch::manual_seed(99); // the same importance samples every time
            step_terms(&vae, &x, &iwae(5), 1.0).unwrap().objective
        };
        // Biases of the heads and of the output layer: their gradients are never zero.
        for name in ["fc_mu.bias", "fc_logvar.bias", "decoder.2.bias"] {
            let p = vs.variables()[name].shallow_clone();
            let mut g = p.grad();
            if g.defined() {
                tch::no_grad(|| {
                    let _ = g.zero_();
                });
            }
            objective().backward();
            let analytic = p.grad().view([-1]).double_value(&[0]);
            let h = 1e-6;
            let at = |delta: f64| {
                tch::no_grad(|| {
                    let mut first = p.view([-1]).get(0);
                    first += delta;
                });
                let v = objective().double_value(&[]);
                tch::no_grad(|| {
                    let mut first = p.view([-1]).get(0);
                    first -= delta;
                });
                v
            };
            let numeric = (at(h) - at(-h)) / (2.0 * h);
            assert!(analytic != 0.0, "{name}: a zero gradient tests nothing");
            assert!(
                (analytic - numeric).abs() < 1e-6 * (1.0 + numeric.abs()),
                "{name}: autograd {analytic}, finite difference {numeric}"
            );
        }
    }
}
