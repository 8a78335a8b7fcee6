//! The dataset loader on the real default dataset, Debian's Fashion-MNIST.
use crate::common::*;
use tch::{Device, Kind};
use tch_vae::data::{Dataset, LoadOptions};

#[test]
fn fashion_mnist_loads_whole_in_unit_range() {
    let d = Dataset::load(
        &fashion_mnist(),
        &LoadOptions {
            limit: None,
            channels: None,
            image_size: None,
            cache: None,
            test_fraction: 0.1,
            seed: 42,
        },
        Device::Cpu,
    )
    .unwrap();
    assert_eq!(
        (d.train.len(), d.test.len(), d.height, d.width),
        (60_000, 10_000, 28, 28)
    );
    // One byte per value on the device; floats in [0, 1] per batch.
    assert_eq!(d.train.images.size(), vec![60_000, 784]);
    assert_eq!(d.train.images.kind(), Kind::Uint8);
    let x = d.train.all();
    assert_eq!(x.kind(), Kind::Float);
    let (lo, hi) = (x.min().double_value(&[]), x.max().double_value(&[]));
    assert_eq!((lo, hi), (0.0, 1.0));
    assert_eq!(d.channels, 1);
    assert_eq!(d.class_names.len(), 10);
    let labels = d.test.labels.bincount::<tch::Tensor>(None, 10);
    assert_eq!(Vec::<i64>::try_from(labels).unwrap(), vec![1000; 10]); // Fashion-MNIST is balanced
}
