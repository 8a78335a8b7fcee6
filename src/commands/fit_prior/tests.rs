//! The memory checks of `fit-prior`, before any work.
use super::*;

#[test]
fn auto_tries_only_the_counts_the_memory_holds() {
    // 45,000 codes of 64 values in 64 coordinates: 8 x (4 x 45000 x 64 + 3 x c x 45000 x
    // 64 + 2 x c x 64 x 64) bytes, 5.82 GiB for 89 components, 3.63 GiB for 55, 2.28
    // GiB for 34 (written out, not check_memory's expression).
    let bytes = |c: u64| 8 * (4 * 45000 * 64 + 3 * c * 45000 * 64 + 2 * c * 64 * 64);
    assert_eq!(bytes(89) >> 20, 5960);
    let most = |available| most_candidate(45000, 64, 64, available);
    assert_eq!(most(None), 89, "unknown memory: every count");
    assert_eq!(most(Some(bytes(89))), 89);
    assert_eq!(most(Some(bytes(89) - 1)), 55);
    assert_eq!(most(Some(5 << 30)), 55);
    assert_eq!(most(Some(3 << 30)), 34);
    assert_eq!(
        most(Some(1 << 20)),
        1,
        "not even one: the check then refuses"
    );
}

#[test]
fn a_fit_past_the_memory_is_refused_before_any_work() {
    // 6,000 codes of 5,392 values and 34 components in 64 coordinates: 1,288 MiB of
    // float64 temporaries (8 bytes x (4 x 6000 x 5392 + 3 x 34 x 6000 x 64 + 2 x 34 x 64 x 64)).
    let args = (6000, 5392, 34, 64);
    let check = |available| check_memory(args.0, args.1, args.2, args.3, available);
    assert!(check(Some(2 << 30)).is_ok());
    assert!(check(None).is_ok(), "unknown memory: let libtorch try");
    let err = check(Some(1 << 30)).unwrap_err().to_string();
    assert!(
        err.contains("needs about 1288 MiB, more than the 1024 MiB"),
        "{err}"
    );
    assert!(
        err.contains("use fewer --images, --groups, --components or --dims"),
        "{err}"
    );
}
