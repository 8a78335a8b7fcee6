//! The dataset sources on files the tests write: NumPy `.npz` and `.npy` (layouts, dtypes,
//! labels, a drawn test split), CIFAR-10 and CIFAR-100 binary files, their bad forms, and a
//! colour run end to end.
use crate::common::*;
use npyz::WriterBuilder;
use std::path::{Path, PathBuf};
use tch::{Device, Kind};
use tch_vae::data::{Dataset, LoadOptions};
use tch_vae::run;

const OPTIONS: LoadOptions<'static> = LoadOptions {
    limit: None,
    channels: None,
    image_size: None,
    cache: None,
    test_fraction: 0.25,
    seed: 42,
};

/// Writes array `name` of `shape` into an open .npz.
fn npz_array<T: npyz::AutoSerialize + npyz::Serialize + Copy>(
    npz: &mut npyz::npz::NpzWriter<std::io::BufWriter<std::fs::File>>,
    name: &str,
    shape: &[u64],
    values: &[T],
) {
    let mut w = npz
        .array::<T>(name, Default::default())
        .unwrap()
        .default_dtype()
        .shape(shape)
        .begin_nd()
        .unwrap();
    w.extend(values.iter().copied()).unwrap();
    w.finish().unwrap();
}

/// Pixel values that say where they are: image i, row y, column x, channel c.
fn pixel(i: usize, y: usize, x: usize, c: usize) -> u8 {
    (i * 31 + y * 7 + x * 3 + c * 50) as u8
}

/// An .npz of `n_train` + `n_test` RGB images of 4x5 pixels, channels last, with labels.
fn colour_npz(dir: &Path, n_train: usize, n_test: usize) -> PathBuf {
    let path = dir.join("faces.npz");
    let mut npz = npyz::npz::NpzWriter::create(&path).unwrap();
    for (x_key, y_key, n, offset) in [
        ("x_train", "y_train", n_train, 0),
        ("x_test", "y_test", n_test, 1000),
    ] {
        let mut values = Vec::new();
        for i in 0..n {
            for y in 0..4 {
                for x in 0..5 {
                    for c in 0..3 {
                        values.push(pixel(i + offset, y, x, c));
                    }
                }
            }
        }
        npz_array(&mut npz, x_key, &[n as u64, 4, 5, 3], &values);
        let labels: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
        npz_array(&mut npz, y_key, &[n as u64], &labels);
    }
    drop(npz); // the zip is completed when the writer drops
    path
}

#[test]
fn an_npz_of_colour_images_channels_last_loads_channel_first() {
    let tmp = tempfile::tempdir().unwrap();
    let path = colour_npz(tmp.path(), 6, 2);
    let d = Dataset::load(&path, &OPTIONS, Device::Cpu).unwrap();
    assert_eq!((d.channels, d.height, d.width), (3, 4, 5));
    assert_eq!((d.train.len(), d.test.len()), (6, 2));
    assert!(!d.origin.drawn_test_split);
    assert_eq!(d.train.images.kind(), Kind::Uint8);
    let bytes = Vec::<u8>::try_from(d.train.images.view([-1])).unwrap();
    // Image 2, channel 1 (green), row 3, column 4.
    let (i, c, y, x) = (2, 1, 3, 4);
    assert_eq!(bytes[i * 60 + c * 20 + y * 5 + x], pixel(i, y, x, c));
    let labels = Vec::<i64>::try_from(&d.test.labels).unwrap();
    assert_eq!(labels, vec![0, 1]);
}

#[test]
fn a_float_npy_without_labels_is_split_with_the_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.npy");
    let values: Vec<f32> = (0..20 * 9).map(|v| (v % 256) as f32 / 255.0).collect();
    npyz::to_file_1d(&path, values.iter().copied()).unwrap(); // 1-D: refused below
    let e = format!(
        "{:#}",
        Dataset::load(&path, &OPTIONS, Device::Cpu).err().unwrap()
    );
    assert!(
        e.contains("an array of shape [180]") && e.contains("x.npy"),
        "{e}"
    );
    // [N, C, H, W] = [20, 1, 3, 3] floats in [0, 1].
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[20, 1, 3, 3])
        .writer(&mut file)
        .begin_nd()
        .unwrap();
    w.extend(values.iter().copied()).unwrap();
    w.finish().unwrap();
    drop(file);
    let d = Dataset::load(&path, &OPTIONS, Device::Cpu).unwrap();
    assert_eq!((d.channels, d.train.len(), d.test.len()), (1, 15, 5));
    assert!(d.origin.drawn_test_split);
    let again = Dataset::load(&path, &OPTIONS, Device::Cpu).unwrap();
    assert!(again.test.images.equal(&d.test.images));
    // Every value came back to the byte it was made from.
    let all =
        Vec::<u8>::try_from(tch::Tensor::cat(&[&d.train.images, &d.test.images], 0).view([-1]))
            .unwrap();
    let mut sorted = all.clone();
    sorted.sort();
    let mut expected: Vec<u8> = (0..180).map(|v| (v % 256) as u8).collect();
    expected.sort();
    assert_eq!(sorted, expected);
}

/// Writes CIFAR-10 files (5 training batches of 2 images, 2 test images) or CIFAR-100 ones.
fn cifar(dir: &Path, hundred: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let record = |label: u8| -> Vec<u8> {
        let mut r = if hundred {
            vec![label / 2, label]
        } else {
            vec![label]
        };
        r.extend((0..3072).map(|p| (p % 251) as u8 ^ label));
        r
    };
    let write = |name: &str, labels: &[u8]| {
        let bytes: Vec<u8> = labels.iter().flat_map(|&l| record(l)).collect();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    if hundred {
        write("train.bin", &[1, 2, 3, 4]);
        write("test.bin", &[5, 6]);
        std::fs::write(dir.join("fine_label_names.txt"), "apple\naquarium_fish\n").unwrap();
    } else {
        for b in 1..=5 {
            write(&format!("data_batch_{b}.bin"), &[b, b + 1]);
        }
        write("test_batch.bin", &[7, 8]);
        std::fs::write(
            dir.join("batches.meta.txt"),
            "airplane\nautomobile\nbird\n\n",
        )
        .unwrap();
    }
}

#[test]
fn cifar_10_and_100_binary_files_load_with_their_class_names() {
    let tmp = tempfile::tempdir().unwrap();
    for hundred in [false, true] {
        let dir = tmp.path().join(if hundred { "c100" } else { "c10" });
        cifar(&dir, hundred);
        let d = Dataset::load(&dir, &OPTIONS, Device::Cpu).unwrap();
        assert_eq!((d.channels, d.height, d.width), (3, 32, 32));
        let labels = Vec::<i64>::try_from(&d.train.labels).unwrap();
        if hundred {
            assert_eq!(labels, vec![1, 2, 3, 4]); // the fine label
            assert_eq!(d.class_names, vec!["apple", "aquarium_fish"]);
        } else {
            assert_eq!(labels, vec![1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
            assert_eq!(d.class_names, vec!["airplane", "automobile", "bird"]);
        }
        let first = Vec::<u8>::try_from(d.train.images.get(0)).unwrap();
        assert_eq!(first[300], (300 % 251) as u8 ^ 1); // the record of label 1, pixel 300
    }
    // A truncated batch is named.
    let dir = tmp.path().join("c10");
    let file = dir.join("data_batch_3.bin");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
    let e = format!(
        "{:#}",
        Dataset::load(&dir, &OPTIONS, Device::Cpu).err().unwrap()
    );
    assert!(
        e.contains("data_batch_3.bin") && e.contains("truncated"),
        "{e}"
    );
}

#[test]
fn cifar_labels_records_and_entries_are_checked_against_the_format() {
    let tmp = tempfile::tempdir().unwrap();
    let load = |dir: &Path| {
        format!(
            "{:#}",
            Dataset::load(dir, &OPTIONS, Device::Cpu)
                .err()
                .expect("an error")
        )
    };
    // A CIFAR-10 label of 12: the format has 10 classes.
    let dir = tmp.path().join("c10");
    cifar(&dir, false);
    let file = dir.join("data_batch_2.bin");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[3073] = 12; // the second record's label byte
    std::fs::write(&file, &bytes).unwrap();
    let e = load(&dir);
    assert!(
        e.contains("data_batch_2.bin: image 2 has label 12, but CIFAR-10 labels are 0 to 9"),
        "{e}"
    );
    // CIFAR-10 records (3,073 bytes) under CIFAR-100's names: not whole 3,074-byte records.
    let dir = tmp.path().join("mixed");
    cifar(&dir, true);
    let ten_records: Vec<u8> = std::fs::read(tmp.path().join("c10/test_batch.bin")).unwrap();
    std::fs::write(dir.join("train.bin"), &ten_records).unwrap();
    let e = load(&dir);
    assert!(
        e.contains("train.bin") && e.contains("3074-byte CIFAR-100 records"),
        "{e}"
    );
    // A folder where a batch file should be is named as a folder, not as missing.
    let dir = tmp.path().join("c10b");
    cifar(&dir, false);
    std::fs::remove_file(dir.join("data_batch_4.bin")).unwrap();
    std::fs::create_dir(dir.join("data_batch_4.bin")).unwrap();
    let e = load(&dir);
    assert!(
        e.contains("data_batch_4.bin is a folder, not a regular file"),
        "{e}"
    );
}

/// A `.npy` file: a version 1.0 header declaring `descr` and `shape`, then `payload`.
fn npy_with_header(path: &Path, descr: &str, shape: &str, payload: &[u8]) {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(payload);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn array_sizes_are_checked_from_the_header_before_any_value_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        // A shape whose product overflows 64 bits.
        (
            "overflow.npy",
            "|u1",
            "(4294967296, 4294967296, 2)",
            "declares more than the 17179869184 values accepted",
        ),
        // 8e10 bytes of float64 in a file of 132 bytes: refused before reading.
        (
            "huge.npy",
            "<f8",
            "(10000, 1000, 1000)",
            "(80000000000 bytes of values) but the file holds only 132 bytes",
        ),
        // A header of 4 images of 2x2 and the bytes of one: the values end early.
        (
            "cut.npy",
            "|u1",
            "(4, 2, 2)",
            "the array's values end early (a truncated or damaged file)",
        ),
    ];
    for (name, descr, shape, needle) in cases {
        let path = tmp.path().join(name);
        npy_with_header(&path, descr, shape, &[7; 4]);
        let e = format!(
            "{:#}",
            Dataset::load(&path, &OPTIONS, Device::Cpu)
                .err()
                .expect("an error")
        );
        assert!(e.contains(name) && e.contains(needle), "{name}: {e}");
    }
    // A sparse file as long as that header says: past the file's check, the memory's.
    let sparse = tmp.path().join("sparse.npy");
    npy_with_header(&sparse, "<f8", "(10000, 1000, 1000)", &[]);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&sparse)
        .unwrap();
    file.set_len(80_000_000_128).unwrap();
    let e = format!(
        "{:#}",
        Dataset::load(&sparse, &OPTIONS, Device::Cpu)
            .err()
            .expect("an error")
    );
    assert!(e.contains("MiB of memory available"), "{e}");
    // The same header with all its bytes loads: the fixture itself is a valid .npy.
    let whole = tmp.path().join("whole.npy");
    npy_with_header(&whole, "|u1", "(4, 2, 2)", &[7; 16]);
    assert_eq!(
        Dataset::load(&whole, &OPTIONS, Device::Cpu)
            .unwrap()
            .input_dim(),
        4
    );
}

#[test]
fn hostile_headers_are_refused_before_numpys_header_parser_reads_them() {
    let tmp = tempfile::tempdir().unwrap();
    // Version, declared header length and header bytes, as a hostile file sets them.
    let raw = |name: &str, version: u8, len: u16, header: &[u8]| -> PathBuf {
        let path = tmp.path().join(name);
        let mut bytes = vec![0x93, b'N', b'U', b'M', b'P', b'Y', version, 0];
        bytes.extend(len.to_le_bytes());
        bytes.extend(header);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    // Nested brackets kept npyz's parser busy past 120 s (20,000 bytes); within NumPy's
    // 10,000-byte bound they are refused by their depth.
    let nested = [vec![b'['; 4000], vec![b']'; 4000], b"\n".to_vec()].concat();
    let long = vec![b' '; 20_000];
    let cases = [
        (
            raw("nested.npy", 1, nested.len() as u16, &nested),
            "its header nests brackets 4000 deep",
        ),
        (
            raw("long.npy", 1, long.len() as u16, &long),
            "a header of 20000 bytes, more than the 10000 that NumPy itself reads",
        ),
        (
            raw("cut.npy", 1, 5000, b"{'descr'"),
            "its header declares 5000 bytes but the file ends before them",
        ),
        (raw("version.npy", 9, 10, b"{}"), "NumPy format version 9.0"),
    ];
    for (path, needle) in &cases {
        let e = format!(
            "{:#}",
            Dataset::load(path, &OPTIONS, Device::Cpu).err().unwrap()
        );
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(e.contains(name) && e.contains(needle), "{name}: {e}");
    }
    // The same nested header as an .npz entry.
    let path = tmp.path().join("nested.npz");
    let mut npz = npyz::npz::NpzWriter::create(&path).unwrap();
    let zip = npz.zip_writer();
    zip.start_file("x_train.npy", Default::default()).unwrap();
    std::io::Write::write_all(zip, &std::fs::read(&cases[0].0).unwrap()).unwrap();
    drop(npz); // the zip is completed when the writer drops
    let e = format!(
        "{:#}",
        Dataset::load(&path, &OPTIONS, Device::Cpu).err().unwrap()
    );
    assert!(
        e.contains("nested.npz: x_train: its header nests brackets 4000 deep"),
        "{e}"
    );
    // Two entries named x_train: which one the zip library keeps is its choice, so the
    // archive is refused.
    let path = tmp.path().join("twice.npz");
    let mut npz = npyz::npz::NpzWriter::create(&path).unwrap();
    npz_array(&mut npz, "x_train", &[2, 2, 2], &[0u8; 8]);
    npz_array(&mut npz, "x_train", &[2, 2, 2], &[255u8; 8]);
    drop(npz); // the zip is completed when the writer drops
    let e = format!(
        "{:#}",
        Dataset::load(&path, &OPTIONS, Device::Cpu).err().unwrap()
    );
    assert!(
        e.contains("twice.npz holds two or more entries of the same name"),
        "{e}"
    );
}

#[test]
fn bad_arrays_are_named_with_what_was_found() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, arrays: &[(&str, &[u64], Vec<i32>)]| -> PathBuf {
        let path = tmp.path().join(name);
        let mut npz = npyz::npz::NpzWriter::create(&path).unwrap();
        for (key, shape, values) in arrays {
            npz_array(&mut npz, key, shape, values);
        }
        drop(npz); // the zip is completed when the writer drops
        path
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            write("keys.npz", &[("images", &[2, 2, 2], vec![0; 8])]),
            "holds the arrays [\"images\"], not x_train",
        ),
        (
            write("dtype.npz", &[("x_train", &[2, 2, 2], vec![0; 8])]),
            "values of type <i4",
        ),
        (
            write("rank.npz", &[("x_train", &[2, 4], vec![0; 8])]),
            "an array of shape [2, 4]",
        ),
    ];
    for (path, needle) in cases {
        let e = format!(
            "{:#}",
            Dataset::load(&path, &OPTIONS, Device::Cpu).err().unwrap()
        );
        assert!(
            e.contains(needle) && e.contains(path.file_name().unwrap().to_str().unwrap()),
            "{e}"
        );
    }
    // Labels whose count differs from the images', and float values outside [0, 1].
    let path = tmp.path().join("labels.npz");
    let mut npz = npyz::npz::NpzWriter::create(&path).unwrap();
    npz_array(&mut npz, "x_train", &[3, 2, 2], &[0u8; 12]);
    npz_array(&mut npz, "y_train", &[2], &[0i64, 1]);
    drop(npz); // the zip is completed when the writer drops
    let e = format!(
        "{:#}",
        Dataset::load(&path, &OPTIONS, Device::Cpu).err().unwrap()
    );
    assert!(
        e.contains("y_train: labels of shape [2] for 3 images"),
        "{e}"
    );
    let path = tmp.path().join("range.npz");
    let mut npz = npyz::npz::NpzWriter::create(&path).unwrap();
    npz_array(&mut npz, "x_train", &[2, 1, 2], &[0.0f64, 0.5, 1.0, 2.0]);
    drop(npz); // the zip is completed when the writer drops
    let e = format!(
        "{:#}",
        Dataset::load(&path, &OPTIONS, Device::Cpu).err().unwrap()
    );
    assert!(e.contains("a value 2 outside [0, 1]"), "{e}");
    // A test fraction that leaves no training image.
    let path = tmp.path().join("tiny.npz");
    let mut npz = npyz::npz::NpzWriter::create(&path).unwrap();
    npz_array(&mut npz, "x_train", &[1, 2, 2], &[0u8; 4]);
    drop(npz); // the zip is completed when the writer drops
    let e = format!(
        "{:#}",
        Dataset::load(&path, &OPTIONS, Device::Cpu).err().unwrap()
    );
    assert!(e.contains("leaves no training image"), "{e}");
}

#[test]
fn a_colour_npz_trains_end_to_end_with_rgb_figures_and_a_channel_aware_vae_pt() {
    let tmp = tempfile::tempdir().unwrap();
    let data = colour_npz(tmp.path(), 40, 8);
    let run = tmp.path().join("run");
    let args = train_args_on(
        &data,
        &run,
        &["--epochs", "2", "--hidden", "16", "--latent", "3"],
    );
    train_ok(&args);
    let config = run::read_config(&run).unwrap();
    assert_eq!(
        (
            config.model.channels,
            config.model.image_height,
            config.model.image_width
        ),
        (3, 4, 5)
    );
    assert_eq!(config.data.source, "numpy");
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(run.join(run::SAMPLES)).unwrap(),
    ));
    assert_eq!(
        decoder.read_info().unwrap().info().color_type,
        png::ColorType::Rgb
    );
    let m = tch::CModule::load(run.join(run::TORCHSCRIPT)).unwrap();
    // vae.pt takes [n, C, H, W] as well as the flattened [n, C*H*W].
    let x = tch::Tensor::rand([2, 3, 4, 5], (Kind::Float, Device::Cpu));
    let flat = m
        .method_is("encode", &[tch::IValue::Tensor(x.view([2, 60]))])
        .unwrap();
    let image = m.method_is("encode", &[tch::IValue::Tensor(x)]).unwrap();
    let (tch::IValue::Tuple(a), tch::IValue::Tuple(b)) = (flat, image) else {
        panic!("encode returns a tuple")
    };
    let (tch::IValue::Tensor(a), tch::IValue::Tensor(b)) = (&a[0], &b[0]) else {
        panic!("tensors")
    };
    assert!(a.equal(b));
    let r = run.to_str().unwrap();
    for cmd in [
        vec!["eval", "--run", r, "--iw-samples", "4"],
        vec!["plot", "--run", r],
        vec!["train", "--resume", r, "--epochs", "3"],
    ] {
        let o = tch_vae(&cmd);
        assert!(o.status.success(), "{cmd:?}: {}", stderr(&o));
    }
}

#[test]
fn float_arrays_of_either_width_and_byte_order_read_back_to_their_bytes() {
    // The payload written by hand (Rust's to_le/to_be_bytes), not by npyz; 80,000 values,
    // more than one of the reader's 65,536-value blocks.
    let tmp = tempfile::tempdir().unwrap();
    let n_values = 2 * 200 * 200;
    let level = |i: usize| (i * 7 % 256) as u8;
    for descr in ["<f4", ">f4", "<f8", ">f8"] {
        let payload: Vec<u8> = (0..n_values)
            .flat_map(|i| {
                let v = f64::from(level(i)) / 255.0;
                match descr {
                    "<f4" => (v as f32).to_le_bytes().to_vec(),
                    ">f4" => (v as f32).to_be_bytes().to_vec(),
                    "<f8" => v.to_le_bytes().to_vec(),
                    _ => v.to_be_bytes().to_vec(),
                }
            })
            .collect();
        let path = tmp.path().join(format!("x{}.npy", &descr[1..]));
        npy_with_header(&path, descr, "(2, 1, 200, 200)", &payload);
        let d = Dataset::load(&path, &OPTIONS, Device::Cpu).unwrap();
        let all = tch::Tensor::cat(&[&d.train.images, &d.test.images], 0).view([-1]);
        let mut got = Vec::<u8>::try_from(all).unwrap();
        got.sort();
        let mut expected: Vec<u8> = (0..n_values).map(level).collect();
        expected.sort();
        assert!(got == expected, "{descr}: the bytes differ");
    }
}

#[test]
fn limit_on_an_npz_with_x_test_reads_only_the_training_images_it_keeps() {
    // 50 float32 training images of 2x2; image 30 holds 7.0, outside [0, 1]: a whole read
    // meets it, a read of the first 8 must not. The oracle: the levels written, by hand.
    let tmp = tempfile::tempdir().unwrap();
    let level = |i: usize| (i * 11 % 256) as u8;
    let mut values: Vec<f32> = (0..200).map(|i| f32::from(level(i)) / 255.0).collect();
    values[30 * 4 + 2] = 7.0;
    let write = |name: &str, with_test: bool| {
        let path = tmp.path().join(name);
        let mut npz = npyz::npz::NpzWriter::create(&path).unwrap();
        npz_array(&mut npz, "x_train", &[50, 2, 2], &values);
        npz_array(&mut npz, "y_train", &[50], &(0..50i64).collect::<Vec<_>>());
        if with_test {
            npz_array(&mut npz, "x_test", &[3, 2, 2], &[0.5f32; 12]);
            npz_array(&mut npz, "y_test", &[3], &[1i64, 2, 3]);
        }
        drop(npz); // the zip is completed when the writer drops
        path
    };
    let split = write("split.npz", true);
    let limit = |n| LoadOptions {
        limit: Some(n),
        ..OPTIONS
    };
    let e = format!(
        "{:#}",
        Dataset::load(&split, &OPTIONS, Device::Cpu)
            .err()
            .expect("an error")
    );
    assert!(e.contains("x_train: a value 7 outside [0, 1]"), "{e}");
    let d = Dataset::load(&split, &limit(8), Device::Cpu).unwrap();
    assert_eq!((d.train.len(), d.test.len()), (8, 3));
    let bytes = Vec::<u8>::try_from(d.train.images.view([-1])).unwrap();
    assert_eq!(bytes, (0..32).map(level).collect::<Vec<_>>());
    let labels = Vec::<i64>::try_from(&d.train.labels).unwrap();
    assert_eq!(labels, (0..8).collect::<Vec<_>>());
    // A limit past the array reads it all (and meets the bad value).
    assert!(Dataset::load(&split, &limit(60), Device::Cpu).is_err());
    // Without x_test the test images are drawn from the whole array: all of it is read.
    let e = format!(
        "{:#}",
        Dataset::load(&write("whole.npz", false), &limit(8), Device::Cpu)
            .err()
            .expect("an error")
    );
    assert!(e.contains("a value 7 outside [0, 1]"), "{e}");
}
