//! The flat models' tch layers, built from `arch.rs`'s layer list: `nn::Sequential`s cut
//! where a one-hot label joins ([`Trunk`]), PyTorch's default initialisation, and the
//! variable paths that give `weights.safetensors` its names.
use crate::model::arch::{self, Layer, Op, CONV_KERNEL, CONV_PADDING, CONV_STRIDE};
use tch::nn::{self, Module};
use tch::Tensor;

/// A layer list cut where the one-hot label joins: `before`, then [h, y] into `after`.
pub(crate) struct Trunk {
    before: nn::Sequential,
    after: nn::Sequential,
}

impl Trunk {
    pub(crate) fn new(root: &nn::Path, layers: &[Layer]) -> Self {
        let (before, after) = layers.split_at(arch::label_joins(layers));
        Trunk {
            before: sequential(root, before),
            after: sequential(root, after),
        }
    }

    /// [n, in] (and the one-hot labels [n, classes]) -> [n, out].
    pub(crate) fn forward(&self, x: &Tensor, one_hot: Option<&Tensor>) -> Tensor {
        let h = self.before.forward(x);
        match one_hot {
            Some(y) => self.after.forward(&Tensor::cat(&[&h, y], 1)),
            None => self.after.forward(&h),
        }
    }
}

/// tch's variable path for a layer name: tch forbids '.' inside one path component, so
/// "encoder.0" is the path encoder / 0 (its variables are then named "encoder.0.weight").
fn path<'a>(root: &nn::Path<'a>, name: &str) -> nn::Path<'a> {
    name.split('.').fold(root.clone(), |p, part| p / part)
}

/// PyTorch's default initialisation for every layer: weights and biases uniform in
/// +-1/sqrt(fan_in), so that runs compare like for like with the PyTorch reference
/// (tch's default weight init uses the ReLU gain instead, about 2.4 times wider).
fn pytorch_init(op: &Op) -> nn::Init {
    let fan_in = op.weight_shape().map_or(1, |(_, fan_in)| fan_in);
    let bound = 1.0 / (fan_in as f64).sqrt();
    nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

pub(crate) fn linear(root: &nn::Path, layer: &Layer) -> nn::Linear {
    let Op::Linear { inputs, outputs } = layer.op else {
        unreachable!("the heads are linear layers")
    };
    let init = pytorch_init(&layer.op);
    let config = nn::LinearConfig {
        ws_init: init,
        bs_init: Some(init),
        bias: true,
    };
    nn::linear(
        path(root, &layer.name),
        inputs as i64,
        outputs as i64,
        config,
    )
}

fn sequential(root: &nn::Path, layers: &[Layer]) -> nn::Sequential {
    let (k, stride, padding) = (CONV_KERNEL as i64, CONV_STRIDE as i64, CONV_PADDING as i64);
    let mut previous: Option<&Op> = None;
    layers.iter().fold(nn::seq(), |seq, layer| {
        // An activation after a weighted layer overwrites that layer's fresh output (one
        // allocation and pass fewer; their backward passes do not read it). Anywhere else
        // its input may be the caller's tensor, which it must not touch.
        let in_place = previous.is_some_and(|op| op.weight_shape().is_some());
        previous = Some(&layer.op);
        let init = pytorch_init(&layer.op);
        let p = path(root, &layer.name);
        match layer.op {
            Op::Linear { .. } => seq.add(linear(root, layer)),
            Op::Conv2d { inputs, outputs } => {
                let c = nn::ConvConfig {
                    stride,
                    padding,
                    ws_init: init,
                    bs_init: init,
                    ..Default::default()
                };
                seq.add(nn::conv2d(p, inputs as i64, outputs as i64, k, c))
            }
            Op::ConvTranspose2d { inputs, outputs } => {
                let c = nn::ConvTransposeConfig {
                    stride,
                    padding,
                    ws_init: init,
                    bs_init: init,
                    ..Default::default()
                };
                seq.add(nn::conv_transpose2d(p, inputs as i64, outputs as i64, k, c))
            }
            Op::Relu if in_place => seq.add_fn(|x| x.shallow_clone().relu_()),
            Op::Tanh if in_place => seq.add_fn(|x| x.shallow_clone().tanh_()),
            Op::Relu => seq.add_fn(|x| x.relu()),
            Op::Tanh => seq.add_fn(|x| x.tanh()),
            Op::Flatten => seq.add_fn(|x| x.flatten(1, -1)),
            Op::Unflatten {
                channels,
                height,
                width,
            } => {
                let shape = [-1, channels as i64, height as i64, width as i64];
                seq.add_fn(move |x| x.view(shape))
            }
        }
    })
}
