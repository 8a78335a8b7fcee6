//! The discretized logistic over 8-bit values (Kingma et al. 2016; Salimans et al. 2017,
//! eq. 2): `--likelihood logistic`'s, one per value, and the bin mass that the logistic
//! mixture (`mixture.rs`) takes per component. 256 bins of width 1/255 over [0, 1], the
//! outer two reaching to -inf and +inf, so the masses sum to 1 and -log P is exact.
use tch::{Kind, Tensor};

/// Half the width of one of the 256 bins of 8-bit data scaled to [0, 1].
const HALF_BIN: f64 = 0.5 / 255.0;

/// -log P(x) of 8-bit values x in [0, 1] (multiples of 1/255) under a logistic of mean
/// `mean` ([n, D]) and scale exp(`log_scale`) (`[D]`), discretized into 256 bins whose
/// outer two reach to -inf and +inf (Salimans et al. 2017, eq. 2), summed over D -> `[n]`.
pub fn discretized_logistic_nll(mean: &Tensor, log_scale: &Tensor, x: &Tensor) -> Tensor {
    let inv_scale = (-log_scale).exp(); // [D]
    let centred = x - mean; // [n, D]
    let lowest = x.lt(HALF_BIN);
    let highest = x.gt(1.0 - HALF_BIN);
    let log_p = log_bin_mass(&centred, &inv_scale, HALF_BIN, &lowest, &highest);
    -log_p.sum_dim_intlist(&[1i64][..], false, None::<Kind>)
}

/// log P(bin) of a discretized logistic, elementwise: `centred` = value - mean, the bin
/// [centred - `half_bin`, centred + `half_bin`] in units of the scale (`inv_scale` = 1 /
/// scale), the lowest bin reaching to -inf where `lowest`, the highest to +inf where
/// `highest` (all broadcast together).
///
/// A bin's mass sigmoid(a) - sigmoid(b) (a > b, the bin's ends in scale units) is taken
/// in logs from the tail it lies in, log sigmoid(a) + log(-expm1(log sigmoid(b) -
/// log sigmoid(a))), or the same of -b and -a on the upper side: no difference of two
/// nearly equal numbers, so even a bin of probability 1e-30 keeps its digits. The side
/// is chosen before the formula, not after it: the other side's formula reaches log(0)
/// far in a tail (b > 104 in float32), and its gradient 0/0 would make every gradient
/// NaN even though its value is thrown away.
pub fn log_bin_mass(
    centred: &Tensor,
    inv_scale: &Tensor,
    half_bin: f64,
    lowest: &Tensor,
    highest: &Tensor,
) -> Tensor {
    let plus = (centred + half_bin) * inv_scale;
    let minus = (centred - half_bin) * inv_scale;
    let log_sigmoid = crate::model::invariant::log_sigmoid;
    let log_cdf_plus = log_sigmoid(&plus);
    let log_one_minus_cdf_minus = log_sigmoid(&(-&minus));
    let log_mass = |hi: &Tensor, lo: &Tensor| {
        let (log_hi, log_lo) = (log_sigmoid(hi), log_sigmoid(lo));
        &log_hi + (&log_lo - &log_hi).expm1().neg().log()
    };
    let upper_side = centred.gt(0.0);
    // A bin narrow against the scale (width w below NARROW_BIN scale units): its two CDFs
    // are closer than float32 resolves, so its mass is the density at its middle times
    // its width, log f(t) + log w with log f(t) = log sigmoid(t) + log sigmoid(-t), off by
    // at most w^2 / 24 relative (4e-6). The formula above is then given a unit bin, so
    // that its value, thrown away, stays finite and so does its gradient.
    let width = inv_scale * (2.0 * half_bin);
    let wide = width.ge(NARROW_BIN);
    let t = centred * inv_scale;
    let log_narrow = log_sigmoid(&t) + log_sigmoid(&(-&t)) + width.log();
    // On the upper side the bin reflected, (-minus, -plus), so that it lies below the mean.
    let log_middle = log_mass(
        &(-&minus)
            .where_self(&upper_side, &plus)
            .where_scalarother(&wide, 0.5),
        &(-&plus)
            .where_self(&upper_side, &minus)
            .where_scalarother(&wide, -0.5),
    )
    .where_self(&wide, &log_narrow);
    log_cdf_plus.where_self(
        lowest,
        &log_one_minus_cdf_minus.where_self(highest, &log_middle),
    )
}

/// The width, in scale units, below which a bin's mass is taken from its middle
/// ([`log_bin_mass`]): there the difference of its CDFs keeps fewer than 5 of float32's
/// digits, and the middle's formula is off by at most 4e-6.
const NARROW_BIN: f64 = 1e-2;

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    const F: (Kind, Device) = (Kind::Float, Device::Cpu);

    /// P(bin k) of the discretized logistic, from its CDF in f64 (the outer bins reach to
    /// -inf and +inf): the oracle of the tests below.
    fn bin_probability(k: usize, mean: f64, scale: f64) -> f64 {
        let cdf = |v: f64| 1.0 / (1.0 + (-(v - mean) / scale).exp());
        // Above the mean, differences of the upper tail, which f64 holds to full precision.
        let tail = |v: f64| 1.0 / (1.0 + ((v - mean) / scale).exp());
        let x = k as f64 / 255.0;
        let (lo, hi) = (x - HALF_BIN, x + HALF_BIN);
        match k {
            0 => cdf(hi),
            255 => tail(lo),
            _ if x > mean => tail(lo) - tail(hi),
            _ => cdf(hi) - cdf(lo),
        }
    }

    #[test]
    fn the_256_logistic_bins_sum_to_one_and_match_the_cdf() {
        let _rng = crate::rng_lock();
        tch::manual_seed(9);
        // Every bin value for 6 (mean, scale) pairs: means anywhere in [0, 1], scales from
        // a tenth of a bin to the whole range.
        let bins = Tensor::arange(256, (Kind::Float, Device::Cpu)) / 255.0; // [256]
        let means = [0.0f32, 0.3, 0.5, 0.77, 1.0, 0.123];
        let scales = [1.0f32, 0.1, 0.02, 1.0 / 255.0, 0.0004, 0.05];
        for (&m, &sc) in means.iter().zip(&scales) {
            let x = bins.view([256, 1]);
            let mean = Tensor::full([256, 1], f64::from(m), F);
            let log_scale = Tensor::full([1], f64::from(sc).ln(), F);
            let nll = discretized_logistic_nll(&mean, &log_scale, &x); // [256]
            let p = Vec::<f64>::try_from(nll.to_kind(Kind::Double).neg().exp()).unwrap();
            let total: f64 = p.iter().sum();
            assert!(
                (total - 1.0).abs() < 1e-3,
                "mean {m}, scale {sc}: sum {total}"
            );
            for (k, &pk) in p.iter().enumerate() {
                let oracle = bin_probability(k, f64::from(m), f64::from(sc));
                // Every bin, however small, to float32's relative precision (of its log).
                let tol = 1e-3 * oracle + 1e-37;
                assert!(
                    (pk - oracle).abs() <= tol,
                    "bin {k}, mean {m}, scale {sc}: {pk} vs {oracle}"
                );
            }
        }
    }
}
