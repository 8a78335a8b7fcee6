//! Build steps around libtorch, whose location torch-sys exports as `DEP_TCH_LIBTORCH_LIB`
//! (its `links` key is "tch"; we depend on torch-sys directly to receive it):
//! * an rpath, so the binary and the tests run with no `LD_LIBRARY_PATH`;
//! * `libtorch_cuda.so` forced into the binary's NEEDED list. The linker's `--as-needed`
//!   otherwise drops it (no symbol of ours refers to it), and CUDA then silently reports
//!   unavailable on a GPU machine (tch-rs issues 907 and 980);
//! * `src/torchscript.cpp`, which builds TorchScript modules with named parameters
//!   (see `src/export.rs`), and `src/optim.cpp`, libtorch's fused Adam (see
//!   `src/optim.rs`), compiled against libtorch's headers.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/torchscript.cpp");
    println!("cargo:rerun-if-changed=src/optim.cpp");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let lib = PathBuf::from(
        std::env::var_os("DEP_TCH_LIBTORCH_LIB")
            .expect("torch-sys did not export DEP_TCH_LIBTORCH_LIB; run scripts/setup.sh"),
    );
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }

    let include = lib.join("../include");
    // The same C++ ABI as the libtorch we link (scripts/setup.sh asks torch for it).
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_string());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .file("src/torchscript.cpp")
        .file("src/optim.cpp")
        .compile("tchvae_cpp");
}
