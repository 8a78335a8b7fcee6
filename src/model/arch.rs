//! The architecture as data: the ordered operations of the encoder trunk and of the
//! decoder. This one description builds the tch modules (`model.rs`), generates the
//! TorchScript source (`export/source.rs`) and names the parameters; `scripts/tch_vae/model.py`
//! builds the same `nn.Sequential`s in PyTorch, and parity tests check the three agree.
//!
//! A layer's name is `<part>.<position>`, its position in the sequence, as PyTorch's
//! `nn.Sequential` numbers its children (activations and reshapes take positions too).
use crate::config::{Activation, Arch, Likelihood, ModelConfig, Prior};
pub use crate::model::loss::outputs_per_pixel;

/// Kernel 4, stride 2, padding 1: each convolution halves the height and width exactly.
pub const CONV_KERNEL: usize = 4;
pub const CONV_STRIDE: usize = 2;
pub const CONV_PADDING: usize = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// [n, inputs] -> [n, outputs]
    Linear {
        inputs: usize,
        outputs: usize,
    },
    /// [n, in, h, w] -> [n, out, h/2, w/2] (kernel 4, stride 2, padding 1)
    Conv2d {
        inputs: usize,
        outputs: usize,
    },
    /// [n, in, h, w] -> [n, out, 2h, 2w]
    ConvTranspose2d {
        inputs: usize,
        outputs: usize,
    },
    Relu,
    Tanh,
    /// [n, c, h, w] -> [n, c*h*w]
    Flatten,
    /// [n, c*h*w] -> [n, c, h, w]
    Unflatten {
        channels: usize,
        height: usize,
        width: usize,
    },
}

impl Op {
    /// Weight shape (PyTorch's layout) and fan-in for PyTorch's default initialisation
    /// bound 1/sqrt(fan_in); None for operations without parameters.
    pub fn weight_shape(&self) -> Option<(Vec<usize>, usize)> {
        let k = CONV_KERNEL;
        match *self {
            Op::Linear { inputs, outputs } => Some((vec![outputs, inputs], inputs)),
            Op::Conv2d { inputs, outputs } => Some((vec![outputs, inputs, k, k], inputs * k * k)),
            // PyTorch computes a transposed convolution's fan-in from weight dim 1.
            Op::ConvTranspose2d { inputs, outputs } => {
                Some((vec![inputs, outputs, k, k], outputs * k * k))
            }
            Op::Relu | Op::Tanh | Op::Flatten | Op::Unflatten { .. } => None,
        }
    }

    pub fn bias_len(&self) -> Option<usize> {
        match *self {
            Op::Linear { outputs, .. }
            | Op::Conv2d { outputs, .. }
            | Op::ConvTranspose2d { outputs, .. } => Some(outputs),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// `encoder.0`, `fc_mu`, `decoder.4`, ...
    pub name: String,
    pub op: Op,
}

fn numbered(part: &str, ops: Vec<Op>) -> Vec<Layer> {
    ops.into_iter()
        .enumerate()
        .map(|(i, op)| Layer {
            name: format!("{part}.{i}"),
            op,
        })
        .collect()
}

/// The hidden layers' nonlinearity (`--activation`).
fn activation(config: &ModelConfig) -> Op {
    match config.activation {
        Activation::Relu => Op::Relu,
        Activation::Tanh => Op::Tanh,
    }
}

/// Linear layers through `widths` with the activation `act` after each.
fn mlp(widths: &[usize], act: Op) -> Vec<Op> {
    widths
        .windows(2)
        .flat_map(|w| {
            [
                Op::Linear {
                    inputs: w[0],
                    outputs: w[1],
                },
                act,
            ]
        })
        .collect()
}

/// Channels, height and width after the convolutions of `--arch conv`.
pub fn conv_output(config: &ModelConfig) -> (usize, usize, usize) {
    let stages = &config.conv_channels;
    let scale = CONV_STRIDE.pow(stages.len() as u32);
    (
        stages[stages.len() - 1],
        config.image_height / scale,
        config.image_width / scale,
    )
}

/// The classes of a conditional model (0: unconditional): its one-hot label joins the
/// input of the encoder's first linear layer (the heads' when the trunk has none) and of
/// the decoder's first layer, widening them by this many inputs.
pub fn label_width(config: &ModelConfig) -> usize {
    config.classes.unwrap_or(0)
}

/// Where the one-hot label joins a layer list: the position of its first linear layer
/// (the list's length when it has none: the label then joins its output).
pub fn label_joins(layers: &[Layer]) -> usize {
    layers
        .iter()
        .position(|l| matches!(l.op, Op::Linear { .. }))
        .unwrap_or(layers.len())
}

/// Widens the first linear layer of `ops` by the label's width.
fn widen_first_linear(ops: &mut [Op], by: usize) {
    if let Some(Op::Linear { inputs, .. }) =
        ops.iter_mut().find(|op| matches!(op, Op::Linear { .. }))
    {
        *inputs += by;
    }
}

/// The encoder trunk: images [n, C*H*W] -> features [n, trunk_width] (the label joins
/// at [`label_joins`]). Empty for `--arch hierarchical`, whose layers are
/// `hierarchy::Layout`'s.
pub fn encoder(config: &ModelConfig) -> Vec<Layer> {
    let act = activation(config);
    let mut ops = match config.arch {
        Arch::Hierarchical => return Vec::new(),
        Arch::Mlp => mlp(&[&[config.input_dim()], &config.hidden[..]].concat(), act),
        Arch::Conv => {
            let (c, h, w) = conv_output(config);
            let mut ops = vec![Op::Unflatten {
                channels: config.channels,
                height: config.image_height,
                width: config.image_width,
            }];
            let mut inputs = config.channels;
            for &outputs in &config.conv_channels {
                ops.extend([Op::Conv2d { inputs, outputs }, act]);
                inputs = outputs;
            }
            ops.push(Op::Flatten);
            ops.extend(mlp(&[&[c * h * w], &config.hidden[..]].concat(), act));
            ops
        }
    };
    widen_first_linear(&mut ops, label_width(config));
    numbered("encoder", ops)
}

/// Width of the trunk's output, which the heads read (the label not counted).
pub fn trunk_width(config: &ModelConfig) -> usize {
    match (config.hidden.last(), config.arch) {
        (Some(&h), _) => h,
        (None, Arch::Mlp | Arch::Hierarchical) => config.input_dim(),
        (None, Arch::Conv) => {
            let (c, h, w) = conv_output(config);
            c * h * w
        }
    }
}

/// The two heads: `fc_mu` (f1 of the crate docs) and `fc_logvar` (f2, no activation).
pub fn heads(config: &ModelConfig) -> [Layer; 2] {
    // Without a linear layer in the trunk, the label joins the heads' input.
    let trunk = encoder(config);
    let label = if label_joins(&trunk) == trunk.len() {
        label_width(config)
    } else {
        0
    };
    let op = Op::Linear {
        inputs: trunk_width(config) + label,
        outputs: config.latent,
    };
    [
        Layer {
            name: "fc_mu".into(),
            op,
        },
        Layer {
            name: "fc_logvar".into(),
            op,
        },
    ]
}

/// The decoder: z [n, latent] -> [n, P*H*W], P = [`outputs_per_pixel`]; no activation at
/// the end. Empty for `--arch hierarchical` (see [`encoder`]).
pub fn decoder(config: &ModelConfig) -> Vec<Layer> {
    let hidden: Vec<usize> = config.hidden.iter().rev().copied().collect();
    let act = activation(config);
    let per_pixel = outputs_per_pixel(config);
    let out = per_pixel * config.image_height * config.image_width;
    let mut ops = match config.arch {
        Arch::Hierarchical => return Vec::new(),
        Arch::Mlp => mlp(&[&[config.latent], &hidden[..], &[out]].concat(), act),
        Arch::Conv => {
            let (c, h, w) = conv_output(config);
            let mut ops = mlp(&[&[config.latent], &hidden[..], &[c * h * w]].concat(), act);
            ops.push(Op::Unflatten {
                channels: c,
                height: h,
                width: w,
            });
            let mut inputs = c;
            let back = config.conv_channels.iter().rev().skip(1);
            for &outputs in back.chain(&[per_pixel]) {
                ops.extend([Op::ConvTranspose2d { inputs, outputs }, act]);
                inputs = outputs;
            }
            ops.pop(); // logits: no activation after the last layer
            ops.push(Op::Flatten);
            ops
        }
    };
    if config.arch == Arch::Mlp {
        ops.pop(); // logits: no activation after the last layer
    }
    widen_first_linear(&mut ops, label_width(config));
    numbered("decoder", ops)
}

/// Every parameter name in module order (the logistic likelihood's `log_scale`, the
/// VampPrior's `pseudo_inputs`, then encoder, heads, decoder; weight then bias): the
/// order of the PyTorch module's `state_dict`.
pub fn parameter_names(config: &ModelConfig) -> Vec<String> {
    let mut names: Vec<String> = match config.arch {
        Arch::Hierarchical => crate::model::hierarchy::Layout::of(config).parameter_names(),
        Arch::Mlp | Arch::Conv => encoder(config)
            .into_iter()
            .chain(heads(config))
            .chain(decoder(config))
            .filter(|l| l.op.weight_shape().is_some())
            .flat_map(|l| [format!("{}.weight", l.name), format!("{}.bias", l.name)])
            .collect(),
    };
    // A parameter of the module itself: PyTorch lists those before its submodules'.
    if config.prior == Prior::Vamp {
        names.insert(0, PSEUDO_INPUTS.to_string());
    }
    if config.likelihood == Likelihood::Logistic {
        names.insert(0, LOG_SCALE.to_string());
    }
    names
}

/// The VampPrior's pseudo-inputs before clamping to [0, 1], `[K, C*H*W]`.
pub const PSEUDO_INPUTS: &str = "pseudo_inputs";

/// The logistic likelihood's learned log-scale, one per value of an image (`[C*H*W]`).
pub const LOG_SCALE: &str = "log_scale";

#[cfg(test)]
mod tests {
    use super::*;

    fn config(arch: Arch, hidden: Vec<usize>) -> ModelConfig {
        ModelConfig {
            arch,
            conv_channels: vec![32, 64],
            ..ModelConfig::mlp(28, 28, hidden, 20)
        }
    }

    fn linears(layers: &[Layer]) -> Vec<(String, usize, usize)> {
        layers
            .iter()
            .filter_map(|l| match l.op {
                Op::Linear { inputs, outputs } => Some((l.name.clone(), inputs, outputs)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn mlp_names_and_shapes_mirror_pytorch_sequential() {
        let m = config(Arch::Mlp, vec![512, 256]);
        assert_eq!(
            linears(&encoder(&m)),
            vec![
                ("encoder.0".into(), 784, 512),
                ("encoder.2".into(), 512, 256)
            ]
        );
        assert_eq!(
            linears(&decoder(&m)),
            vec![
                ("decoder.0".into(), 20, 256),
                ("decoder.2".into(), 256, 512),
                ("decoder.4".into(), 512, 784)
            ]
        );
        let last = decoder(&m).last().unwrap().op; // logits: no activation after it
        assert!(matches!(last, Op::Linear { outputs: 784, .. }), "{last:?}");
        assert_eq!(trunk_width(&m), 256);
        assert_eq!(parameter_names(&m).len(), 2 * (2 + 2 + 3));
    }

    #[test]
    fn no_hidden_layer_means_linear_heads_on_the_pixels() {
        let m = config(Arch::Mlp, vec![]);
        assert!(encoder(&m).is_empty());
        assert_eq!(trunk_width(&m), 784);
        assert_eq!(decoder(&m).len(), 1);
    }

    #[test]
    fn conv_shapes_halve_then_double() {
        let m = config(Arch::Conv, vec![256]);
        let ops: Vec<Op> = encoder(&m).into_iter().map(|l| l.op).collect();
        assert_eq!(
            ops,
            vec![
                Op::Unflatten {
                    channels: 1,
                    height: 28,
                    width: 28
                },
                Op::Conv2d {
                    inputs: 1,
                    outputs: 32
                },
                Op::Relu,
                Op::Conv2d {
                    inputs: 32,
                    outputs: 64
                },
                Op::Relu,
                Op::Flatten,
                Op::Linear {
                    inputs: 64 * 7 * 7,
                    outputs: 256
                },
                Op::Relu,
            ]
        );
        let dec: Vec<Op> = decoder(&m).into_iter().map(|l| l.op).collect();
        assert_eq!(
            dec,
            vec![
                Op::Linear {
                    inputs: 20,
                    outputs: 256
                },
                Op::Relu,
                Op::Linear {
                    inputs: 256,
                    outputs: 3136
                },
                Op::Relu,
                Op::Unflatten {
                    channels: 64,
                    height: 7,
                    width: 7
                },
                Op::ConvTranspose2d {
                    inputs: 64,
                    outputs: 32
                },
                Op::Relu,
                Op::ConvTranspose2d {
                    inputs: 32,
                    outputs: 1
                },
                Op::Flatten,
            ]
        );
        assert_eq!(trunk_width(&m), 256);
    }
}
