//! Embeds LibTorch's library folder as an rpath, so the `runner` binary and the test
//! binaries start without LD_LIBRARY_PATH; compiles the JPEG decoding shim against the
//! system's libjpeg(-turbo) (`src/data/native/jpeg_scaled.c`).

fn main() {
    println!("cargo:rerun-if-changed=src/data/native/jpeg_scaled.c");
    cc::Build::new()
        .file("src/data/native/jpeg_scaled.c")
        .opt_level(2)
        .compile("runner_jpeg");
    println!("cargo:rustc-link-lib=jpeg");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        let lib = std::path::Path::new(&libtorch).join("lib");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
