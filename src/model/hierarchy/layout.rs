//! The hierarchical model as data: its resolutions, latent groups and every convolution's
//! name and shape. This one description builds the tch network (`net.rs`), generates the
//! TorchScript source (`export/hierarchy_source.rs`) and lists the parameters;
//! `scripts/tch_vae/hierarchy.py` builds the same modules in PyTorch, and parity tests hold
//! the three together.
//!
//! The shape follows VDVAE (Child 2021): a bottom-up path of residual bottleneck blocks
//! whose activations feed a top-down path; at each resolution, from 1x1 up to the image's,
//! `depth` latent groups of `latent` channels per pixel, each with a posterior block `q`
//! (from the top-down state and the bottom-up activation), a prior block `p` (from the
//! top-down state alone; it also adds features to the state), a 1x1 projection of z into
//! the state, and a residual block.
use crate::config::ModelConfig;

/// One convolution: `[n, inputs, h, w] -> [n, outputs, h, w]`, kernel 1 or 3, padding
/// kernel / 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    /// `encoder.blocks.0.c1`, `decoder.groups.3.z_proj`, ...
    pub name: String,
    pub inputs: usize,
    pub outputs: usize,
    pub kernel: usize,
}

/// A bottleneck block: gelu then conv at each of `c1` (1x1, in -> mid), `c2`, `c3` (3x3, or
/// 1x1 at sides of 2 or less, mid -> mid) and `c4` (1x1, mid -> out); its input added to
/// its output when `residual`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockSpec {
    pub name: String,
    pub convs: [ConvSpec; 4],
    pub residual: bool,
    /// The height and width it works at.
    pub side: (usize, usize),
}

/// One latent group: `latent` channels at each pixel of `side`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSpec {
    /// `decoder.groups.{g}`.
    pub name: String,
    /// The index into [`Layout::sides`] (top-down order) of its resolution.
    pub level: usize,
    pub side: (usize, usize),
    /// [n, 2 width, h, w] -> [n, 2 latent, h, w]: the posterior's mean and log-variance.
    pub q: BlockSpec,
    /// [n, width, h, w] -> [n, 2 latent + width, h, w]: the prior's mean and log-variance,
    /// and features added to the state. Its last convolution starts at zero, so the prior
    /// starts as N(0, I) and the state unchanged.
    pub p: BlockSpec,
    /// [n, latent, h, w] -> [n, width, h, w].
    pub z_proj: ConvSpec,
    /// Residual, [n, width, h, w] -> same.
    pub res: BlockSpec,
}

/// The whole model's description for one config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub channels: usize,
    /// Image height and width.
    pub image: (usize, usize),
    pub width: usize,
    /// Latent channels per pixel of each group.
    pub latent: usize,
    /// Groups (and bottom-up blocks) at each resolution, top-down.
    pub depths: Vec<usize>,
    /// Resolutions, top-down: 1x1 first, the image's last.
    pub sides: Vec<(usize, usize)>,
    /// [n, C, H, W] -> [n, width, H, W], 3x3.
    pub in_conv: ConvSpec,
    /// The bottom-up blocks, image side first: `depths[level]` at each resolution.
    pub encoder_blocks: Vec<BlockSpec>,
    /// The groups, top-down.
    pub groups: Vec<GroupSpec>,
    /// [n, width, H, W] -> [n, outputs, H, W], 1x1.
    pub out: ConvSpec,
}

/// The decoder's starting state, a parameter `[1, width, 1, 1]`.
pub const H_TOP: &str = "decoder.h_top";

fn conv(name: String, inputs: usize, outputs: usize, kernel: usize) -> ConvSpec {
    ConvSpec {
        name,
        inputs,
        outputs,
        kernel,
    }
}

fn block(
    name: String,
    inputs: usize,
    mid: usize,
    outputs: usize,
    side: (usize, usize),
    residual: bool,
) -> BlockSpec {
    // VDVAE: 3x3 inside the block, except where the image is 2 pixels or less a side.
    let k = if side.0.min(side.1) > 2 { 3 } else { 1 };
    BlockSpec {
        convs: [
            conv(format!("{name}.c1"), inputs, mid, 1),
            conv(format!("{name}.c2"), mid, mid, k),
            conv(format!("{name}.c3"), mid, mid, k),
            conv(format!("{name}.c4"), mid, outputs, 1),
        ],
        name,
        residual,
        side,
    }
}

impl Layout {
    /// The layout of `config` (an `--arch hierarchical` config).
    pub fn of(config: &ModelConfig) -> Self {
        let (width, z) = (config.width, config.latent);
        // The blocks' inner width: a quarter of `width` (VDVAE's bottleneck), at least 1.
        let mid = (width / 4).max(1);
        let sides = config.resolutions();
        let depths: Vec<usize> = (0..sides.len()).map(|l| config.depth_at(l)).collect();
        let mut encoder_blocks = Vec::new();
        for (&side, &depth) in sides.iter().zip(&depths).rev() {
            for _ in 0..depth {
                let name = format!("encoder.blocks.{}", encoder_blocks.len());
                encoder_blocks.push(block(name, width, mid, width, side, true));
            }
        }
        let mut groups = Vec::new();
        for (level, &side) in sides.iter().enumerate() {
            for _ in 0..depths[level] {
                let name = format!("decoder.groups.{}", groups.len());
                groups.push(GroupSpec {
                    level,
                    side,
                    q: block(format!("{name}.q"), 2 * width, mid, 2 * z, side, false),
                    p: block(format!("{name}.p"), width, mid, 2 * z + width, side, false),
                    z_proj: conv(format!("{name}.z_proj"), z, width, 1),
                    res: block(format!("{name}.res"), width, mid, width, side, true),
                    name,
                });
            }
        }
        Layout {
            channels: config.channels,
            image: (config.image_height, config.image_width),
            width,
            latent: z,
            depths,
            in_conv: conv("encoder.in_conv".into(), config.channels, width, 3),
            encoder_blocks,
            groups,
            // The likelihood's parameters at each pixel.
            out: conv(
                "decoder.out".into(),
                width,
                crate::model::arch::outputs_per_pixel(config),
                1,
            ),
            sides,
        }
    }

    /// Latent values of one image over all groups: the width of `encode`'s output.
    pub fn latent_dim(&self) -> usize {
        self.groups
            .iter()
            .map(|g| self.latent * g.side.0 * g.side.1)
            .sum()
    }

    /// The latent values of the top g groups, for g = 1 .. groups: the lengths an ex-post
    /// prior's codes may have (`model::fitted`).
    pub fn prefix_lengths(&self) -> Vec<usize> {
        self.groups
            .iter()
            .scan(0, |sum, g| {
                *sum += self.latent * g.side.0 * g.side.1;
                Some(*sum)
            })
            .collect()
    }

    /// The residual blocks of the whole model (bottom-up and top-down): VDVAE scales the last
    /// convolution of each, and each group's z projection, by 1/sqrt of this at the start.
    pub fn residual_blocks(&self) -> usize {
        self.encoder_blocks.len() + self.groups.len()
    }

    /// Every convolution in the order the PyTorch module registers them (encoder: `in_conv`,
    /// blocks; decoder: groups (`q`, `p`, `z_proj`, `res`), `out`).
    pub fn convs(&self) -> Vec<&ConvSpec> {
        let mut all = vec![&self.in_conv];
        all.extend(self.encoder_blocks.iter().flat_map(|b| &b.convs));
        for g in &self.groups {
            all.extend(&g.q.convs);
            all.extend(&g.p.convs);
            all.push(&g.z_proj);
            all.extend(&g.res.convs);
        }
        all.push(&self.out);
        all
    }

    /// Every parameter name in the PyTorch module's order: the encoder's, `decoder.h_top`,
    /// then the decoder's convolutions (weight then bias).
    pub fn parameter_names(&self) -> Vec<String> {
        let convs = self.convs();
        let encoder = 1 + 4 * self.encoder_blocks.len();
        let names = |c: &[&ConvSpec]| -> Vec<String> {
            c.iter()
                .flat_map(|c| [format!("{}.weight", c.name), format!("{}.bias", c.name)])
                .collect()
        };
        let mut all = names(&convs[..encoder]);
        all.push(H_TOP.to_string());
        all.extend(names(&convs[encoder..]));
        all
    }

    /// Parameters in all.
    pub fn parameter_count(&self) -> usize {
        let convs: usize = self
            .convs()
            .iter()
            .map(|c| c.outputs * (c.inputs * c.kernel * c.kernel + 1))
            .sum();
        convs + self.width
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sides(h: usize, w: usize) -> Vec<(usize, usize)> {
        ModelConfig::mlp(h, w, vec![], 1).resolutions()
    }

    #[test]
    fn sides_halve_to_four_then_one() {
        assert_eq!(
            sides(32, 32),
            vec![(1, 1), (4, 4), (8, 8), (16, 16), (32, 32)]
        );
        assert_eq!(sides(28, 28), vec![(1, 1), (7, 7), (14, 14), (28, 28)]);
        assert_eq!(
            sides(64, 32),
            vec![(1, 1), (8, 4), (16, 8), (32, 16), (64, 32)]
        );
        assert_eq!(sides(1, 1), vec![(1, 1)]);
        assert_eq!(sides(5, 3), vec![(1, 1), (5, 3)]);
    }

    #[test]
    fn names_and_counts_follow_the_resolutions() {
        let config = ModelConfig {
            channels: 3,
            width: 16,
            depth: vec![2],
            arch: crate::config::Arch::Hierarchical,
            ..ModelConfig::mlp(8, 8, vec![], 5)
        };
        let l = Layout::of(&config);
        assert_eq!(l.sides, vec![(1, 1), (4, 4), (8, 8)]);
        assert_eq!((l.encoder_blocks.len(), l.groups.len()), (6, 6));
        // Latents: 2 groups each at 1x1, 4x4 and 8x8, 5 channels a pixel.
        assert_eq!(l.latent_dim(), 2 * 5 * (1 + 16 + 64));
        // The 1x1 groups use 1x1 kernels inside their blocks; the others 3x3.
        assert_eq!(l.groups[0].q.convs[1].kernel, 1);
        assert_eq!(l.groups[2].q.convs[1].kernel, 3);
        assert_eq!(l.groups[0].p.convs[3].outputs, 2 * 5 + 16);
        let names = l.parameter_names();
        assert_eq!(names.len(), 2 * l.convs().len() + 1);
        assert_eq!(names[0], "encoder.in_conv.weight");
        assert_eq!(names[2 + 8 * 6], H_TOP);
        assert_eq!(names.last().unwrap(), "decoder.out.bias");
        // Counted by hand: one block of 16 -> 4 -> 16 at 3x3 has
        // 4*(16+1) + 2*4*(36+1) + 16*(4+1) = 68 + 296 + 80 = 444 parameters.
        let b = &l.encoder_blocks[0];
        let count: usize = b
            .convs
            .iter()
            .map(|c| c.outputs * (c.inputs * c.kernel * c.kernel + 1))
            .sum();
        assert_eq!(count, 444);
    }

    #[test]
    fn a_depth_per_resolution_places_its_groups_and_blocks() {
        let config = ModelConfig {
            channels: 3,
            width: 8,
            depth: vec![1, 3, 2],
            arch: crate::config::Arch::Hierarchical,
            ..ModelConfig::mlp(8, 8, vec![], 2)
        };
        let l = Layout::of(&config);
        let groups: Vec<(usize, usize)> = l.groups.iter().map(|g| g.side).collect();
        assert_eq!(groups, [(1, 1), (4, 4), (4, 4), (4, 4), (8, 8), (8, 8)]);
        // Bottom-up: the image's side first, the same counts.
        let blocks: Vec<(usize, usize)> = l.encoder_blocks.iter().map(|b| b.side).collect();
        assert_eq!(blocks, [(8, 8), (8, 8), (4, 4), (4, 4), (4, 4), (1, 1)]);
    }
}
