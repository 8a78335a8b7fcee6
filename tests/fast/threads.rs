//! An MLP's numbers do not depend on the CPU thread count, to the last bit: the reason a
//! run without `--threads` may change its count with the machine's load (src/threads.rs)
//! and still give the same weights and resume exactly.
use crate::common::*;

/// Trains `flags` at 1 and at 2 threads and compares the weights' bytes and metrics.csv.
/// The sizes make libtorch split work between threads: batches of 128 images of 784
/// values (element-wise operations split above 32,768 elements) and 784x400 matrix
/// products.
fn same_at_one_and_two_threads(tmp: &std::path::Path, data: &std::path::Path, flags: &[&str]) {
    let name = flags.join("").replace('-', "");
    let runs: Vec<std::path::PathBuf> = ["1", "2"]
        .iter()
        .map(|threads| {
            let run = tmp.join(format!("{name}-{threads}"));
            let args = [flags, &["--epochs", "1", "--threads", threads]].concat();
            train_ok(&train_args_on(data, &run, &args));
            run
        })
        .collect();
    let weights = |run: &std::path::Path| std::fs::read(run.join("weights.safetensors")).unwrap();
    assert!(
        weights(&runs[0]) == weights(&runs[1]),
        "{flags:?}: the weights differ between 1 and 2 threads"
    );
    assert_eq!(
        metrics_without_time(&runs[0]),
        metrics_without_time(&runs[1])
    );
}

#[test]
fn mlp_runs_are_the_same_at_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_idx_folder(&data, 640, 256);
    same_at_one_and_two_threads(tmp.path(), &data, &["--clip-grad", "5"]);
    same_at_one_and_two_threads(
        tmp.path(),
        &data,
        &[
            "--likelihood",
            "logistic",
            "--objective",
            "iwae",
            "--k",
            "3",
            "--prior",
            "vamp",
            "--pseudo-inputs",
            "50",
            "--activation",
            "tanh",
        ],
    );
}
