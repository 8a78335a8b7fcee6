//! Same seed, same numbers, the whole matrix (src/numerics.rs): every MLP variant gives the
//! same bits at 1, 2, 3 and 4 threads, quiet and beside a busy core, and with the thread
//! count that follows the load; a conv model does in the portable mode; and a run resumed
//! while the machine is busy matches one trained in one go on a quiet machine.
use crate::common::*;
use std::path::{Path, PathBuf};

fn data(tmp: &Path) -> PathBuf {
    let data = tmp.join("data");
    // Batches of 128 x 784 values: at 3 threads, shares that are not a multiple of the
    // vector width (numerics.rs).
    write_idx_folder(&data, 640, 256);
    data
}

/// The flag sets of the MLP variants.
const VARIANTS: [&[&str]; 5] = [
    &["--clip-grad", "5"],
    &["--objective", "iwae", "--k", "4"],
    &["--prior", "vamp", "--pseudo-inputs", "30"],
    &["--conditional", "--likelihood", "gaussian"],
    &["--likelihood", "logistic", "--activation", "tanh"],
];

/// One run of `flags` at `threads` (None: the count that follows the load), beside a busy
/// core when `busy`; its fingerprint.
fn print_of(tmp: &Path, data: &Path, flags: &[&str], threads: Option<&str>, busy: bool) -> String {
    fingerprint(&run_of(tmp, data, flags, threads, busy))
}

/// What tells two runs apart when their fingerprints differ: metrics.csv and threads.csv.
fn account(run: &Path) -> String {
    let read = |f: &str| std::fs::read_to_string(run.join(f)).unwrap_or_default();
    format!(
        "{}:\n{}{}",
        run.display(),
        read("metrics.csv"),
        read("threads.csv")
    )
}

fn run_of(tmp: &Path, data: &Path, flags: &[&str], threads: Option<&str>, busy: bool) -> PathBuf {
    let name = format!(
        "{}-{}-{busy}",
        flags.join("").replace('-', ""),
        threads.unwrap_or("auto")
    );
    let run = tmp.join(name);
    let mut args = [flags, &["--epochs", "2"]].concat();
    if let Some(t) = threads {
        args.extend(["--threads", t]);
    }
    let _load = busy.then(BusyCore::start);
    train_ok(&train_args_on(data, &run, &args));
    run
}

#[test]
fn every_mlp_variant_is_the_same_at_any_thread_count_and_load() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data(tmp.path());
    let cases = [
        (Some("2"), false),
        (Some("3"), false),
        (Some("4"), false),
        (Some("2"), true),
        (Some("3"), true),
        (None, true),
    ];
    for flags in VARIANTS {
        let first = run_of(tmp.path(), &data, flags, Some("1"), false);
        let reference = fingerprint(&first);
        for (threads, busy) in cases {
            let run = run_of(tmp.path(), &data, flags, threads, busy);
            if fingerprint(&run) != reference {
                // Kept for a look at the bits (weights.safetensors, checkpoint, metrics).
                let kept = tmp.keep();
                panic!(
                    "{flags:?} at {} threads{}: other numbers than at 1 thread (both runs kept \
                     in {})\n{}\n{}",
                    threads.unwrap_or("adaptive"),
                    if busy { " beside a busy core" } else { "" },
                    kept.display(),
                    account(&first),
                    account(&run)
                );
            }
        }
    }
}

#[test]
fn a_conv_model_in_the_portable_mode_is_the_same_at_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data(tmp.path());
    let flags = &["--arch", "conv", "--reproducible", "portable"][..];
    let reference = print_of(tmp.path(), &data, flags, Some("1"), false);
    for (threads, busy) in [(Some("2"), false), (Some("2"), true), (None, true)] {
        assert_eq!(
            print_of(tmp.path(), &data, flags, threads, busy),
            reference,
            "conv, portable, at {threads:?} threads (busy: {busy})"
        );
    }
}

#[test]
fn a_run_resumed_on_a_busy_machine_matches_one_trained_in_one_go() {
    // No --threads: the count follows the load, as on a shared machine.
    let tmp = tempfile::tempdir().unwrap();
    let data = data(tmp.path());
    let flags = [
        "--prior",
        "vamp",
        "--pseudo-inputs",
        "30",
        "--activation",
        "tanh",
    ];
    let whole = tmp.path().join("whole");
    train_ok(&train_args_on(
        &data,
        &whole,
        &[&flags[..], &["--epochs", "3", "--threads", "1"]].concat(),
    ));
    let split = tmp.path().join("split");
    {
        let _load = BusyCore::start();
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
            "3",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(fingerprint(&split), fingerprint(&whole));
}
