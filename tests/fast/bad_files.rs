//! Corrupt or mismatched run files handed to every command: a clear error naming the file
//! (with expected and found shapes where they differ), exit status 1, never a panic or a
//! libtorch backtrace.
use crate::common::*;
use std::path::Path;

fn commands(run: &Path) -> Vec<Vec<String>> {
    let r = run.to_string_lossy().into_owned();
    [
        vec!["sample", "--run", &r, "--seed", "1"],
        vec!["plot", "--run", &r],
        vec!["export", "--run", &r],
        vec![
            "eval",
            "--run",
            &r,
            "--iw-samples",
            "2",
            "--limit",
            "10",
            "--device",
            "cpu",
        ],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect()
}

fn each_command(run: &Path, needles: &[&str], skip_plot: bool) {
    for cmd in commands(run) {
        if skip_plot && cmd[0] == "plot" {
            continue;
        }
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        fails_with(&args, needles);
    }
}

#[test]
fn corrupt_weights_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    std::fs::write(run.join("weights.safetensors"), b"not safetensors at all").unwrap();
    each_command(
        &run,
        &["weights.safetensors", "not a readable safetensors file"],
        false,
    );
}

#[test]
fn weights_of_another_shape_report_expected_and_found() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    std::fs::write(
        run.join("config.json"),
        config.replace("\"latent\": 2", "\"latent\": 3"),
    )
    .unwrap();
    each_command(
        &run,
        &[
            "weights.safetensors",
            "decoder.0.weight: expected shape [16, 3], found [16, 2]",
        ],
        false,
    );
}

#[test]
fn corrupt_or_invalid_config_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    std::fs::write(run.join("config.json"), b"{ this is not json").unwrap();
    each_command(
        &run,
        &["config.json", "is not a valid tch-vae config"],
        true,
    );
    let o = tch_vae(&["train", "--resume", run.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("config.json"));
    std::fs::write(run.join("config.json"), br#"{"version":"x","model":{"image_height":28,"image_width":28,"hidden":[0],"latent":2,"likelihood":"bernoulli"},"train":{"data":"/d","epochs":1,"batch_size":8,"lr":0.001,"beta":1.0,"seed":1,"limit":null,"device":"cpu"}}"#).unwrap();
    each_command(
        &run,
        &["config.json", "--hidden widths must be at least 1"],
        true,
    );
}

#[test]
fn corrupt_metrics_are_named_by_plot() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    std::fs::write(run.join("metrics.csv"), b"epoch,train_loss\n1,abc\n").unwrap();
    fails_with(
        &["plot", "--run", run.to_str().unwrap()],
        &["metrics.csv", "not a tch-vae metrics file"],
    );
}

#[test]
fn corrupt_or_foreign_checkpoints_are_refused_by_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    let ckpt = run.join("checkpoint.safetensors");
    let good = std::fs::read(&ckpt).unwrap();
    let resume = ["train", "--resume", run.to_str().unwrap(), "--epochs", "2"];
    std::fs::write(&ckpt, &good[..good.len() / 2]).unwrap();
    fails_with(
        &resume,
        &["checkpoint.safetensors", "not a readable safetensors file"],
    );
    // A checkpoint of another model (latent 3) in this run's folder.
    let other = tmp.path().join("other");
    let flags = ["--epochs", "1", "--hidden", "16", "--latent", "3"];
    train_ok(&train_args_on(&tiny_data(tmp.path()), &other, &flags));
    std::fs::copy(other.join("checkpoint.safetensors"), &ckpt).unwrap();
    fails_with(
        &resume,
        &["model.decoder.0.weight: expected shape [16, 2], found [16, 3]"],
    );
    // Weights in place of a checkpoint.
    std::fs::copy(run.join("weights.safetensors"), &ckpt).unwrap();
    fails_with(&resume, &["checkpoint.safetensors", "no tensor position"]);
    std::fs::remove_file(&ckpt).unwrap();
    fails_with(&resume, &["checkpoint.safetensors is missing"]);
}

#[test]
fn eval_flags_out_of_range_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), &[]);
    let r = run.to_str().unwrap();
    fails_with(
        &["eval", "--run", r, "--iw-samples", "0"],
        &["--iw-samples must be from 1 to"],
    );
    fails_with(
        &["eval", "--run", r, "--limit", "0"],
        &["--limit must be at least 1"],
    );
    fails_with(
        &["eval", "--run", r, "--batch-rows", "0"],
        &["--batch-rows must be from 1 to"],
    );
}
