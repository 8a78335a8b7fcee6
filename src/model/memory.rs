//! The memory a model needs, estimated before anything is allocated, so that an absurd
//! size (`--latent 1000000000`, or such a number in a `config.json`) is a clear error that
//! names where it came from, not an allocation failure deep inside libtorch.
use crate::config::{Arch, ModelConfig};
use crate::model::arch::{self, Op};
use anyhow::{ensure, Result};
use tch::Device;

const GIB: f64 = (1u64 << 30) as f64;

/// The number of parameters, or None when it does not fit in 128 bits: the layers', the
/// logistic likelihood's log-scale (one per value) and the VampPrior's pseudo-inputs.
pub fn parameters(model: &ModelConfig) -> Option<u128> {
    if model.arch == Arch::Hierarchical {
        let layout = crate::model::hierarchy::Layout::of(model);
        let log_scale = match model.likelihood {
            crate::config::Likelihood::Logistic => model.input_dim() as u128,
            _ => 0,
        };
        return Some(layout.parameter_count() as u128 + log_scale);
    }
    let [mu, logvar] = arch::heads(model);
    let layers = arch::encoder(model)
        .into_iter()
        .chain([mu, logvar])
        .chain(arch::decoder(model));
    let values = model.input_dim() as u128;
    let log_scale = if model.likelihood == crate::config::Likelihood::Logistic {
        values
    } else {
        0
    };
    let pseudo_inputs = (model.pseudo_inputs as u128).checked_mul(values)?;
    let own = log_scale.checked_add(pseudo_inputs)?;
    layers
        .map(|l| op_parameters(&l.op))
        .sum::<Option<u128>>()?
        .checked_add(own)
}

fn op_parameters(op: &Op) -> Option<u128> {
    let Some((shape, _)) = op.weight_shape() else {
        return Some(0);
    };
    let weights = shape
        .iter()
        .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128))?;
    weights.checked_add(op.bias_len().unwrap_or(0) as u128)
}

/// Bytes to train `model` with batches of `batch` images on `device`: weights, gradients
/// and Adam's two moments (4 float32 copies of every parameter), and, for each image of a
/// batch, the activations of every layer kept for the backward pass (with their gradients).
pub fn training_bytes(model: &ModelConfig, batch: usize, device: Device) -> Option<u128> {
    let params = parameters(model)?;
    let mut per_image: u128 = (model.input_dim() as u128).checked_mul(2)?;
    for layer in arch::encoder(model).iter().chain(&arch::decoder(model)) {
        if let Op::Linear { outputs, .. } = layer.op {
            per_image = per_image.checked_add(2 * outputs as u128)?;
        }
    }
    per_image = per_image.checked_add(4 * model.latent as u128)?;
    per_image = per_image.checked_add(likelihood_values(model, device)?)?;
    match model.arch {
        Arch::Conv => per_image = per_image.checked_add(conv_feature_values(model)?)?,
        Arch::Hierarchical => per_image = per_image.checked_add(hierarchy_values(model)?)?,
        Arch::Mlp => {}
    }
    let activations = per_image.checked_mul(batch as u128)?.checked_mul(2)?;
    params
        .checked_mul(4)?
        .checked_add(activations)?
        .checked_mul(4)
}

/// The values the likelihood's loss keeps per image beyond the decoder's output, on
/// `device` (None: wherever it is largest): for the logistic mixture as tensor operations
/// about 20 per channel, component and pixel ([n, C, K, HW]: the bin's ends, their
/// log-sigmoids, the masses); on a CPU that runs its one-pass kernel (`native::mixture`),
/// the gradient it keeps (the decoder's outputs again) and one value a pixel; none for the
/// per-value likelihoods.
fn likelihood_values(model: &ModelConfig, device: impl Into<Option<Device>>) -> Option<u128> {
    if model.likelihood != crate::config::Likelihood::LogisticMixture {
        return Some(0);
    }
    let pixels = (model.image_height as u128).checked_mul(model.image_width as u128)?;
    if device.into() == Some(Device::Cpu)
        && crate::native::mixture::supported(model.mixtures, model.channels)
    {
        return (arch::outputs_per_pixel(model) as u128 + 1).checked_mul(pixels);
    }
    (model.channels as u128)
        .checked_mul(model.mixtures as u128)?
        .checked_mul(model.image_height as u128)?
        .checked_mul(model.image_width as u128)?
        .checked_mul(20)
}

/// Decoded samples per chunk of an evaluation (`eval`, and training's test pass): as many
/// as hold about 50 MB of decoder outputs and likelihood intermediates on the CPU (smaller
/// chunks measured faster there than 200 MB ones), 1.6 GB on CUDA: 16,384 and 524,288
/// MNIST images' logits. A colour model with the logistic mixture holds a hundred times
/// more per sample, and gets fewer (before, training's test pass took 1,024 at once: 900
/// MiB past the training step's peak for a 32x32 mixture).
pub fn decoded_chunk_rows(device: Device, model: &ModelConfig) -> usize {
    chunk_rows(device, decoded_values(model))
}

/// Images per chunk when only posteriors are computed (the latent figure, `eval`'s KL per
/// group, `fit-prior`'s codes). A flat model's encoder holds a few of its layers' values an
/// image, so 4,096 at once; a hierarchical model's posterior runs the whole network,
/// bottom-up and top-down, at every resolution, and gets the decoded chunks' budget for
/// those values (before, 2,048 or 4,096 at once: a gigabyte past training's peak for 300
/// 32x32 images at width 64, and tens of gigabytes for CIFAR-10's test set).
pub fn encoded_chunk_rows(device: Device, model: &ModelConfig) -> usize {
    match model.arch {
        Arch::Hierarchical => chunk_rows(device, network_values(model)),
        Arch::Mlp | Arch::Conv => 4096,
    }
}

/// As many rows of `per_row` values as about 50 MB hold on the CPU, 1.6 GB on CUDA (at
/// least one; None, a size past u128: one).
fn chunk_rows(device: Device, per_row: Option<u128>) -> usize {
    let rows_of_784: u128 = if device.is_cuda() { 1 << 19 } else { 1 << 14 };
    let budget = rows_of_784 * 784;
    let per_row = per_row.unwrap_or(u128::MAX);
    (budget / per_row.max(1)).clamp(1, usize::MAX as u128) as usize
}

/// A hierarchical model's bottom-up activations and top-down state while one image passes
/// (about 6 of `width` values a pixel at the image's resolution); 0 for the flat models.
fn network_values(model: &ModelConfig) -> Option<u128> {
    let pixels = (model.image_height as u128).checked_mul(model.image_width as u128)?;
    match model.arch {
        Arch::Hierarchical => (model.width as u128).checked_mul(pixels)?.checked_mul(6),
        Arch::Mlp | Arch::Conv => Some(0),
    }
}

/// The values one decoded sample holds while its -log p(x|z) is computed: the decoder's
/// output and the likelihood's intermediates (`eval` sizes its chunks by it), at most (the
/// tensor operations' count, also on a CPU whose one-pass mixture needs fewer).
pub fn decoded_values(model: &ModelConfig) -> Option<u128> {
    let per_pixel = arch::outputs_per_pixel(model) as u128;
    let pixels = (model.image_height as u128).checked_mul(model.image_width as u128)?;
    // A hierarchical sample also holds its network's values until it is decoded.
    per_pixel
        .checked_mul(pixels)?
        .checked_add(likelihood_values(model, None)?)?
        .checked_add(network_values(model)?)
}

/// The values of a conv model's feature maps per image: each stride-2 stage's channels at
/// a quarter of the previous stage's pixels, in the encoder and mirrored in the decoder.
fn conv_feature_values(model: &ModelConfig) -> Option<u128> {
    let mut pixels = (model.image_height as u128).checked_mul(model.image_width as u128)?;
    let mut values = 0u128;
    for &channels in &model.conv_channels {
        pixels /= 4;
        values = values.checked_add((channels as u128).checked_mul(pixels)?)?;
    }
    values.checked_mul(2)
}

/// The values a hierarchical model keeps per image for the backward pass: at each pixel of
/// a block's resolution, each convolution's input after gelu and its output (with their
/// gradients, counted by the caller); per group also z, the two Gaussians and the KL's
/// terms (about 8 values per latent channel).
fn hierarchy_values(model: &ModelConfig) -> Option<u128> {
    let l = crate::model::hierarchy::Layout::of(model);
    let block = |b: &crate::model::hierarchy::BlockSpec| -> u128 {
        b.convs
            .iter()
            .map(|c| 2 * c.inputs as u128 + c.outputs as u128)
            .sum::<u128>()
            + if b.residual {
                b.convs[3].outputs as u128
            } else {
                0
            }
    };
    let pixels = |(h, w): (usize, usize)| (h as u128) * (w as u128);
    let mut values = pixels(l.image) * (l.in_conv.outputs as u128 + l.out.inputs as u128);
    for b in &l.encoder_blocks {
        values = values.checked_add(pixels(b.side).checked_mul(block(b))?)?;
    }
    for g in &l.groups {
        let per_pixel =
            block(&g.q) + block(&g.p) + block(&g.res) + 8 * l.latent as u128 + 3 * l.width as u128;
        values = values.checked_add(pixels(g.side).checked_mul(per_pixel)?)?;
    }
    Some(values)
}

/// Refuses a model that cannot be trained in the memory `device` offers. `source` says
/// where the sizes came from ("--latent and --hidden", or a config.json), for the message.
pub fn check_fits(model: &ModelConfig, batch: usize, device: Device, source: &str) -> Result<()> {
    let params = parameters(model);
    let needed = training_bytes(model, batch, device);
    let available = crate::native::device::available_bytes(device);
    let fits = match (needed, available) {
        (None, _) => false,
        (Some(n), Some(a)) => n <= a as u128,
        (Some(_), None) => true, // cannot tell: let libtorch try
    };
    ensure!(
        fits,
        "{source}: the {} model has {} parameters and needs about {} to train with batches \
         of {batch}, more than the {} this machine's {} offers. Choose smaller sizes",
        model.describe(),
        params.map_or_else(|| "more than 10^38".to_string(), |p| p.to_string()),
        needed.map_or_else(
            || "an impossible amount".to_string(),
            |n| format!("{:.1} GiB", n as f64 / GIB)
        ),
        available.map_or_else(String::new, |a| format!("{:.1} GiB", a as f64 / GIB)),
        if device.is_cuda() { "GPU" } else { "memory" },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(hidden: Vec<usize>, latent: usize) -> ModelConfig {
        ModelConfig::mlp(28, 28, hidden, latent)
    }

    #[test]
    fn conv_feature_maps_follow_the_given_stages() {
        // 32x32 images, stages of 8, 16, 32 channels at 16x16, 8x8, 4x4, written out:
        // 2 * (8 * 256 + 16 * 64 + 32 * 16) = 7168 (the channels of the image do not count).
        let config = ModelConfig {
            arch: Arch::Conv,
            conv_channels: vec![8, 16, 32],
            channels: 3,
            ..ModelConfig::mlp(32, 32, vec![64], 4)
        };
        assert_eq!(conv_feature_values(&config), Some(7168));
    }

    #[test]
    fn a_hierarchical_posterior_is_encoded_in_chunks_its_memory_holds() {
        // 32x32 colour at width 64: 6 * 64 * 1,024 = 393,216 values an image; the CPU's
        // 16,384 * 784 = 12,845,056 hold 32 images, CUDA's 524,288 * 784 hold 1,045.
        let config = ModelConfig {
            arch: Arch::Hierarchical,
            width: 64,
            channels: 3,
            ..ModelConfig::mlp(32, 32, vec![64], 8)
        };
        assert_eq!(encoded_chunk_rows(Device::Cpu, &config), 32);
        assert_eq!(encoded_chunk_rows(Device::Cuda(0), &config), 1045);
        // VDVAE's width on 64x64 images: 6 * 384 * 4,096 = 9,437,184 values, one at a time
        // on the CPU.
        let wide = ModelConfig {
            width: 384,
            ..ModelConfig {
                image_height: 64,
                image_width: 64,
                ..config
            }
        };
        assert_eq!(encoded_chunk_rows(Device::Cpu, &wide), 1);
        // A flat model's encoder keeps a few layers' values: 4,096 at once.
        assert_eq!(encoded_chunk_rows(Device::Cpu, &model(vec![400], 20)), 4096);
    }

    #[test]
    fn parameters_are_counted_as_pytorch_counts_them() {
        // 784-400-20: 784*400+400 + 2*(400*20+20) + 20*400+400 + 400*784+784.
        let expected = 784 * 400 + 400 + 2 * (400 * 20 + 20) + (20 * 400 + 400) + (400 * 784 + 784);
        assert_eq!(parameters(&model(vec![400], 20)), Some(expected));
        // Counted in 128 bits: sizes whose product overflows 64 bits are still counted.
        assert!(parameters(&model(vec![usize::MAX], 2)).unwrap() > u128::from(u64::MAX));
    }

    #[test]
    fn every_kind_of_parameter_is_counted_as_the_var_store_holds_them() {
        let _rng = crate::rng_lock(); // the initialisation draws from the global generator
        for (likelihood, prior, classes) in [
            (
                crate::config::Likelihood::Logistic,
                crate::config::Prior::Vamp,
                Some(4),
            ),
            (
                crate::config::Likelihood::Bernoulli,
                crate::config::Prior::Normal,
                Some(3),
            ),
        ] {
            let config = ModelConfig {
                likelihood,
                prior,
                pseudo_inputs: if prior == crate::config::Prior::Vamp {
                    7
                } else {
                    0
                },
                classes,
                ..model(vec![16], 3)
            };
            let vs = tch::nn::VarStore::new(Device::Cpu);
            let _vae = crate::model::Vae::new(&vs.root(), &config);
            let held: i64 = vs.variables().values().map(|t| t.numel() as i64).sum();
            assert_eq!(parameters(&config), Some(held as u128), "{config:?}");
        }
        // A hierarchical model at 28x28 (groups at 1x1, 7x7, 14x14, 28x28), logistic.
        let config = ModelConfig {
            arch: Arch::Hierarchical,
            channels: 3,
            width: 8,
            depth: vec![2],
            likelihood: crate::config::Likelihood::Logistic,
            ..model(vec![], 3)
        };
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let _vae = crate::model::Vae::new(&vs.root(), &config);
        let held: i64 = vs.variables().values().map(|t| t.numel() as i64).sum();
        assert_eq!(parameters(&config), Some(held as u128));
    }

    #[test]
    fn an_absurd_model_is_refused_before_any_allocation() {
        let e = check_fits(
            &model(vec![400], 1_000_000_000_000),
            128,
            Device::Cpu,
            "--latent",
        );
        let e = format!("{:#}", e.unwrap_err());
        assert!(
            e.starts_with("--latent: the 784-400-1000000000000 model has"),
            "{e}"
        );
        check_fits(&model(vec![400], 20), 128, Device::Cpu, "--latent").unwrap();
    }

    #[test]
    fn a_hierarchical_model_is_sized_from_its_layout() {
        let hier = |width: usize, depth: usize| ModelConfig {
            arch: Arch::Hierarchical,
            channels: 3,
            width,
            depth: vec![depth],
            ..ModelConfig::mlp(32, 32, vec![], 16)
        };
        // The parameters counted from the layout's convolutions, plus `decoder.h_top`.
        let small = hier(16, 1);
        let layout = crate::model::hierarchy::Layout::of(&small);
        let convs: usize = layout
            .convs()
            .iter()
            .map(|c| c.outputs * (c.inputs * c.kernel * c.kernel + 1))
            .sum();
        assert_eq!(parameters(&small), Some(convs as u128 + 16));
        // VDVAE's own width with the deepest groups: far past any machine's memory.
        let e = check_fits(
            &hier(4096, 64),
            32,
            Device::Cpu,
            "--width, --depth and --latent",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("--width, --depth and --latent: the hierarchical"),
            "{e}"
        );
        check_fits(&hier(64, 2), 32, Device::Cpu, "--width").unwrap();
        // Deeper costs more memory, at a batch as at rest.
        let bytes = |m: &ModelConfig| training_bytes(m, 32, Device::Cpu);
        assert!(bytes(&hier(64, 4)) > bytes(&hier(64, 2)));
    }
}
