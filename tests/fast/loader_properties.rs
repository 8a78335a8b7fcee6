//! The loaders of a run folder's files on hostile bytes, as idx_properties.rs does for the
//! IDX reader: `config.json`, `checkpoint.safetensors` and `weights.safetensors` under
//! random bytes, every truncation, and mutated fields give an error or a valid value,
//! never a panic.
use proptest::prelude::*;
use std::path::Path;
use tch::{nn::VarStore, Device};
use tch_vae::config::{ModelConfig, RunConfig, TrainConfig};
use tch_vae::train::checkpoint::{self, Checkpoint};
use tch_vae::train::Trainer;
use tch_vae::{model::weights, model::Vae};

fn model() -> ModelConfig {
    ModelConfig::mlp(4, 4, vec![3], 2)
}

fn config_json() -> String {
    let run = RunConfig {
        version: "0.1.0".into(),
        model: model(),
        train: TrainConfig::defaults(),
        data: Default::default(),
        numerics: None,
    };
    run.to_json().unwrap()
}

/// A valid checkpoint and a valid weights file of a tiny model, as bytes.
fn valid_files(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let trainer = Trainer::new(&model(), &TrainConfig::defaults(), Device::Cpu).unwrap();
    let ckpt = dir.join("checkpoint.safetensors");
    checkpoint::write(&ckpt, &trainer.state(), &[]).unwrap();
    let w = dir.join("weights.safetensors");
    weights::save(trainer.var_store(), &w).unwrap();
    (std::fs::read(ckpt).unwrap(), std::fs::read(w).unwrap())
}

/// Loads `bytes` as a checkpoint and as weights; both must return, never panic.
fn load_both(dir: &Path, bytes: &[u8]) -> (bool, bool) {
    let path = dir.join("file.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let ckpt = Checkpoint::read(&path).is_ok();
    let vs = VarStore::new(Device::Cpu);
    let _vae = Vae::new(&vs.root(), &model());
    let w = weights::load(&vs, &path).is_ok();
    (ckpt, w)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_never_a_config_a_checkpoint_or_weights(
        bytes in proptest::collection::vec(any::<u8>(), 0..400)
    ) {
        prop_assert!(RunConfig::from_json(&String::from_utf8_lossy(&bytes)).is_err());
        let dir = tempfile::tempdir().unwrap();
        prop_assert_eq!(load_both(dir.path(), &bytes), (false, false));
    }

    #[test]
    fn a_mutated_config_field_is_valid_or_an_error(
        field in prop::sample::select(vec![
            "\"latent\": 2", "\"image_height\": 4", "\"epochs\": 10", "\"batch_size\": 128",
            "\"lr\": 0.001", "\"beta\": 1.0", "\"seed\": 42", "\"free_bits\": 0.0",
        ]),
        value in prop::sample::select(vec![
            "-1", "0", "1e308", "-1e308", "18446744073709551616", "NaN", "\"x\"", "null", "[]",
            "1000000000000", "0.5",
        ]),
    ) {
        let text = config_json();
        prop_assume!(text.contains(field));
        let name = field.split(':').next().unwrap();
        let mutated = text.replace(field, &format!("{name}: {value}"));
        // Parsing and the checks that every command runs on a config either pass or fail:
        // nothing panics, and a config that passes has a model whose sizes are valid.
        let checked = RunConfig::from_json(&mutated).and_then(|c| c.validate().map(|()| c));
        if let Ok(config) = checked {
            prop_assert!(config.model.latent >= 1 && config.train.batch_size >= 1);
        }
    }
}

#[test]
fn every_truncation_of_a_checkpoint_or_weights_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (ckpt, w) = valid_files(dir.path());
    assert!(load_both(dir.path(), &ckpt).0);
    assert!(load_both(dir.path(), &w).1);
    // Every length of the header, then a sample of the data that follows it.
    for file in [&ckpt, &w] {
        let lengths = (0..file.len().min(2000)).chain((2000..file.len()).step_by(97));
        for len in lengths {
            let (c, ws) = load_both(dir.path(), &file[..len]);
            assert!(
                !c && !ws,
                "a truncation to {len} of {} bytes loaded",
                file.len()
            );
        }
    }
}
