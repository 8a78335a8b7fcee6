//! The variants as a user runs them: `--objective iwae --k K`, `--prior vamp`,
//! `--conditional`, `--likelihood logistic-mixture` (and their combinations) train, resume
//! exactly, evaluate, sample, and refuse the flags that would make them something else.
use crate::common::*;

/// Trains `flags` for 2 epochs in one go and in two (1, then `--resume` to 2) and checks
/// that the two metrics.csv agree exactly; returns the whole run's folder.
pub fn resumes_exactly(
    tmp: &std::path::Path,
    data: &std::path::Path,
    flags: &[&str],
) -> std::path::PathBuf {
    let name = flags.join("").replace('-', "");
    let (whole, split) = (
        tmp.join(format!("{name}-whole")),
        tmp.join(format!("{name}-split")),
    );
    train_ok(&train_args_on(
        data,
        &whole,
        &[flags, &["--epochs", "2"]].concat(),
    ));
    train_ok(&train_args_on(
        data,
        &split,
        &[flags, &["--epochs", "1"]].concat(),
    ));
    let o = tch_vae(&[
        "train",
        "--resume",
        split.to_str().unwrap(),
        "--epochs",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        metrics_without_time(&whole),
        metrics_without_time(&split),
        "resumed run with {flags:?} differs"
    );
    whole
}

#[test]
fn vamp_and_conditional_runs_resume_exactly_evaluate_and_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_data(tmp.path());
    let small = ["--hidden", "16", "--latent", "2", "--batch-size", "50"];
    // The VampPrior under IWAE with the learning-rate schedule, whose rate changes at
    // epoch 2: the resumed run must pick it up from the epoch alone.
    let vamp = [
        &small[..],
        &[
            "--prior",
            "vamp",
            "--pseudo-inputs",
            "8",
            "--objective",
            "iwae",
            "--k",
            "3",
        ],
        &["--lr-schedule", "burda", "--activation", "tanh"],
    ]
    .concat();
    let run = resumes_exactly(tmp.path(), &data, &vamp);
    let rows = tch_vae::run::metrics::read(&run.join("metrics.csv")).unwrap();
    // The VampPrior's KL has no split: NaN there, finite everywhere else.
    assert!(rows
        .iter()
        .all(|r| r.test_kl_mu.is_nan() && r.train_kl_var.is_nan()));
    assert!(rows
        .iter()
        .all(|r| r.test_kl.is_finite() && r.test_loss.is_finite()));
    let o = tch_vae(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--iw-samples",
        "50",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let eval: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["prior"], "vamp");
    assert_eq!(eval["kl_per_dim"].as_array().unwrap().len(), 0);
    assert!(eval["nll"].as_f64().unwrap() <= eval["neg_elbo"].as_f64().unwrap() + 0.5);

    let cond = [
        &small[..],
        &["--conditional", "--prior", "vamp", "--pseudo-inputs", "6"],
    ]
    .concat();
    let run = resumes_exactly(tmp.path(), &data, &cond);
    let config = tch_vae::run::read_config(&run).unwrap();
    assert_eq!(
        config.model.classes,
        Some(10),
        "labels 0..9 in the tiny data"
    );
    let o = tch_vae(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--iw-samples",
        "10",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("-log p(x|y)"), "{}", stdout(&o));
    let png = tmp.path().join("class3.png");
    let o = tch_vae(&[
        "sample",
        "--run",
        run.to_str().unwrap(),
        "--label",
        "3",
        "--seed",
        "1",
        "--output",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(png.is_file());
    let rows = image::open(run.join("samples.png")).unwrap();
    let one_class = image::open(&png).unwrap();
    assert!(
        rows.height() > one_class.height(),
        "a row per class: 10 rows, not 8"
    );
    fails_with(
        &["sample", "--run", run.to_str().unwrap(), "--label", "10"],
        &["--label 10", "classes are 0 to 9"],
    );
    let plain = tiny_run(tmp.path(), &[]);
    fails_with(
        &["sample", "--run", plain.to_str().unwrap(), "--label", "1"],
        &["--label", "not conditional"],
    );
}

#[test]
fn variant_flags_that_do_not_fit_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_data(tmp.path());
    // A NumPy file without labels: 20 grey 4x4 images, floats in [0, 1].
    let npy = tmp.path().join("images.npy");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&npy).unwrap());
    use npyz::WriterBuilder;
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[20, 4, 4])
        .writer(&mut file)
        .begin_nd()
        .unwrap();
    w.extend(std::iter::repeat_n(0.5f32, 20 * 16)).unwrap();
    w.finish().unwrap();
    drop(file);
    let out = tmp.path().join("refused");
    for (on, extra, needles) in [
        (
            &npy,
            vec!["--conditional"],
            vec!["--conditional needs labels", "images.npy"],
        ),
        (
            &data,
            vec!["--pseudo-inputs", "5"],
            vec!["--pseudo-inputs 5 is for --prior vamp"],
        ),
        (
            &data,
            vec!["--prior", "vamp", "--pseudo-inputs", "0"],
            vec!["--pseudo-inputs must be from 1"],
        ),
        (
            &data,
            vec!["--prior", "vamp", "--free-bits", "1"],
            vec!["--free-bits", "--prior vamp"],
        ),
        (
            &data,
            vec!["--mixtures", "5"],
            vec!["--mixtures 5 is for --likelihood logistic-mixture"],
        ),
        (
            &data,
            vec!["--likelihood", "logistic-mixture", "--mixtures", "0"],
            vec!["--mixtures must be from 1 to 64 (got 0)"],
        ),
        (
            &data,
            vec!["--likelihood", "logistic-mixture", "--mixtures", "65"],
            vec!["--mixtures must be from 1 to 64 (got 65)"],
        ),
    ] {
        let args = train_args_on(on, &out, &extra);
        fails_with(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &needles,
        );
        assert!(!out.exists(), "{extra:?} made a run folder");
    }
}

#[test]
fn iwae_trains_resumes_exactly_and_refuses_elbo_only_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_data(tmp.path());
    let flags = [
        "--hidden",
        "16",
        "--latent",
        "2",
        "--objective",
        "iwae",
        "--k",
        "5",
    ];
    let whole = resumes_exactly(tmp.path(), &data, &flags);
    let config = tch_vae::run::read_config(&whole).unwrap();
    assert_eq!(
        (config.train.objective, config.train.k),
        (tch_vae::config::Objective::Iwae, 5)
    );
    let out = tmp.path().join("refused");
    for (extra, needle) in [
        (
            vec!["--objective", "iwae", "--k", "5", "--beta", "0.5"],
            "takes no --beta",
        ),
        (
            vec!["--objective", "iwae", "--free-bits", "1"],
            "takes no --beta, --kl-warmup or --free-bits",
        ),
        (vec!["--k", "5"], "give --objective iwae"),
        (
            vec!["--objective", "iwae", "--k", "0"],
            "--k must be from 1 to",
        ),
    ] {
        let args = train_args_on(&data, &out, &extra);
        fails_with(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &[needle],
        );
        assert!(!out.exists());
    }
}

#[test]
fn a_logistic_mixture_cannot_beat_the_entropy_of_uniform_bytes() {
    // 300 colour 8x8 images of uniformly drawn bytes: no normalised likelihood can give
    // held-out images fewer than 8 bits a value on average (their entropy), so an eval
    // below that would mean probabilities that sum to more than 1. A conv model with a
    // 3-component mixture, trained for 2 epochs and resumed exactly, must land just above.
    let tmp = tempfile::tempdir().unwrap();
    let npy = uniform_bytes(tmp.path());
    let flags = [
        "--arch",
        "conv",
        "--hidden",
        "16",
        "--latent",
        "2",
        "--likelihood",
        "logistic-mixture",
        "--mixtures",
        "3",
        "--lr",
        "3e-3",
    ];
    let run = resumes_exactly(tmp.path(), &npy, &flags);
    let o = tch_vae(&["eval", "--run", run.to_str().unwrap(), "--iw-samples", "20"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    let bits = eval["bits_per_dim"]
        .as_f64()
        .expect("bits_per_dim in eval.json");
    assert!((7.98..8.5).contains(&bits), "bits/dim {bits}: {eval}");
    // Chunks of decoded samples too large for memory are refused before any work (the
    // mixture keeps ~13,000 values a sample: 16M samples would be terabytes).
    fails_with(
        &[
            "eval",
            "--run",
            run.to_str().unwrap(),
            "--batch-rows",
            "16000000",
        ],
        &["--batch-rows 16000000", "give a smaller --batch-rows"],
    );
}
