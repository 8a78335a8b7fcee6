//! The dataset loader on real files: Debian's Fashion-MNIST and folders made here.
mod common;
use common::*;
use tch::{Device, Kind};
use tch_vae::data::Dataset;

#[test]
fn fashion_mnist_loads_whole_in_unit_range() {
    let d = Dataset::load(&fashion_mnist(), None, Device::Cpu).unwrap();
    assert_eq!(
        (d.train.len(), d.test.len(), d.height, d.width),
        (60_000, 10_000, 28, 28)
    );
    assert_eq!(d.train.images.size(), vec![60_000, 784]);
    assert_eq!(d.train.images.kind(), Kind::Float);
    let (lo, hi) = (
        d.train.images.min().double_value(&[]),
        d.train.images.max().double_value(&[]),
    );
    assert_eq!((lo, hi), (0.0, 1.0));
    let labels = d.test.labels.bincount::<tch::Tensor>(None, 10);
    assert_eq!(Vec::<i64>::try_from(labels).unwrap(), vec![1000; 10]); // Fashion-MNIST is balanced
}

#[test]
fn limit_keeps_the_first_images_and_the_whole_test_split() {
    let full = Dataset::load(&fashion_mnist(), None, Device::Cpu).unwrap();
    let d = Dataset::load(&fashion_mnist(), Some(100), Device::Cpu).unwrap();
    assert_eq!((d.train.len(), d.test.len()), (100, 10_000));
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
        let bytes = tch_vae::idx::read_file(&entry.path()).unwrap();
        let dims: Vec<u32> = bytes.dims.iter().map(|&d| d as u32).collect();
        std::fs::write(raw.join(name), tch_vae::idx::encode(&dims, &bytes.data)).unwrap();
    }
    let a = Dataset::load(&gz, None, Device::Cpu).unwrap();
    let b = Dataset::load(&raw, None, Device::Cpu).unwrap();
    assert!(a.train.images.equal(&b.train.images) && a.test.labels.equal(&b.test.labels));
    assert_eq!(a.train.len(), 20);
}
