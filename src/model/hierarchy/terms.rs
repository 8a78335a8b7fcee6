//! The hierarchical model's objective terms from a top-down pass: the closed-form KL of
//! each group's posterior against its prior (split as the flat model's into the means'
//! and the variances' parts), the log importance ratio log p(z) - log q(z|x) over all
//! groups, and the ELBO's objective with free bits per group.
use super::net::{Draw, Net, TopDown};
use tch::{Kind, Tensor};

/// Per image: the KL summed over groups, split into the means' part and the variances'
/// part (`[n]` each), and each group's KL (`[n, groups]`).
pub struct GroupKl {
    pub kl_mu: Tensor,
    pub kl_var: Tensor,
    pub per_group: Tensor,
}

/// KL(N(mq, vq) || N(mp, vp)) per element, in two parts that sum to it:
/// 0.5 (mq - mp)^2 / vp (the means') and 0.5 (vq/vp - 1 - log(vq/vp)) (the variances'),
/// `[n, z, h, w]` each.
fn kl_parts(q: &(Tensor, Tensor), p: &(Tensor, Tensor)) -> (Tensor, Tensor) {
    let ((mq, lq), (mp, lp)) = (q, p);
    let inv_vp = (-lp).exp();
    let mean = (mq - mp).square() * &inv_vp * 0.5;
    let log_ratio = lq - lp;
    let var = (log_ratio.exp() - 1.0 - &log_ratio) * 0.5;
    (mean, var)
}

fn per_image(t: &Tensor) -> Tensor {
    t.sum_dim_intlist(&[1i64, 2, 3][..], false, Kind::Float) // [n]
}

/// The groups' KL of a pass drawn from the posterior.
pub fn group_kl(pass: &TopDown) -> GroupKl {
    let (mut means, mut vars) = (Vec::new(), Vec::new());
    for g in &pass.groups {
        let q = g.q.as_ref().expect("a posterior pass has q");
        let (mean, var) = kl_parts(q, &g.p);
        means.push(per_image(&mean));
        vars.push(per_image(&var));
    }
    let (means, vars) = (Tensor::stack(&means, 1), Tensor::stack(&vars, 1)); // [n, groups]
    GroupKl {
        kl_mu: means.sum_dim_intlist(&[1i64][..], false, Kind::Float),
        kl_var: vars.sum_dim_intlist(&[1i64][..], false, Kind::Float),
        per_group: means + vars,
    }
}

/// log p(z) - log q(z|x) over all groups at the pass's z (`[n]`); the 2 pi terms cancel.
pub fn log_ratio(pass: &TopDown) -> Tensor {
    let log_n = |z: &Tensor, (mu, logvar): &(Tensor, Tensor)| -> Tensor {
        per_image(&(((z - mu).square() * (-logvar).exp() + logvar) * -0.5))
    };
    pass.groups
        .iter()
        .map(|g| log_n(&g.z, &g.p) - log_n(&g.z, g.q.as_ref().expect("a posterior pass has q")))
        .reduce(|a, b| a + b)
        .expect("a model has at least one group")
}

/// The batch's objective without free bits: mean recon + beta * sum over groups of each
/// group's batch-mean KL (`free_bits::FreeBits` floors each group). `recon` `[n]`,
/// `kl.per_group` `[n, groups]`.
pub fn objective(recon: &Tensor, kl: &GroupKl, beta: f64) -> Tensor {
    let per_group = kl.per_group.mean_dim(&[0i64][..], false, Kind::Float); // [groups]
    recon.mean(Kind::Float) + per_group.sum(Kind::Float) * beta
}

impl Net {
    /// `encode`: the posterior's means and log-variances of every group, `[n, latent_dim]`
    /// each, top-down order, each group `[latent, h, w]` flattened; each group's posterior
    /// taken at the means of the groups above (no noise), so that decoding the means
    /// reconstructs deterministically.
    pub fn encode(&self, x: &Tensor) -> (Tensor, Tensor) {
        let acts = self.bottom_up(x);
        let pass = self.top_down(Some(&acts), x.size()[0], &Draw::PosteriorMean);
        let flat = |f: &dyn Fn(&(Tensor, Tensor)) -> &Tensor| {
            let parts: Vec<Tensor> = pass
                .groups
                .iter()
                .map(|g| f(g.q.as_ref().expect("a posterior pass has q")).flatten(1, -1))
                .collect();
            Tensor::cat(&parts, 1)
        };
        (flat(&|q| &q.0), flat(&|q| &q.1))
    }

    /// The pass that the ELBO and the importance weights read: z ~ q for `x` (`[n, C*H*W]`),
    /// drawn with `eps` (`[n, latent_dim]`) where given.
    pub fn posterior_pass(&self, x: &Tensor, eps: Option<&Tensor>) -> TopDown {
        let acts = self.bottom_up(x);
        self.top_down(Some(&acts), x.size()[0], &Draw::Posterior(eps))
    }

    /// `[n, latent_dim]` -> the decoder's output `[n, outputs * H * W]`.
    pub fn decode_logits(&self, z: &Tensor) -> Tensor {
        self.top_down(None, z.size()[0], &Draw::Given(z)).out
    }

    /// The top groups' z given (`[n, values]`, see [`Draw::Prefix`]), the rest from the
    /// prior at `temperature`: the decoder's output `[n, outputs * H * W]`.
    pub fn prefix_logits(&self, z: &Tensor, temperature: f64) -> Tensor {
        self.top_down(None, z.size()[0], &Draw::Prefix { z, temperature })
            .out
    }

    /// `n` draws from the prior at `temperature`: the decoder's output `[n, outputs * H * W]`.
    pub fn sample_logits(&self, n: i64, temperature: f64) -> Tensor {
        self.top_down(None, n, &Draw::Prior { temperature }).out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kl_parts_sum_to_the_gaussian_kl_in_float64() {
        // Oracle: KL(N(a, s^2) || N(b, t^2)) = log(t/s) + (s^2 + (a-b)^2) / (2 t^2) - 1/2.
        let cases: [(f64, f64, f64, f64); 3] = [
            (0.3, 0.7, -1.2, 0.4),
            (2.0, 0.1, 0.0, 1.0),
            (-0.5, 3.0, 0.5, 0.2),
        ];
        for (a, s, b, t) in cases {
            let f = |v: f64| Tensor::from_slice(&[v]).view([1, 1, 1, 1]);
            let q = (f(a), f((s * s).ln()));
            let p = (f(b), f((t * t).ln()));
            let (mean, var) = kl_parts(&q, &p);
            let got = (mean + var).double_value(&[0, 0, 0, 0]);
            let want = (t / s).ln() + (s * s + (a - b) * (a - b)) / (2.0 * t * t) - 0.5;
            assert!(
                (got - want).abs() < 1e-5 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
    }
}
