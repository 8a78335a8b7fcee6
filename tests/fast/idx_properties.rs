//! Property tests of the IDX reader: whatever the bytes, it returns (never panics), never
//! trusts a declared size beyond the bytes present, and names the problem.
use proptest::prelude::*;
use tch_vae::data::idx::{encode, parse, read_file};

fn valid() -> Vec<u8> {
    encode(&[3, 4, 5], &(0..60).collect::<Vec<u8>>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        match parse(bytes.clone()) {
            Ok(a) => prop_assert_eq!(a.dims.iter().product::<usize>(), a.data.len()),
            Err(e) => {
                let msg = format!("{e:#}");
                prop_assert!(!msg.is_empty());
            }
        }
    }

    #[test]
    fn flipped_header_bytes_are_caught_or_consistent(pos in 0usize..16, flip in 1u8..=255) {
        let mut bytes = valid();
        bytes[pos] ^= flip;
        if let Ok(a) = parse(bytes.clone()) {
            prop_assert_eq!(a.dims.iter().product::<usize>(), a.data.len());
            prop_assert!(a.data.len() <= bytes.len());
        }
    }

    #[test]
    fn huge_declared_dimensions_are_refused_without_allocating(
        dims in proptest::collection::vec(any::<u32>(), 1..5),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let bytes = encode(&dims, &payload);
        let declared = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d as usize));
        match parse(bytes.clone()) {
            Ok(a) => prop_assert_eq!(Some(a.data.len()), declared),
            Err(e) => {
                let msg = format!("{e:#}");
                prop_assert!(msg.contains("overflow") || msg.contains("value bytes") || msg.contains("dimensions"), "{}", msg);
            }
        }
    }

    #[test]
    fn gzip_garbage_is_an_error_naming_the_file(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images-idx3-ubyte.gz");
        let mut bytes = vec![0x1f, 0x8b];
        bytes.extend(tail);
        std::fs::write(&path, &bytes).unwrap();
        if let Err(e) = read_file(&path) {
            let msg = format!("{e:#}");
            prop_assert!(msg.contains("images-idx3-ubyte.gz"), "{}", msg);
        }
    }
}

#[test]
fn every_truncation_of_a_valid_file_is_an_error() {
    let bytes = valid();
    for cut in 0..bytes.len() {
        let e = parse(bytes[..cut].to_vec()).expect_err("a truncated file parsed");
        let msg = format!("{e:#}");
        assert!(
            msg.contains("truncated") || msg.contains("shorter than"),
            "cut at {cut}: {msg}"
        );
    }
    assert!(parse(bytes.clone()).is_ok());
}
