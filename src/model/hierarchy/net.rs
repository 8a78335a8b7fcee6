//! The hierarchical network in tch, built from [`Layout`]: the bottom-up path, the
//! top-down path that inference and generation share, and the per-group Gaussian terms.
use super::layout::{BlockSpec, ConvSpec, GroupSpec, Layout, H_TOP};
use crate::config::ModelConfig;
use crate::native::layout::relayout;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// One convolution, PyTorch's default initialisation (uniform in +-1/sqrt(fan_in)),
/// weights optionally scaled (VDVAE's 1/sqrt(blocks) on a residual block's last layer) or
/// zeroed (the prior block's last layer), and stored channels-last where `nhwc`.
fn conv(root: &nn::Path, spec: &ConvSpec, scale: f64, nhwc: bool) -> nn::Conv2D {
    let bound = 1.0 / ((spec.inputs * spec.kernel * spec.kernel) as f64).sqrt();
    let init = nn::Init::Uniform {
        lo: -bound,
        up: bound,
    };
    let config = nn::ConvConfig {
        padding: (spec.kernel / 2) as i64,
        ws_init: init,
        bs_init: init,
        ..Default::default()
    };
    let path = spec.name.split('.').fold(root.clone(), |p, part| p / part);
    let mut c = nn::conv2d(
        path,
        spec.inputs as i64,
        spec.outputs as i64,
        spec.kernel as i64,
        config,
    );
    if scale != 1.0 {
        tch::no_grad(|| {
            let _ = c.ws.g_mul_scalar_(scale);
            if scale == 0.0 {
                if let Some(b) = c.bs.as_mut() {
                    let _ = b.g_mul_scalar_(0.0);
                }
            }
        });
    }
    if nhwc {
        // In place (the VarStore holds the same variable): the weight's values stay, their
        // order in memory becomes [out, kh, kw, in].
        tch::no_grad(|| c.ws.set_data(&relayout(&c.ws, true)));
    }
    c
}

/// Whether the network runs channels-last: on the CPU with oneDNN, whose convolutions on
/// NHWC tensors (its brgemm kernels) skip the reorders to and from its blocked layout
/// that NCHW tensors cost at every call. Off without oneDNN (`--reproducible portable`,
/// whose committed bits are NCHW's) and on CUDA.
fn runs_channels_last(device: Device) -> bool {
    device == Device::Cpu && crate::native::numerics::onednn_enabled()
}

struct Block {
    convs: [nn::Conv2D; 4],
    residual: bool,
}

impl Block {
    /// `last`: the scale of the last convolution's initial weights.
    fn new(root: &nn::Path, spec: &BlockSpec, last: f64, nhwc: bool) -> Self {
        let [a, b, c, d] = &spec.convs;
        Block {
            convs: [
                conv(root, a, 1.0, nhwc),
                conv(root, b, 1.0, nhwc),
                conv(root, c, 1.0, nhwc),
                conv(root, d, last, nhwc),
            ],
            residual: spec.residual,
        }
    }

    /// [n, in, h, w] -> [n, out, h, w]: gelu then convolution, four times; plus the input
    /// when residual.
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.forward_activated(&x.gelu("none"));
        if self.residual {
            x + h
        } else {
            h
        }
    }

    /// The block without its residual, from its input's gelu (computed once where two
    /// blocks read the same input).
    fn forward_activated(&self, gx: &Tensor) -> Tensor {
        let [first, rest @ ..] = &self.convs;
        rest.iter()
            .fold(first.forward(gx), |h, c| c.forward(&h.gelu("none")))
    }
}

struct Group {
    spec: GroupSpec,
    q: Block,
    p: Block,
    z_proj: nn::Conv2D,
    res: Block,
}

/// How the top-down pass picks each group's z.
pub enum Draw<'a> {
    /// z ~ q(z | x, z above): training, the ELBO and the importance weights; z = mean +
    /// sigma * the given noise (`[n, latent_dim]`, top-down) where given, else fresh noise.
    Posterior(Option<&'a Tensor>),
    /// z = q's mean: `encode` and the pictures of reconstructions.
    PosteriorMean,
    /// The given z of every group, `[n, latent_dim]` in top-down order (`decode`).
    Given(&'a Tensor),
    /// z ~ p(z | z above) with its standard deviation times `temperature` (`sample`).
    Prior { temperature: f64 },
    /// The top groups' z given (`[n, values of those groups]`, top-down, a whole number of
    /// groups), the rest drawn as `Prior` does: an ex-post prior's draws (`model::fitted`).
    Prefix { z: &'a Tensor, temperature: f64 },
}

/// One group's Gaussians and z, `[n, latent, h, w]` each.
pub struct GroupTerms {
    pub z: Tensor,
    /// The posterior's mean and log-variance (None when drawing from the prior or a given z).
    pub q: Option<(Tensor, Tensor)>,
    pub p: (Tensor, Tensor),
}

/// The whole top-down pass: the decoder's output `[n, outputs * H * W]` (the likelihood's
/// parameters, channel-major as the conv models'), and each group's terms, top-down.
pub struct TopDown {
    pub out: Tensor,
    pub groups: Vec<GroupTerms>,
}

pub struct Net {
    layout: Layout,
    /// Activations and convolution weights channels-last ([`runs_channels_last`]).
    nhwc: bool,
    in_conv: nn::Conv2D,
    encoder: Vec<Block>,
    h_top: Tensor,
    groups: Vec<Group>,
    out: nn::Conv2D,
}

impl Net {
    pub fn new(root: &nn::Path, config: &ModelConfig) -> Self {
        Self::with_layout(root, config, runs_channels_last(root.device()))
    }

    /// The network channels-last (`nhwc`) or NCHW, whatever the device: [`Net::new`]
    /// chooses; the tests compare the two.
    pub fn with_layout(root: &nn::Path, config: &ModelConfig, nhwc: bool) -> Self {
        let layout = Layout::of(config);
        let last = 1.0 / (layout.residual_blocks() as f64).sqrt();
        let in_conv = conv(root, &layout.in_conv, 1.0, nhwc);
        let encoder = layout
            .encoder_blocks
            .iter()
            .map(|b| Block::new(root, b, last, nhwc))
            .collect();
        // VDVAE starts the top-down state at zero (its `bias_xs`), learned.
        let (part, name) = H_TOP.split_once('.').expect("H_TOP is decoder.h_top");
        let h_top = (root / part).var(name, &[1, layout.width as i64, 1, 1], nn::Init::Const(0.0));
        let groups = layout
            .groups
            .iter()
            .map(|g| Group {
                spec: g.clone(),
                q: Block::new(root, &g.q, 1.0, nhwc),
                p: Block::new(root, &g.p, 0.0, nhwc),
                z_proj: conv(root, &g.z_proj, last, nhwc),
                res: Block::new(root, &g.res, last, nhwc),
            })
            .collect();
        let out = conv(root, &layout.out, 1.0, nhwc);
        Net {
            layout,
            nhwc,
            in_conv,
            encoder,
            h_top,
            groups,
            out,
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// `t` in the network's memory layout. Every activation is kept in it: element-wise
    /// operations follow their first operand's layout, and a convolution given another
    /// layout than its weights' copies its input (and, backward, its gradient) over.
    fn laid_out(&self, t: &Tensor) -> Tensor {
        if self.nhwc {
            relayout(t, true)
        } else {
            t.shallow_clone()
        }
    }

    /// The bottom-up activations of `x` (`[n, C*H*W]` in [0, 1]), one `[n, width, h, w]`
    /// per resolution, top-down order (1x1 first).
    pub fn bottom_up(&self, x: &Tensor) -> Vec<Tensor> {
        let l = &self.layout;
        let (c, (h, w)) = (l.channels as i64, l.image);
        // Centred on 0, as VDVAE's inputs are.
        let mut a = self
            .in_conv
            .forward(&self.laid_out(&(x.view([-1, c, h as i64, w as i64]) * 2.0 - 1.0)));
        let mut acts = Vec::with_capacity(l.sides.len());
        let mut blocks = self.encoder.iter();
        for level in (0..l.sides.len()).rev() {
            for block in blocks.by_ref().take(l.depths[level]) {
                a = block.forward(&a);
            }
            acts.push(a.shallow_clone());
            if level > 0 {
                a = downsample(&a, l.sides[level - 1]);
            }
        }
        acts.reverse();
        acts
    }

    /// The top-down pass for `n` images: `acts` from [`Net::bottom_up`] (None when drawing
    /// from the prior or decoding a given z).
    pub fn top_down(&self, acts: Option<&[Tensor]>, n: i64, draw: &Draw) -> TopDown {
        let l = &self.layout;
        let (z_dim, width) = (l.latent as i64, l.width as i64);
        let mut h = self.laid_out(&self.h_top.expand([n, -1, -1, -1], false));
        let mut offset = 0;
        let mut terms = Vec::with_capacity(self.groups.len());
        // Each resolution's activation feeds all its groups' q blocks: its gelu once.
        let gelu_acts: Option<Vec<Tensor>> =
            acts.map(|a| a.iter().map(|t| t.gelu("none")).collect());
        for (g, group) in self.groups.iter().enumerate() {
            let (sh, sw) = (group.spec.side.0 as i64, group.spec.side.1 as i64);
            if g > 0 && self.groups[g - 1].spec.level != group.spec.level {
                h = self.laid_out(&h.upsample_nearest2d([sh, sw], None, None));
            }
            let gh = h.gelu("none");
            // [n, 2z + width, sh, sw]. Split, not narrowed three times: a split's gradient is
            // one concatenation, three narrows' are three zero-filled copies and their sums.
            let p = group.p.forward_activated(&gh);
            let [p_mu, p_logvar, p_state] = parts(p.split_with_sizes([z_dim, z_dim, width], 1));
            // The Gaussians' parameters laid out anew (narrow copies): their gradients, a
            // sum's broadcast (NCHW), then reach the split in the network's layout. (Noise
            // for them is drawn NCHW, `noise::randn_like`: a channels-last `randn_like`
            // would give each value another draw than the package's.)
            let (p_mu, p_logvar) = (self.laid_out(&p_mu), self.laid_out(&p_logvar));
            let q = gelu_acts.as_ref().map(|ga| {
                let q = group
                    .q
                    .forward_activated(&Tensor::cat(&[&gh, &ga[group.spec.level]], 1));
                let [mu, logvar] = parts(q.split_with_sizes([z_dim, z_dim], 1));
                (self.laid_out(&mu), self.laid_out(&logvar))
            });
            let len = z_dim * sh * sw;
            let part = |all: &Tensor| all.narrow(1, offset, len).reshape([n, z_dim, sh, sw]);
            let prior = |temperature: f64| {
                &p_mu
                    + (&p_logvar * 0.5).exp() * crate::model::noise::randn_like(&p_mu) * temperature
            };
            let z = match (draw, &q) {
                (Draw::Posterior(eps), Some((mu, logvar))) => {
                    let eps = eps.map_or_else(|| crate::model::noise::randn_like(mu), part);
                    mu + (logvar * 0.5).exp() * eps
                }
                (Draw::PosteriorMean, Some((mu, _))) => mu.shallow_clone(),
                (Draw::Given(all), _) => part(all),
                (Draw::Prior { temperature }, _) => prior(*temperature),
                (Draw::Prefix { z, .. }, _) if offset + len <= z.size()[1] => part(z),
                (Draw::Prefix { temperature, .. }, _) => prior(*temperature),
                _ => unreachable!("posterior draws come with the bottom-up activations"),
            };
            offset += len;
            // Not `+=`: that adds in place, and the first h is a view of a parameter.
            h = h.g_add(&p_state);
            h = h.g_add(&group.z_proj.forward(&self.laid_out(&z)));
            h = group.res.forward(&h);
            terms.push(GroupTerms {
                z,
                q,
                p: (p_mu, p_logvar),
            });
        }
        let out = self.out.forward(&h);
        // Channel-major, as the likelihoods read it.
        let out = if self.nhwc {
            relayout(&out, false)
        } else {
            out
        };
        TopDown {
            out: out.flatten(1, -1),
            groups: terms,
        }
    }
}

/// [n, c, h, w] -> [n, c, next]: 2x2 average pooling, or the mean over the image for 1x1.
fn downsample(a: &Tensor, next: (usize, usize)) -> Tensor {
    if next == (1, 1) {
        a.mean_dim(&[2i64, 3][..], true, Kind::Float)
    } else {
        a.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None)
    }
}

/// The `N` tensors of a split into `N` sizes.
fn parts<const N: usize>(split: Vec<Tensor>) -> [Tensor; N] {
    split.try_into().expect("as many parts as sizes")
}
