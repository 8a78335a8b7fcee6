//! An array's values as bytes, channel by channel within each image: floats in [0, 1] read
//! a block at a time to the nearest of 256 levels, channels-last images transposed.
use anyhow::{ensure, Context, Result};
use std::io::Read;

/// `values` float32 or float64 values (`size` bytes each) in [0, 1] from `r`, read a block
/// at a time, to the nearest of the 256 levels of a byte: memory for the bytes only, not
/// for the floats too.
///
/// `format`: the bytes of a value and whether they are big-endian; `cut`: the error of a
/// file that ends early.
pub(super) fn unit_floats(
    mut r: impl Read,
    values: usize,
    (size, big_endian): (usize, bool),
    what: &str,
    cut: &dyn Fn() -> String,
) -> Result<Vec<u8>> {
    const BLOCK: usize = 1 << 16;
    let mut buf = vec![0u8; BLOCK * size];
    let mut out = Vec::with_capacity(values);
    let mut left = values;
    while left > 0 {
        let block = &mut buf[..left.min(BLOCK) * size];
        r.read_exact(block).with_context(cut)?;
        for b in block.chunks_exact(size) {
            let v = match (size, big_endian) {
                (4, false) => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                (4, true) => f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                (_, false) => f64::from_le_bytes(b.try_into().expect("8 bytes")),
                (_, true) => f64::from_be_bytes(b.try_into().expect("8 bytes")),
            };
            out.push(unit_level(v, what)?);
        }
        left -= block.len() / size;
    }
    Ok(out)
}

/// A float in [0, 1] to the nearest of the 256 levels of a byte.
fn unit_level(v: f64, what: &str) -> Result<u8> {
    ensure!(
        (0.0..=1.0).contains(&v),
        "{what}: a value {v} outside [0, 1]; float images are in [0, 1] (or give uint8)"
    );
    Ok((v * 255.0).round() as u8)
}

/// `[n, h*w, c]` -> `[n, c, h*w]`.
pub(super) fn to_channels_first(bytes: &[u8], n: usize, c: usize, plane: usize) -> Vec<u8> {
    let mut out = vec![0u8; bytes.len()];
    for i in 0..n {
        for p in 0..plane {
            for k in 0..c {
                out[i * c * plane + k * plane + p] = bytes[i * c * plane + p * c + k];
            }
        }
    }
    out
}
