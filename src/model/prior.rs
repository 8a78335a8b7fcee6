//! The prior p(z) (`--prior`): N(0, I), or the VampPrior of Tomczak & Welling (2018, eq. 9),
//! p(z) = (1/K) sum_k q(z | u_k), the encoder's posterior at K learned pseudo-inputs u_k
//! (with labels k mod classes for a conditional model). Its log-density, its draws, and
//! the KL estimate that replaces the closed form when there is none.
use crate::config::Prior;
use crate::model::Vae;
use anyhow::{Context, Result};
use std::f64::consts::PI;
use tch::{Kind, Tensor};

/// The mixture's components: the encoder's (mu, logvar) at the pseudo-inputs, `[K, d]`
/// each. None for N(0, I).
pub struct Components {
    pub mu: Tensor,
    pub logvar: Tensor,
}

impl Components {
    /// The VampPrior's components under the model's current weights (gradients flow to
    /// the pseudo-inputs and the encoder); None for N(0, I).
    pub fn of(vae: &Vae) -> Result<Option<Self>> {
        if vae.config().prior == Prior::Normal {
            return Ok(None);
        }
        let u = vae
            .pseudo_inputs()
            .context("a VampPrior model has pseudo-inputs")?;
        let labels = vae.pseudo_labels();
        let (mu, logvar) = vae.encode(&u, labels.as_ref())?;
        Ok(Some(Components { mu, logvar }))
    }
}

/// log N(z; mu, diag(exp(logvar))) summed over the last dimension, constants included:
/// `z`, `mu`, `logvar` broadcast together, `[..., d]` -> `[...]`.
pub fn log_normal_diag(z: &Tensor, mu: &Tensor, logvar: &Tensor) -> Tensor {
    let d = *z.size().last().expect("z has a latent dimension") as f64;
    ((z - mu).square() * (-logvar).exp() + logvar).sum_dim_intlist(
        &[-1i64][..],
        false,
        None::<Kind>,
    ) * -0.5
        - 0.5 * d * (2.0 * PI).ln()
}

/// Values of the `[rows, K, d]` differences that [`log_prior`] holds at once (64 MiB).
const CHUNK_VALUES: i64 = 1 << 24;

/// log p(z) for `z` `[n, d]` -> `[n]`: the standard normal's, or the mixture's through
/// log-sum-exp over its K components. Each squared distance is taken from the difference
/// z - mu_k itself: the expanded form (z^2 / v - 2 z mu / v + mu^2 / v, matrix products)
/// cancels catastrophically in float32 once a component's variance is small, and trained
/// pseudo-inputs' are (it once turned a VampPrior's log p(z) into garbage mid-training).
/// Rows are taken in chunks so that the `[rows, K, d]` differences stay under 64 MiB.
pub fn log_prior(z: &Tensor, components: Option<&Components>) -> Tensor {
    let Some(c) = components else {
        return log_normal_diag(z, &z.zeros_like(), &z.zeros_like());
    };
    let (n, d) = (z.size()[0], z.size()[1]);
    let k = c.mu.size()[0];
    let inv_var = (-&c.logvar).exp().unsqueeze(0); // [1, K, d]
    let mu = c.mu.unsqueeze(0); // [1, K, d]
    let log_det = c.logvar.sum_dim_intlist(&[1i64][..], false, None::<Kind>); // [K]
    let constant = 0.5 * d as f64 * (2.0 * PI).ln() + (k as f64).ln();
    let rows = (CHUNK_VALUES / (k * d).max(1)).max(1);
    let parts: Vec<Tensor> = (0..n)
        .step_by(rows as usize)
        .map(|start| {
            let zc = z.narrow(0, start, rows.min(n - start)).unsqueeze(1); // [r, 1, d]
            let quad =
                ((zc - &mu).square() * &inv_var).sum_dim_intlist(&[2i64][..], false, None::<Kind>); // [r, K]
            ((quad + &log_det) * -0.5).logsumexp(&[1i64][..], false) - constant // [r]
        })
        .collect();
    if parts.len() == 1 {
        return parts.into_iter().next().expect("one part");
    }
    Tensor::cat(&parts, 0)
}

/// `n` draws z ~ p(z), `[n, d]`: N(0, I), or a component drawn uniformly, then its Gaussian.
pub fn sample(vae: &Vae, n: i64) -> Result<Tensor> {
    let d = vae.config().latent as i64;
    let opts = (Kind::Float, vae.device());
    let eps = Tensor::randn([n, d], opts);
    match Components::of(vae)? {
        None => Ok(eps),
        Some(c) => {
            let k = c.mu.size()[0];
            let which = Tensor::randint(k, [n], (Kind::Int64, vae.device()));
            let mu = c.mu.index_select(0, &which);
            let std = (c.logvar.index_select(0, &which) * 0.5).exp();
            Ok(mu + std * eps)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn f64s(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.to_kind(Kind::Double).view([-1])).unwrap()
    }

    /// log N(v; m, s^2) of one coordinate in f64.
    fn log_normal(v: f64, m: f64, log_var: f64) -> f64 {
        -0.5 * ((v - m).powi(2) / log_var.exp() + log_var + (2.0 * PI).ln())
    }

    #[test]
    fn the_mixture_log_density_matches_a_direct_float64_sum() {
        let _rng = crate::rng_lock();
        tch::manual_seed(5);
        let opts = (Kind::Float, Device::Cpu);
        let (n, k, d) = (4i64, 3i64, 2i64);
        let z = Tensor::randn([n, d], opts) * 2.0;
        let c = Components {
            mu: Tensor::randn([k, d], opts),
            logvar: Tensor::randn([k, d], opts) * 0.5,
        };
        let got = f64s(&log_prior(&z, Some(&c)));
        let (zz, m, lv) = (f64s(&z), f64s(&c.mu), f64s(&c.logvar));
        for i in 0..n as usize {
            // (1/K) sum_k prod_j N(z_ij; mu_kj, var_kj), summed directly, then the log.
            let p: f64 = (0..k as usize)
                .map(|kk| {
                    (0..d as usize)
                        .map(|j| log_normal(zz[i * 2 + j], m[kk * 2 + j], lv[kk * 2 + j]).exp())
                        .product::<f64>()
                })
                .sum::<f64>()
                / k as f64;
            assert!(
                (got[i] - p.ln()).abs() < 1e-4,
                "{i}: {} vs {}",
                got[i],
                p.ln()
            );
        }
    }

    #[test]
    fn narrow_components_keep_their_digits_in_float32() {
        // Components with variances of e^-16 (as trained pseudo-inputs reach) and points
        // near their means: the expanded quadratic form cancelled here in float32 (log p
        // came out hundreds of nats off); the difference form matches float64.
        let _rng = crate::rng_lock();
        tch::manual_seed(8);
        let opts = (Kind::Float, Device::Cpu);
        let (k, d) = (5i64, 50i64);
        let mu = Tensor::randn([k, d], opts) * 3.0;
        let logvar = Tensor::full([k, d], -16.0, opts);
        let z = mu.narrow(0, 0, 3) + Tensor::randn([3, d], opts) * 1e-4;
        let got = f64s(&log_prior(
            &z,
            Some(&Components {
                mu: mu.shallow_clone(),
                logvar: logvar.shallow_clone(),
            }),
        ));
        let c64 = Components {
            mu: mu.to_kind(Kind::Double),
            logvar: logvar.to_kind(Kind::Double),
        };
        let want = f64s(&log_prior(&z.to_kind(Kind::Double), Some(&c64)));
        // And float64 against the sum written out: (1/K) sum_k prod_j N(z_j; mu_kj, e^-16).
        let (zz, m) = (f64s(&z), f64s(&mu));
        for i in 0..3 {
            let logs: Vec<f64> = (0..k as usize)
                .map(|kk| {
                    (0..d as usize)
                        .map(|j| log_normal(zz[i * 50 + j], m[kk * 50 + j], -16.0))
                        .sum()
                })
                .collect();
            let top = logs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let direct = top + (logs.iter().map(|l| (l - top).exp()).sum::<f64>() / k as f64).ln();
            assert!(
                (want[i] - direct).abs() < 1e-6 * direct.abs(),
                "{} vs {direct}",
                want[i]
            );
            assert!(
                (got[i] - direct).abs() < 1e-3 * direct.abs(),
                "float32 {} vs {direct}",
                got[i]
            );
        }
    }

    #[test]
    fn chunked_rows_equal_one_pass() {
        let _rng = crate::rng_lock();
        tch::manual_seed(9);
        let opts = (Kind::Float, Device::Cpu);
        // 2^24 / (K d) rows per chunk: 400 components of 50 dimensions make 838 rows.
        let c = Components {
            mu: Tensor::randn([400, 50], opts),
            logvar: Tensor::randn([400, 50], opts) * 0.3,
        };
        let z = Tensor::randn([2000, 50], opts);
        let whole = log_prior(&z, Some(&c));
        let first = log_prior(&z.narrow(0, 0, 700), Some(&c));
        assert_eq!(whole.size(), vec![2000]);
        assert!(whole.narrow(0, 0, 700).allclose(&first, 1e-6, 1e-6, false));
    }

    #[test]
    fn components_at_one_point_give_that_gaussians_density() {
        let _rng = crate::rng_lock();
        tch::manual_seed(6);
        let opts = (Kind::Float, Device::Cpu);
        let z = Tensor::randn([5, 3], opts);
        let (mu, logvar) = (Tensor::randn([1, 3], opts), Tensor::randn([1, 3], opts));
        let one = Components {
            mu: mu.repeat([7, 1]),
            logvar: logvar.repeat([7, 1]),
        };
        let mixture = f64s(&log_prior(&z, Some(&one)));
        let (zz, m, lv) = (f64s(&z), f64s(&mu), f64s(&logvar));
        for i in 0..5 {
            let direct: f64 = (0..3).map(|j| log_normal(zz[i * 3 + j], m[j], lv[j])).sum();
            assert!(
                (mixture[i] - direct).abs() < 1e-4,
                "{} vs {direct}",
                mixture[i]
            );
        }
        // And the standard normal's, against the same formula.
        let normal = f64s(&log_prior(&z, None));
        for i in 0..5 {
            let direct: f64 = (0..3).map(|j| log_normal(zz[i * 3 + j], 0.0, 0.0)).sum();
            assert!((normal[i] - direct).abs() < 1e-5);
        }
    }
}
