//! PixelCNN++'s likelihood (Salimans et al. 2017, sections 2.1-2.2), the one that every
//! strong VAE on colour images uses (IAF-VAE, NVAE, VDVAE): each pixel's 8-bit values under
//! a mixture of K discretized logistics, the channels of a component coupled linearly so
//! that green's mean follows red's value and blue's follows both.
//!
//! Per pixel, with values x_c in [-1, 1] (the data's [0, 1] stretched), component k has
//! weight softmax(w)_k, means m_{k,c}, log-scales s_{k,c} (the decoder's output plus
//! [`LOG_SCALE_SHIFT`], floored at -7 as PixelCNN++) and
//! coefficients a_{k,cj} = tanh(.) for j < c:
//!
//!   p(x) = sum_k pi_k prod_c P_logistic(x_c | m_{k,c} + sum_{j<c} a_{k,cj} x_j, exp(s_{k,c}))
//!
//! where P is the mass of x_c's bin of width 2/255, the outer bins (values 0 and 255,
//! chosen by the integer value) reaching to -inf and +inf, so the 256^C probabilities of a
//! pixel sum to 1 and -log p(x) is exact in nats.
//!
//! The decoder's output per pixel, `params_per_pixel` values in this order: K weights, then
//! the means [C, K], the log-scales [C, K] and the coefficients [C(C-1)/2, K] (pair (c, j)
//! at c(c-1)/2 + j). An MLP's decoder gives them as `[n, P*H*W]` read as `[n, P, H, W]`; a
//! conv decoder's last transposed convolution gives P channels, flattened the same way.
use crate::model::logistic::log_bin_mass;
use tch::{Kind, Tensor};

/// PixelCNN++'s floor on the log-scales: a scale below e^-7 (a thousandth of a bin) adds
/// nothing to the likelihood but numerical trouble.
const MIN_LOG_SCALE: f64 = -7.0;

/// Added to the decoder's log-scale outputs: a fresh decoder's outputs are near 0, a scale
/// of e^-2.3 = 0.1 of the [-1, 1] range, about 13 of the 256 levels, as the single
/// logistic starts (`vae::LOG_SCALE_INIT`, 0.05 of [0, 1]). From a scale of 1 (the whole
/// range), Adam's steps of about `--lr` take thousands of steps to narrow it: on colour
/// digits the mixture then trailed the single logistic after 40 epochs.
pub const LOG_SCALE_SHIFT: f64 = -2.3;

/// Half a bin of 8-bit values in [-1, 1].
const HALF_BIN: f64 = 1.0 / 255.0;

/// The decoder outputs per pixel for `k` components over `c` channels.
pub fn params_per_pixel(k: usize, c: usize) -> usize {
    k * (1 + 2 * c + c * (c - 1) / 2)
}

/// The mixture's parameters, split from the decoder's output.
struct Parts {
    /// Unnormalised component weights, `[n, K, HW]`.
    logits: Tensor,
    /// `[n, C, K, HW]` each: the means before coupling, and the floored log-scales.
    means: Tensor,
    log_scales: Tensor,
    /// `[n, C(C-1)/2, K, HW]` in (-1, 1); `None` for one channel.
    coeffs: Option<Tensor>,
}

fn split(params: &Tensor, k: usize, c: usize) -> Parts {
    let n = params.size()[0];
    let (k64, c64) = (k as i64, c as i64);
    let pairs = (c * (c - 1) / 2) as i64;
    let p = params.view([n, params_per_pixel(k, c) as i64, -1]); // [n, P, HW]
    let hw = p.size()[2];
    // Each part copied out contiguous: on a strided slice libtorch's element-wise kernels
    // finish each thread's share with a scalar formula whose last bits differ from their
    // vector one, so the bits would follow the thread count (numerics.rs).
    let at = |start: i64, rows: i64| p.narrow(1, start, rows).contiguous();
    Parts {
        logits: at(0, k64),
        means: at(k64, c64 * k64).view([n, c64, k64, hw]),
        log_scales: at(k64 + c64 * k64, c64 * k64)
            .view([n, c64, k64, hw])
            .g_add_scalar(LOG_SCALE_SHIFT)
            .clamp_min(MIN_LOG_SCALE),
        coeffs: (pairs > 0).then(|| {
            at(k64 + 2 * c64 * k64, pairs * k64)
                .view([n, pairs, k64, hw])
                .tanh()
        }),
    }
}

/// Channel `ch`'s means coupled to the earlier channels' values: m_ch + sum_{j<ch}
/// a_{ch,j} `earlier(j)`, `[n, 1, K, HW]` (`earlier(j)`: `[n, 1, 1 or K, HW]`).
fn coupled(parts: &Parts, ch: i64, earlier: impl Fn(i64) -> Tensor) -> Tensor {
    let m = parts.means.narrow(1, ch, 1);
    match &parts.coeffs {
        None => m,
        Some(coeffs) => (0..ch).fold(m, |m, j| {
            m + coeffs.narrow(1, ch * (ch - 1) / 2 + j, 1) * earlier(j)
        }),
    }
}

/// -log p(x) of 8-bit images `x` (`[n, C*H*W]`, multiples of 1/255 in [0, 1]) under the
/// mixture that `params` (`[n, P*H*W]`, P = [`params_per_pixel`]) describe, summed over
/// pixels: `[n]`, in nats. On the CPU in one pass with its gradient
/// (`native::mixture`: the tensor operations' forty passes over memory were the largest
/// part of a hierarchical step after its convolutions), elsewhere
/// [`nll_composite`].
pub fn nll(params: &Tensor, x: &Tensor, k: usize, c: usize) -> Tensor {
    if crate::native::mixture::applies(params, k, c) {
        // Shapes are the model's own, checked when it was built: a failure is a bug, as a
        // tch operation's would be.
        return crate::native::mixture::nll(params, x, k, c).unwrap_or_else(|e| panic!("{e:#}"));
    }
    nll_composite(params, x, k, c)
}

/// [`nll`] as tensor operations (autograd differentiates it): CUDA's path, and the oracle
/// that the CPU's one-pass kernel is tested against.
pub fn nll_composite(params: &Tensor, x: &Tensor, k: usize, c: usize) -> Tensor {
    let parts = split(params, k, c);
    let n = x.size()[0];
    let x = x.view([n, c as i64, 1, -1]); // [n, C, 1, HW] in [0, 1]
    let v = &x * 2.0 - 1.0; // the values in [-1, 1]
    let means: Vec<Tensor> = (0..c as i64)
        .map(|ch| coupled(&parts, ch, |j| v.narrow(1, j, 1)))
        .collect();
    let centred = &v - Tensor::cat(&means, 1); // [n, C, K, HW]
    let inv_scale = (-&parts.log_scales).exp();
    // Values 0 and 255 by their integer value (x is a multiple of 1/255).
    let lowest = x.lt(0.5 / 255.0);
    let highest = x.gt(1.0 - 0.5 / 255.0);
    let log_mass = log_bin_mass(&centred, &inv_scale, HALF_BIN, &lowest, &highest);
    let log_weights = &parts.logits - parts.logits.logsumexp([1i64], true); // [n, K, HW]
    let log_joint = log_weights + log_mass.sum_dim_intlist(&[1i64][..], false, None::<Kind>);
    -log_joint
        .logsumexp([1i64], false) // [n, HW]
        .sum_dim_intlist(&[1i64][..], false, None::<Kind>)
}

/// How a mixture's pixels are drawn as a picture (`tch-vae sample --picture`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Picture {
    /// At each pixel the most probable component's means: sharp, but a stroke the model
    /// gives less than even odds drops out (the background's component wins).
    #[default]
    Mode,
    /// The mixture's mean, the weights times the components' means: what the other
    /// likelihoods show (their means); a stroke the model is unsure of shows faint.
    Mean,
}

/// The picture of a mixture, `[n, C*H*W]` in [0, 1], drawn as `picture` says; each
/// component's means coupled channel after channel to the earlier channels' means (the
/// logistic's mean, the bins' rounding left out), clamped to [-1, 1].
pub fn image(params: &Tensor, k: usize, c: usize, picture: Picture) -> Tensor {
    let parts = split(params, k, c);
    let n = params.size()[0];
    let mut means: Vec<Tensor> = Vec::with_capacity(c);
    for ch in 0..c as i64 {
        let m = coupled(&parts, ch, |j| means[j as usize].shallow_clone());
        means.push(m.clamp(-1.0, 1.0));
    }
    let means = Tensor::cat(&means, 1); // [n, C, K, HW]
    let v = match picture {
        Picture::Mode => {
            let size = means.size();
            let best = parts.logits.argmax(1, true).unsqueeze(1); // [n, 1, 1, HW]
            let best = best.expand([size[0], size[1], 1, size[3]], false);
            means.gather(2, &best, false).squeeze_dim(2)
        }
        Picture::Mean => {
            let weights = parts.logits.softmax(1, None::<Kind>).unsqueeze(1); // [n, 1, K, HW]
            (means * weights).sum_dim_intlist(&[2i64][..], false, None::<Kind>)
        }
    }; // [n, C, HW]
    ((v + 1.0) * 0.5).view([n, -1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    const D: (Kind, Device) = (Kind::Double, Device::Cpu);

    /// Both implementations: the CPU's one-pass kernel (what `nll` takes here) and the
    /// tensor operations (CUDA's path); each oracle below checks each.
    type Nll = fn(&Tensor, &Tensor, usize, usize) -> Tensor;
    const BOTH: [(&str, Nll); 2] = [("kernel", nll), ("tensor operations", nll_composite)];

    fn logistic_cdf(t: f64) -> f64 {
        1.0 / (1.0 + (-t).exp())
    }

    /// The oracle: p(x) of one pixel's 8-bit values `vals` (C of them) written out in
    /// scalar float64 from the paper's definition, with params laid out per pixel as
    /// `params_per_pixel` says: plain CDF differences, no logs, no shared code.
    fn oracle_probability(p: &[f64], vals: &[u8], k: usize) -> f64 {
        let c = vals.len();
        let v: Vec<f64> = vals.iter().map(|&u| u as f64 / 127.5 - 1.0).collect();
        let logits = &p[..k];
        let top = logits.iter().cloned().fold(f64::MIN, f64::max);
        let z: f64 = logits.iter().map(|l| (l - top).exp()).sum();
        (0..k)
            .map(|comp| {
                let weight = (logits[comp] - top).exp() / z;
                let prob: f64 = (0..c)
                    .map(|ch| {
                        let mut m = p[k + ch * k + comp];
                        let s = (p[k + c * k + ch * k + comp] - 2.3).max(-7.0).exp();
                        for j in 0..ch {
                            let a = p[k + 2 * c * k + (ch * (ch - 1) / 2 + j) * k + comp].tanh();
                            m += a * v[j];
                        }
                        // The bin's ends in scale units; the outer bins are open.
                        let hi = (vals[ch] < 255).then(|| (v[ch] + 1.0 / 255.0 - m) / s);
                        let lo = (vals[ch] > 0).then(|| (v[ch] - 1.0 / 255.0 - m) / s);
                        // CDF(hi) - CDF(lo), from the left tail below the mean and as
                        // (1 - CDF(lo)) - (1 - CDF(hi)) = CDF(-lo) - CDF(-hi) above it, so
                        // that the oracle keeps its own digits in either tail.
                        if v[ch] <= m {
                            hi.map_or(1.0, logistic_cdf) - lo.map_or(0.0, logistic_cdf)
                        } else {
                            lo.map_or(1.0, |t| logistic_cdf(-t))
                                - hi.map_or(0.0, |t| logistic_cdf(-t))
                        }
                    })
                    .product();
                weight * prob
            })
            .sum()
    }

    /// Random parameters of one pixel (`[1, P]`), means within the values' range.
    fn random_pixel(k: usize, c: usize, seed: i64) -> Tensor {
        let _rng = crate::rng_lock();
        tch::manual_seed(seed);
        let p = params_per_pixel(k, c);
        let mut host = Vec::<f64>::try_from(Tensor::randn([p as i64], D)).unwrap();
        // Log-scales between about -4.5 and -0.5: bins of very different mass.
        for s in &mut host[k + c * k..k + 2 * c * k] {
            *s = *s * 0.8 - 0.2; // scales e^(-2.5 +- 0.8) after the shift
        }
        Tensor::from_slice(&host).view([1, p as i64])
    }

    #[test]
    fn every_value_of_a_colour_pixel_has_a_probability_and_they_sum_to_one() {
        // All 256^3 values of one RGB pixel, one red value at a time, in float64.
        let (k, c) = (2, 3);
        let params = random_pixel(k, c, 11);
        let gb: Vec<u8> = (0..256 * 256)
            .flat_map(|i| [(i / 256) as u8, (i % 256) as u8])
            .collect();
        let mut total = [0.0; 2];
        for red in 0..256 {
            let rows: Vec<f64> = gb
                .chunks(2)
                .flat_map(|p| [red as f64, p[0] as f64, p[1] as f64])
                .map(|u| u / 255.0)
                .collect();
            let x = Tensor::from_slice(&rows)
                .view([256 * 256, 3])
                .to_kind(Kind::Double);
            let p = params.expand([256 * 256, params.size()[1]], false);
            for (i, (_, f)) in BOTH.iter().enumerate() {
                total[i] += f(&p, &x, k, c)
                    .neg()
                    .exp()
                    .sum(Kind::Double)
                    .double_value(&[]);
            }
        }
        for ((name, _), total) in BOTH.iter().zip(total) {
            assert!(
                (total - 1.0).abs() < 1e-9,
                "{name}: sum over 256^3 values: {total}"
            );
        }
    }

    #[test]
    fn the_log_likelihood_matches_a_scalar_float64_oracle() {
        for (k, c, seed) in [(1, 1, 1), (4, 1, 2), (10, 3, 3), (2, 3, 4)] {
            let params = random_pixel(k, c, seed);
            let host = Vec::<f64>::try_from(params.view([-1])).unwrap();
            // Edge values, the middle, and neighbours of each.
            for vals in [
                [0u8, 0, 0],
                [255, 255, 255],
                [0, 255, 128],
                [1, 254, 127],
                [37, 200, 5],
            ] {
                let vals = &vals[..c];
                let x =
                    Tensor::from_slice(&vals.iter().map(|&u| u as f64 / 255.0).collect::<Vec<_>>())
                        .view([1, c as i64]);
                let want = -oracle_probability(&host, vals, k).ln();
                for (name, f) in BOTH {
                    let got = f(&params, &x, k, c).double_value(&[0]);
                    assert!(
                        (got - want).abs() < 1e-9 * want.abs().max(1.0),
                        "{name}: k={k} c={c} {vals:?}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_tiny_bin_keeps_its_digits() {
        // Far in the upper tail (mean -0.9, scale e^-4, value 250: about 1e-44), where
        // 1 - CDF computed as a difference is 0: the mass agrees with the tail's own
        // closed form, log P = log sigmoid(-lo) + log(1 - sigmoid(-hi) / sigmoid(-lo)).
        let params = Tensor::from_slice(&[0.0f64, -0.9, -4.0 - LOG_SCALE_SHIFT]).view([1, 3]);
        let x = Tensor::from_slice(&[250.0f64 / 255.0]).view([1, 1]);
        let s = (-4.0f64).exp();
        let v = 250.0 / 127.5 - 1.0;
        let (lo, hi) = ((v - 1.0 / 255.0 + 0.9) / s, (v + 1.0 / 255.0 + 0.9) / s);
        let ratio = (-(hi - lo)).exp() * (1.0 + (-lo).exp()) / (1.0 + (-hi).exp());
        let log_p = -lo - (-lo).exp().ln_1p() + (-ratio).ln_1p();
        for (name, f) in BOTH {
            let got = f(&params, &x, 1, 1).double_value(&[0]);
            assert!(got > 90.0, "{name}: {got}");
            assert!(
                (got + log_p).abs() < 1e-9 * got,
                "{name}: {got} vs {}",
                -log_p
            );
        }
    }

    #[test]
    fn the_pictures_are_the_likeliest_component_and_the_mean_with_their_coupling() {
        // Two components, RGB. Component 1 (weight logit 2 against 0): red mean 0.2, green
        // 0 + tanh(0.5) red, blue -0.4 + tanh(0.3) red + tanh(-0.2) green, in [-1, 1];
        // component 0's means are far off and must not show.
        let k = 2;
        // [w0, w1 | means r0 r1 g0 g1 b0 b1 | log-scales x6 | coeffs (g,r)x2 (b,r)x2 (b,g)x2]
        let raw = [
            0.0, 2.0, -0.9, 0.2, 0.9, 0.0, 0.9, -0.4, -3.0, -3.0, -3.0, -3.0, -3.0, -3.0, 0.0, 0.5,
            0.0, 0.3, 0.0, -0.2,
        ];
        let params = Tensor::from_slice(&raw).view([1, 20]);
        let m = Vec::<f64>::try_from(image(&params, k, 3, Picture::Mode).view([-1])).unwrap();
        let r = 0.2;
        let g = 0.5f64.tanh() * r;
        let b = -0.4 + 0.3f64.tanh() * r + (-0.2f64).tanh() * g;
        let want: Vec<f64> = [r, g, b].iter().map(|v| (v + 1.0) / 2.0).collect();
        for (got, want) in m.iter().zip(&want) {
            assert!((got - want).abs() < 1e-12, "{m:?} vs {want:?}");
        }
        // The mean: component 0 (red -0.9, green 0.9, blue 0.9, no coupling) at weight
        // 1 / (1 + e^2), component 1 above at e^2 / (1 + e^2).
        let m = Vec::<f64>::try_from(image(&params, k, 3, Picture::Mean).view([-1])).unwrap();
        let w1 = 2f64.exp() / (1.0 + 2f64.exp());
        let want: Vec<f64> = [(-0.9, r), (0.9, g), (0.9, b)]
            .iter()
            .map(|(c0, c1)| ((1.0 - w1) * c0 + w1 * c1 + 1.0) / 2.0)
            .collect();
        for (got, want) in m.iter().zip(&want) {
            assert!((got - want).abs() < 1e-12, "{m:?} vs {want:?}");
        }
    }

    #[test]
    fn a_bin_narrow_against_its_scale_has_its_density_times_its_width() {
        // A scale of e^6 (bins 2e-5 scale units wide): float32's difference of CDFs has
        // no digits left; the oracle is the float64 difference of the logistic's CDFs.
        let params =
            Tensor::from_slice(&[0.0f32, 0.3, (6.0 - LOG_SCALE_SHIFT) as f32]).view([1, 3]);
        for value in [3u8, 128, 250] {
            let x = Tensor::from_slice(&[value as f32 / 255.0]).view([1, 1]);
            let s = 6.0f64.exp();
            let v = value as f64 / 127.5 - 1.0;
            let cdf = |t: f64| 1.0 / (1.0 + (-(t - 0.3) / s).exp());
            let want = -(cdf(v + 1.0 / 255.0) - cdf(v - 1.0 / 255.0)).ln();
            for (name, f) in BOTH {
                let got = f(&params, &x, 1, 1).double_value(&[0]);
                assert!(
                    (got - want).abs() < 1e-5 * want,
                    "{name} {value}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn the_decoder_gives_every_component_parameters_for_every_pixel() {
        use crate::config::{Arch, Likelihood, ModelConfig};
        use crate::model::arch::{decoder, Op};
        for arch in [Arch::Mlp, Arch::Conv] {
            let m = ModelConfig {
                arch,
                channels: 3,
                conv_channels: vec![8, 16],
                likelihood: Likelihood::LogisticMixture,
                mixtures: 10,
                ..ModelConfig::mlp(32, 32, vec![64], 4)
            };
            // 10 x (1 weight + 3 means + 3 log-scales + 3 coefficients) = 100 per pixel.
            let outputs = decoder(&m).iter().rev().find_map(|l| match l.op {
                Op::Linear { outputs, .. } => Some(outputs),
                Op::ConvTranspose2d { outputs, .. } => Some(outputs * 32 * 32),
                _ => None,
            });
            assert_eq!(outputs, Some(100 * 32 * 32), "{arch:?}");
        }
    }
}
