//! Free bits (Kingma et al. 2016, eq. 15): each KL unit (a latent dimension, or a group
//! of the hierarchical model's latents) counts as at least lambda nats of the batch, and
//! gets no gradient below it. Kept in parts, so that a batch that several processes share
//! is floored by the whole batch's means (`train::trainer::shared`).
use tch::{Kind, Tensor};

/// The free-bits objective of a batch:
/// mean(recon) + beta * sum_u max(lambda, mean_batch KL_u), over KL units u (the latent
/// dimensions, or the hierarchical model's groups of latents): a unit whose batch-mean KL is
/// below lambda feels no pull towards the prior. Kept in parts, so that a batch shared by
/// several processes can be floored by the whole batch's means ([`FreeBits::objective`]).
pub struct FreeBits {
    /// The batch mean of the reconstruction, a scalar with its graph.
    pub recon_mean: Tensor,
    /// The batch mean of each unit's KL, `[units]`, with its graph.
    pub kl_mean: Tensor,
    pub lambda: f64,
    pub beta: f64,
}

impl FreeBits {
    /// The parts for `recon` (`[n]`) and the KL of each unit of each image (`[n, units]`);
    /// None when lambda is 0 (no floor).
    pub fn of(recon: &Tensor, kl_units: &Tensor, beta: f64, lambda: f64) -> Option<Self> {
        (lambda > 0.0).then(|| FreeBits {
            recon_mean: recon.mean(Kind::Float),
            kl_mean: kl_units.mean_dim(&[0i64][..], false, Kind::Float),
            lambda,
            beta,
        })
    }

    /// The objective with each unit floored by `batch_kl` (`[units]`, no graph), the whole
    /// batch's KL means: a unit counts its own mean where the batch's is at least lambda,
    /// and the constant lambda (no gradient) elsewhere. With the batch's means from this
    /// batch alone ([`FreeBits::alone`]) this is max(lambda, KL_u) with clamp_min's gradient
    /// (which passes where the input is >= the floor); with a process's share of a larger
    /// batch, the shares' objectives weighted by their rows add up to the whole batch's.
    pub fn objective(&self, batch_kl: &Tensor) -> Tensor {
        let kl = self
            .kl_mean
            .where_scalarother(&batch_kl.ge(self.lambda), self.lambda);
        &self.recon_mean + kl.sum(Kind::Float) * self.beta
    }

    /// The objective of a batch that one process holds whole.
    pub fn alone(&self) -> Tensor {
        self.objective(&self.kl_mean.detach())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Likelihood;
    use crate::model::loss::{kl_per_dim, ElboTerms, Observation};
    use tch::Device;

    const F: (Kind, Device) = (Kind::Float, Device::Cpu);

    #[test]
    fn free_bits_stop_the_kl_gradient_below_lambda() {
        let _rng = crate::rng_lock();
        tch::manual_seed(4);
        let x = Tensor::rand([6, 5], F);
        let logits = Tensor::randn([6, 5], F);
        let mu = (Tensor::randn([6, 3], F) * 0.1).set_requires_grad(true);
        let logvar = (Tensor::randn([6, 3], F) * 0.1).set_requires_grad(true);
        let terms = ElboTerms::new(
            &logits,
            &x,
            &mu,
            &logvar,
            Observation::plain(Likelihood::Bernoulli),
        );
        // Every dimension's KL is far below 5 nats: the KL part is the constant 3 * 5.
        let kl_units = kl_per_dim(&mu, &logvar);
        let obj = FreeBits::of(&terms.recon, &kl_units, 1.0, 5.0)
            .expect("lambda > 0")
            .alone();
        let expected = terms.recon.mean(Kind::Float) + 15.0;
        assert!(obj.allclose(&expected, 1e-5, 1e-5, false));
        obj.backward();
        assert_eq!(mu.grad().abs().max().double_value(&[]), 0.0);
        assert!(FreeBits::of(&terms.recon, &kl_units, 1.0, 0.0).is_none());
        let per_dim_sum =
            kl_per_dim(&mu, &logvar).sum_dim_intlist(&[1i64][..], false, None::<Kind>);
        assert!(per_dim_sum.allclose(&terms.kl, 1e-6, 1e-6, false));
    }

    #[test]
    fn shares_floored_by_the_whole_batch_add_up_to_the_whole_batch() {
        // Oracle: the whole batch's free-bits objective written with clamp_min, and its
        // gradient; against shares of 4 and 2 rows, each floored by the whole batch's means
        // and weighted by its rows, as several processes step.
        let _rng = crate::rng_lock();
        tch::manual_seed(9);
        let recon = Tensor::rand([6], F).set_requires_grad(true);
        // Unit 0's KLs are about 0.1, unit 1's about 2: lambda = 1 floors unit 0 only.
        let scale = Tensor::from_slice(&[0.2f32, 4.0]);
        let kl = (Tensor::rand([6, 2], F) * scale).set_requires_grad(true);
        let lambda = 1.0;
        let whole = recon.mean(Kind::Float)
            + kl.mean_dim(&[0i64][..], false, Kind::Float)
                .clamp_min(lambda)
                .sum(Kind::Float)
                * 0.5;
        let grads = |t: &Tensor| Tensor::run_backward(&[t], &[&recon, &kl], false, false);
        let expected = grads(&whole);
        let batch_kl = kl.mean_dim(&[0i64][..], false, Kind::Float).detach();
        let shares: Vec<Tensor> = [(0, 4), (4, 2)]
            .into_iter()
            .map(|(offset, len)| {
                let part = FreeBits::of(
                    &recon.narrow(0, offset, len),
                    &kl.narrow(0, offset, len),
                    0.5,
                    lambda,
                )
                .expect("lambda > 0");
                part.objective(&batch_kl) * (len as f64 / 6.0)
            })
            .collect();
        let total = &shares[0] + &shares[1];
        assert!(total.allclose(&whole, 1e-6, 1e-6, false));
        for (got, want) in grads(&total).iter().zip(&expected) {
            assert!(got.allclose(want, 1e-6, 1e-7, false));
        }
        // Unit 0 is floored: no gradient reaches its KL.
        assert_eq!(expected[1].select(1, 0).abs().max().double_value(&[]), 0.0);
        assert!(expected[1].select(1, 1).abs().min().double_value(&[]) > 0.0);
    }
}
