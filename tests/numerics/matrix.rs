//! Same seed, same numbers, the whole matrix (src/numerics.rs): where MKL's strict mode
//! holds (Intel's CPUs), every MLP variant gives the same bits at 1, 2, 3 and 4 threads,
//! quiet and beside a busy core, and with the thread count that follows the load; a conv
//! model does in the portable mode; and a run resumed while the machine is busy matches
//! one trained in one go on a quiet machine. Where it does not hold (other makers' CPUs),
//! the same at the count a run keeps, quiet and busy.
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

/// The thread count of the reference run, and the counts (None: the run's own choice)
/// and loads to compare with it: every count where MKL's strict mode holds; elsewhere the
/// count a run keeps (`kept`, what a run without `--threads` chose here), busy and not.
fn cases(kept: &str) -> (String, Vec<(Option<String>, bool)>) {
    let at = |t: &str, busy| (Some(t.to_string()), busy);
    if counts_keep_bits() {
        let counts = [at("2", false), at("3", false), at("4", false)];
        let busy = [at("2", true), at("3", true), (None, true)];
        return ("1".into(), [&counts[..], &busy[..]].concat());
    }
    (kept.into(), vec![at(kept, true), (None, true)])
}

/// The thread count a run without `--threads` keeps on this machine.
fn kept_count(tmp: &Path, data: &Path) -> String {
    one_thread_count(&run_of(tmp, data, &[], None, false))
}

#[test]
fn every_mlp_variant_is_the_same_at_any_thread_count_and_load() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data(tmp.path());
    let (reference_count, cases) = cases(&kept_count(tmp.path(), &data));
    for flags in VARIANTS {
        let first = run_of(tmp.path(), &data, flags, Some(&reference_count), false);
        let reference = fingerprint(&first);
        for (threads, busy) in &cases {
            let (threads, busy) = (threads.as_deref(), *busy);
            let run = run_of(tmp.path(), &data, flags, threads, busy);
            if fingerprint(&run) != reference {
                // Kept for a look at the bits (weights.safetensors, checkpoint, metrics).
                let kept = tmp.keep();
                panic!(
                    "{flags:?} at {} threads{}: other numbers than at {reference_count} \
                     (both runs kept in {})\n{}\n{}",
                    threads.unwrap_or("its own count of"),
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
    let (reference_count, cases) = cases(&kept_count(tmp.path(), &data));
    let reference = print_of(tmp.path(), &data, flags, Some(&reference_count), false);
    for (threads, busy) in cases {
        let threads = threads.as_deref();
        assert_eq!(
            print_of(tmp.path(), &data, flags, threads, busy),
            reference,
            "conv, portable, at {threads:?} threads (busy: {busy})"
        );
    }
}

#[test]
fn a_run_resumed_on_a_busy_machine_matches_one_trained_in_one_go() {
    // No --threads: the count follows the load, as on a shared machine, where MKL's strict
    // mode holds; elsewhere the run keeps its count, and the whole run is given that one.
    let tmp = tempfile::tempdir().unwrap();
    let data = data(tmp.path());
    let (reference_count, _) = cases(&kept_count(tmp.path(), &data));
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
        &[
            &flags[..],
            &["--epochs", "3", "--threads", &reference_count],
        ]
        .concat(),
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
