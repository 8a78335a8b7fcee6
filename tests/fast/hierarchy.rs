//! `--arch hierarchical`: vae.pt agrees with the Rust model, the KL in closed form agrees
//! with the densities' Monte Carlo estimate, the importance-weighted bound sits below the
//! ELBO, and the command line trains, resumes exactly, evaluates, samples at a temperature
//! and refuses the flags that do not fit.
use crate::common::*;
use tch::{nn::VarStore, CModule, Device, IValue, Kind, Tensor};
use tch_vae::config::{Arch, Likelihood, ModelConfig, RunConfig, TrainConfig};
use tch_vae::export::write_torchscript;
use tch_vae::model::hierarchy;
use tch_vae::model::loss::reconstruction_nll;
use tch_vae::model::mixture::Picture;
use tch_vae::model::Vae;

fn config(likelihood: Likelihood) -> ModelConfig {
    ModelConfig {
        arch: Arch::Hierarchical,
        channels: 3,
        likelihood,
        mixtures: if likelihood == Likelihood::LogisticMixture {
            2
        } else {
            0
        },
        width: 8,
        depth: vec![1, 2, 2],
        ..ModelConfig::mlp(8, 8, vec![], 3)
    }
}

/// 8-bit values (multiples of 1/255), `[n, 192]`.
fn bytes(n: i64) -> Tensor {
    (Tensor::rand([n, 192], (Kind::Float, Device::Cpu)) * 255.0).round() / 255.0
}

fn tensors(v: IValue) -> Vec<Tensor> {
    match v {
        IValue::Tensor(t) => vec![t],
        IValue::Tuple(items) => items.into_iter().flat_map(tensors).collect(),
        other => panic!("expected tensors, got {other:?}"),
    }
}

#[test]
fn vae_pt_agrees_with_the_rust_model() {
    for likelihood in [
        Likelihood::Bernoulli,
        Likelihood::Logistic,
        Likelihood::LogisticMixture,
    ] {
        tch::manual_seed(3);
        let run = RunConfig {
            version: "test".into(),
            model: config(likelihood),
            train: TrainConfig {
                data: "/nowhere".into(),
                ..TrainConfig::defaults()
            },
            data: Default::default(),
            numerics: None,
        };
        let vs = VarStore::new(Device::Cpu);
        let vae = Vae::new(&vs.root(), &run.model);
        let net = vae.hierarchy().expect("a hierarchical model");
        // Train the prior blocks off their zero start, so that p is not N(0, I).
        tch::no_grad(|| {
            for (_, mut t) in vs.variables() {
                let _ = t.g_add_(&(t.randn_like() * 0.05));
            }
        });
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("vae.pt");
        write_torchscript(&path, &vs, &run).unwrap();
        let module = CModule::load(&path).unwrap();

        let params = module.named_parameters().unwrap();
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        let expected = tch_vae::model::arch::parameter_names(&run.model);
        assert_eq!(
            names,
            expected.iter().map(String::as_str).collect::<Vec<_>>()
        );
        let vars = vs.variables();
        assert_eq!(vars.len(), names.len());
        for (name, t) in &params {
            assert!(t.equal(&vars[name]), "{name} differs");
        }

        let x = bytes(6);
        let d = vae.latent_dim() as i64;
        assert_eq!(d, 3 * (1 + 2 * 16 + 2 * 64)); // 1 group at 1x1, 2 at 4x4 and 8x8; 3 channels
        let eps = Tensor::randn([6, d], (Kind::Float, Device::Cpu));
        let call = |m: &str, args: &[&Tensor]| {
            let args: Vec<IValue> = args
                .iter()
                .map(|t| IValue::Tensor((*t).shallow_clone()))
                .collect();
            tensors(module.method_is(m, &args).unwrap())
        };
        let (mu, logvar) = vae.encode(&x, None).unwrap();
        let ts = call("encode", &[&x]);
        assert_close(&ts[0], &mu, "encode mu");
        assert_close(&ts[1], &logvar, "encode logvar");
        assert_close(
            &call("decode", &[&mu])[0],
            &vae.decode(&mu, None).unwrap(),
            "decode",
        );

        let pass = net.posterior_pass(&x, Some(&eps));
        let recon = reconstruction_nll(&pass.out, &x, vae.observation());
        let kl = hierarchy::group_kl(&pass);
        let ts = call("elbo_terms", &[&x, &eps]);
        assert_close(&ts[0], &recon, "elbo recon");
        assert_close(&ts[1], &kl.kl_mu, "elbo kl_mu");
        assert_close(&ts[2], &kl.kl_var, "elbo kl_var");
        assert_close(
            &call("log_ratio", &[&x, &eps])[1],
            &hierarchy::log_ratio(&pass),
            "log ratio",
        );

        // At temperature 0 a draw from the prior is its means: no randomness left.
        let sample = |seed: i64, t: f64| {
            tch::manual_seed(seed);
            tensors(
                module
                    .method_is("sample", &[IValue::Int(4), IValue::Double(t)])
                    .unwrap(),
            )
            .remove(0)
        };
        assert!(sample(1, 0.0).equal(&sample(2, 0.0)));
        assert!(!sample(1, 1.0).equal(&sample(2, 1.0)));
        assert_eq!(sample(1, 1.0).size(), vec![4, 192]);
        let rust_cold = |seed: i64| {
            tch::manual_seed(seed);
            vae.picture(&vae.sample_logits(4, 0.0, None).unwrap())
        };
        assert_close(&rust_cold(5), &sample(6, 0.0), "samples at temperature 0");
        // `picture`: the mixture's mean, vae.pt's against the Rust model's (the other
        // likelihoods draw their means whatever it says).
        let mean = tensors(
            module
                .method_is(
                    "sample",
                    &[
                        IValue::Int(4),
                        IValue::Double(0.0),
                        IValue::String("mean".into()),
                    ],
                )
                .unwrap(),
        )
        .remove(0);
        let logits = vae.sample_logits(4, 0.0, None).unwrap();
        assert_close(
            &vae.picture_as(&logits, Picture::Mean),
            &mean,
            "the mean's samples at temperature 0",
        );
        let is_mixture = likelihood == Likelihood::LogisticMixture;
        assert_eq!(
            !mean.allclose(&sample(6, 0.0), 1e-3, 1e-3, false),
            is_mixture
        );
    }
}

#[test]
fn the_closed_form_kl_is_the_mean_log_density_ratio() {
    // Oracle: E_q[log q(z|x) - log p(z)], estimated from the two Gaussian densities at
    // 4,000 posterior draws, must match the mean of the closed-form KL over the same
    // draws (the lower groups' KL depends on the z drawn above) within 4 standard errors.
    tch::manual_seed(8);
    let model = config(Likelihood::Bernoulli);
    let vs = VarStore::new(Device::Cpu);
    let vae = Vae::new(&vs.root(), &model);
    tch::no_grad(|| {
        for (_, mut t) in vs.variables() {
            let _ = t.g_add_(&(t.randn_like() * 0.1));
        }
    });
    let net = vae.hierarchy().unwrap();
    let x = bytes(1).repeat([4000, 1]);
    let pass = tch::no_grad(|| net.posterior_pass(&x, None));
    let kl = hierarchy::group_kl(&pass);
    let closed = (&kl.kl_mu + &kl.kl_var).to_kind(Kind::Double);
    let estimate = (-hierarchy::log_ratio(&pass)).to_kind(Kind::Double);
    let diff = &estimate - &closed;
    let stderr = diff.std(true).double_value(&[]) / 4000f64.sqrt();
    let (a, b) = (
        closed.mean(Kind::Double).double_value(&[]),
        estimate.mean(Kind::Double).double_value(&[]),
    );
    assert!(a > 1.0, "a KL of {a} nats tests little");
    assert!(
        (a - b).abs() < 4.0 * stderr + 1e-6,
        "closed form {a}, Monte Carlo {b} (stderr {stderr})"
    );
}

#[test]
fn the_importance_weighted_bound_is_below_the_elbo_and_tightens() {
    tch::manual_seed(4);
    let vs = VarStore::new(Device::Cpu);
    let vae = Vae::new(&vs.root(), &config(Likelihood::Logistic));
    let x = bytes(30);
    let run = |k| tch_vae::eval::likelihoods(&vae, &x, None, k, 64, &mut |_| {}).unwrap();
    let mean = |t: &Tensor| t.mean(Kind::Double).double_value(&[]);
    let (one, many) = (run(1), run(50));
    // k = 1: the bound is the one-sample ELBO itself.
    assert_close(&one.nll, &one.neg_mean_log_w, "k = 1");
    assert!(
        mean(&many.nll) < mean(&many.neg_elbo),
        "IW bound above the ELBO"
    );
    assert!(
        mean(&many.nll) < mean(&one.nll),
        "50 samples give no tighter bound than 1"
    );
}

#[test]
fn a_hierarchical_run_trains_resumes_evaluates_and_samples() {
    // Oracle: uniform random bytes have 8 bits of entropy a value, so no normalised
    // likelihood gives held-out ones less; a trained model lands just above.
    let tmp = tempfile::tempdir().unwrap();
    let npy = uniform_bytes(tmp.path());
    let more = ["--batch-size", "32", "--lr", "3e-3", "--clip-grad", "200"];
    let flags = [&TINY_HIERARCHICAL[..], &more].concat();
    let run = crate::variants::resumes_exactly(tmp.path(), &npy, &flags);
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(config.contains("\"arch\": \"hierarchical\""), "{config}");
    let o = tch_vae(&["eval", "--run", run.to_str().unwrap(), "--iw-samples", "10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("KL per latent group"), "{}", stdout(&o));
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    let bits = eval["bits_per_dim"].as_f64().unwrap();
    assert!((7.98..9.0).contains(&bits), "bits/dim {bits}");
    // One group at each of 1x1, 4x4, 8x8.
    assert_eq!(eval["kl_per_group"].as_array().unwrap().len(), 3, "{eval}");
    let cold = tmp.path().join("cold.png");
    let o = tch_vae(&[
        "sample",
        "--run",
        run.to_str().unwrap(),
        "--temperature",
        "0.5",
        "--output",
        cold.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(cold.is_file());
    // `--picture`: with the run's seed (42), the mode redraws samples.png; the mixture's
    // mean draws the same z otherwise (two components, neither certain everywhere).
    let drawn = |picture: &str| {
        let path = tmp.path().join(format!("{picture}.png"));
        let o = tch_vae(&[
            "sample",
            "--run",
            run.to_str().unwrap(),
            "--seed",
            "42",
            "--picture",
            picture,
            "--output",
            path.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read(path).unwrap()
    };
    let (mode, mean) = (drawn("mode"), drawn("mean"));
    assert_eq!(mode, std::fs::read(run.join("samples.png")).unwrap());
    assert_ne!(mode, mean);
    // A malformed value is clap's to refuse (exit 2), naming the flag and the range.
    let o = tch_vae(&[
        "sample",
        "--run",
        run.to_str().unwrap(),
        "--temperature",
        "11",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--temperature") && stderr(&o).contains("from 0 to 10"));
}

#[test]
fn flags_that_do_not_fit_the_hierarchical_model_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_data(tmp.path());
    let out = tmp.path().join("run");
    let refused = |extra: &[&str], needles: &[&str]| {
        let args = train_args_on(&data, &out, extra);
        fails_with(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            needles,
        );
        assert!(!out.exists(), "{extra:?} made a run folder");
    };
    refused(
        &["--width", "8"],
        &["--width and --depth are for --arch hierarchical"],
    );
    refused(
        &["--arch", "hierarchical", "--depth", "1,2"],
        &[
            "--depth 1,2: give one number, or one per resolution",
            "have 4 (1x1, 7x7, 14x14, 28x28)",
        ],
    );
    refused(
        &["--arch", "hierarchical", "--depth", "0"],
        &["--depth must be from 1 to 64"],
    );
    refused(
        &["--arch", "hierarchical", "--width", "5000"],
        &["--width must be from 1 to 4096"],
    );
    refused(
        &["--arch", "hierarchical", "--conditional"],
        &["--conditional is not available"],
    );
    refused(
        &["--arch", "hierarchical", "--prior", "vamp"],
        &["--prior vamp is not available"],
    );
    refused(
        &["--arch", "hierarchical", "--conv-channels", "8"],
        &["--conv-channels is for --arch conv"],
    );
}

#[test]
fn skip_threshold_drops_outlier_updates_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_data(tmp.path());
    let small = ["--epochs", "1", "--hidden", "16", "--latent", "2"];
    let run = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let o = train_ok(&train_args_on(&data, &out, &[&small[..], extra].concat()));
        (out, format!("{}{}", stdout(&o), stderr(&o)))
    };
    // A threshold no gradient reaches changes no bit.
    let (plain, _) = run("plain", &[]);
    let (high, said) = run("high", &["--skip-threshold", "1e30"]);
    assert_eq!(metrics_without_time(&plain), metrics_without_time(&high));
    assert!(!said.contains("skipped"), "{said}");
    // One every gradient exceeds skips every update (3 batches of 128 of 300 images), so
    // a second epoch leaves the weights exactly as the first did.
    let (low, said) = run("low", &["--skip-threshold", "1e-9"]);
    assert!(said.contains("epoch 1: 3 update(s) skipped"), "{said}");
    let first = std::fs::read(low.join("weights.safetensors")).unwrap();
    let o = tch_vae(&["train", "--resume", low.to_str().unwrap(), "--epochs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        first,
        std::fs::read(low.join("weights.safetensors")).unwrap()
    );
    assert_ne!(
        first,
        std::fs::read(plain.join("weights.safetensors")).unwrap()
    );
    fails_with(
        &train_args_on(&data, &tmp.path().join("bad"), &["--skip-threshold", "-1"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &["--skip-threshold must be a positive number"],
    );
}

#[test]
fn colour_images_without_arch_or_likelihood_get_the_colour_recipe() {
    let tmp = tempfile::tempdir().unwrap();
    let npy = uniform_bytes(tmp.path());
    // The model part of a trained run's config.json, and what the run said.
    let model_of = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let args = [&["--epochs", "1", "--batch-size", "100"][..], extra].concat();
        let o = train_ok(&train_args_on(&npy, &out, &args));
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap())
                .unwrap();
        (
            config["model"].clone(),
            format!("{}{}", stdout(&o), stderr(&o)),
        )
    };
    let config_of = |name: &str, extra: &[&str]| {
        let (m, said) = model_of(name, extra);
        (
            m["arch"].as_str().unwrap().to_string(),
            m["likelihood"].as_str().unwrap().to_string(),
            m["latent"].as_u64().unwrap(),
            said,
        )
    };
    let (arch, likelihood, latent, said) = config_of("recipe", &[]);
    assert_eq!(
        (arch.as_str(), likelihood.as_str(), latent),
        ("hierarchical", "logistic-mixture", 8)
    );
    assert!(
        said.contains("the colour recipe, --arch hierarchical"),
        "{said}"
    );
    // Its training defaults, said and recorded: VDVAE's clipping at 200 per value of the
    // 3 x 8 x 8 images (uniform_bytes), the given batch left out of the note.
    assert!(
        said.contains(
            "--arch hierarchical's training defaults: --lr 2e-3 --lr-schedule cosine \
             --clip-grad 38400 (give a flag to change one; --clip-grad 0: no clipping)"
        ),
        "{said}"
    );
    // Its updates, too few: 270 training images in batches of 100 are 3 an epoch, so 3,400
    // take 1,134 epochs (counted by hand).
    assert!(
        said.contains("1 epoch of 3 batches is 3 updates: too few")
            && said.contains("give --epochs 1134 (at least 3,400 updates here)"),
        "{said}"
    );
    // The recipe takes its own flags (sizes, components) without naming the architecture.
    let (m, _) = model_of(
        "tuned",
        &["--width", "16", "--depth", "1", "--mixtures", "3"],
    );
    assert_eq!(
        (&m["arch"], &m["width"], &m["depth"], &m["mixtures"]),
        (
            &serde_json::json!("hierarchical"),
            &serde_json::json!(16),
            &serde_json::json!([1]),
            &serde_json::json!(3)
        )
    );
    // A flag of the flat models keeps a flat family, with the colour likelihood.
    let (arch, likelihood, _, _) = config_of("vamp", &["--prior", "vamp", "--pseudo-inputs", "5"]);
    assert_eq!(
        (arch.as_str(), likelihood.as_str()),
        ("conv", "logistic-mixture")
    );
    // Either flag given: the user's choice, the other at its plain default.
    let (arch, likelihood, latent, said) = config_of("chosen", &["--likelihood", "logistic"]);
    assert_eq!(
        (arch.as_str(), likelihood.as_str(), latent),
        ("mlp", "logistic", 20)
    );
    assert!(!said.contains("colour recipe"), "{said}");
    let (arch, likelihood, _, _) = config_of("arch", &["--arch", "hierarchical"]);
    assert_eq!(
        (arch.as_str(), likelihood.as_str()),
        ("hierarchical", "bernoulli")
    );
}

/// The channels-last network (the CPU's default with oneDNN) against the NCHW one with the
/// same weights, noise and images: the same outputs, KL terms and gradients but for
/// rounding (its convolutions are other kernels), with its weights, their gradients and
/// Adam's inputs channels-last.
#[test]
fn the_channels_last_network_computes_what_the_nchw_one_does() {
    use tch_vae::native::layout::is_channels_last;
    let config = ModelConfig {
        width: 16,
        ..config(Likelihood::LogisticMixture)
    };
    let x = bytes(6);
    let pass = |nhwc: bool| {
        tch::manual_seed(11);
        let vs = VarStore::new(Device::Cpu);
        let net = hierarchy::Net::with_layout(&vs.root(), &config, nhwc);
        let d = net.layout().latent_dim() as i64;
        let eps = Tensor::randn([6, d], (Kind::Float, Device::Cpu));
        let pass = net.posterior_pass(&x, Some(&eps));
        let kl = hierarchy::group_kl(&pass);
        let obs = tch_vae::model::loss::Observation {
            likelihood: config.likelihood,
            log_scale: None,
            mixtures: config.mixtures,
            channels: config.channels,
        };
        let loss =
            reconstruction_nll(&pass.out, &x, obs).sum(Kind::Float) + kl.per_group.sum(Kind::Float);
        loss.backward();
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        (pass.out.detach(), kl.per_group.detach(), vars)
    };
    let (out_cl, kl_cl, vars_cl) = pass(true);
    let (out, kl, vars) = pass(false);
    let close = |a: &Tensor, b: &Tensor, what: &str| {
        let scale = b.abs().max().double_value(&[]).max(1e-3);
        let diff = (a - b).abs().max().double_value(&[]);
        assert!(
            diff <= 2e-4 * scale,
            "{what}: differs by {diff} (scale {scale})"
        );
    };
    close(&out_cl, &out, "the decoder's output");
    close(&kl_cl, &kl, "the groups' KL");
    let mut laid_out = 0;
    for ((name, a), (_, b)) in vars_cl.iter().zip(&vars) {
        assert!(a.equal(b), "{name}: other initial weights");
        close(&a.grad(), &b.grad(), name);
        if a.dim() == 4 && a.size()[2] * a.size()[3] > 1 {
            assert!(is_channels_last(a) && is_channels_last(&a.grad()), "{name}");
            assert!(!is_channels_last(b), "{name}: the NCHW network's weight");
            laid_out += 1;
        }
    }
    assert!(laid_out > 0, "no 3x3 convolution in the model");
}
