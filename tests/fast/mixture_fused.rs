//! The logistic mixture's one-pass CPU kernel (src/native/cpp/mixture.cpp), which
//! `model::mixture::nll` takes on the CPU, against the same likelihood written as tensor
//! operations (`nll_composite`), differentiated by autograd: an independent derivation of
//! the gradient (the kernel's is written by hand). In float64 they must agree to rounding;
//! in float32 to float32's precision; and the kernel's bits must not follow the thread
//! count.
use tch::{Device, Kind, Tensor};
use tch_vae::model::mixture::{nll, nll_composite, params_per_pixel};

/// Parameters that visit every case of the bin's formula: rows of log-scales pushed below
/// the floor (raw + shift < -7: no gradient), into bins narrow against the scale (scale
/// units of width below 0.01) and in between; means and weights spread so that values
/// land in both tails; values 0 and 255 (the open bins) among the random bytes.
fn case(n: i64, k: usize, c: usize, hw: i64, kind: Kind, seed: i64) -> (Tensor, Tensor) {
    tch::manual_seed(seed);
    let p = params_per_pixel(k, c) as i64;
    let (k64, c64) = (k as i64, c as i64);
    let params = Tensor::randn([n, p, hw], (kind, Device::Cpu)) * 2.0;
    // Log-scale rows: a spread from -8 (floored) to 6 (narrow bins) across the components.
    let mut scales = params.narrow(1, k64 + c64 * k64, c64 * k64);
    let spread = Tensor::linspace(-8.0, 6.0, c64 * k64, (kind, Device::Cpu)).view([1, -1, 1]);
    scales.copy_(&(&scales * 0.5 + spread));
    let bytes = Tensor::randint(256, [n, c64 * hw], (Kind::Int64, Device::Cpu));
    let _ = bytes.narrow(1, 0, 4).fill_(0);
    let _ = bytes.narrow(1, 4, 4).fill_(255);
    let x = bytes.to_kind(kind) / 255.0;
    (params.view([n, -1]), x)
}

/// The value and the gradient of sum_i w_i nll_i (random weights w: the backward pass
/// must scale each image's gradient by its own incoming gradient).
fn value_and_grad(
    f: fn(&Tensor, &Tensor, usize, usize) -> Tensor,
    params: &Tensor,
    x: &Tensor,
    k: usize,
    c: usize,
    w: &Tensor,
) -> (Tensor, Tensor) {
    let p = params.detach().copy().set_requires_grad(true);
    let value = f(&p, x, k, c);
    (&value * w).sum(value.kind()).backward();
    (value.detach(), p.grad())
}

/// max |a - b| / (1 + max |b|).
fn rel(a: &Tensor, b: &Tensor) -> f64 {
    let scale = 1.0 + b.abs().max().double_value(&[]);
    (a - b).abs().max().double_value(&[]) / scale
}

#[test]
fn the_kernel_gives_autograds_value_and_gradient_in_float64() {
    for (k, c, seed) in [(10, 3, 1), (3, 3, 2), (1, 1, 3), (5, 1, 4), (2, 2, 5)] {
        let (params, x) = case(3, k, c, 37, Kind::Double, seed);
        let w = Tensor::from_slice(&[1.0, -0.5, 2.0]);
        let (v, g) = value_and_grad(nll, &params, &x, k, c, &w);
        let (v0, g0) = value_and_grad(nll_composite, &params, &x, k, c, &w);
        assert!(rel(&v, &v0) < 1e-12, "k {k} c {c}: values {v:?} vs {v0:?}");
        let e = rel(&g, &g0);
        assert!(
            e < 1e-10,
            "k {k} c {c}: gradients differ by {e:e} (relative)"
        );
        // The floored log-scales get no gradient, as clamp_min gives none.
        assert!(g0.abs().sum(Kind::Double).double_value(&[]) > 0.0);
    }
}

#[test]
fn the_kernel_agrees_with_the_tensor_operations_in_float32() {
    let (k, c) = (10, 3);
    let (params, x) = case(4, k, c, 256, Kind::Float, 7);
    let w = Tensor::ones([4], (Kind::Float, Device::Cpu));
    let (v, g) = value_and_grad(nll, &params, &x, k, c, &w);
    let (v0, g0) = value_and_grad(nll_composite, &params, &x, k, c, &w);
    // Both against float64: the kernel is no further from it than the tensor operations.
    let (p64, x64) = (params.to_kind(Kind::Double), x.to_kind(Kind::Double));
    let (v64, g64) = value_and_grad(nll_composite, &p64, &x64, k, c, &w.to_kind(Kind::Double));
    let (ev, ev0) = (
        rel(&v.to_kind(Kind::Double), &v64),
        rel(&v0.to_kind(Kind::Double), &v64),
    );
    let (eg, eg0) = (
        rel(&g.to_kind(Kind::Double), &g64),
        rel(&g0.to_kind(Kind::Double), &g64),
    );
    assert!(
        ev < 1e-6 && ev <= 2.0 * ev0 + 1e-7,
        "value: kernel {ev:e}, tensor ops {ev0:e}"
    );
    assert!(
        eg < 1e-4 && eg <= 2.0 * eg0 + 1e-6,
        "gradient: kernel {eg:e}, tensor ops {eg0:e}"
    );
}

#[test]
fn without_autograd_the_kernel_gives_the_same_bits() {
    let (params, x) = case(2, 10, 3, 64, Kind::Float, 8);
    let recorded = nll(&params.set_requires_grad(true), &x, 10, 3);
    let plain = tch::no_grad(|| nll(&params, &x, 10, 3));
    assert!(recorded.requires_grad() && !plain.requires_grad());
    assert!(recorded.detach().equal(&plain));
}

#[test]
fn the_kernels_bits_do_not_follow_the_thread_count() {
    // 4 images of 32x32: the work is split between threads at 256 pixels.
    let (params, x) = case(4, 10, 3, 1024, Kind::Float, 9);
    let w = Tensor::ones([4], (Kind::Float, Device::Cpu));
    let before = tch::get_num_threads();
    let runs: Vec<(Tensor, Tensor)> = [1, 2, 3]
        .iter()
        .map(|&t| {
            tch::set_num_threads(t);
            value_and_grad(nll, &params, &x, 10, 3, &w)
        })
        .collect();
    tch::set_num_threads(before);
    for (t, (v, g)) in runs.iter().enumerate().skip(1) {
        assert!(
            v.equal(&runs[0].0) && g.equal(&runs[0].1),
            "{} threads differ from 1",
            t + 1
        );
    }
}

#[test]
fn gradients_stay_finite_far_in_the_tails_and_at_any_scale() {
    // Values far above and below the means, scales from e^-7 to e^12: the bins' masses
    // underflow or cannot be told apart in float32, where a formula evaluated on the side
    // not chosen reaches log(0) and its gradient 0/0 (NaN) would poison every gradient
    // (found by scripts/numerics_probe.py). Both implementations of the mixture.
    let (k, c) = (2, 3);
    let p = params_per_pixel(k, c) as i64;
    let hw = 64;
    let raw = Tensor::randn([4, p * hw], (Kind::Float, Device::Cpu)) * 6.0;
    let x = (Tensor::rand([4, c as i64 * hw], (Kind::Float, Device::Cpu)) * 255.0).round() / 255.0;
    for f in [nll, nll_composite] {
        let params = raw.copy().set_requires_grad(true);
        let loss = f(&params, &x, k, c).sum(Kind::Float);
        loss.backward();
        assert!(loss.double_value(&[]).is_finite());
        assert!(bool::try_from(params.grad().isfinite().all()).unwrap());
    }
    // The single logistic shares the bin's formula: means far from the data, log-scales
    // from -12 to 12.
    let mean =
        (Tensor::rand([4, 50], (Kind::Float, Device::Cpu)) * 3.0 - 1.0).set_requires_grad(true);
    let log_scale =
        Tensor::linspace(-12.0, 12.0, 50, (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let x = (Tensor::rand([4, 50], (Kind::Float, Device::Cpu)) * 255.0).round() / 255.0;
    let loss =
        tch_vae::model::logistic::discretized_logistic_nll(&mean, &log_scale, &x).sum(Kind::Float);
    loss.backward();
    assert!(loss.double_value(&[]).is_finite());
    for (what, g) in [("mean", mean.grad()), ("log-scale", log_scale.grad())] {
        assert!(
            bool::try_from(g.isfinite().all()).unwrap(),
            "logistic {what} gradient not finite"
        );
    }
}

#[test]
fn a_second_derivative_is_refused_not_silently_zero() {
    let (params, x) = case(1, 2, 3, 8, Kind::Double, 10);
    let p = params.set_requires_grad(true);
    let loss = nll(&p, &x, 2, 3).sum(Kind::Double);
    // create_graph = true: the kernel's backward must refuse, as its gradient has no graph.
    let result = Tensor::f_run_backward(&[&loss], &[&p], true, true);
    let message = format!("{:?}", result.expect_err("a second derivative was allowed"));
    assert!(message.contains("first derivatives only"), "{message}");
}
