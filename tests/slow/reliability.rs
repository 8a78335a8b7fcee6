//! Reliability: exact resume (at an epoch boundary and mid-epoch), Ctrl-C and SIGTERM,
//! SIGKILL at random moments, and the NaN guard.
use crate::common::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tch::Tensor;
use tch_vae::commands::{self, Interrupted, TrainRequest};
use tch_vae::config::{Binarize, ModelFlags, TrainConfig};
use tch_vae::report::{BatchProgress, Reporter, Stop};
use tch_vae::run::metrics;
use tch_vae::train::checkpoint::Checkpoint;
use tch_vae::{model::weights, run, train::thread_record};

const SMALL: [&str; 6] = ["--limit", "1500", "--hidden", "64", "--latent", "4"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    [&SMALL[..], extra].concat()
}

fn weights(run: &Path) -> HashMap<String, Tensor> {
    weights::read_tensors(&run.join(run::WEIGHTS)).unwrap()
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
    assert_eq!(run::read_config(&split).unwrap().train.epochs, 3);
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
    // The same run through the library, with a reporter that asks to stop as Ctrl-C would
    // after 7 batches of the first epoch (12 batches per epoch).
    let mut train = TrainConfig {
        data: fashion_mnist(),
        epochs: 2,
        limit: Some(1500),
        binarize: Binarize::Dynamic,
        kl_warmup: 1.0,
        checkpoint_every: Some(4),
        ..TrainConfig::defaults()
    };
    train.device = "cpu".into();
    let request = TrainRequest {
        model: ModelFlags {
            hidden: vec![64],
            latent: Some(4),
            ..ModelFlags::default()
        },
        train,
        epochs: Some(2),
        batch_size: None,
        lr: None,
        lr_schedule: None,
        clip_grad: None,
        out: Some(split.clone()),
        threads: None,
        cuda_graphs: true,
    };
    let mut reporter = StopAfter {
        batches: 7,
        seen: 0,
    };
    let err = commands::train(&request, &mut reporter).unwrap_err();
    let stopped = err
        .downcast_ref::<Interrupted>()
        .expect("stopped, not failed");
    assert_eq!(stopped.stop, Stop::Interrupt);
    assert!(
        err.to_string()
            .contains("Resume with: tch-vae train --resume"),
        "{err}"
    );
    let saved = Checkpoint::read(&split.join("checkpoint.safetensors")).unwrap();
    let pos = &saved.state.position;
    assert_eq!((pos.epoch, pos.batch, saved.history.len()), (1, 7, 0));
    assert!(!split.join("weights.safetensors").exists());
    let o = resume(&split, "2");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_run(&whole, &split);
}

/// Asks to stop after a number of training batches, as a user's Ctrl-C would.
struct StopAfter {
    batches: usize,
    seen: usize,
}

impl Reporter for StopAfter {
    fn note(&mut self, _text: &str) {}

    fn batch_done(&mut self, _progress: &BatchProgress) {
        self.seen += 1;
    }

    fn stop_requested(&self) -> Option<Stop> {
        (self.seen >= self.batches).then_some(Stop::Interrupt)
    }
}

/// Spawns a long training run (50 epochs) into `run` and returns once it has printed its
/// first epoch's summary line, so that what follows happens in the middle of training.
fn spawn_long_run(run: &Path) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tch-vae"))
        .args(train_args(run, &["--limit", "6000", "--epochs", "50"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads every line (a full pipe would block the child) and signals the first summary.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("epoch ") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(300))
        .expect("the first epoch never finished");
    child
}

/// Sends `signal` to a run in the middle of its second epoch.
fn signal_during_training(signal: &str, code: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let child = spawn_long_run(&run);
    let ckpt = run.join("checkpoint.safetensors");
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

#[test]
fn sigterm_while_the_data_load_ends_the_run_at_once() {
    // Resizing all 70,000 Fashion-MNIST images to 64x64 takes seconds: the signal comes
    // in the middle of it, and a scheduler's stop must not wait for the end.
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_tch-vae"))
        .args(train_args(&run, &["--image-size", "64", "--epochs", "1"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let sent = std::time::Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    assert!(
        took < Duration::from_secs(2),
        "ended {took:?} after SIGTERM"
    );
    // Stopped before the run folder was made: nothing to resume, nothing half-written.
    assert!(
        !run.exists(),
        "{:?}",
        std::fs::read_dir(&run).map(|d| d.count())
    );
}

/// Every visible file of a run folder is complete: it parses or loads.
fn assert_complete(run: &Path) {
    for entry in std::fs::read_dir(run).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        match name.as_str() {
            n if n.starts_with('.') => {} // a temporary the killed process did not rename
            "config.json" => drop(run::read_config(run).unwrap()),
            "metrics.csv" => drop(metrics::read(&path).unwrap()),
            "threads.csv" => assert!(!thread_record::read(&path).unwrap().is_empty()),
            "checkpoint.safetensors" => drop(Checkpoint::read(&path).unwrap()),
            "weights.safetensors" => drop(run::load(run, tch::Device::Cpu).unwrap()),
            "vae.pt" => drop(tch::CModule::load(&path).unwrap()),
            n if n.starts_with(run::EVENTS_PREFIX) => {
                // Every record whole, its checksums right (TensorBoard's own format).
                let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
                for event in tboard::SummaryReader::new(file) {
                    event.unwrap_or_else(|e| panic!("{n}: {e}"));
                }
            }
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
    assert!(state.state.position.batch >= 1);
    for (name, t) in &state.state.tensors {
        if name.starts_with("model.") {
            assert!(
                bool::try_from(t.isfinite().all()).unwrap(),
                "{name} is not finite"
            );
        }
    }
}

/// Removes a folder the running program may be writing into: a checkpoint's temporary
/// file created between the listing and the final `rmdir` makes one attempt fail with
/// "directory not empty", so it tries again until the folder is gone.
fn remove_while_written(dir: &Path) {
    for _ in 0..100 {
        use std::io::ErrorKind::{DirectoryNotEmpty, NotFound};
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return,
            // NotFound: a temporary file renamed into place while the listing ran.
            Err(e) if matches!(e.kind(), DirectoryNotEmpty | NotFound) => {
                if !dir.exists() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("cannot remove {}: {e}", dir.display()),
        }
    }
    panic!("{} stayed non-empty through 100 removals", dir.display());
}

#[test]
fn a_vanished_output_folder_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let child = spawn_long_run(&run);
    remove_while_written(&run);
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot write") && err.contains(run.to_str().unwrap()),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
