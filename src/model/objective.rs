//! What a training step minimises, per `--objective`: the negative ELBO (recon + beta *
//! KL, with free bits) or the negative k-sample importance-weighted bound of Burda et al.
//! (2015, eq. 8), -log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x). Also the importance
//! samples themselves, which `eval` uses for its -log p(x) estimate.
use crate::config::{Objective, TrainConfig};
use crate::model::free_bits::FreeBits;
use crate::model::loss::{kl_per_dim, reconstruction_nll, reparameterize_with, ElboTerms};
use crate::model::noise;
use crate::model::prior::{self, Components};
use crate::model::{hierarchy, Vae};
use anyhow::Result;
use tch::{Kind, Tensor};

/// `s` samples z ~ q(z|x) for each row of `x` (`[b, D]`, labels `y` `[b]` for a
/// conditional model), with their reconstruction -log p(x|z) (`[b, s]`) and log
/// importance weights log p(x|z) + log p(z) - log q(z|x) (`[b, s]`). Random draws: one
/// `[b, s, latent]` block of normals.
pub struct ImportanceSamples {
    pub recon: Tensor,
    pub log_w: Tensor,
}

/// `s` importance samples of a hierarchical model for each row of `x` (`[b, D]`): each
/// image repeated `s` times through one posterior pass (z ~ q group by group).
pub fn hierarchical_samples(
    vae: &Vae,
    net: &hierarchy::Net,
    x: &Tensor,
    s: i64,
) -> (ImportanceSamples, hierarchy::GroupKl) {
    let b = x.size()[0];
    let xs = x.repeat_interleave_self_int(s, Some(0), None); // [b*s, D]
    let pass = net.posterior_pass(&xs, None);
    let recon = reconstruction_nll(&pass.out, &xs, vae.observation()).view([b, s]);
    let log_w = -&recon + hierarchy::log_ratio(&pass).view([b, s]);
    (
        ImportanceSamples { recon, log_w },
        hierarchy::group_kl(&pass),
    )
}

/// The negative ELBO's terms of a hierarchical model for `x` (`[b, D]`), one posterior
/// pass (z ~ q group by group); also the groups' KL and the pass itself.
pub fn hierarchical_elbo(
    vae: &Vae,
    net: &hierarchy::Net,
    x: &Tensor,
) -> (ElboTerms, hierarchy::GroupKl, hierarchy::TopDown) {
    let pass = net.posterior_pass(x, None);
    let kl = hierarchy::group_kl(&pass);
    let terms = ElboTerms {
        recon: reconstruction_nll(&pass.out, x, vae.observation()),
        kl: &kl.kl_mu + &kl.kl_var,
        kl_mu: kl.kl_mu.shallow_clone(),
        kl_var: kl.kl_var.shallow_clone(),
    };
    (terms, kl, pass)
}

/// The step of a hierarchical model: the ELBO with its closed-form KL per group (free bits
/// per group), or the importance-weighted bound over `--k` posterior passes.
fn hierarchical_step(
    vae: &Vae,
    net: &hierarchy::Net,
    x: &Tensor,
    config: &TrainConfig,
    beta: f64,
) -> StepTerms {
    let mean_over_k =
        |t: &Tensor, k: i64| t.view([-1, k]).mean_dim(&[1i64][..], false, None::<Kind>);
    match config.objective {
        Objective::Elbo => {
            let (terms, kl, _) = hierarchical_elbo(vae, net, x);
            let free_bits = FreeBits::of(&terms.recon, &kl.per_group, beta, config.free_bits);
            StepTerms {
                objective: free_bits.as_ref().map_or_else(
                    || hierarchy::objective(&terms.recon, &kl, beta),
                    FreeBits::alone,
                ),
                loss: terms.loss(beta),
                terms,
                free_bits,
            }
        }
        Objective::Iwae => {
            let k = config.k as i64;
            let (samples, kl) = hierarchical_samples(vae, net, x, k);
            let bound = samples.log_w.logsumexp(&[1i64][..], false) - (k as f64).ln(); // [b]
            let (kl_mu, kl_var) = (mean_over_k(&kl.kl_mu, k), mean_over_k(&kl.kl_var, k));
            let terms = ElboTerms {
                recon: samples.recon.mean_dim(&[1i64][..], false, None::<Kind>),
                kl: &kl_mu + &kl_var,
                kl_mu,
                kl_var,
            };
            let loss = -bound;
            StepTerms {
                objective: loss.mean(loss.kind()),
                loss,
                terms,
                free_bits: None,
            }
        }
    }
}

/// The encoder's output for a batch and the prior it is measured against.
pub struct Posterior<'a> {
    pub mu: &'a Tensor,
    pub logvar: &'a Tensor,
    /// The VampPrior's components (None: N(0, I)).
    pub prior: Option<&'a Components>,
}

pub fn importance_samples(
    vae: &Vae,
    x: &Tensor,
    y: Option<&Tensor>,
    q: &Posterior,
    s: i64,
) -> Result<ImportanceSamples> {
    let (b, d) = (q.mu.size()[0], q.mu.size()[1]);
    let eps = noise::randn(&[b, s, d], (q.mu.kind(), q.mu.device())); // [b, s, d]
    let z = q.mu.unsqueeze(1) + (q.logvar * 0.5).exp().unsqueeze(1) * &eps; // [b, s, d]
    let ys = y.map(|y| y.unsqueeze(1).expand([b, s], false).reshape([b * s]));
    let logits = vae.decode_logits(&z.view([b * s, d]), ys.as_ref())?; // [b*s, D]
    let targets = x
        .unsqueeze(1)
        .expand([b, s, -1], false)
        .reshape([b * s, -1]);
    let recon = reconstruction_nll(&logits, &targets, vae.observation()).view([b, s]);
    let log_ratio = log_prior_over_posterior(&z, &eps, &q.logvar.unsqueeze(1), q.prior); // [b, s]
    let log_w = -&recon + log_ratio; // [b, s]
    Ok(ImportanceSamples { recon, log_w })
}

/// log p(z) - log q(z|x) at samples z = mu + sigma * eps (`[..., d]` -> `[...]`; `logvar`
/// broadcasts against `eps`). Against N(0, I) the 2 pi terms cancel and z - mu = sigma *
/// eps, so both densities are written without them; the mixture's log-density has them,
/// and they are added back to q's.
fn log_prior_over_posterior(
    z: &Tensor,
    eps: &Tensor,
    logvar: &Tensor,
    prior: Option<&Components>,
) -> Tensor {
    let dims: &[i64] = &[-1];
    let log_qz = ((eps.square() + logvar) * -0.5).sum_dim_intlist(dims, false, None::<Kind>);
    match prior {
        None => (z.square() * -0.5).sum_dim_intlist(dims, false, None::<Kind>) - log_qz,
        Some(c) => {
            let size = z.size();
            let d = size[size.len() - 1];
            let log_pz =
                prior::log_prior(&z.reshape([-1, d]), Some(c)).reshape(&size[..size.len() - 1]);
            log_pz - (log_qz - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln())
        }
    }
}

/// The negative ELBO's terms for a batch `x` (`[b, D]`) with one z per image: the
/// closed-form KL against N(0, I), or the one-sample estimate against the VampPrior.
pub fn elbo_terms(vae: &Vae, x: &Tensor, y: Option<&Tensor>, q: &Posterior) -> Result<ElboTerms> {
    let eps = noise::randn_like(q.mu);
    let z = reparameterize_with(q.mu, q.logvar, &eps); // [b, latent]
    let logits = vae.decode_logits(&z, y)?; // [b, D]
    Ok(match q.prior {
        None => ElboTerms::new(&logits, x, q.mu, q.logvar, vae.observation()),
        Some(_) => ElboTerms::with_kl_estimate(
            reconstruction_nll(&logits, x, vae.observation()),
            -log_prior_over_posterior(&z, &eps, q.logvar, q.prior),
        ),
    })
}

/// One step's quantities for a batch `x` (`[b, D]`).
pub struct StepTerms {
    /// The scalar to minimise (a batch mean).
    pub objective: Tensor,
    /// Per image, the loss that `metrics.csv` reports (`[b]`): recon + beta * KL, or the
    /// negative importance-weighted bound.
    pub loss: Tensor,
    /// Per image: the reconstruction (under IWAE, averaged over the k samples) and the
    /// KL (under IWAE: the closed form against N(0, I), or the mean over the k samples of
    /// log q(z|x) - log p(z) against the VampPrior).
    pub terms: ElboTerms,
    /// The objective's parts under free bits (the ELBO with --free-bits > 0), which a
    /// process holding a share of a batch floors by the whole batch's KL.
    pub free_bits: Option<FreeBits>,
}

pub fn step_terms(
    vae: &Vae,
    x: &Tensor,
    y: Option<&Tensor>,
    config: &TrainConfig,
    beta: f64,
) -> Result<StepTerms> {
    if let Some(net) = vae.hierarchy() {
        return Ok(hierarchical_step(vae, net, x, config, beta));
    }
    let (mu, logvar) = vae.encode(x, y)?; // [b, latent] each
    let components = Components::of(vae)?;
    let q = Posterior {
        mu: &mu,
        logvar: &logvar,
        prior: components.as_ref(),
    };
    match config.objective {
        Objective::Elbo => {
            let terms = elbo_terms(vae, x, y, &q)?;
            // A batch mean: Adam is scale-invariant, and this keeps the learning rate
            // meaningful across batch sizes (PyTorch's reference does the same).
            let loss = terms.loss(beta);
            let free_bits = FreeBits::of(
                &terms.recon,
                &kl_per_dim(&mu, &logvar),
                beta,
                config.free_bits,
            );
            Ok(StepTerms {
                objective: free_bits
                    .as_ref()
                    .map_or_else(|| loss.mean(Kind::Float), FreeBits::alone),
                loss,
                terms,
                free_bits,
            })
        }
        Objective::Iwae => {
            let k = config.k as i64;
            let samples = importance_samples(vae, x, y, &q, k)?;
            // log (1/k) sum_i w_i, a lower bound on log p(x) that tightens with k.
            let bound = samples.log_w.logsumexp(&[1i64][..], false) - (k as f64).ln(); // [b]
            let recon = samples.recon.mean_dim(&[1i64][..], false, None::<Kind>);
            // The KL column: recon's mean minus the mean log weight's, i.e. the k-sample
            // estimate of E_q[log q(z|x) - log p(z)]; its split where the prior has one.
            let kl = -samples.log_w.mean_dim(&[1i64][..], false, None::<Kind>) - &recon;
            let terms = match q.prior {
                None => {
                    let (kl_mu, kl_var) = crate::model::loss::kl_parts(&mu, &logvar);
                    ElboTerms {
                        recon,
                        kl: &kl_mu + &kl_var,
                        kl_mu,
                        kl_var,
                    }
                }
                Some(_) => ElboTerms::with_kl_estimate(recon, kl),
            };
            let loss = -bound;
            Ok(StepTerms {
                objective: loss.mean(loss.kind()),
                loss,
                terms,
                free_bits: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Likelihood, ModelConfig};
    use crate::model::loss::Observation;
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
        let step = step_terms(&vae, &x, None, &iwae(1), 1.0).unwrap();
        // The same draw by hand: the one-sample ELBO, recon + log q(z|x) - log p(z), with
        // the Gaussian densities written out in f64.
        tch::manual_seed(17);
        let eps = Tensor::randn([2, 1, 2], (Kind::Float, Device::Cpu)).view([2, 2]);
        let (mu, logvar) = vae.encode(&x, None).unwrap();
        let z = &mu + (&logvar * 0.5).exp() * &eps;
        let logits = vae.decode_logits(&z, None).unwrap();
        let recon = reconstruction_nll(&logits, &x, Observation::plain(Likelihood::Bernoulli));
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
            step_terms(&vae, &x, None, &iwae(5), 1.0).unwrap().objective
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
