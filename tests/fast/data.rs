//! The dataset loader on IDX folders the tests write: --limit, gzip and raw files.
use crate::common::*;
use tch::Device;
use tch_vae::data::{Dataset, LoadOptions};

fn limit(n: Option<usize>) -> LoadOptions<'static> {
    LoadOptions {
        limit: n,
        channels: None,
        image_size: None,
        cache: None,
        test_fraction: 0.1,
        seed: 42,
    }
}

#[test]
fn limit_keeps_the_first_images_and_the_whole_test_split() {
    let tmp = tempfile::tempdir().unwrap();
    write_idx_folder(tmp.path(), 300, 40);
    let full = Dataset::load(tmp.path(), &limit(None), Device::Cpu).unwrap();
    let d = Dataset::load(tmp.path(), &limit(Some(100)), Device::Cpu).unwrap();
    assert_eq!((d.train.len(), d.test.len()), (100, 40));
    assert!(d.train.images.equal(&full.train.images.narrow(0, 0, 100)));
    assert!(d.train.labels.equal(&full.train.labels.narrow(0, 0, 100)));
}

#[test]
fn raw_and_gzip_folders_load_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let gz = tmp.path().join("gz");
    write_idx_folder(&gz, 20, 5);
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    for entry in std::fs::read_dir(&gz).unwrap().flatten() {
        let name = entry
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".gz")
            .to_string();
        let bytes = tch_vae::data::idx::read_file(&entry.path()).unwrap();
        let dims: Vec<u32> = bytes.dims.iter().map(|&d| d as u32).collect();
        std::fs::write(
            raw.join(name),
            tch_vae::data::idx::encode(&dims, &bytes.data),
        )
        .unwrap();
    }
    let a = Dataset::load(&gz, &limit(None), Device::Cpu).unwrap();
    let b = Dataset::load(&raw, &limit(None), Device::Cpu).unwrap();
    assert!(a.train.images.equal(&b.train.images) && a.test.labels.equal(&b.test.labels));
    assert_eq!(a.train.len(), 20);
}
