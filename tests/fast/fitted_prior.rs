//! The ex-post prior (`model::fitted`, `tch-vae fit-prior`): EM finds a mixture it was
//! given, its density is the normal densities' sum, its draws have the mixture's moments,
//! the randomised subspace keeps what LAPACK's eigendecomposition finds, the prefix draw
//! decodes as the model does (the command: `fit_prior_command.rs`).
use crate::common::*;
use tch::{Device, Kind, Tensor};
use tch_vae::model::fitted::gmm::{EmSettings, Gmm};
use tch_vae::model::fitted::{pca, FittedPrior};

const F64: (Kind, Device) = (Kind::Double, Device::Cpu);

fn t(rows: &[&[f64]]) -> Tensor {
    let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, -1])
}

/// A three-component mixture in 3-D: weights, means, Cholesky factors.
fn known() -> Gmm {
    let l = [
        t(&[&[1.0, 0.0, 0.0], &[0.0, 0.5, 0.0], &[0.0, 0.0, 0.8]]),
        t(&[&[0.7, 0.0, 0.0], &[0.4, 0.6, 0.0], &[-0.3, 0.2, 0.5]]),
        t(&[&[0.3, 0.0, 0.0], &[0.0, 1.2, 0.0], &[0.5, 0.0, 0.4]]),
    ];
    Gmm {
        weights: Tensor::from_slice(&[0.5, 0.3, 0.2]),
        means: t(&[&[0.0, 0.0, 0.0], &[6.0, 0.0, 0.0], &[0.0, 6.0, 3.0]]),
        scale_tril: Tensor::stack(&l, 0),
    }
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

#[test]
fn em_recovers_the_mixture_that_drew_the_points() {
    // Oracle: the generating parameters themselves.
    let _g = tch_vae_rng();
    tch::manual_seed(11);
    let truth = known();
    let y = truth.sample(6000, 1.0);
    let em = EmSettings {
        components: 3,
        max_iterations: 300,
        tolerance: 1e-8,
        regularisation: 1e-6,
    };
    let fitted = Gmm::fit(&y, &em).unwrap();
    assert!(fitted.converged, "EM ran {} iterations", fitted.iterations);
    let gmm = fitted.gmm;
    // Match components by their means' nearest true mean.
    let order: Vec<i64> = (0..3)
        .map(|c| {
            let d = (gmm.means.unsqueeze(0) - truth.means.get(c).view([1, 1, 3]))
                .square()
                .sum_dim_intlist(&[2i64][..], false, Kind::Double);
            d.argmin(1, false).int64_value(&[0])
        })
        .collect();
    let idx = Tensor::from_slice(&order);
    let cov = |l: &Tensor| l.matmul(&l.transpose(1, 2));
    let w = gmm.weights.index_select(0, &idx);
    assert!(max_abs(&(&w - &truth.weights)) < 0.03, "weights {w}");
    let m = gmm.means.index_select(0, &idx);
    assert!(max_abs(&(&m - &truth.means)) < 0.1, "means {m}");
    let c = cov(&gmm.scale_tril.index_select(0, &idx));
    assert!(
        max_abs(&(&c - cov(&truth.scale_tril))) < 0.15,
        "covariances {c}"
    );
}

#[test]
fn auto_finds_about_as_many_components_as_drew_the_points() {
    // Oracle: the three well-separated components that drew the points; one or two
    // components cannot fit them, and fresh points from the truth score the chosen
    // mixture near the truth itself.
    let _g = tch_vae_rng();
    tch::manual_seed(12);
    let truth = known();
    let y = truth.sample(3000, 1.0);
    let em = |components| EmSettings {
        components,
        max_iterations: 300,
        tolerance: 1e-6,
        regularisation: 1e-6,
    };
    let (chosen, tried) = tch_vae::model::fitted::select::components(&y, &em, usize::MAX).unwrap();
    assert!(chosen == 3 || chosen == 5, "chose {chosen}: {tried:?}");
    let counts: Vec<usize> = tried.iter().map(|t| t.components).collect();
    assert_eq!(&counts[..3], &[1, 2, 3], "{tried:?}");
    let fresh = truth.sample(3000, 1.0);
    let fitted = Gmm::fit(&y, &em(chosen)).unwrap().gmm;
    let mean = |g: &Gmm| g.log_prob(&fresh).mean(Kind::Double).double_value(&[]);
    assert!(
        (mean(&fitted) - mean(&truth)).abs() < 0.02,
        "{} vs {}",
        mean(&fitted),
        mean(&truth)
    );
    let one = Gmm::fit(&y, &em(1)).unwrap().gmm;
    assert!(mean(&one) < mean(&truth) - 0.5);
}

#[test]
fn the_log_density_is_the_weighted_sum_of_normal_densities() {
    // Oracle: diagonal covariances, so each density is a product of 1-D normals, written
    // out in plain f64.
    let w = [0.25, 0.75];
    let mu = [[0.5, -1.0, 2.0], [-0.3, 0.4, 0.0]];
    let sd = [[0.7, 1.3, 0.2], [2.0, 0.5, 1.1]];
    let diag = |s: &[f64; 3]| Tensor::from_slice(s).diag(0);
    let gmm = Gmm {
        weights: Tensor::from_slice(&w),
        means: t(&[&mu[0], &mu[1]]),
        scale_tril: Tensor::stack(&[diag(&sd[0]), diag(&sd[1])], 0),
    };
    let points = [[0.1, 0.2, 0.3], [2.0, -3.0, 1.5], [-0.3, 0.4, 0.0]];
    let got = gmm.log_prob(&t(&[&points[0], &points[1], &points[2]]));
    for (i, y) in points.iter().enumerate() {
        let density: f64 = (0..2)
            .map(|c| {
                w[c] * (0..3)
                    .map(|d| {
                        let z = (y[d] - mu[c][d]) / sd[c][d];
                        (-0.5 * z * z).exp() / (sd[c][d] * (2.0 * std::f64::consts::PI).sqrt())
                    })
                    .product::<f64>()
            })
            .sum();
        let g = got.double_value(&[i as i64]);
        assert!(
            (g - density.ln()).abs() < 1e-10,
            "point {i}: {g} vs {}",
            density.ln()
        );
    }
}

#[test]
fn draws_have_the_mixtures_mean_and_covariance() {
    // Oracle: E y = sum w m, Cov y = sum w (t^2 S + m m^T) - E y E y^T.
    let _g = tch_vae_rng();
    tch::manual_seed(5);
    let (gmm, temp) = (known(), 0.5);
    let y = gmm.sample(200_000, temp);
    let w = gmm.weights.view([3, 1]);
    let mean = (&gmm.means * &w).sum_dim_intlist(&[0i64][..], false, Kind::Double);
    let s = gmm.scale_tril.matmul(&gmm.scale_tril.transpose(1, 2)) * (temp * temp);
    let outer = gmm.means.unsqueeze(2).matmul(&gmm.means.unsqueeze(1));
    let cov = ((s + outer) * w.view([3, 1, 1])).sum_dim_intlist(&[0i64][..], false, Kind::Double)
        - mean.unsqueeze(1).matmul(&mean.unsqueeze(0));
    let got_mean = y.mean_dim(&[0i64][..], false, Kind::Double);
    assert!(max_abs(&(&got_mean - &mean)) < 0.03, "{got_mean} vs {mean}");
    let got_cov = y.tr().cov(1, None::<Tensor>, None::<Tensor>);
    assert!(max_abs(&(&got_cov - &cov)) < 0.1, "{got_cov} vs {cov}");
}

#[test]
fn the_subspace_keeps_what_lapacks_eigendecomposition_finds() {
    // Oracle: the covariance's eigenvalues and eigenvectors from LAPACK (syevd), not the
    // randomised range finder under test.
    let _g = tch_vae_rng();
    tch::manual_seed(2);
    let (n, d, k) = (800, 60, 6);
    let scales = Tensor::linspace(5.0, 1.0, k, F64);
    let z = Tensor::randn([n, k], F64).matmul(&(Tensor::randn([k, d], F64) * scales.unsqueeze(1)))
        + Tensor::randn([n, d], F64) * 0.05
        + 3.0;
    let (sub, sub_kept) = pca::fit(&z, k as usize).unwrap();
    let centred = &z - z.mean_dim(&[0i64][..], true, Kind::Double);
    let (values, vectors) = centred.tr().matmul(&centred).linalg_eigh("L"); // ascending
    let top = values
        .narrow(0, d - k, k)
        .sum(Kind::Double)
        .double_value(&[]);
    let kept = top / values.sum(Kind::Double).double_value(&[]);
    assert!((sub_kept - kept).abs() < 1e-8, "{sub_kept} vs {kept}");
    let v = vectors.narrow(1, d - k, k);
    let projector = |b: &Tensor| b.matmul(&b.tr());
    assert!(max_abs(&(projector(&sub.basis) - projector(&v))) < 1e-8);
    // Without projection the coordinates are the centred codes.
    let (whole, whole_kept) = pca::fit(&z, d as usize).unwrap();
    assert_eq!(whole_kept, 1.0);
    assert!(max_abs(&(whole.project(&z) - &centred)) < 1e-12);
    // Fewer codes than the directions asked for: 5 codes, all of their spread in 5
    // orthonormal directions.
    let few = z.narrow(0, 0, 5);
    let (sub, kept) = pca::fit(&few, k as usize + 4).unwrap();
    let k_got = sub.basis.size()[1];
    assert!(k_got <= 5, "{:?}", sub.basis.size());
    assert!((kept - 1.0).abs() < 1e-9, "{kept}");
    let gram = sub.basis.tr().matmul(&sub.basis);
    assert!(max_abs(&(gram - Tensor::eye(k_got, (Kind::Double, tch::Device::Cpu)))) < 1e-9);
}

#[test]
fn a_saved_prior_loads_back_and_a_tampered_one_is_refused() {
    let _g = tch_vae_rng();
    tch::manual_seed(4);
    let z = Tensor::randn([300, 12], F64);
    let settings = tch_vae::model::fitted::FitSettings {
        components: Some(3),
        most_components: 3,
        dims: 5,
        max_iterations: 50,
    };
    let prior = FittedPrior::fit(&z, &settings).unwrap().prior;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("p.safetensors");
    prior.save(&path).unwrap();
    let back = FittedPrior::load(&path, &[12]).unwrap();
    let (a, b) = (prior.log_prob(&z), back.log_prob(&z));
    assert!(max_abs(&(a - b)) < 1e-12);
    let err = FittedPrior::load(&path, &[8, 16]).err().unwrap();
    assert!(format!("{err:#}").contains("12 latent values"), "{err:#}");
    // Weights that do not sum to 1.
    let mut named = prior.to_tensors();
    named[2].1 = &named[2].1 * 2.0;
    Tensor::write_safetensors(&named, &path).unwrap();
    let err = FittedPrior::load(&path, &[12]).err().unwrap();
    assert!(
        format!("{err:#}").contains("fit-prior") && format!("{err:#}").contains("weights"),
        "{err:#}"
    );
}

fn tch_vae_rng() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn prefix_codes_decode_as_the_model_does() {
    // The whole code given: decode(z) itself; no group given: the prior's draw.
    use tch_vae::config::{Arch, Likelihood, ModelConfig};
    let _g = tch_vae_rng();
    let config = ModelConfig {
        arch: Arch::Hierarchical,
        channels: 3,
        likelihood: Likelihood::Logistic,
        width: 8,
        depth: vec![1, 2, 2],
        ..ModelConfig::mlp(8, 8, vec![], 3)
    };
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let vae = tch_vae::model::Vae::new(&vs.root(), &config);
    let lengths = vae.code_lengths();
    // Groups: one 1x1, two 4x4, two 8x8, 3 channels each.
    assert_eq!(lengths, vec![3, 51, 99, 291, 483]);
    let z = Tensor::randn([4, 483], (Kind::Float, Device::Cpu));
    let whole = vae.codes_logits(&z, 1.0).unwrap();
    assert_close(
        &whole,
        &vae.decode_logits(&z, None).unwrap(),
        "all groups given",
    );
    // The top group given: the rest drawn, so two draws differ, and the 1x1 group's code
    // still matters (another code, another output at the same noise).
    tch::manual_seed(1);
    let a = vae.codes_logits(&z.narrow(1, 0, 3), 1.0).unwrap();
    tch::manual_seed(1);
    let b = vae.codes_logits(&(z.narrow(1, 0, 3) + 1.0), 1.0).unwrap();
    assert!(max_abs(&(a - b)) > 0.0);
    let err = vae.codes_logits(&z.narrow(1, 0, 10), 1.0).err().unwrap();
    assert!(
        err.to_string().contains("one of [3, 51, 99, 291, 483]"),
        "{err}"
    );
}
