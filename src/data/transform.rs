//! `--channels` and `--image-size`: an image converted to grey or RGB and resized to fill
//! the size, then centre-cropped (the `image` crate's `resize_to_fill`), as bytes channel
//! by channel.
use super::RawData;
use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, RgbImage};

/// What every image becomes: its channels (1 or 3) and, when given, its height and width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    pub channels: usize,
    pub size: Option<(usize, usize)>,
}

/// `image` fitted to `fit`, as `[channels, height, width]` bytes.
pub fn fit(image: DynamicImage, fit: Fit) -> Vec<u8> {
    let image = match fit.size {
        Some((h, w)) if (image.height() as usize, image.width() as usize) != (h, w) => {
            image.resize_to_fill(w as u32, h as u32, FilterType::Triangle)
        }
        _ => image,
    };
    if fit.channels == 1 {
        return image.to_luma8().into_raw();
    }
    let rgb = image.to_rgb8();
    let plane = (rgb.width() * rgb.height()) as usize;
    let mut out = vec![0u8; 3 * plane];
    for (p, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + p] = px[c];
        }
    }
    out
}

/// One image of `bytes` (`[channels, height, width]`, 1 or 3 channels) as an image.
pub fn from_planes(bytes: &[u8], channels: usize, height: usize, width: usize) -> DynamicImage {
    let (h, w) = (height as u32, width as u32);
    if channels == 1 {
        let grey = GrayImage::from_raw(w, h, bytes.to_vec()).expect("sizes agree");
        return DynamicImage::ImageLuma8(grey);
    }
    let plane = height * width;
    let interleaved: Vec<u8> = (0..plane)
        .flat_map(|p| (0..3).map(move |c| bytes[c * plane + p]))
        .collect();
    DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, interleaved).expect("sizes agree"))
}

/// Applies `--channels` and `--image-size` to a source's images where they differ (a folder
/// source has applied them while decoding).
pub(crate) fn refit(raw: &mut RawData, channels: Option<usize>, size: Option<(usize, usize)>) {
    let fit = Fit {
        channels: channels.unwrap_or(raw.channels),
        size: size.or(Some((raw.height, raw.width))),
    };
    if (fit.channels, fit.size) == (raw.channels, Some((raw.height, raw.width))) {
        return;
    }
    let dim = raw.channels * raw.height * raw.width;
    // Each image on its own, on every core; their order is kept.
    let convert = |bytes: &[u8]| -> Vec<u8> {
        use rayon::prelude::*;
        bytes
            .par_chunks_exact(dim)
            .map(|b| {
                let img = from_planes(b, raw.channels, raw.height, raw.width);
                self::fit(img, fit)
            })
            .collect::<Vec<Vec<u8>>>()
            .concat()
    };
    raw.train = convert(&raw.train);
    raw.test = convert(&raw.test);
    raw.channels = fit.channels;
    (raw.height, raw.width) = fit.size.expect("set above");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_and_rgb_round_trip_and_convert() {
        // A 2x2 RGB image, channel by channel: red plane, green plane, blue plane.
        let planes: Vec<u8> = vec![255, 0, 0, 10, 0, 255, 0, 20, 0, 0, 255, 30];
        let img = from_planes(&planes, 3, 2, 2);
        let same = Fit {
            channels: 3,
            size: None,
        };
        assert_eq!(fit(img.clone(), same), planes);
        // To grey: the image crate's luma of pure red, green, blue and a dark grey pixel.
        let grey = fit(
            img,
            Fit {
                channels: 1,
                size: None,
            },
        );
        assert_eq!(grey.len(), 4);
        assert!(grey[1] > grey[0] && grey[0] > grey[2], "{grey:?}"); // green > red > blue
                                                                     // Grey to RGB copies the value into every channel.
        let rgb = fit(from_planes(&[7, 8, 9, 10], 1, 2, 2), same);
        assert_eq!(rgb, vec![7, 8, 9, 10, 7, 8, 9, 10, 7, 8, 9, 10]);
    }

    #[test]
    fn resizing_fills_then_crops_the_centre() {
        // A 2x4 grey image (wider than tall) to 2x2: scaled to fill, the middle kept.
        let img = from_planes(&[0, 100, 200, 255, 0, 100, 200, 255], 1, 2, 4);
        let out = fit(
            img,
            Fit {
                channels: 1,
                size: Some((2, 2)),
            },
        );
        assert_eq!(out.len(), 4);
        assert!(out.iter().all(|&v| v > 30 && v < 230), "{out:?}"); // the outer columns are cut
    }
}
