//! Links hoist as a position-independent executable (ASLR for its own code and data, as a
//! tool running as root should have) with its relative relocations packed (DT_RELR).
//!
//! A PIE applies its relative relocations on every start, and hoist starts twice for every
//! container (once more from its sealed copy; see `hoist_runtime::reexec_sealed`). Packed,
//! the ~25 000 relocations are a 7 KiB bitmap instead of 600 KiB of RELA entries that the
//! loader must read; what remains is the copy-on-write of the ~440 KiB of data they point
//! into (`cargo xtask bench` shows the cost). Needs binutils 2.38 or later to link and glibc
//! 2.36 or later to run (the linker records that, so an older glibc refuses it by name).
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("-linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
