//! MKL's conditional numerical reproducibility (CNR) settings as numbers and names, and
//! the CPU facts that decide which of them MKL accepts (`numerics.rs` sets them).
//!
//! MKL takes its CPU-specific branches (SSE2 ... AVX-512) on Intel CPUs only: on other
//! makers' CPUs it accepts AUTO and COMPATIBLE alone (Intel's CNR guide; measured on an
//! AMD EPYC, 2026-12-07: `mkl_cbwr_set` answers -3 for SSE4_2, AVX, AVX2 and AVX-512), and
//! COMPATIBLE is not strict there (its products split their sums by the thread count:
//! other bits at 3 threads than at 1 and 2). `notebooks-export/reproducibility/amd-2026-12-07/`.

// MKL's constants (mkl_cbwr.h).
pub(super) const BRANCH_MASK: i32 = 0xffff;
pub(super) const STRICT: i32 = 0x10000;
pub(super) const AUTO: i32 = 2;
pub(super) const AVX2: i32 = 10;

/// `/proc/cpuinfo`'s vendor_id of Intel's CPUs.
pub const INTEL: &str = "GenuineIntel";

/// MKL's branch number as MKL_CBWR spells it.
pub(super) fn branch_name(branch: i32) -> String {
    match branch {
        // 0 is MKL_CBWR_OFF, 1 MKL_CBWR_BRANCH_OFF (what MKL answers when no mode was set).
        0 | 1 => "OFF",
        AUTO => "AUTO",
        3 => "COMPATIBLE",
        4 => "SSE2",
        6 => "SSSE3",
        7 => "SSE4_1",
        8 => "SSE4_2",
        9 => "AVX",
        AVX2 => "AVX2",
        12 => "AVX512",
        14 => "AVX512_E1",
        _ => return format!("branch {branch}"),
    }
    .to_string()
}

/// MKL's whole CNR setting as MKL_CBWR spells it ("AUTO,STRICT", "OFF").
pub(super) fn mode_name(cbwr: i32) -> String {
    let branch = branch_name(cbwr & BRANCH_MASK);
    if cbwr & STRICT != 0 {
        format!("{branch},STRICT")
    } else {
        branch
    }
}

/// The value of the first `key` line of `/proc/cpuinfo` ("model name", "vendor_id"), or
/// "unknown" (not Linux).
pub(super) fn cpuinfo(key: &str) -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, value)| value.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mkl_settings_are_named_as_mkl_cbwr_spells_them() {
        // The numbers are mkl_cbwr.h's; the names are what MKL_VERBOSE prints.
        assert_eq!(mode_name(0x10000 | 2), "AUTO,STRICT");
        assert_eq!(mode_name(0x10000 | 10), "AVX2,STRICT");
        assert_eq!(mode_name(1), "OFF");
        assert_eq!(mode_name(12), "AVX512");
    }

    #[test]
    fn this_machine_names_its_cpu_maker() {
        // Every x86-64 Linux machine's /proc/cpuinfo has a vendor_id line.
        let vendor = cpuinfo("vendor_id");
        if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
            assert!(vendor != "unknown" && !vendor.is_empty(), "{vendor:?}");
        }
    }
}
