//! `tch-vae fit-prior` and `sample --fitted-prior` from the command line: a hierarchical
//! run fits its prior as training ends, the command refits it (a given count, or auto),
//! `sample` and `plot` redraw its picture, a flat run fits its whole z, and what does not
//! fit is refused with the flag or file and the fix.
use crate::common::*;

#[test]
fn fit_prior_fits_samples_and_refuses_what_does_not_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let npy = uniform_bytes(tmp.path());
    let run = tmp.path().join("run");
    let flags = [&TINY_HIERARCHICAL[..], &["--epochs", "1"]].concat();
    let o = train_ok(&train_args_on(&npy, &run, &flags));
    // A hierarchical run ends with its prior fitted at the defaults.
    assert!(run.join("samples-fitted.png").is_file());
    assert!(
        stderr(&o).contains("fitted an ex-post prior")
            || stdout(&o).contains("fitted an ex-post prior")
    );
    let r = run.to_str().unwrap();
    let o = tch_vae(&["fit-prior", "--run", r, "--components", "3", "--dims", "16"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("3 components in 16 of 34 code values"),
        "{}",
        stdout(&o)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("fitted-prior.json")).unwrap())
            .unwrap();
    // 8x8 images: groups at 1x1, 4x4, 8x8; the default models the two above 8x8.
    assert_eq!(report["groups"], 2, "{report}");
    assert_eq!(report["code_values"], 2 + 2 * 16, "{report}");
    assert_eq!(report["dims"], 16, "{report}");
    assert!(
        report["test_log_likelihood"].as_f64().unwrap().is_finite(),
        "{report}"
    );
    assert!(run.join("samples-fitted.png").is_file());
    // sample --fitted-prior: the same seed redraws fit-prior's picture.
    let again = tmp.path().join("again.png");
    let o = tch_vae(&[
        "sample",
        "--run",
        r,
        "--fitted-prior",
        "--seed",
        "0",
        "--output",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(run.join("samples-fitted.png")).unwrap()
    );
    // auto (the default): the count of the best held-out log-likelihood among those tried.
    let o = tch_vae(&["fit-prior", "--run", r, "--dims", "8"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("fitted-prior.json")).unwrap())
            .unwrap();
    let tried = report["tried"].as_array().unwrap();
    let best = tried
        .iter()
        .max_by(|a, b| {
            a["held_out_log_likelihood"]
                .as_f64()
                .partial_cmp(&b["held_out_log_likelihood"].as_f64())
                .unwrap()
        })
        .unwrap();
    assert_eq!(report["components"], best["components"], "{report}");
    // Fewer training codes than coordinates asked for: 10 codes span 9 directions, and the
    // fit takes those (it failed in libtorch before).
    let o = tch_vae(&["fit-prior", "--run", r, "--images", "10", "--dims", "16"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("fitted-prior.json")).unwrap())
            .unwrap();
    assert_eq!(
        (&report["dims"], &report["train_images"]),
        (&9.into(), &10.into())
    );
    // plot redraws the picture that fit-prior drew.
    let drawn = std::fs::read(run.join("samples-fitted.png")).unwrap();
    std::fs::remove_file(run.join("samples-fitted.png")).unwrap();
    let o = tch_vae(&["plot", "--run", r, "--data", npy.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(run.join("samples-fitted.png")).unwrap(),
        drawn
    );
    // Refusals, each naming the flag or file and the fix.
    fails_with(
        &["fit-prior", "--run", r, "--components", "0"],
        &["--components", "from 1"],
    );
    fails_with(
        &["fit-prior", "--run", r, "--components", "999"],
        &["--components 999", "training images"],
    );
    fails_with(
        &["fit-prior", "--run", r, "--groups", "4"],
        &["--groups 4", "3 groups"],
    );
    fails_with(
        &[
            "sample",
            "--run",
            r,
            "--fitted-prior",
            "--output",
            run.join("samples.png").to_str().unwrap(),
        ],
        &["samples.png", "never replaces"],
    );
    std::fs::write(run.join("fitted-prior.safetensors"), b"not a tensor file").unwrap();
    fails_with(
        &["sample", "--run", r, "--fitted-prior"],
        &["fitted-prior.safetensors"],
    );
    std::fs::remove_file(run.join("fitted-prior.safetensors")).unwrap();
    fails_with(
        &["sample", "--run", r, "--fitted-prior"],
        &["tch-vae fit-prior --run"],
    );
}

#[test]
fn a_flat_run_fits_its_whole_z_and_oversized_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    let r = run.to_str().unwrap();
    fails_with(
        &["fit-prior", "--run", r, "--groups", "1"],
        &["--groups", "not hierarchical"],
    );
    let o = tch_vae(&["fit-prior", "--run", r, "--components", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("fitted-prior.json")).unwrap())
            .unwrap();
    // tiny_run's z has 2 values: modelled whole, no group.
    assert_eq!(report["code_values"], 2, "{report}");
    assert_eq!(report["dims"], 2, "{report}");
    assert_eq!(report["kept_variance"], 1.0, "{report}");
    assert!(report["groups"].is_null(), "{report}");
    // FIFOs in place of the prior or its report are named, never opened to wait on.
    let fifo = |name: &str| {
        let path = run.join(name);
        std::fs::rename(&path, tmp.path().join(name)).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        path
    };
    let path = fifo("fitted-prior.json");
    fails_with(
        &["plot", "--run", r],
        &["fitted-prior.json", "not a regular file"],
    );
    std::fs::remove_file(&path).unwrap();
    std::fs::rename(tmp.path().join("fitted-prior.json"), &path).unwrap();
    fifo("fitted-prior.safetensors");
    fails_with(
        &["sample", "--run", r, "--fitted-prior"],
        &["fitted-prior.safetensors", "not a regular file"],
    );
    std::fs::remove_file(run.join("fitted-prior.safetensors")).unwrap();
    // A file past the size any prior has is refused before it is read (a sparse file).
    let file = std::fs::File::create(run.join("fitted-prior.safetensors")).unwrap();
    file.set_len((1 << 30) + 1).unwrap();
    fails_with(
        &["sample", "--run", r, "--fitted-prior"],
        &["more than a fitted prior holds"],
    );
}

#[test]
fn fit_prior_refuses_a_conditional_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &["--conditional"]);
    // A flat run is left as it was trained.
    assert!(!run.join("fitted-prior.json").exists());
    fails_with(
        &["fit-prior", "--run", run.to_str().unwrap()],
        &["conditional", "unconditional runs"],
    );
}
