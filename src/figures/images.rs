//! Image grids written as PNG (samples, reconstructions): greyscale for one channel, RGB
//! for three.
use anyhow::{ensure, Context, Result};
use std::path::Path;
use tch::{Kind, Tensor};

/// Pixels of background between tiles, and the integer upscaling of every tile, so that
/// 28x28 digits are readable in a viewer without blurring.
const PAD: usize = 2;
const SCALE: usize = 2;

/// The shape of one image: channels (1 or 3), height, width.
pub type Shape = (usize, usize, usize);

/// Lays out `images` (`[n, channels * height * width]`, each image channel by channel,
/// values in [0, 1]) row-major in a grid of `cols` columns and writes it to `path`
/// (atomically).
pub fn write_grid(path: &Path, images: &Tensor, shape: Shape, cols: usize) -> Result<()> {
    let png = grid_png(images, shape, cols)?;
    crate::native::atomic::write_bytes(path, &png.bytes)
}

/// A PNG file's bytes and its size in pixels.
pub struct Png {
    pub bytes: Vec<u8>,
    pub width: usize,
    pub height: usize,
    pub channels: usize,
}

/// The grid of [`write_grid`] as PNG bytes.
pub fn grid_png(images: &Tensor, shape: Shape, cols: usize) -> Result<Png> {
    let (channels, height, width) = shape;
    let size = images.size();
    ensure!(
        matches!(channels, 1 | 3),
        "image grid: 1 or 3 channels, not {channels}"
    );
    ensure!(
        size.len() == 2 && size[1] as usize == channels * height * width && cols > 0,
        "image grid: expected [n, {}], found {size:?}",
        channels * height * width
    );
    let n = size[0] as usize;
    let rows = n.div_ceil(cols);
    let bytes: Vec<u8> = Vec::try_from(
        (images
            .to_device(tch::Device::Cpu)
            .to_kind(Kind::Float)
            .clamp(0.0, 1.0)
            * 255.0)
            .round()
            .to_kind(Kind::Uint8)
            .contiguous()
            .view([-1]),
    )?;
    let (tile_h, tile_w) = (height * SCALE + PAD, width * SCALE + PAD);
    let (img_h, img_w) = (rows * tile_h + PAD, cols * tile_w + PAD);
    let plane = height * width;
    // Dark grey frame between tiles; pixels interleave their channels (RGB).
    let mut canvas = vec![64u8; img_h * img_w * channels];
    for (k, image) in bytes.chunks_exact(channels * plane).enumerate() {
        let (top, left) = ((k / cols) * tile_h + PAD, (k % cols) * tile_w + PAD);
        for y in 0..height * SCALE {
            for x in 0..width * SCALE {
                let source = (y / SCALE) * width + x / SCALE;
                let target = ((top + y) * img_w + left + x) * channels;
                for c in 0..channels {
                    canvas[target + c] = image[c * plane + source];
                }
            }
        }
    }
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, img_w as u32, img_h as u32);
        encoder.set_color(if channels == 3 {
            png::ColorType::Rgb
        } else {
            png::ColorType::Grayscale
        });
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().context("cannot encode PNG")?;
        writer
            .write_image_data(&canvas)
            .context("cannot encode PNG")?;
    }
    Ok(Png {
        bytes: png_bytes,
        width: img_w,
        height: img_h,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_has_the_expected_size_and_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        // Three 2x3 images: black, white, grey; two columns -> two rows.
        let imgs = Tensor::from_slice(&[0.0f32, 1.0, 0.5])
            .view([3, 1])
            .expand([3, 6], false);
        write_grid(&path, &imgs, (1, 2, 3), 2).unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.width as usize, 2 * (3 * SCALE + PAD) + PAD);
        assert_eq!(info.height as usize, 2 * (2 * SCALE + PAD) + PAD);
        let w = info.width as usize;
        let at = |y: usize, x: usize| buf[y * w + x];
        assert_eq!(at(PAD, PAD), 0); // first tile: black
        assert_eq!(at(PAD, PAD + 3 * SCALE + PAD), 255); // second tile: white
        assert_eq!(at(PAD + 2 * SCALE + PAD, PAD), 128); // third tile, second row: grey
    }

    #[test]
    fn wrong_shape_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_grid(
            &dir.path().join("g.png"),
            &Tensor::zeros([2, 5], (Kind::Float, tch::Device::Cpu)),
            (1, 2, 3),
            2,
        );
        assert!(format!("{:#}", e.unwrap_err()).contains("expected [n, 6]"));
    }

    #[test]
    fn colour_images_keep_their_channels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rgb.png");
        // One 1x1 image: red 1.0, green 0.0, blue 0.5 (channel by channel).
        let img = Tensor::from_slice(&[1.0f32, 0.0, 0.5]).view([1, 3]);
        write_grid(&path, &img, (3, 1, 1), 1).unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        let w = info.width as usize;
        let at = (PAD * w + PAD) * 3;
        assert_eq!(&buf[at..at + 3], &[255, 0, 128]);
    }
}
