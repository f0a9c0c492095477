//! Compiles the JPEG decoding shim against the system's libjpeg(-turbo)
//! (`src/native/jpeg_scaled.c`).

fn main() {
    println!("cargo:rerun-if-changed=src/native/jpeg_scaled.c");
    cc::Build::new()
        .file("src/native/jpeg_scaled.c")
        .opt_level(2)
        .compile("runner_jpeg");
    println!("cargo:rustc-link-lib=jpeg");
}
