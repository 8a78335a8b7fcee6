//! Link-time fixes for running against the libtorch of a PyTorch wheel.
//!
//! torch-sys exports the libtorch library folder as `DEP_TCH_LIBTORCH_LIB` (its `links`
//! key is "tch"). With it we
//! * add an rpath, so the binary and the tests run with no `LD_LIBRARY_PATH`;
//! * force `libtorch_cuda.so` into the binary's NEEDED list. The linker's `--as-needed`
//!   otherwise drops it (no symbol of ours refers to it), and CUDA then silently reports
//!   unavailable on a GPU machine (tch-rs issues 907 and 980).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
        println!("cargo:warning=DEP_TCH_LIBTORCH_LIB not set; no rpath added");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
