//! Reliability: exact resume (at an epoch boundary and mid-epoch), Ctrl-C and SIGTERM,
//! SIGKILL at random moments, and the NaN guard.
mod common;
use common::*;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tch::Tensor;
use tch_vae::checkpoint::{self, Checkpoint};
use tch_vae::config::RunConfig;
use tch_vae::metrics::{self, EpochMetrics};

const SMALL: [&str; 6] = ["--limit", "1500", "--hidden", "64", "--latent", "4"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    [&SMALL[..], extra].concat()
}

/// metrics.csv without the wall-clock column, which no two runs share.
fn metrics_without_time(run: &Path) -> Vec<[f64; 13]> {
    metrics::read(&run.join("metrics.csv"))
        .unwrap()
        .iter()
        .map(|m: &EpochMetrics| {
            let r = m.to_row();
            let mut out = [0.0; 13];
            out[..12].copy_from_slice(&r[..12]);
            out[12] = r[13];
            out
        })
        .collect()
}

fn weights(run: &Path) -> HashMap<String, Tensor> {
    checkpoint::read_tensors(&run.join("weights.safetensors")).unwrap()
}

fn assert_same_run(a: &Path, b: &Path) {
    assert_eq!(
        metrics_without_time(a),
        metrics_without_time(b),
        "metrics.csv differs"
    );
    let (wa, wb) = (weights(a), weights(b));
    assert_eq!(wa.len(), wb.len());
    for (name, t) in &wa {
        assert!(t.equal(&wb[name]), "{name} differs");
    }
}

fn resume(run: &Path, epochs: &str) -> std::process::Output {
    tch_vae(&[
        "train",
        "--resume",
        run.to_str().unwrap(),
        "--epochs",
        epochs,
        "--device",
        "cpu",
        // A speed option (CUDA only), so --resume accepts it.
        "--no-cuda-graphs",
    ])
}

#[test]
fn resume_at_an_epoch_boundary_is_bit_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    train_fashion_mnist(&whole, &args(&["--epochs", "3"]));
    train_fashion_mnist(&split, &args(&["--epochs", "1"]));
    let o = resume(&split, "3");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("resuming"), "{}", stdout(&o));
    assert_same_run(&whole, &split);
    assert_eq!(RunConfig::read(&split).unwrap().train.epochs, 3);
    // Asking for fewer epochs than are done is refused.
    let o = resume(&split, "2");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("already holds 3 finished epochs"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn resume_in_the_middle_of_an_epoch_is_bit_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    let extra = [
        "--epochs",
        "2",
        "--binarize",
        "dynamic",
        "--kl-warmup",
        "1",
        "--checkpoint-every",
        "4",
    ];
    train_fashion_mnist(&whole, &args(&extra));
    // Stop as Ctrl-C would, after 7 batches of the first epoch (12 batches per epoch).
    let o = Command::new(env!("CARGO_BIN_EXE_tch-vae"))
        .args(train_args(&split, &args(&extra)))
        .env("TCH_VAE_STOP_AFTER_BATCHES", "7")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Resume with: tch-vae train --resume"),
        "{}",
        stderr(&o)
    );
    let state = Checkpoint::read(&split.join("checkpoint.safetensors")).unwrap();
    assert_eq!((state.epoch, state.batch, state.history.len()), (1, 7, 0));
    assert!(!split.join("weights.safetensors").exists());
    let o = resume(&split, "2");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_run(&whole, &split);
}

/// Spawns a long training run (50 epochs) into `run` and returns once its first epoch's
/// checkpoint exists, so that what follows happens in the middle of training.
fn spawn_long_run(run: &Path) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_tch-vae"))
        .args(train_args(run, &["--limit", "6000", "--epochs", "50"]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ckpt = run.join("checkpoint.safetensors");
    for _ in 0..600 {
        if ckpt.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ckpt.exists(), "the first epoch never finished");
    child
}

/// Sends `signal` to a run in the middle of its second epoch.
fn signal_during_training(signal: &str, code: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let child = spawn_long_run(&run);
    let ckpt = run.join("checkpoint.safetensors");
    std::thread::sleep(Duration::from_millis(100));
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("checkpoint written") && err.contains(&format!("--resume {}", run.display())),
        "{err}"
    );
    let state = Checkpoint::read(&ckpt).unwrap();
    assert!(state.history.len() < 50);
    // It resumes, and finishes the epoch it was in plus one more.
    let target = (state.history.len() + 2).to_string();
    let o = resume(&run, &target);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        metrics::read(&run.join("metrics.csv"))
            .unwrap()
            .len()
            .to_string(),
        target
    );
}

#[test]
fn ctrl_c_checkpoints_and_exits_130() {
    signal_during_training("-INT", 130);
}

#[test]
fn sigterm_checkpoints_and_exits_143() {
    signal_during_training("-TERM", 143);
}

/// Every visible file of a run folder is complete: it parses or loads.
fn assert_complete(run: &Path) {
    for entry in std::fs::read_dir(run).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        match name.as_str() {
            n if n.starts_with('.') => {} // a temporary the killed process did not rename
            "config.json" => drop(RunConfig::read(run).unwrap()),
            "metrics.csv" => drop(metrics::read(&path).unwrap()),
            "checkpoint.safetensors" => drop(Checkpoint::read(&path).unwrap()),
            "weights.safetensors" => drop(tch_vae::run::load_run(run, tch::Device::Cpu).unwrap()),
            "vae.pt" => drop(tch::CModule::load(&path).unwrap()),
            n if n.ends_with(".svg") => {
                let svg = std::fs::read_to_string(&path).unwrap();
                assert!(svg.trim_end().ends_with("</svg>"), "{n} is cut short");
            }
            n if n.ends_with(".png") => {
                let file = std::fs::File::open(&path).unwrap();
                let mut reader = png::Decoder::new(std::io::BufReader::new(file))
                    .read_info()
                    .unwrap();
                let mut buf = vec![0; reader.output_buffer_size().unwrap()];
                reader
                    .next_frame(&mut buf)
                    .unwrap_or_else(|e| panic!("{n}: {e}"));
            }
            other => panic!("unexpected file {other}"),
        }
    }
}

#[test]
fn sigkill_at_random_moments_never_leaves_a_broken_file() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let train = train_args(
        &run,
        &[
            "--limit",
            "1500",
            "--hidden",
            "64",
            "--latent",
            "4",
            "--epochs",
            "4",
            "--checkpoint-every",
            "2",
        ],
    );
    // Delays spread over start-up, training, checkpoints and the final files (a simple
    // deterministic sequence keeps failures reproducible).
    let mut delay = 150u64;
    for attempt in 0..12 {
        let resuming = run.join("checkpoint.safetensors").exists();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tch-vae"));
        if resuming {
            cmd.args([
                "train",
                "--resume",
                run.to_str().unwrap(),
                "--epochs",
                "4",
                "--device",
                "cpu",
            ]);
        } else {
            let _ = std::fs::remove_dir_all(&run);
            cmd.args(&train);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        delay = 150 + (delay * 7 + 130) % 900;
        if run.exists() {
            assert_complete(&run);
        }
        if run.join("weights.safetensors").exists() && attempt > 3 {
            break;
        }
    }
    // Whatever happened, the run can be finished from its last complete checkpoint.
    let o = if run.join("checkpoint.safetensors").exists() {
        resume(&run, "4")
    } else {
        let _ = std::fs::remove_dir_all(&run);
        tch_vae(&train.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert!(o.status.success(), "{}", stderr(&o));
    assert_complete(&run);
    assert_eq!(metrics::read(&run.join("metrics.csv")).unwrap().len(), 4);
}

#[test]
fn a_non_finite_loss_stops_at_once_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let args = train_args(
        &run,
        &[
            "--limit",
            "1500",
            "--epochs",
            "2",
            "--lr",
            "1e30",
            "--checkpoint-every",
            "1",
        ],
    );
    let o = tch_vae(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("epoch 1, batch ") && err.contains("not finite"),
        "{err}"
    );
    assert!(err.contains("--lr") && err.contains("--clip-grad"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!run.join("weights.safetensors").exists());
    // The checkpoint on disk is the last one written before the fault: finite weights.
    let state = Checkpoint::read(&run.join("checkpoint.safetensors")).unwrap();
    assert!(state.batch >= 1);
    for (name, t) in &state.tensors {
        if name.starts_with("model.") {
            assert!(
                bool::try_from(t.isfinite().all()).unwrap(),
                "{name} is not finite"
            );
        }
    }
}

#[test]
fn a_vanished_output_folder_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let child = spawn_long_run(&run);
    std::fs::remove_dir_all(&run).unwrap();
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot write") && err.contains(run.to_str().unwrap()),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
