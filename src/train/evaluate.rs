//! The test pass at the end of each epoch: the negative ELBO's parts on the test split,
//! as training measures them, without gradients.
use crate::data::Split;
use crate::model::objective;
use crate::model::prior;
use crate::model::Vae;
use crate::run::metrics::PassMetrics;
use crate::train::sums::PassSums;
use anyhow::Result;
use tch::{Kind, Tensor};

/// Test-set passes need no gradients, so they use large batches: this many rows, or
/// fewer where the decoded rows would hold more than an evaluation's chunk
/// (`memory::decoded_chunk_rows`).
const EVAL_BATCH: usize = 1024;

/// A pass over `split` without gradients: per-sample averages of the negative ELBO's parts
/// (one z per image, as in training) and the mean of sigma^2 over images and latent units.
pub fn evaluate(vae: &Vae, split: &Split, beta: f64) -> Result<(PassMetrics, f64)> {
    tch::no_grad(|| {
        let n = split.len();
        let device = split.images.device();
        let mut sums = PassSums::zeros(device);
        let mut var_sum = Tensor::zeros([], (Kind::Float, device));
        let components = prior::Components::of(vae)?;
        let chunk = EVAL_BATCH.min(crate::model::memory::decoded_chunk_rows(
            device,
            vae.config(),
        ));
        for start in (0..n).step_by(chunk) {
            let len = chunk.min(n - start) as i64;
            let x = split.rows(start, len as usize); // [b, values]
            let y = vae
                .config()
                .classes
                .map(|_| split.labels.narrow(0, start as i64, len)); // [b]
            if let Some(net) = vae.hierarchy() {
                // One posterior pass: its terms, and the groups' posterior variances.
                let (terms, _, pass) = objective::hierarchical_elbo(vae, net, &x);
                sums.add(&terms, beta);
                for g in &pass.groups {
                    let (_, logvar) = g.q.as_ref().expect("a posterior pass has q");
                    var_sum += logvar.exp().sum(Kind::Float);
                }
                continue;
            }
            let (mu, logvar) = vae.encode(&x, y.as_ref())?;
            let q = objective::Posterior {
                mu: &mu,
                logvar: &logvar,
                prior: components.as_ref(),
            };
            let terms = objective::elbo_terms(vae, &x, y.as_ref(), &q)?;
            sums.add(&terms, beta);
            var_sum += logvar.exp().sum(Kind::Float);
        }
        let mean_var = var_sum.double_value(&[]) / (n * vae.latent_dim()).max(1) as f64;
        Ok((sums.to_metrics(n)?, mean_var))
    })
}
