//! Folders of images on files the tests write: class subfolders and train/test splits,
//! PNG (8- and 16-bit), JPEG, mixed sizes and channels, the decoded cache, bad folders, and
//! a run end to end.
use crate::common::*;
use image::{ImageBuffer, Luma, Rgb};
use std::path::Path;
use tch::{Device, Tensor};
use tch_vae::data::{Dataset, LoadOptions};

fn options(cache: Option<&Path>) -> LoadOptions<'_> {
    LoadOptions {
        limit: None,
        channels: None,
        image_size: None,
        cache,
        test_fraction: 0.25,
        seed: 3,
    }
}

/// An RGB image of `h` x `w` whose pixels encode (seed, y, x).
fn rgb(path: &Path, h: u32, w: u32, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    ImageBuffer::from_fn(w, h, |x, y| Rgb([seed, (y * 10) as u8, (x * 20) as u8]))
        .save(path)
        .unwrap();
}

fn grey(path: &Path, h: u32, w: u32, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    ImageBuffer::from_fn(w, h, |x, y| Luma([seed.wrapping_add((x + y) as u8)]))
        .save(path)
        .unwrap();
}

fn load(dir: &Path, options: &LoadOptions) -> anyhow::Result<Dataset> {
    Dataset::load(dir, options, Device::Cpu)
}

fn err(dir: &Path, options: &LoadOptions) -> String {
    format!("{:#}", load(dir, options).err().expect("an error"))
}

#[test]
fn class_subfolders_under_train_and_test_give_labels_and_names() {
    let tmp = tempfile::tempdir().unwrap();
    for (split, n) in [("train", 3), ("test", 1)] {
        for (class, seed) in [("cats", 10), ("dogs", 20)] {
            for i in 0..n {
                rgb(
                    &tmp.path().join(format!("{split}/{class}/{i}.png")),
                    4,
                    6,
                    seed + i,
                );
            }
        }
    }
    let d = load(tmp.path(), &options(None)).unwrap();
    assert_eq!((d.channels, d.height, d.width), (3, 4, 6));
    assert_eq!((d.train.len(), d.test.len()), (6, 2));
    assert_eq!(d.class_names, vec!["cats", "dogs"]);
    assert_eq!(
        Vec::<i64>::try_from(&d.train.labels).unwrap(),
        vec![0, 0, 0, 1, 1, 1]
    );
    assert!(!d.origin.drawn_test_split);
    // Channel by channel: the red plane of the first image is its seed everywhere.
    let first = Vec::<u8>::try_from(d.train.images.get(0)).unwrap();
    assert!(first[..24].iter().all(|&v| v == 10));
    assert_eq!(first[24 + 6 + 2], 10); // green at row 1 = 10 * y
                                       // A test class that training never saw is named.
    rgb(&tmp.path().join("test/birds/0.png"), 4, 6, 1);
    assert!(err(tmp.path(), &options(None))
        .contains("class folder birds is not among the training classes"));
}

#[test]
fn jpeg_and_16_bit_png_decode_and_a_folder_without_a_split_is_split_with_the_seed() {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..6u8 {
        grey(&tmp.path().join(format!("{i}.png")), 5, 5, i);
    }
    ImageBuffer::from_fn(5, 5, |x, _| Luma([(x * 10000) as u16]))
        .save(tmp.path().join("deep.png"))
        .unwrap();
    image::DynamicImage::ImageLuma8(ImageBuffer::from_fn(5, 5, |_, _| Luma([128u8])))
        .save(tmp.path().join("photo.jpg"))
        .unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "not an image").unwrap();
    let d = load(tmp.path(), &options(None)).unwrap();
    assert_eq!((d.channels, d.train.len() + d.test.len()), (1, 8));
    assert_eq!(d.test.len(), 2); // 25% of 8
    assert!(d.origin.drawn_test_split && d.class_names.is_empty());
    let again = load(tmp.path(), &options(None)).unwrap();
    assert!(again.test.images.equal(&d.test.images));
}

#[test]
fn mixed_sizes_and_channels_need_a_flag_and_work_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    rgb(&tmp.path().join("a.png"), 8, 8, 1);
    rgb(&tmp.path().join("b.png"), 6, 10, 2);
    rgb(&tmp.path().join("c.png"), 8, 8, 3);
    let e = err(tmp.path(), &options(None));
    assert!(
        e.contains("a.png is 8x8 but") && e.contains("b.png is 6x10") && e.contains("--image-size"),
        "{e}"
    );
    let sized = LoadOptions {
        image_size: Some((4, 4)),
        ..options(None)
    };
    let d = load(tmp.path(), &sized).unwrap();
    assert_eq!((d.channels, d.height, d.width), (3, 4, 4));
    grey(&tmp.path().join("d.png"), 8, 8, 4);
    let e = err(tmp.path(), &sized);
    assert!(
        e.contains("--channels 1 or --channels 3") && e.contains("d.png"),
        "{e}"
    );
    let d = load(
        tmp.path(),
        &LoadOptions {
            channels: Some(1),
            ..sized
        },
    )
    .unwrap();
    assert_eq!((d.channels, d.train.len() + d.test.len()), (1, 4));
}

#[test]
fn empty_foreign_and_corrupt_folders_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    // An empty folder, and one of other files: what --data takes, and what was found.
    let e = err(&empty, &options(None));
    assert!(
        e.contains("holds no images") && e.contains("it is empty"),
        "{e}"
    );
    std::fs::write(empty.join("a.csv"), "x").unwrap();
    assert!(err(&empty, &options(None)).contains("found a.csv"));
    let corrupt = tmp.path().join("corrupt");
    grey(&corrupt.join("good.png"), 4, 4, 1);
    std::fs::write(corrupt.join("bad.png"), b"\x89PNG but not really").unwrap();
    let e = err(&corrupt, &options(None));
    assert!(e.contains("bad.png: cannot decode the image"), "{e}");
    let split = tmp.path().join("split");
    grey(&split.join("train/0.png"), 4, 4, 1);
    std::fs::create_dir_all(split.join("test")).unwrap();
    std::fs::write(split.join("test/readme.txt"), "x").unwrap();
    let e = err(&split, &options(None));
    assert!(e.contains("test") && e.contains("holds no images"), "{e}");
    // Images beside class folders would have no class: refused with their names, and so
    // are images beside an empty subfolder (which would otherwise make them vanish).
    let loose = tmp.path().join("loose");
    grey(&loose.join("cat/0.png"), 4, 4, 1);
    grey(&loose.join("stray.png"), 4, 4, 2);
    let e = err(&loose, &options(None));
    assert!(
        e.contains("1 image(s) (stray.png) beside the subfolder(s) cat")
            && e.contains("Move the images into class folders"),
        "{e}"
    );
    let beside_empty = tmp.path().join("beside_empty");
    grey(&beside_empty.join("a.png"), 4, 4, 1);
    grey(&beside_empty.join("b.png"), 4, 4, 2);
    std::fs::create_dir_all(beside_empty.join("thumbnails")).unwrap();
    let e = err(&beside_empty, &options(None));
    assert!(
        e.contains("2 image(s) (a.png, b.png) beside the subfolder(s) thumbnails"),
        "{e}"
    );
}

#[test]
fn the_decoded_folder_is_cached_and_a_changed_file_is_decoded_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, cache) = (tmp.path().join("data"), tmp.path().join("cache"));
    for i in 0..8u8 {
        rgb(&data.join(format!("{i}.png")), 4, 4, i);
    }
    let first = load(&data, &options(Some(&cache))).unwrap();
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(cached.len(), 1, "one cache file");
    let second = load(&data, &options(Some(&cache))).unwrap();
    assert!(
        second.train.images.equal(&first.train.images)
            && second.test.images.equal(&first.test.images)
    );
    // A rewritten file (another size on disk) makes another key.
    rgb(&data.join("0.png"), 4, 4, 200);
    let third = load(&data, &options(Some(&cache))).unwrap();
    assert!(
        !third.train.images.equal(&first.train.images)
            || !third.test.images.equal(&first.test.images)
    );
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);
    // Rewritten with the same size and its old modification time put back (as a copy
    // tool that keeps times does): the pixels are decoded again, not taken from the cache.
    let path = data.join("1.png");
    let (len, modified) = {
        let meta = std::fs::metadata(&path).unwrap();
        (meta.len(), meta.modified().unwrap())
    };
    let before = load(&data, &options(Some(&cache))).unwrap();
    // The bytes of image 2 (4x4 RGB of another seed byte: the same size) over image 1.
    let other = std::fs::read(data.join("2.png")).unwrap();
    assert_eq!(
        other.len() as u64,
        len,
        "images 1 and 2 encode to the same size"
    );
    std::fs::write(&path, &other).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    let after = load(&data, &options(Some(&cache))).unwrap();
    let direct = load(&data, &options(None)).unwrap();
    assert!(
        after.train.images.equal(&direct.train.images)
            && after.test.images.equal(&direct.test.images)
    );
    assert!(
        !after.train.images.equal(&before.train.images)
            || !after.test.images.equal(&before.test.images),
        "stale pixels from the cache"
    );
}

#[test]
fn class_folders_whose_names_are_not_utf8_stay_apart() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Two names that a lossy conversion makes one ("caf\u{FFFD}"), and a plain one.
    let names = [&b"caf\xE9"[..], &b"caf\xE8"[..], &b"plain"[..]];
    for (k, name) in names.iter().enumerate() {
        let class = data.join(std::ffi::OsStr::from_bytes(name));
        for i in 0..4u8 {
            grey(&class.join(format!("{i}.png")), 4, 4, 10 * k as u8 + i);
        }
    }
    let d = load(&data, &options(None)).unwrap();
    assert_eq!(d.class_names, vec!["caf\\xE8", "caf\\xE9", "plain"]);
    let labels = Tensor::cat(&[&d.train.labels, &d.test.labels], 0);
    assert_eq!(
        labels.max().int64_value(&[]),
        2,
        "three classes, labels 0 to 2"
    );
}

#[test]
fn a_folder_of_colour_images_trains_with_the_conv_model_and_grey_conversion() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("photos");
    for i in 0..24u8 {
        let class = if i % 2 == 0 { "even" } else { "odd" };
        rgb(
            &data.join(format!("{class}/{i}.png")),
            10 + (i % 3) as u32,
            9,
            i * 10,
        );
    }
    // Never read, and said so: a hidden image and a file of another extension.
    rgb(&data.join("odd/.thumb.png"), 3, 3, 0);
    std::fs::write(data.join("even/notes.txt"), "not an image").unwrap();
    for (run, extra) in [
        (
            "conv",
            vec![
                "--image-size",
                "8",
                "--arch",
                "conv",
                "--hidden",
                "8",
                "--latent",
                "2",
                "--likelihood",
                "logistic",
            ],
        ),
        (
            "grey",
            vec![
                "--image-size",
                "6x4",
                "--channels",
                "1",
                "--hidden",
                "8",
                "--latent",
                "2",
            ],
        ),
    ] {
        let out = tmp.path().join(run);
        let mut flags = vec!["--epochs", "1"];
        flags.extend(extra);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_tch-vae"))
            .args(train_args_on(&data, &out, &flags))
            .env("TCH_VAE_CACHE", tmp.path().join("cache"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{run}: {}", stderr(&o));
        let said = format!("{}{}", stdout(&o), stderr(&o));
        assert!(
            said.contains("skipped 2 entries that are not image files")
                && said.contains("notes.txt")
                && said.contains(".thumb.png"),
            "{said}"
        );
        let config = tch_vae::run::read_config(&out).unwrap();
        assert_eq!(config.data.source, "folder");
        assert_eq!(config.data.class_names, vec!["even", "odd"]);
        let shape = (
            config.model.channels,
            config.model.image_height,
            config.model.image_width,
        );
        assert_eq!(shape, if run == "conv" { (3, 8, 8) } else { (1, 6, 4) });
        let latent = std::fs::read_to_string(out.join("latent.svg")).unwrap();
        assert!(latent.contains("even") && latent.contains("odd"));
    }
}

#[test]
fn a_fifo_named_like_an_image_is_refused_at_once_and_a_misnamed_jpeg_decodes() {
    // A FIFO with no writer: a plain open would wait forever.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pics");
    grey(&dir.join("a.png"), 4, 4, 1);
    grey(&dir.join("b.png"), 4, 4, 2);
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("c.png"))
        .status()
        .unwrap();
    assert!(made.success());
    let e = err(&dir, &options(None));
    assert!(
        e.contains("c.png is a FIFO (named pipe), not a regular file"),
        "{e}"
    );
    // A JPEG saved under a .png name: decoded by its content.
    std::fs::remove_file(dir.join("c.png")).unwrap();
    let jpeg = tmp.path().join("c.jpg");
    grey(&jpeg, 4, 4, 3);
    std::fs::rename(&jpeg, dir.join("c.png")).unwrap();
    let data = load(&dir, &options(None)).unwrap();
    assert_eq!(data.train.len() + data.test.len(), 3);
}

#[test]
fn limit_applies_before_decoding_and_sizes_are_read_from_headers_first() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for i in 0..6u8 {
        grey(&data.join(format!("train/{i}.png")), 4, 4, i);
    }
    grey(&data.join("test/0.png"), 4, 4, 9);
    let limited = LoadOptions {
        limit: Some(5),
        ..options(None)
    };
    // Which image --limit 5 leaves out: the one whose first pixel (its seed) is missing.
    let kept = load(&data, &limited).unwrap().train.images;
    assert_eq!(kept.size()[0], 5);
    let firsts: Vec<u8> = (0..5)
        .map(|i| Vec::<u8>::try_from(kept.get(i)).unwrap()[0])
        .collect();
    assert!(
        firsts.windows(2).all(|w| w[0] < w[1]),
        "the list's order: {firsts:?}"
    );
    let left_out = (0..6u8).find(|i| !firsts.contains(i)).unwrap();
    // Made not an image, it is never opened under --limit 5; without, it is named.
    let bad = format!("{left_out}.png");
    std::fs::write(data.join("train").join(&bad), b"not a png").unwrap();
    assert_eq!(load(&data, &limited).unwrap().train.len(), 5);
    assert!(err(&data, &options(None)).contains(&format!("{bad}: cannot decode the image")));
    std::fs::remove_file(data.join("train").join(&bad)).unwrap();
    grey(&data.join("train/5.png"), 4, 4, 5);
    // A header that declares 30000 x 30000 RGB pixels (2.5 GiB decoded) is refused from
    // the header alone, before anything is decoded or allocated.
    let huge = data.join("train/5.png");
    let file = std::fs::File::create(&huge).unwrap();
    let mut encoder = png::Encoder::new(file, 30_000, 30_000);
    encoder.set_color(png::ColorType::Rgb);
    let mut writer = encoder.write_header().unwrap();
    // One IDAT chunk, so that the header reads as a PNG's (its pixels never come).
    writer
        .write_chunk(png::chunk::IDAT, &[0x78, 0x9c, 0x03, 0x00])
        .unwrap();
    std::mem::forget(writer); // no IEND: the file stays a header and a first chunk
    let e = err(&data, &options(None));
    assert!(
        e.contains(
            "5.png: 30000x30000 pixels would take 2574 MiB once decoded, more than the 512 MiB"
        ),
        "{e}"
    );
}

#[test]
fn limit_on_class_folders_draws_from_every_class_with_the_seed() {
    // A folder lists its images class by class: the first 8 of 4 classes of 10 would be
    // one class. --limit draws them with the seed instead, keeping the list's order.
    let tmp = tempfile::tempdir().unwrap();
    for class in 0..4u8 {
        for i in 0..10u8 {
            let name = format!("train/c{class}/{i}.png");
            grey(&tmp.path().join(name), 4, 4, class * 10 + i);
        }
    }
    grey(&tmp.path().join("test/c0/0.png"), 4, 4, 99);
    let labels = |limit, seed| {
        let o = LoadOptions {
            limit: Some(limit),
            seed,
            ..options(None)
        };
        Vec::<i64>::try_from(&load(tmp.path(), &o).unwrap().train.labels).unwrap()
    };
    let first = labels(8, 3);
    assert_eq!(first.len(), 8);
    assert!(first.windows(2).all(|w| w[0] <= w[1]), "{first:?}");
    let classes = |l: &[i64]| l.iter().collect::<std::collections::BTreeSet<_>>().len();
    assert!(classes(&first) >= 3, "{first:?}");
    assert_eq!(labels(8, 3), first, "the same seed, the same images");
    // Over 20 seeds, every class is drawn about 8 / 4 = 2 times a draw (a first-N rule
    // would give class 0 all 160).
    let counts = (0..20).fold([0; 4], |mut c, seed| {
        labels(8, seed).iter().for_each(|&l| c[l as usize] += 1);
        c
    });
    assert!(counts.iter().all(|&c| (20..=60).contains(&c)), "{counts:?}");
    // A limit past the images keeps them all.
    assert_eq!(labels(100, 3).len(), 40);
}

#[test]
fn a_jpeg_cut_short_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Big enough that 40% of the bytes keep every header and cut the scan itself.
    for i in 0..4u8 {
        std::fs::create_dir_all(&data).unwrap();
        ImageBuffer::from_fn(128, 128, |x, y| {
            let v = (x * 7 + y * 13 + (x * y) % 17) as u8 ^ (40 * i);
            Rgb([v, v.wrapping_mul(3), v.wrapping_add(x as u8)])
        })
        .save(data.join(format!("{i}.jpg")))
        .unwrap();
    }
    load(&data, &options(None)).unwrap();
    let path = data.join("2.jpg");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() * 2 / 5]).unwrap();
    let e = err(&data, &options(None));
    assert!(e.contains("2.jpg: a JPEG without its end marker"), "{e}");
}

#[test]
fn spread_rows_cover_the_split_evenly() {
    let split = |n: i64| tch_vae::data::Split {
        images: Tensor::zeros([n, 3], (tch::Kind::Uint8, Device::Cpu)),
        labels: Tensor::zeros([n], (tch::Kind::Int64, Device::Cpu)),
    };
    let rows = |s: &tch_vae::data::Split, n| Vec::<i64>::try_from(s.spread(n)).unwrap();
    // 586 test sprites, 16 shown: every 36.6th row (counted by hand: 586 * 15 / 16 =
    // 549.4), the first row first.
    let shown = rows(&split(586), 16);
    assert_eq!(&shown[..4], &[0, 36, 73, 109]);
    assert_eq!(shown[15], 549);
    // As many rows as asked, or every row, once each.
    assert_eq!(rows(&split(5), 16), vec![0, 1, 2, 3, 4]);
    assert_eq!(rows(&split(16), 16), (0..16).collect::<Vec<_>>());
    assert!(rows(&split(0), 16).is_empty());
}

#[test]
fn reconstructions_show_test_images_from_every_class_of_a_folder() {
    // A folder lists its test images class by class: 20 black, then 20 white. The figure's
    // 16 originals, spread over the 40, are 8 black then 8 white (rows 0, 2, 5, ... 37);
    // the first 16 would all be black.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("two");
    for split in ["train", "test"] {
        for (class, value) in [("black", 0u8), ("white", 255)] {
            for i in 0..20 {
                let path = data.join(format!("{split}/{class}/{i}.png"));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                ImageBuffer::from_pixel(8, 8, Luma([value]))
                    .save(path)
                    .unwrap();
            }
        }
    }
    let out = tmp.path().join("run");
    let flags = ["--epochs", "1", "--hidden", "8", "--latent", "2"];
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tch-vae"))
        .args(train_args_on(&data, &out, &flags))
        .env("TCH_VAE_CACHE", tmp.path().join("cache"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let grid = image::open(out.join("reconstructions.png"))
        .unwrap()
        .to_luma8();
    // 8x8 images drawn at 2x with 2-pixel gaps: tiles of 18 pixels; rows 0 and 2 are the
    // originals, rows 1 and 3 their reconstructions.
    assert_eq!(grid.dimensions(), (8 * 18 + 2, 4 * 18 + 2));
    let centre = |row: u32, col: u32| grid.get_pixel(col * 18 + 2 + 8, row * 18 + 2 + 8)[0];
    let originals: Vec<u8> = [0, 2]
        .iter()
        .flat_map(|&row| (0..8).map(move |col| centre(row, col)))
        .collect();
    assert_eq!(originals, [[0u8; 8], [255; 8]].concat());
}
