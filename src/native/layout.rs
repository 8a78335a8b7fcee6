//! Tensors between NCHW and channels-last (NHWC) on the CPU, with their gradients laid out
//! as their inputs were (`cpp/layout.cpp`): the hierarchical model keeps its activations
//! channels-last where oneDNN runs its convolutions (`model::hierarchy`), and these are the
//! places where tensors enter or leave that layout.
use crate::native::ffi;
use tch::Tensor;

/// `t` (`[n, c, h, w]`) laid out channels-last (`nhwc`) or NCHW, the same values; `t`
/// itself when it is laid out so already. When autograd records, the gradient reaches `t`
/// in `t`'s own layout, whatever layout the gradient arriving here has: a convolution
/// upstream then gets the layout of its weights, not a copy at its full width.
pub fn relayout(t: &Tensor, nhwc: bool) -> Tensor {
    let mut out: *mut torch_sys::C_tensor = std::ptr::null_mut();
    // SAFETY: `t` is a live tensor borrowed for the call; on success the C++ side hands
    // over a heap-allocated tensor, which Tensor::from_ptr takes ownership of.
    unsafe {
        ffi::check(
            ffi::tchvae_relayout(t.as_ptr(), nhwc, &mut out),
            "changing a tensor's memory layout",
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        Tensor::from_ptr(out)
    }
}

/// Whether `t` (`[n, c, h, w]`) is laid out channels-last, densely.
pub fn is_channels_last(t: &Tensor) -> bool {
    let (size, stride) = (t.size(), t.stride());
    let [_, c, h, w] = size[..] else {
        return false;
    };
    // Dimensions of size 1 may hold any stride.
    let want = [h * w * c, 1, w * c, c];
    (0..4).all(|d| size[d] == 1 || stride[d] == want[d])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    /// Oracle: the same values, read index by index through `double_value`, and strides
    /// against the layouts' definitions.
    #[test]
    fn a_relayout_keeps_every_value_and_its_gradient_the_inputs_layout() {
        for (n, c, h, w) in [(2, 3, 5, 7), (3, 40, 33, 31), (1, 100, 32, 32)] {
            let x = Tensor::randn([n, c, h, w], (Kind::Float, tch::Device::Cpu));
            let nhwc = relayout(&x, true);
            assert!(is_channels_last(&nhwc), "{:?}", nhwc.stride());
            let back = relayout(&nhwc, false);
            assert!(back.is_contiguous());
            for i in [0, n - 1] {
                for j in [0, c / 2, c - 1] {
                    for (y, z) in [(0, 0), (h - 1, w - 1), (h / 2, w / 3)] {
                        let v = x.double_value(&[i, j, y, z]);
                        assert_eq!(nhwc.double_value(&[i, j, y, z]), v);
                        assert_eq!(back.double_value(&[i, j, y, z]), v);
                    }
                }
            }
            assert!(back.equal(&x));
        }
        // The gradient: x is NCHW, the gradient arriving at the relayout's NHWC output is
        // NCHW-strided (a broadcast sum's), and x's gradient comes back NCHW, equal to it.
        let x =
            Tensor::randn([2, 8, 4, 4], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let weights = Tensor::randn([2, 8, 4, 4], (Kind::Float, tch::Device::Cpu));
        (relayout(&x, true) * &weights).sum(Kind::Float).backward();
        let g = x.grad();
        assert!(g.is_contiguous());
        assert!(g.equal(&weights));
        // A channel slice of an NHWC tensor, relaid NCHW: its gradient lands on the slice's
        // values of the NHWC tensor and nowhere else.
        let base = relayout(
            &Tensor::randn([2, 24, 4, 4], (Kind::Float, tch::Device::Cpu)),
            true,
        )
        .set_requires_grad(true);
        let part = base.narrow(1, 8, 8);
        (relayout(&part, false) * &weights)
            .sum(Kind::Float)
            .backward();
        let g = base.grad();
        assert!(g.narrow(1, 8, 8).equal(&weights));
        assert_eq!(
            g.narrow(1, 0, 8).abs().sum(Kind::Float).double_value(&[]),
            0.0
        );
    }
}
