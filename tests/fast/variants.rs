//! The variants as a user runs them: `--objective iwae --k K` trains, resumes exactly and
//! refuses the flags that would make it something else.
use crate::common::*;

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
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    train_ok(&train_args_on(
        &data,
        &whole,
        &[&flags[..], &["--epochs", "2"]].concat(),
    ));
    train_ok(&train_args_on(
        &data,
        &split,
        &[&flags[..], &["--epochs", "1"]].concat(),
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
        "resumed IWAE run differs"
    );
    let config = tch_vae::rundir::read_config(&whole).unwrap();
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
