//! Reader for the IDX format of MNIST and Fashion-MNIST (gzip-compressed or raw).
//!
//! Layout (<http://yann.lecun.com/exdb/mnist/>): two zero bytes, a type byte (0x08 =
//! unsigned byte, the only type these datasets use), the number of dimensions, then one
//! big-endian u32 per dimension, then the values in row-major order.
use anyhow::{bail, ensure, Context, Result};
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::Path;

/// The largest decompressed file accepted. The MNIST training images are 47 MB; the cap
/// keeps a corrupt or hostile gzip stream from exhausting memory.
pub const MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const TYPE_U8: u8 = 0x08;

/// An n-dimensional array of bytes read from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Parses the bytes of an (already decompressed) IDX file, keeping its buffer for the
/// values (a 47 MB file is not copied).
pub fn parse(mut bytes: Vec<u8>) -> Result<IdxArray> {
    ensure!(
        bytes.len() >= 4,
        "file is {} bytes long, shorter than the 4-byte IDX header",
        bytes.len()
    );
    let [z0, z1, kind, ndims] = [bytes[0], bytes[1], bytes[2], bytes[3]];
    ensure!(
        z0 == 0 && z1 == 0,
        "not an IDX file: magic number starts with {z0:#04x} {z1:#04x}, expected 0x00 0x00"
    );
    ensure!(
        kind == TYPE_U8,
        "unsupported IDX value type {kind:#04x}: only unsigned bytes (0x08) are supported"
    );
    ensure!(ndims >= 1, "IDX header declares 0 dimensions");
    let header_len = 4 + 4 * ndims as usize;
    ensure!(
        bytes.len() >= header_len,
        "truncated header: {ndims} dimensions need {header_len} bytes, the file has {}",
        bytes.len()
    );
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    // checked_mul: declared dimensions may be absurd; never trust them for an allocation.
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .with_context(|| format!("declared dimensions {dims:?} overflow"))?;
    let found = bytes.len() - header_len;
    ensure!(
        found == expected,
        "header declares dimensions {dims:?} ({expected} values) but the file holds {found} \
         value bytes{}",
        if found < expected {
            " (truncated?)"
        } else {
            ""
        }
    );
    bytes.drain(..header_len);
    Ok(IdxArray { dims, data: bytes })
}

/// Reads an IDX file, decompressing it first when it starts with the gzip magic number.
pub fn read_file(path: &Path) -> Result<IdxArray> {
    let raw = crate::native::files::read_regular(path)?;
    let bytes = if raw.starts_with(&GZIP_MAGIC) {
        // The gzip trailer's last 4 bytes hold the (last member's) decompressed size (mod 2^32): a capacity
        // hint that spares the buffer its doublings. Only a hint, so it is capped by what
        // deflate can expand to (at most 1032:1) and by the size limit.
        let hint = raw[raw.len().saturating_sub(4)..]
            .try_into()
            .map(u32::from_le_bytes)
            .unwrap_or(0) as u64;
        let cap = hint
            .min(raw.len() as u64 * 1032)
            .min(MAX_DECOMPRESSED_BYTES);
        let mut out = Vec::with_capacity(cap as usize);
        // Every member of the stream (`cat a.gz b.gz` is valid gzip, and `gzip -t` says so).
        MultiGzDecoder::new(raw.as_slice())
            .take(MAX_DECOMPRESSED_BYTES + 1)
            .read_to_end(&mut out)
            .with_context(|| format!("{}: corrupt or truncated gzip data", path.display()))?;
        ensure!(
            out.len() as u64 <= MAX_DECOMPRESSED_BYTES,
            "{}: decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes",
            path.display()
        );
        out
    } else if path.extension().is_some_and(|e| e == "gz") {
        bail!(
            "{}: named .gz but is not gzip data (first bytes {:02x?})",
            path.display(),
            &raw[..raw.len().min(4)]
        );
    } else {
        raw
    };
    parse(bytes).with_context(|| format!("{}: invalid IDX file", path.display()))
}

/// Encodes an array as IDX bytes (unsigned byte type): the inverse of [`parse`]. Used to
/// write small datasets for tests and for users who convert their own images.
pub fn encode(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, TYPE_U8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(bytes: &[u8]) -> String {
        format!("{:#}", parse(bytes.to_vec()).unwrap_err())
    }

    #[test]
    fn parses_images_and_labels() {
        let images = encode(&[2, 2, 3], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
        let a = parse(images).unwrap();
        assert_eq!(a.dims, vec![2, 2, 3]);
        assert_eq!(a.data[11], 255);
        let labels = parse(encode(&[3], &[7, 0, 9])).unwrap();
        assert_eq!((labels.dims, labels.data), (vec![3], vec![7, 0, 9]));
    }

    #[test]
    fn rejects_each_kind_of_bad_header() {
        assert!(err(&[0, 0]).contains("shorter than the 4-byte IDX header"));
        assert!(err(&[0x1f, 0x8b, 8, 1, 0, 0, 0, 0]).contains("not an IDX file"));
        assert!(err(&[0, 0, 0x0d, 1, 0, 0, 0, 0]).contains("unsupported IDX value type 0x0d"));
        assert!(err(&[0, 0, 8, 0]).contains("0 dimensions"));
        assert!(err(&[0, 0, 8, 3, 0, 0, 0, 1]).contains("truncated header"));
    }

    #[test]
    fn rejects_wrong_sizes_without_allocating_them() {
        let mut short = encode(&[2, 28, 28], &[0; 2 * 784]);
        short.truncate(short.len() - 1);
        assert!(err(&short).contains("(truncated?)"));
        let long = encode(&[2], &[1, 2, 3]);
        assert!(err(&long).contains("holds 3 value bytes"));
        let huge = encode(&[u32::MAX, u32::MAX, u32::MAX], &[]);
        let e = err(&huge);
        assert!(
            e.contains("overflow") || e.contains("holds 0 value bytes"),
            "{e}"
        );
    }

    #[test]
    fn reads_gzip_and_raw_files_and_names_them_in_errors() {
        use flate2::{write::GzEncoder, Compression};
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let bytes = encode(&[3], &[1, 2, 3]);
        let raw = dir.path().join("labels-idx1-ubyte");
        std::fs::write(&raw, &bytes).unwrap();
        let gz = dir.path().join("labels-idx1-ubyte.gz");
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&bytes).unwrap();
        let compressed = enc.finish().unwrap();
        std::fs::write(&gz, &compressed).unwrap();
        assert_eq!(read_file(&raw).unwrap(), read_file(&gz).unwrap());
        // Two members (`cat a.gz b.gz`): the file is their concatenation.
        let (head, tail) = bytes.split_at(5);
        let member = |part: &[u8]| {
            let mut enc = GzEncoder::new(Vec::new(), Compression::default());
            enc.write_all(part).unwrap();
            enc.finish().unwrap()
        };
        let multi = dir.path().join("multi-idx1-ubyte.gz");
        std::fs::write(&multi, [member(head), member(tail)].concat()).unwrap();
        assert_eq!(read_file(&multi).unwrap(), read_file(&raw).unwrap());

        let cut = dir.path().join("cut.gz");
        std::fs::write(&cut, &compressed[..compressed.len() / 2]).unwrap();
        let e = format!("{:#}", read_file(&cut).unwrap_err());
        assert!(
            e.contains("cut.gz") && e.contains("corrupt or truncated gzip"),
            "{e}"
        );

        let fake = dir.path().join("fake.gz");
        std::fs::write(&fake, &bytes).unwrap();
        let e = format!("{:#}", read_file(&fake).unwrap_err());
        assert!(e.contains("fake.gz") && e.contains("not gzip"), "{e}");

        // A trailer that lies about the decompressed size (4 GiB) is only a capacity
        // hint: the stream's own check still fails, with the file named.
        let mut lying = compressed.clone();
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        let liar = dir.path().join("liar.gz");
        std::fs::write(&liar, &lying).unwrap();
        let e = format!("{:#}", read_file(&liar).unwrap_err());
        assert!(e.contains("liar.gz") && e.contains("corrupt"), "{e}");
    }
}
