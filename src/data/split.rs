//! The test split of a source that has none (`--test-fraction`): a seeded permutation
//! drawn in plain Rust (SplitMix64 and Fisher-Yates), so that a seed gives the same split
//! on every machine and device. Both splits keep the source's order.
use super::RawData;
use anyhow::{ensure, Result};

/// Which of `n` images a `fraction` (rounded, at least one) holds out for testing, drawn
/// with `seed`; the same on every machine.
pub fn test_mask(n: usize, fraction: f64, seed: u64) -> Result<Vec<bool>> {
    ensure!(
        fraction > 0.0 && fraction < 1.0,
        "--test-fraction must be between 0 and 1 (got {fraction})"
    );
    let n_test = ((n as f64 * fraction).round() as usize).max(1);
    ensure!(
        n_test < n,
        "{n} images: --test-fraction {fraction} leaves no training image; give more images \
         or a smaller --test-fraction"
    );
    Ok(chosen(n, n_test, seed))
}

/// The stream of [`permutation`] that `--limit` draws from, apart from the test split's.
const LIMIT_STREAM: u64 = 0x6C_696D_6974; // "limit" in ASCII

/// Which `keep` of `n` images `--limit` keeps from an image folder, drawn with `seed`; the
/// same on every machine. A folder lists its images class by class, so its first `keep`
/// would be the first classes only.
pub fn limit_mask(n: usize, keep: usize, seed: u64) -> Vec<bool> {
    chosen(n, keep, seed ^ LIMIT_STREAM)
}

/// A mask of `n` with the first `k` of [`permutation`]`(n, seed)` set.
fn chosen(n: usize, k: usize, seed: u64) -> Vec<bool> {
    let mut mask = vec![false; n];
    for i in permutation(n, seed).into_iter().take(k) {
        mask[i] = true;
    }
    mask
}

/// Moves a `fraction` of `raw`'s training images (rounded, at least one) into its test split.
pub fn hold_out_test(raw: &mut RawData, fraction: f64, seed: u64) -> Result<()> {
    let is_test = test_mask(raw.train_labels.len(), fraction, seed)?;
    let dim = raw.channels * raw.height * raw.width;
    let (mut train, mut test) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for (i, &held_out) in is_test.iter().enumerate() {
        let part = if held_out { &mut test } else { &mut train };
        part.0.extend_from_slice(&raw.train[i * dim..(i + 1) * dim]);
        part.1.push(raw.train_labels[i]);
    }
    (raw.train, raw.train_labels) = train;
    (raw.test, raw.test_labels) = test;
    raw.has_test = true;
    raw.drawn_test = true;
    Ok(())
}

/// SplitMix64's increment (the golden ratio in 64 bits).
pub(crate) const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Steele et al. 2014): the crate's one mixer of 64-bit
/// values, for this split and for the trainer's keyed seeds (`train/trainer.rs`).
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A permutation of 0..n from `seed` (Fisher-Yates driven by SplitMix64).
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(GOLDEN);
        splitmix64(state)
    };
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(n: usize) -> RawData {
        RawData {
            train: (0..n as u8).collect(),
            test: Vec::new(),
            train_labels: (0..n as i64).collect(),
            test_labels: Vec::new(),
            has_test: false,
            drawn_test: false,
            has_labels: false,
            channels: 1,
            height: 1,
            width: 1,
            class_names: Vec::new(),
        }
    }

    #[test]
    fn the_split_is_seeded_complete_and_disjoint() {
        let mut a = raw(50);
        hold_out_test(&mut a, 0.2, 7).unwrap();
        assert_eq!((a.train_labels.len(), a.test_labels.len()), (40, 10));
        let mut all: Vec<i64> = a
            .train_labels
            .iter()
            .chain(&a.test_labels)
            .copied()
            .collect();
        all.sort();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        // Images travel with their labels, and both splits keep the source's order.
        assert!(a
            .test
            .iter()
            .zip(&a.test_labels)
            .all(|(&x, &l)| i64::from(x) == l));
        assert!(a.test_labels.windows(2).all(|w| w[0] < w[1]));
        let mut again = raw(50);
        hold_out_test(&mut again, 0.2, 7).unwrap();
        assert_eq!(again.test_labels, a.test_labels);
        let mut other = raw(50);
        hold_out_test(&mut other, 0.2, 8).unwrap();
        assert_ne!(other.test_labels, a.test_labels);
    }

    #[test]
    fn fractions_that_leave_a_split_empty_are_refused() {
        for f in [0.0, 1.0, -0.5, f64::NAN] {
            let e = format!("{:#}", hold_out_test(&mut raw(10), f, 1).unwrap_err());
            assert!(e.contains("--test-fraction must be between 0 and 1"), "{e}");
        }
        let e = format!("{:#}", hold_out_test(&mut raw(1), 0.5, 1).unwrap_err());
        assert!(e.contains("leaves no training image"), "{e}");
    }
}
