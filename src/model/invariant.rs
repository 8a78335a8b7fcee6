//! Element-wise functions whose every bit is the same at any CPU thread count.
//!
//! Why: libtorch's kernels for sigmoid and softplus (and so binary cross-entropy from
//! logits, whose backward is a sigmoid) run a vector formula on whole vectors and a scalar
//! formula on the remainder of each thread's share, and the two round differently. A
//! thread's share depends on the thread count (128 x 784 values on 3 threads: shares of
//! 33,451, not a multiple of the vector width), so at some counts other elements take the
//! scalar path and a run's weights change in the last bits (`scripts/numerics_probe.py`
//! lists the kernels; its logs are in `notebooks-export/reproducibility/`). libtorch's
//! log-sigmoid kernel computes a share's remainder with the vector formula on a partial
//! vector, so its bits do not depend on the split; everything here is built on it and on
//! exact arithmetic, and costs about what the fused kernels cost (the benchmark there).
use tch::Tensor;

/// log sigmoid(x) = -log(1 + exp(-x)), libtorch's kernel (stable for any x).
pub fn log_sigmoid(x: &Tensor) -> Tensor {
    x.log_sigmoid()
}

/// sigmoid(x) = exp(log sigmoid(x)): the relative precision of float32 for any x, and the
/// gradient s (1 - s).
pub fn sigmoid(x: &Tensor) -> Tensor {
    x.log_sigmoid().exp()
}

/// Binary cross-entropy of targets `t` in [0, 1] from logits `x`, element by element:
/// -[t log s(x) + (1 - t) log s(-x)] = (1 - t) x - log s(x), the formula of libtorch's own
/// forward; autograd's backward through it is (1 - t) - (1 - s(x)) = s(x) - t.
pub fn binary_cross_entropy_with_logits(x: &Tensor, t: &Tensor) -> Tensor {
    x * (1.0 - t) - x.log_sigmoid()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Reduction};

    /// The float64 reference of each function, on logits from -100 to 100.
    fn logits() -> Tensor {
        Tensor::linspace(-100.0, 100.0, 20_001, (Kind::Double, tch::Device::Cpu))
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a.to_kind(Kind::Double) - b).abs().max().double_value(&[])
    }

    #[test]
    fn the_compositions_agree_with_float64_references() {
        let x = logits().to_kind(Kind::Float);
        // The oracles take the float32 inputs exactly, in float64, from the definitions:
        // 1 / (1 + e^-x), and log of it as -log1p(e^-x) (log(1 + tiny) would round to 0).
        let x64 = x.to_kind(Kind::Double);
        let sigmoid64 = (x64.neg().exp() + 1.0).reciprocal();
        assert!(max_abs_diff(&sigmoid(&x), &sigmoid64) < 1e-7);
        let log_sigmoid64 = -x64.neg().exp().log1p();
        let rel = ((log_sigmoid(&x).to_kind(Kind::Double) - &log_sigmoid64).abs()
            / (log_sigmoid64.abs() + 1e-30))
            .max()
            .double_value(&[]);
        assert!(rel < 1e-6, "log_sigmoid's relative error {rel}");
        let t64 = Tensor::rand_like(&x64).round();
        // -[t log s(x) + (1 - t) log s(-x)], each log s as -log1p(e^-x) (1 - s(x) would
        // lose its digits).
        let bce64 = &t64 * x64.neg().exp().log1p() + (t64.neg() + 1.0) * x64.exp().log1p();
        let bce = binary_cross_entropy_with_logits(&x, &t64.to_kind(Kind::Float));
        let diff = (bce.to_kind(Kind::Double) - &bce64).abs() / (bce64.abs() + 1.0);
        assert!(diff.max().double_value(&[]) < 1e-6);
        // And against libtorch's fused kernel, which computes the same formula.
        let fused = x.binary_cross_entropy_with_logits::<Tensor>(
            &t64.to_kind(Kind::Float),
            None,
            None,
            Reduction::None,
        );
        assert!(max_abs_diff(&bce, &fused.to_kind(Kind::Double)) < 1e-5);
    }

    #[test]
    fn gradients_are_finite_and_match_their_closed_forms() {
        let x64 = logits();
        let x = x64.to_kind(Kind::Float).set_requires_grad(true);
        let s = sigmoid(&x);
        s.sum(Kind::Float).backward();
        let sigmoid64 = (x64.neg().exp() + 1.0).reciprocal();
        // d sigmoid / dx = s (1 - s).
        let expected = &sigmoid64 * (1.0 - &sigmoid64);
        assert!(max_abs_diff(&x.grad(), &expected) < 1e-7);
        let x = x64.to_kind(Kind::Float).set_requires_grad(true);
        log_sigmoid(&x).sum(Kind::Float).backward();
        // d log sigmoid / dx = 1 - s.
        assert!(max_abs_diff(&x.grad(), &(1.0 - &sigmoid64)) < 1e-6);
        // At exactly 0: sigmoid(0) = 1/2.
        let zero = Tensor::zeros([1], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let target = Tensor::zeros([1], (Kind::Float, tch::Device::Cpu));
        binary_cross_entropy_with_logits(&zero, &target)
            .sum(Kind::Float)
            .backward();
        assert_eq!(zero.grad().double_value(&[0]), 0.5);
        let zero = Tensor::zeros([1], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        log_sigmoid(&zero).sum(Kind::Float).backward();
        assert_eq!(zero.grad().double_value(&[0]), 0.5);
    }
}
