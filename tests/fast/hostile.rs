//! Hostile input, round two: outputs that must not replace what is there, a full disk,
//! two processes on one run folder, counts out of range, damaged checkpoints, tiny
//! datasets, files that are not files, and folders left half-made. Each case checks the
//! exit code, the message, and that nothing was harmed.
use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Kind, Tensor};
use tch_vae::run;

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

#[test]
fn outputs_never_replace_special_files_links_or_the_runs_own_files() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    let r = run.to_str().unwrap();
    // A FIFO (reading it would block forever; replacing it would harm it) stays a FIFO.
    let fifo = tmp.path().join("fifo.png");
    mkfifo(&fifo);
    fails_with(
        &["sample", "--run", r, "--output", fifo.to_str().unwrap()],
        &["fifo.png exists and is not a regular file"],
    );
    let json_fifo = tmp.path().join("eval-fifo.json");
    mkfifo(&json_fifo);
    fails_with(
        &[
            "eval",
            "--run",
            r,
            "--iw-samples",
            "2",
            "--limit",
            "5",
            "--output",
            json_fifo.to_str().unwrap(),
        ],
        &["is not a regular file"],
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    // A symbolic link is followed: its target is written, the link stays a link.
    let target = tmp.path().join("target.png");
    let link = tmp.path().join("link.png");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = tch_vae(&[
        "sample",
        "--run",
        r,
        "--seed",
        "1",
        "--output",
        link.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::metadata(&target).unwrap().len() > 100);
    // The run's own files are never the output of another command.
    let weights = run.join(run::WEIGHTS);
    let before = std::fs::read(&weights).unwrap();
    for (cmd, file) in [
        ("sample", run::WEIGHTS),
        ("export", run::CONFIG),
        ("eval", run::CHECKPOINT),
    ] {
        let out = run.join(file);
        fails_with(
            &[cmd, "--run", r, "--output", out.to_str().unwrap()],
            &[&format!("that is the run's own {file}")],
        );
    }
    assert_eq!(std::fs::read(&weights).unwrap(), before);
    // Nor through a link that points at one of them.
    let sneaky = tmp.path().join("sneaky.png");
    std::os::unix::fs::symlink(&weights, &sneaky).unwrap();
    fails_with(
        &["sample", "--run", r, "--output", sneaky.to_str().unwrap()],
        &["that is the run's own weights.safetensors"],
    );
    assert_eq!(std::fs::read(&weights).unwrap(), before);
}

/// Runs `tch-vae ARGS` with file writes limited to `kib` KiB (as a full disk would stop
/// them: the write fails with EFBIG; SIGXFSZ is ignored so the process sees the error).
fn with_file_size_limit(kib: u64, args: &[&str]) -> std::process::Output {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "trap '' XFSZ; ulimit -f {}; exec '{}' {}",
        kib * 2, // ulimit counts 512-byte blocks
        env!("CARGO_BIN_EXE_tch-vae"),
        quoted.join(" ")
    );
    Command::new("bash").args(["-c", &script]).output().unwrap()
}

#[test]
fn a_full_disk_while_writing_vae_pt_is_a_clear_error_and_leaves_no_temporary() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &["--hidden", "64"]);
    std::fs::remove_file(run.join(run::TORCHSCRIPT)).unwrap();
    let o = with_file_size_limit(16, &["export", "--run", run.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("vae.pt") && !err.contains("terminate called"),
        "{err}"
    );
    let left: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "temporaries left: {left:?}");
    assert!(!run.join(run::TORCHSCRIPT).exists());
    // With room, the same export works.
    let o = tch_vae(&["export", "--run", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_run_folder_in_use_names_the_process_that_holds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    let r = run.to_str().unwrap();
    let held = run::lock(&run).unwrap(); // as a training process would hold it
    let pid = std::process::id().to_string();
    for args in [
        vec!["train", "--resume", r, "--epochs", "2"],
        vec!["plot", "--run", r],
        vec!["export", "--run", r],
    ] {
        fails_with(
            &args,
            &[
                "is in use by another tch-vae process",
                &format!("pid {pid}"),
            ],
        );
    }
    drop(held);
    let o = tch_vae(&["plot", "--run", r]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn eval_counts_out_of_range_are_refused_and_one_image_has_no_standard_error() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    let r = run.to_str().unwrap();
    for k in ["18446744073709551615", "9223372036854775808", "1000001"] {
        fails_with(
            &["eval", "--run", r, "--iw-samples", k],
            &["--iw-samples must be from 1 to 1000000"],
        );
    }
    fails_with(
        &["eval", "--run", r, "--batch-rows", "99999999999"],
        &["--batch-rows must be from 1 to"],
    );
    let o = tch_vae(&[
        "eval",
        "--run",
        r,
        "--iw-samples",
        "5",
        "--limit",
        "1",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("degrees of freedom"), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("one image: no standard error"),
        "{}",
        stdout(&o)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join(run::EVAL)).unwrap()).unwrap();
    assert!(report["nll_stderr"].is_null() && report["nll"].as_f64().unwrap().is_finite());
}

/// Rewrites tensor `name` of the checkpoint in `run` with `value`.
fn damage_checkpoint(run: &Path, name: &str, value: Tensor) {
    let path = run.join(run::CHECKPOINT);
    let mut tensors = Tensor::read_safetensors(&path).unwrap();
    for (n, t) in tensors.iter_mut() {
        if n == name {
            *t = value.shallow_clone();
        }
    }
    Tensor::write_safetensors(&tensors, &path).unwrap();
}

#[test]
fn a_damaged_checkpoint_position_is_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    let r = run.to_str().unwrap();
    let good = std::fs::read(run.join(run::CHECKPOINT)).unwrap();
    let n = 300; // training images of the tiny dataset
    let cases: Vec<(&str, Tensor, &str)> = vec![
        (
            "position",
            Tensor::from_slice(&[1i64, 2, 1_000_000_000_000, 0]),
            "its position is batch 1000000000000",
        ),
        (
            "position",
            Tensor::from_slice(&[1i64, 1_000_000_000, 0, 0]),
            "its position is epoch 1000000000",
        ),
        (
            "position",
            Tensor::from_slice(&[1i64, 2, 1, 0]),
            "images seen after 1 batches",
        ),
        (
            "order",
            Tensor::zeros([n], (Kind::Int64, tch::Device::Cpu)),
            "not a permutation",
        ),
        (
            "order",
            Tensor::arange(n, (Kind::Int64, tch::Device::Cpu)) - 5,
            "not a permutation",
        ),
        (
            "history",
            Tensor::full([1, 14], f64::NAN, (Kind::Double, tch::Device::Cpu)),
            "history row 1",
        ),
        (
            "seconds",
            Tensor::zeros([0], (Kind::Double, tch::Device::Cpu)),
            "seconds: expected one value",
        ),
        (
            "sums",
            Tensor::full([5], f64::INFINITY, (Kind::Float, tch::Device::Cpu)),
            "running sums",
        ),
    ];
    for (name, value, needle) in cases {
        std::fs::write(run.join(run::CHECKPOINT), &good).unwrap();
        damage_checkpoint(&run, name, value);
        let err = fails_with(&["train", "--resume", r, "--epochs", "3"], &[needle]);
        assert!(err.contains("checkpoint.safetensors"), "{name}: {err}");
    }
    std::fs::write(run.join(run::CHECKPOINT), &good).unwrap();
    let o = tch_vae(&["train", "--resume", r, "--epochs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_dataset_with_one_test_image_trains_plots_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("one-test-image");
    write_idx_images(&data, 40, 1, 28, 28);
    for latent in ["2", "5"] {
        let run = tmp.path().join(format!("run{latent}"));
        let args = train_args_on(
            &data,
            &run,
            &["--epochs", "1", "--hidden", "8", "--latent", latent],
        );
        train_ok(&args);
        let r = run.to_str().unwrap();
        for cmd in [
            vec!["plot", "--run", r],
            vec!["train", "--resume", r, "--epochs", "2"],
        ] {
            let o = tch_vae(&cmd);
            assert!(o.status.success(), "{cmd:?}: {}", stderr(&o));
        }
    }
}

#[test]
fn run_files_that_are_not_regular_files_are_refused_without_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    let r = run.to_str().unwrap();
    for file in [run::CONFIG, run::METRICS] {
        let path = run.join(file);
        let saved = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        mkfifo(&path);
        // If the FIFO were opened for reading, the command would block: a watchdog kills it.
        let mut child = Command::new(env!("CARGO_BIN_EXE_tch-vae"))
            .args(["plot", "--run", r])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "plot hung on a FIFO {file}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("is not a regular file"),
            "{}",
            stderr(&o)
        );
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, saved).unwrap();
    }
}

#[test]
fn sizes_that_cannot_fit_in_memory_name_their_source() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    let config = run.join(run::CONFIG);
    let text = std::fs::read_to_string(&config).unwrap();
    let huge = text.replace("\"latent\": 2", "\"latent\": 1000000000000");
    assert_ne!(huge, text);
    std::fs::write(&config, huge).unwrap();
    let r = run.to_str().unwrap();
    for cmd in [vec!["sample", "--run", r], vec!["export", "--run", r]] {
        fails_with(
            &cmd,
            &[
                "config.json: the 784-16-1000000000000 model has",
                "Choose smaller sizes",
            ],
        );
    }
}

#[test]
fn misleading_cases_get_the_right_message() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_data(tmp.path());
    // --data pointing at a file.
    let file = data.join("train-images-idx3-ubyte.gz");
    let out = tmp.path().join("never");
    fails_with(
        &[
            "train",
            "--data",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &["that is a regular file; --data takes a folder"],
    );
    assert!(!out.exists());
    // A config.json whose batch_size is 0, on --resume: config.json is named.
    let run = tiny_run(tmp.path(), &[]);
    let config = run.join(run::CONFIG);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("\"batch_size\": 128", "\"batch_size\": 0"),
    )
    .unwrap();
    fails_with(
        &["train", "--resume", run.to_str().unwrap(), "--epochs", "2"],
        &[
            "config.json holds a value out of range",
            "--batch-size must be from 1 to",
        ],
    );
}

#[test]
fn a_relative_data_folder_still_resumes_from_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_data(tmp.path());
    let o = Command::new(env!("CARGO_BIN_EXE_tch-vae"))
        .current_dir(tmp.path())
        .args([
            "train",
            "--data",
            "tiny-data",
            "--out",
            "run",
            "--epochs",
            "1",
            "--hidden",
            "8",
            "--latent",
            "2",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let config = run::read_config(&tmp.path().join("run")).unwrap();
    assert!(config.train.data.is_absolute(), "{:?}", config.train.data);
    let run = tmp.path().join("run");
    let o = tch_vae(&["train", "--resume", run.to_str().unwrap(), "--epochs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_non_utf8_output_folder_gets_every_file() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_data(tmp.path());
    let out: PathBuf = tmp.path().join(std::ffi::OsStr::from_bytes(b"run-\xff"));
    let o = Command::new(env!("CARGO_BIN_EXE_tch-vae"))
        .arg("train")
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .args([
            "--epochs", "1", "--hidden", "8", "--latent", "2", "--device", "cpu",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join(run::TORCHSCRIPT).is_file());
}

#[test]
fn folders_that_never_got_a_checkpoint_are_reused_and_bad_sizes_make_none() {
    let tmp = tempfile::tempdir().unwrap();
    // Conv on 1x1 images: refused before a folder exists.
    let dots = tmp.path().join("dots");
    write_idx_images(&dots, 20, 5, 1, 1);
    let out = tmp.path().join("conv");
    let args = train_args_on(&dots, &out, &["--arch", "conv"]);
    let err = fails_with(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &["--arch conv needs image sides"],
    );
    assert!(!out.exists(), "{err}");
    // A run killed during its first epoch: config.json and a temporary, no checkpoint.
    let data = tiny_data(tmp.path());
    let run = tmp.path().join("killed");
    let flags = ["--epochs", "1", "--hidden", "8", "--latent", "2"];
    let args = train_args_on(&data, &run, &flags);
    train_ok(&args);
    for f in [run::CHECKPOINT, run::METRICS, run::WEIGHTS, run::LOSS_SVG] {
        std::fs::remove_file(run.join(f)).unwrap();
    }
    std::fs::write(
        run.join(".checkpoint.safetensors.tmp-99999.safetensors"),
        b"half",
    )
    .unwrap();
    fails_with(
        &["train", "--resume", run.to_str().unwrap()],
        &["never reached its first checkpoint", "the folder is reused"],
    );
    let o = train_ok(&args);
    assert!(stdout(&o).contains("reusing"), "{}", stdout(&o));
    assert!(!run
        .join(".checkpoint.safetensors.tmp-99999.safetensors")
        .exists());
    assert!(run.join(run::CHECKPOINT).is_file());
}

#[test]
fn sizes_past_memory_are_refused_before_the_work() {
    let tmp = tempfile::tempdir().unwrap();
    // Enough 28x28 images that, resized to 4096 x 4096 in colour (48 MiB each), they
    // exceed this machine's memory, whatever it has: refused from the counts, before any
    // image is resized.
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap();
    let images = (kib / (48 << 10)) as u32 / 2 + 2;
    let data = tmp.path().join("big");
    write_idx_folder(&data, images, 1);
    let out = tmp.path().join("never");
    let started = std::time::Instant::now();
    fails_with(
        &train_args_on(
            &data,
            &out,
            &["--image-size", "4096", "--channels", "3", "--epochs", "1"],
        )
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
        &[
            "big: ",
            "images of 50331648 values need",
            "MiB while they load",
        ],
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(!out.exists());
    // A metrics.csv of 65 MiB (a sparse file: nothing is written) is refused by its size.
    let run = tiny_run(tmp.path(), &[]);
    std::fs::File::options()
        .write(true)
        .open(run.join("metrics.csv"))
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    for command in [&["plot", "--run"][..], &["compare"][..]] {
        let args = [command, &[run.to_str().unwrap()]].concat();
        fails_with(
            &args,
            &["metrics.csv is 65 MiB, more than the 64 MiB a metrics.csv may hold"],
        );
    }
}
