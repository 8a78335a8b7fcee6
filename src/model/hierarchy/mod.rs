//! `--arch hierarchical`: a top-down hierarchical VAE in the style of VDVAE (Child 2021)
//! and NVAE (Vahdat & Kautz 2020). `layout` describes it (and names every parameter),
//! `net` builds and runs it in tch, `terms` turns a pass into the ELBO's terms and the
//! importance weights.
//!
//! The latent z is a stack of groups, from a 1x1 group at the top to groups at the image's
//! resolution: p(z) = prod_g p(z_g | z_<g) and q(z|x) = prod_g q(z_g | x, z_<g), each a
//! diagonal Gaussian, so the KL is a sum over groups of closed-form Gaussian KLs (taken at
//! a z drawn from q for the groups above). To the rest of the crate it keeps the flat
//! model's interface: `encode` gives every group's posterior mean and log-variance,
//! flattened and concatenated top-down (`[n, latent_dim]`), and `decode` takes such a z.
mod layout;
mod net;
mod terms;

pub use layout::{BlockSpec, ConvSpec, GroupSpec, Layout, H_TOP};
pub use net::{Draw, GroupTerms, Net, TopDown};
pub use terms::{group_kl, log_ratio, objective, GroupKl};
