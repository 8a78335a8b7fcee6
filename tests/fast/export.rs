//! TorchScript export parity: `vae.pt` loaded back with tch's `CModule` agrees with the
//! Rust model (parameters exactly; encode, decode and the ELBO's terms to 1e-5).
use crate::common::*;
use tch::{nn::VarStore, CModule, Device, IValue, Kind, Tensor};
use tch_vae::config::{Activation, Arch, Likelihood, ModelConfig, Prior, RunConfig, TrainConfig};
use tch_vae::export::write_torchscript;
use tch_vae::model::loss::{reparameterize_with, ElboTerms, Observation};
use tch_vae::model::Vae;

fn run_config(likelihood: Likelihood, arch: Arch, channels: usize) -> RunConfig {
    RunConfig {
        version: "test".into(),
        model: ModelConfig {
            channels,
            conv_channels: vec![32, 64],
            likelihood,
            arch,
            mixtures: if likelihood == Likelihood::LogisticMixture {
                4
            } else {
                0
            },
            ..ModelConfig::mlp(28, 28, vec![48, 24], 3)
        },
        train: TrainConfig {
            data: "/nowhere".into(),
            epochs: 1,
            batch_size: 8,
            seed: 1,
            ..TrainConfig::defaults()
        },
        data: Default::default(),
        numerics: None,
    }
}

/// A fresh model for `run`, written as vae.pt and loaded back with tch's `CModule`.
fn exported(run: &RunConfig) -> (VarStore, Vae, CModule) {
    let vs = VarStore::new(Device::Cpu);
    let vae = Vae::new(&vs.root(), &run.model);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vae.pt");
    write_torchscript(&path, &vs, run).unwrap();
    let module = CModule::load(&path).unwrap();
    (vs, vae, module)
}

fn tensor(v: IValue) -> Tensor {
    match v {
        IValue::Tensor(t) => t,
        other => panic!("expected a tensor, got {other:?}"),
    }
}

fn tuple(v: IValue) -> Vec<Tensor> {
    match v {
        IValue::Tuple(items) => items.into_iter().map(tensor).collect(),
        other => panic!("expected a tuple, got {other:?}"),
    }
}

#[test]
fn torchscript_module_agrees_with_the_rust_model() {
    for (likelihood, arch, channels) in [
        (Likelihood::Bernoulli, Arch::Mlp, 1),
        (Likelihood::Gaussian, Arch::Conv, 1),
        (Likelihood::Bernoulli, Arch::Conv, 3),
        (Likelihood::Gaussian, Arch::Mlp, 3),
        (Likelihood::Logistic, Arch::Conv, 3),
        (Likelihood::Logistic, Arch::Mlp, 1),
        (Likelihood::LogisticMixture, Arch::Conv, 3),
        (Likelihood::LogisticMixture, Arch::Mlp, 1),
    ] {
        tch::manual_seed(5);
        let run = run_config(likelihood, arch, channels);
        let values = (channels * 784) as i64;
        let (vs, vae, module) = exported(&run);

        // Real parameters, with the VarStore's names and values.
        let params = module.named_parameters().unwrap();
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            tch_vae::model::arch::parameter_names(&run.model)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
        let vars = vs.variables();
        for (name, t) in &params {
            assert!(t.equal(&vars[name]), "{name} differs");
        }

        // 8-bit values (multiples of 1/255), as the logistic likelihood reads them.
        let x = (Tensor::rand([16, values], (Kind::Float, Device::Cpu)) * 255.0).round() / 255.0;
        let eps = Tensor::randn([16, 3], (Kind::Float, Device::Cpu));
        let (mu, logvar) = vae.encode(&x, None).unwrap();
        let ts = tuple(
            module
                .method_is("encode", &[IValue::Tensor(x.shallow_clone())])
                .unwrap(),
        );
        assert_close(&ts[0], &mu, "encode mu");
        assert_close(&ts[1], &logvar, "encode logvar");

        let z = reparameterize_with(&mu, &logvar, &eps);
        let decoded = tensor(
            module
                .method_is("decode", &[IValue::Tensor(z.shallow_clone())])
                .unwrap(),
        );
        assert_close(&decoded, &vae.decode(&z, None).unwrap(), "decode");

        let logits = vae.decode_logits(&z, None).unwrap();
        let rust = ElboTerms::new(&logits, &x, &mu, &logvar, vae.observation());
        let ts = tuple(
            module
                .method_is(
                    "elbo_terms",
                    &[IValue::Tensor(x.shallow_clone()), IValue::Tensor(eps)],
                )
                .unwrap(),
        );
        assert_close(&ts[0], &rust.recon, "elbo recon");
        assert_close(&ts[1], &rust.kl_mu, "elbo kl_mu");
        assert_close(&ts[2], &rust.kl_var, "elbo kl_var");

        let samples = tensor(module.method_is("sample", &[IValue::Int(10)]).unwrap());
        assert_eq!(samples.size(), vec![10, values]);
        let fwd = tuple(module.method_is("forward", &[IValue::Tensor(x)]).unwrap());
        assert_eq!(fwd[0].size(), vec![16, values]);
        assert_close(&fwd[1], &mu, "forward mu");

        // The configuration travels inside the file.
        let IValue::String(json) = module.method_is::<IValue>("config", &[]).unwrap() else {
            panic!("config() is not a string")
        };
        let inside: RunConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(inside, run);
    }
}

/// Conditional and VampPrior models: vae.pt's methods take the labels and agree with the
/// Rust model, and its log p(z) and KL estimate agree with `prior.rs` computed another way
/// (the full Gaussian log-densities, not vae.pt's eps form).
#[test]
fn variant_modules_agree_with_the_rust_model() {
    for (classes, prior, arch, activation) in [
        (Some(4), Prior::Normal, Arch::Mlp, Activation::Tanh),
        (None, Prior::Vamp, Arch::Mlp, Activation::Relu),
        (Some(3), Prior::Vamp, Arch::Conv, Activation::Relu),
    ] {
        let what = format!("{classes:?} {prior:?} {arch:?}");
        tch::manual_seed(9);
        let mut run = run_config(Likelihood::Bernoulli, arch, 1);
        run.model.classes = classes;
        run.model.activation = activation;
        run.model.prior = prior;
        run.model.pseudo_inputs = if prior == Prior::Vamp { 7 } else { 0 };
        let (_vs, vae, module) = exported(&run);
        let names: Vec<String> = module
            .named_parameters()
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            tch_vae::model::arch::parameter_names(&run.model),
            "{what}"
        );

        let x = Tensor::rand([6, 784], (Kind::Float, Device::Cpu)).bernoulli();
        let y = classes.map(|c| Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2]).remainder(c as i64));
        let with_y = |first: Tensor| {
            let mut args = vec![IValue::Tensor(first)];
            args.extend(y.iter().map(|y| IValue::Tensor(y.shallow_clone())));
            args
        };
        let (mu, logvar) = vae.encode(&x, y.as_ref()).unwrap();
        let ts = tuple(
            module
                .method_is("encode", &with_y(x.shallow_clone()))
                .unwrap(),
        );
        assert_close(&ts[0], &mu, &format!("{what}: encode mu"));
        assert_close(&ts[1], &logvar, &format!("{what}: encode logvar"));
        let eps = Tensor::randn([6, 3], (Kind::Float, Device::Cpu));
        let z = reparameterize_with(&mu, &logvar, &eps);
        let decoded = tensor(
            module
                .method_is("decode", &with_y(z.shallow_clone()))
                .unwrap(),
        );
        assert_close(&decoded, &vae.decode(&z, y.as_ref()).unwrap(), &what);

        let components = tch_vae::model::prior::Components::of(&vae).unwrap();
        let log_p = tch_vae::model::prior::log_prior(&z, components.as_ref());
        let ts_log_p = tensor(
            module
                .method_is("log_prior", &[IValue::Tensor(z.shallow_clone())])
                .unwrap(),
        );
        assert_close(&ts_log_p, &log_p, &format!("{what}: log p(z)"));

        let mut args = with_y(x.shallow_clone());
        args.push(IValue::Tensor(eps.shallow_clone()));
        let terms = tuple(module.method_is("elbo_terms", &args).unwrap());
        let logits = vae.decode_logits(&z, y.as_ref()).unwrap();
        let rust = ElboTerms::new(
            &logits,
            &x,
            &mu,
            &logvar,
            Observation::plain(Likelihood::Bernoulli),
        );
        assert_close(&terms[0], &rust.recon, &format!("{what}: recon"));
        if prior == Prior::Vamp {
            // log q(z|x) - log p(z), q's density written out in full.
            let log_q = tch_vae::model::prior::log_normal_diag(&z, &mu, &logvar);
            assert_eq!(terms.len(), 2, "{what}: (recon, kl)");
            assert_close(&terms[1], &(log_q - log_p), &format!("{what}: kl"));
        } else {
            assert_close(&terms[1], &rust.kl_mu, &format!("{what}: kl_mu"));
        }
        let mut args = vec![IValue::Int(6)];
        args.extend(y.iter().map(|y| IValue::Tensor(y.shallow_clone())));
        let samples = tensor(module.method_is("sample", &args).unwrap());
        assert_eq!(samples.size(), vec![6, 784], "{what}");
    }
}

#[test]
fn a_failed_export_leaves_no_file() {
    let run = run_config(Likelihood::Bernoulli, Arch::Mlp, 1);
    let vs = VarStore::new(Device::Cpu);
    let _vae = Vae::new(&vs.root(), &run.model);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("missing-folder").join("vae.pt");
    let err = format!("{:#}", write_torchscript(&path, &vs, &run).unwrap_err());
    assert!(err.contains("vae.pt"), "{err}");
    assert!(!tmp.path().join("missing-folder").exists());
}

#[test]
fn export_command_rewrites_vae_pt_from_the_saved_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    let trained = CModule::load(run.join("vae.pt")).unwrap();
    std::fs::remove_file(run.join("vae.pt")).unwrap();
    let o = tch_vae(&["export", "--run", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("vae.pt"));
    let exported = CModule::load(run.join("vae.pt")).unwrap();
    let loaded = tch_vae::run::load(&run, Device::Cpu).unwrap();
    let x = Tensor::rand([4, 784], (Kind::Float, Device::Cpu));
    let expected = loaded.vae.encode(&x, None).unwrap().0;
    for m in [&trained, &exported] {
        let mu = tuple(
            m.method_is("encode", &[IValue::Tensor(x.shallow_clone())])
                .unwrap(),
        )
        .remove(0);
        assert_close(&mu, &expected, "encode after export");
    }
    // A folder that is not a run: the error names config.json, and exits 1.
    let o = tch_vae(&["export", "--run", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("config.json"), "{}", stderr(&o));
}
