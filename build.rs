//! Build script of the root package. Its only job: give the shared library
//! the SONAME `libhyperclient.so.<major>`, so programs linked against the
//! installed `libhyperclient.so` record the major version and keep working
//! across compatible upgrades (`make install` lays out the versioned file and
//! its symlinks).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "freebsd" || os == "netbsd" || os == "openbsd" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "1".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libhyperclient.so.{major}");
    }
}
