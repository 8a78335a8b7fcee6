//! Every bad input the README lists: a clear message naming the file or flag, a
//! non-zero exit, never a panic, and no run folder made when the flags are wrong.
use crate::common::*;
use std::path::Path;

/// Runs `train` with `args` (plus a small data folder unless given) and returns stderr,
/// after checking the exit code and that nothing panicked.
fn train_fails(args: &[&str], code: i32) -> String {
    let o = tch_vae(&[&["train"], args].concat());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    err
}

fn data_dir(tmp: &Path) -> String {
    let dir = tmp.join("data");
    write_idx_folder(&dir, 64, 16);
    dir.to_string_lossy().into_owned()
}

#[test]
fn missing_data_folder_names_it_and_says_how_to_get_data() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere");
    let out = tmp.path().join("run");
    let err = train_fails(
        &[
            "--data",
            missing.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    assert!(
        err.contains("apt-get install dataset-fashion-mnist"),
        "{err}"
    );
}

#[test]
fn missing_file_names_what_was_looked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path());
    std::fs::remove_file(Path::new(&data).join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let out = tmp.path().join("run");
    let err = train_fails(&["--data", &data, "--out", out.to_str().unwrap()], 1);
    assert!(
        err.contains("no t10k labels file") && err.contains("t10k-labels-idx1-ubyte"),
        "{err}"
    );
}

/// Replaces one file of a good folder with `bytes` and expects `needle` in the error,
/// along with the file's name.
fn corrupt_file_is_named(file: &str, bytes: Vec<u8>, needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path());
    std::fs::write(Path::new(&data).join(file), bytes).unwrap();
    let out = tmp.path().join("run");
    let err = train_fails(&["--data", &data, "--out", out.to_str().unwrap()], 1);
    assert!(err.contains(file), "the error does not name {file}: {err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}

#[test]
fn truncated_gzip_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path());
    let good = std::fs::read(Path::new(&data).join("train-images-idx3-ubyte.gz")).unwrap();
    corrupt_file_is_named(
        "train-images-idx3-ubyte.gz",
        good[..good.len() / 2].to_vec(),
        "corrupt or truncated gzip",
    );
}

#[test]
fn non_gzip_file_named_gz_is_named() {
    corrupt_file_is_named(
        "t10k-images-idx3-ubyte.gz",
        b"plain text, not gzip".to_vec(),
        "not gzip",
    );
}

#[test]
fn wrong_magic_number_is_named() {
    let mut bytes = tch_vae::data::idx::encode(&[64], &[1; 64]);
    bytes[0] = 0x42;
    corrupt_file_is_named(
        "train-labels-idx1-ubyte.gz",
        gzip(&bytes),
        "not an IDX file",
    );
}

#[test]
fn truncated_idx_payload_is_named() {
    let bytes = tch_vae::data::idx::encode(&[64, 28, 28], &[0; 1000]);
    corrupt_file_is_named("train-images-idx3-ubyte.gz", gzip(&bytes), "(truncated?)");
}

#[test]
fn label_and_image_counts_must_agree() {
    let bytes = tch_vae::data::idx::encode(&[63], &[0; 63]);
    corrupt_file_is_named(
        "train-labels-idx1-ubyte.gz",
        gzip(&bytes),
        "holds 63 labels but",
    );
}

#[test]
fn cuda_without_a_gpu_says_what_was_found() {
    if tch::Cuda::device_count() > 0 {
        return; // this check is about machines without CUDA; a GPU machine runs CUDA instead
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let err = train_fails(
        &[
            "--data",
            &data_dir(tmp.path()),
            "--device",
            "cuda",
            "--out",
            out.to_str().unwrap(),
        ],
        1,
    );
    assert!(
        err.contains("--device cuda") && err.contains("CUDA is not available"),
        "{err}"
    );
    assert!(err.contains("found 0 CUDA devices"), "{err}");
    assert!(
        !out.exists(),
        "a run folder was made before the device was checked"
    );
}

#[test]
fn out_of_range_flags_are_rejected_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path());
    let out = tmp.path().join("run");
    let cases: [(&[&str], &str); 25] = [
        (
            &["--test-fraction", "0"],
            "--test-fraction must be between 0 and 1",
        ),
        (
            &["--test-fraction", "1.5"],
            "--test-fraction must be between 0 and 1",
        ),
        (
            &["--channels", "2"],
            "--channels must be 1 (grey) or 3 (RGB)",
        ),
        (
            &["--image-size", "0x8"],
            "--image-size sides must be from 1 to",
        ),
        (
            &["--kl-warmup=-1"],
            "--kl-warmup must be a number of epochs >= 0",
        ),
        (
            &["--free-bits=-0.5"],
            "--free-bits must be a number of nats from 0 to 1e6",
        ),
        (
            &["--free-bits", "1e300"],
            "--free-bits must be a number of nats from 0 to 1e6",
        ),
        (&["--batch-size", "0"], "--batch-size must be from 1 to"),
        (
            &["--batch-size", "9223372036854775808"],
            "--batch-size must be from 1 to 16777216",
        ),
        (&["--lr", "0"], "--lr must be a positive number"),
        (&["--lr=-0.01"], "--lr must be a positive number"),
        // A negative number after a space reaches the range check, not clap's parser.
        (&["--lr", "-1"], "--lr must be a positive number"),
        (
            &["--lr", "1e300"],
            "--lr must be a positive number of at most",
        ),
        (
            &["--clip-grad", "1e300"],
            "--clip-grad must be 0 (no clipping) or a positive number",
        ),
        (
            &["--clip-grad", "-1"],
            "--clip-grad must be 0 (no clipping) or a positive number",
        ),
        (&["--latent", "0"], "--latent must be at least 1"),
        (&["--limit", "0"], "--limit must be at least 1"),
        (&["--epochs", "0"], "--epochs must be from 1 to 1000000"),
        (
            &["--epochs", "18446744073709551615"],
            "--epochs must be from 1 to 1000000",
        ),
        (&["--beta", "-1"], "--beta must be a number from 0 to 1e6"),
        (
            &["--beta", "1e300"],
            "--beta must be a number from 0 to 1e6",
        ),
        (&["--threads", "0"], "--threads must be from 1 to"),
        (&["--threads", "100000"], "--threads must be from 1 to"),
        // Sizes whose model cannot fit in memory: named before anything is allocated.
        (
            &["--latent", "1000000000"],
            "--latent and --hidden: the 784-400-1000000000 model has",
        ),
        (
            &["--hidden", "1000000000"],
            "--latent and --hidden: the 784-1000000000-20 model has",
        ),
    ];
    for (flags, needle) in cases {
        let args = [
            &["--data", data.as_str(), "--out", out.to_str().unwrap()],
            flags,
        ]
        .concat();
        let err = train_fails(&args, 1);
        assert!(
            err.contains(needle),
            "{flags:?}: expected '{needle}' in: {err}"
        );
        assert!(
            !out.exists(),
            "{flags:?}: the run folder was made before the flags were checked"
        );
    }
}

#[test]
fn malformed_flags_are_clap_errors_naming_the_flag() {
    for (flags, needle) in [
        (&["--likelihood", "poisson"][..], "--likelihood"),
        (&["--batch-size", "ten"][..], "--batch-size"),
        (&["--hidden", "400,x"][..], "--hidden"),
        // Negative whole numbers reach the flag's parser (not "unexpected argument").
        (
            &["--latent", "-1"][..],
            "'--latent <LATENT>': expected a whole number from 0",
        ),
        (
            &["--seed", "-1"][..],
            "'--seed <SEED>': expected a whole number from 0",
        ),
        (
            &["--epochs", "2.5"][..],
            "'--epochs <EPOCHS>': expected a whole number",
        ),
        (
            &["--threads", "-2"][..],
            "'--threads <THREADS>': expected a whole number",
        ),
        // Lists of whole numbers: each value through the same parser as a single number
        // (before, "-1" gave Rust's "invalid digit found in string").
        (
            &["--hidden", "400,-1"][..],
            "invalid value '-1' for '--hidden <HIDDEN>': expected a whole number",
        ),
        (
            &["--conv-channels", "32,x"][..],
            "invalid value 'x' for '--conv-channels <CONV_CHANNELS>': expected a whole number",
        ),
    ] {
        let err = train_fails(flags, 2);
        assert!(err.contains(needle), "{flags:?}: {err}");
    }
}

#[test]
fn unwritable_output_folder_is_rejected_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path());
    // A regular file where a folder should be: cannot be created even by root.
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, b"").unwrap();
    let out = blocker.join("run");
    let err = train_fails(&["--data", &data, "--out", out.to_str().unwrap()], 1);
    assert!(
        err.contains("--out") && err.contains("cannot create the output folder"),
        "{err}"
    );
    assert!(!err.contains("epoch 1"), "training started: {err}");
    // The file itself, and a device, as --out: named as what they are.
    for (out, kind) in [
        (blocker.as_path(), "a regular file"),
        (Path::new("/dev/null"), "a character device"),
    ] {
        let err = train_fails(&["--data", &data, "--out", out.to_str().unwrap()], 1);
        assert!(
            err.contains(&format!(
                "--out {}: that is {kind}, not a folder",
                out.display()
            )),
            "{err}"
        );
    }
}

#[test]
fn an_existing_run_or_another_tools_config_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path());
    // Another tool's config.json, and a run that got its first checkpoint.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("config.json"), b"{}").unwrap();
    let err = train_fails(&["--data", &data, "--out", foreign.to_str().unwrap()], 1);
    assert!(err.contains("already holds a run"), "{err}");
    assert_eq!(std::fs::read(foreign.join("config.json")).unwrap(), b"{}");
    let run = tiny_run(tmp.path(), &[]);
    let config = std::fs::read(run.join("config.json")).unwrap();
    let err = train_fails(&["--data", &data, "--out", run.to_str().unwrap()], 1);
    assert!(err.contains("already holds a run"), "{err}");
    assert_eq!(std::fs::read(run.join("config.json")).unwrap(), config);
}

#[test]
fn sample_and_plot_name_a_folder_that_is_not_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    for cmd in ["sample", "plot"] {
        let o = tch_vae(&[cmd, "--run", dir]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {err}");
        assert!(!err.contains("panicked"), "{cmd}: {err}");
        assert!(
            err.contains("config.json") && err.contains(dir),
            "{cmd}: {err}"
        );
    }
}

/// The reference the README points to: every command's `--help`, and in `train --help`
/// every choice of every choice flag with what it means.
#[test]
fn help_describes_every_command_and_every_choice() {
    for command in ["train", "eval", "export", "sample", "plot", "compare"] {
        let o = tch_vae(&[command, "--help"]);
        assert!(o.status.success(), "{command} --help: {}", stderr(&o));
    }
    let help = String::from_utf8(tch_vae(&["train", "--help"]).stdout).unwrap();
    for value in [
        "bernoulli",
        "gaussian",
        "logistic",
        "logistic-mixture",
        "elbo",
        "iwae",
        "normal",
        "vamp",
        "mlp",
        "conv",
        "relu",
        "tanh",
        "constant",
        "burda",
        "none",
        "static",
        "dynamic",
        "machine",
        "portable",
    ] {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("- {value}:")))
            .unwrap_or_else(|| panic!("train --help does not describe {value}: {help}"));
        assert!(
            line.len() > value.len() + 12,
            "{value}'s description is empty: {line}"
        );
    }
}
